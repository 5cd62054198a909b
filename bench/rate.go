package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rate is a target load: Per units per second, in bytes or records.
type Rate struct {
	Per     float64 // units per second; 0 means unlimited
	Records bool    // units are records, else bytes
}

// String formats r as ParseRate accepts it.
func (r Rate) String() string {
	switch {
	case r.Per == 0:
		return ""
	case r.Records:
		return strconv.FormatFloat(r.Per, 'f', -1, 64) + "rec/s"
	default:
		return strconv.FormatFloat(r.Per/(1<<20), 'f', -1, 64) + "MB/s"
	}
}

// ParseRate parses "200MB/s", "1.5GB/s", "500KB/s", "1000B/s",
// "50000rec/s" (MB is 2^20 bytes); "" is unlimited.
func ParseRate(s string) (Rate, error) {
	if s == "" || s == "0" {
		return Rate{}, nil
	}
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok || unit != "s" {
		return Rate{}, fmt.Errorf("bench: rate %q: want NUMBER UNIT/s, e.g. 200MB/s or 50000rec/s", s)
	}
	i := strings.IndexFunc(num, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i <= 0 {
		return Rate{}, fmt.Errorf("bench: rate %q: no number or no unit", s)
	}
	v, err := strconv.ParseFloat(num[:i], 64)
	if err != nil || v <= 0 {
		return Rate{}, fmt.Errorf("bench: rate %q: bad number", s)
	}
	mult, records, err := rateUnit(num[i:])
	if err != nil {
		return Rate{}, fmt.Errorf("bench: rate %q: %w", s, err)
	}
	return Rate{Per: v * mult, Records: records}, nil
}

func rateUnit(u string) (mult float64, records bool, err error) {
	switch strings.ToLower(u) {
	case "rec", "records", "r":
		return 1, true, nil
	case "b":
		return 1, false, nil
	case "kb", "kib":
		return 1 << 10, false, nil
	case "mb", "mib":
		return 1 << 20, false, nil
	case "gb", "gib":
		return 1 << 30, false, nil
	}
	return 0, false, fmt.Errorf("unknown unit %q (B, KB, MB, GB or rec)", u)
}

// Limiter is a token bucket shared by every sender of a run. Tokens may go
// negative: a sender takes what it needs and waits out the debt, so a
// request larger than the burst still goes, at the right average rate.
type Limiter struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

// NewLimiter allows rate tokens per second with the given burst; the
// bucket starts full. now is the clock (nil: time.Now).
func NewLimiter(rate, burst float64, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{rate: rate, burst: burst, tokens: burst, last: now(), now: now}
}

// Reserve takes n tokens and returns how long to wait before using them.
func (l *Limiter) Reserve(n float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	l.tokens -= n
	if l.tokens >= 0 {
		return 0
	}
	return time.Duration(-l.tokens / l.rate * float64(time.Second))
}

// Wait takes n tokens, waiting as long as the bucket says (or until ctx
// ends). A nil Limiter never waits.
func (l *Limiter) Wait(ctx context.Context, n float64) error {
	if l == nil {
		return ctx.Err()
	}
	d := l.Reserve(n)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
