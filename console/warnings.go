package console

import (
	"log/slog"
	"sync"
	"time"
)

// warnEvery is the least time between two warnings of one kind: the
// sampler evaluates the alerts every 5 s, and a webhook that is down or a
// group coordinator that is moving would otherwise log at that pace.
const warnEvery = time.Minute

// throttledWarn logs a warning at most once per warnEvery and counts the
// ones it held back, which the next one reports as "suppressed".
type throttledWarn struct {
	mu   sync.Mutex
	last time.Time
	held int
}

func (w *throttledWarn) warn(log *slog.Logger, now time.Time, msg string, args ...any) {
	w.mu.Lock()
	if !w.last.IsZero() && now.Sub(w.last) < warnEvery {
		w.held++
		w.mu.Unlock()
		return
	}
	held := w.held
	w.last, w.held = now, 0
	w.mu.Unlock()
	if held > 0 {
		args = append(args, "suppressed", held)
	}
	log.Warn(msg, args...)
}
