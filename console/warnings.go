package console

import (
	"time"
)

// warnEvery is the least time between two warnings of one kind: the
// sampler evaluates the alerts every 5 s, and a webhook that is down or a
// group coordinator that is moving would otherwise log at that pace.
const warnEvery = time.Minute

// warnLimited logs a warning of kind key at most once per warnEvery
// (c.warnRate), the next one counting those held back as "suppressed".
func (c *Console) warnLimited(key, msg string, args ...any) {
	ok, held := c.warnRate.AllowHeld(key, c.cfg.Now())
	if !ok {
		return
	}
	if held > 0 {
		args = append(args, "suppressed", held)
	}
	c.log.Warn(msg, args...)
}
