package console

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice/sluice/broker"
	"github.com/sluice/sluice/internal/testlog"
)

// TestWebhookFailureWarnedOncePerMinute: a webhook that is down is retried
// at every sample (every 5 s), but warned about at most once a minute, the
// next warning counting the ones held back.
func TestWebhookFailureWarnedOncePerMinute(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer hook.Close()
	var evaluated atomic.Int32
	var logs testlog.Buffer
	var clock atomic.Int64
	start := time.Now()
	clock.Store(start.UnixNano())
	e := startEnvWith(t, start, nil, func(c *Config, _ *broker.Broker) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		c.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	}, nil)
	e.con.cfg.Alerts = AlertRules{Webhook: hook.URL}
	e.con.statDisk = func(string) (uint64, uint64) { evaluated.Add(1); return 100 << 30, 5 << 30 } // 95% full: an alert fires
	for i, at := range []time.Duration{0, 5 * time.Second, 10 * time.Second, 55 * time.Second, 61 * time.Second, 66 * time.Second} {
		clock.Store(start.Add(at).UnixNano())
		e.con.notifyAlerts(t.Context())
		if int(evaluated.Load()) != i+1 {
			t.Fatalf("sample %d: %d evaluations", i, evaluated.Load())
		}
	}
	got := logs.Lines("alert webhook failed")
	if len(got) != 2 || strings.Contains(got[0], "suppressed") || !strings.Contains(got[1], "suppressed=3") {
		t.Fatalf("warnings over six failed posts in 66 s: %q, want two, the second with suppressed=3", got)
	}
}
