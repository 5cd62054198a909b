package console

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluice/sluice/broker"
)

// TestAlertsWebhook: lag thresholds and verdicts raise alerts, the webhook
// hears when they start and when they end, and GET /api/alerts lists them.
func TestAlertsWebhook(t *testing.T) {
	var mu sync.Mutex
	var posts []struct{ Firing, Resolved []Alert }
	fail := true
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if fail { // the first post fails: the alerts are sent again next time
			fail = false
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		var p struct{ Firing, Resolved []Alert }
		if err := json.Unmarshal(b, &p); err != nil {
			t.Errorf("webhook body %q: %v", b, err)
		}
		posts = append(posts, p)
	}))
	defer hook.Close()
	e := startEnv(t)
	e.con.cfg.Alerts = AlertRules{LagRecords: 5, LagSeconds: 1, Webhook: hook.URL}
	e.con.statDisk = func(string) (uint64, uint64) { return 100 << 30, 50 << 30 } // half full, whatever the host's disk
	e.createTopic(t, "events", 1)
	e.produce(t, "events", 0, 10, 10, func(i int) string { return "x" })
	consume(t, e, "app", 10)
	e.produce(t, "events", 0, 20, 10, func(i int) string { return "y" })
	// The lag-seconds rule needs the oldest unconsumed record to be over
	// a second old: the records carry the producer's timestamps, so wait
	// for the clock to pass it (polling, no fixed sleep).
	deadline := time.Now().Add(10 * time.Second)
	for e.con.oldestUnconsumed(t.Context(), "app") <= 1 {
		if time.Now().After(deadline) {
			t.Fatal("the oldest unconsumed record never got a second old")
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.con.sample(time.Now())
	e.con.notifyAlerts(t.Context()) // fails: 503
	e.con.notifyAlerts(t.Context())
	mu.Lock()
	if len(posts) != 1 || len(posts[0].Firing) != 3 || len(posts[0].Resolved) != 0 {
		t.Fatalf("first webhook post: %+v", posts)
	}
	ids := []string{posts[0].Firing[0].ID, posts[0].Firing[1].ID, posts[0].Firing[2].ID}
	mu.Unlock()
	if strings.Join(ids, " ") != "group:app:lag-records group:app:lag-seconds group:app:verdict" {
		t.Fatalf("alerts fired: %v", ids)
	}
	m := scrapeAlerts(t, e.con)
	for _, want := range []string{`sluice_console_alerts{rule="group_lag_records",severity="warning"} 1`,
		`sluice_console_alerts{rule="group_lag_seconds",severity="warning"} 1`, `sluice_console_alerts{rule="offline",severity="critical"} 0`,
		`sluice_console_alert_firing{id="group:app:lag-records",rule="group_lag_records",severity="warning"} 1`,
		`sluice_console_alert_firing{id="group:app:verdict",rule="group_verdict",severity=`} {
		if !strings.Contains(m, want) {
			t.Errorf("alert metrics lack %s:\n%s", want, m)
		}
	}
	var list struct{ Alerts []Alert }
	mustStatus(t, "alerts", e.get(t, "/api/alerts", &list), 200, list)
	if len(list.Alerts) != 3 {
		t.Fatalf("GET /api/alerts: %+v", list)
	}
	e.con.notifyAlerts(t.Context()) // nothing changed: no post
	var out map[string]any
	mustStatus(t, "reset", e.post(t, "/api/groups/app/reset", map[string]any{"topic": "events", "to": "latest", "apply": true}, &out), 200, out)
	e.con.notifyAlerts(t.Context())
	mu.Lock()
	defer mu.Unlock()
	if len(posts) != 2 || len(posts[1].Firing) != 0 || len(posts[1].Resolved) != 3 {
		t.Fatalf("webhook posts after the reset: %+v", posts)
	}
	if m := scrapeAlerts(t, e.con); strings.Contains(m, "sluice_console_alert_firing") ||
		!strings.Contains(m, `sluice_console_alerts{rule="group_lag_records",severity="warning"} 0`) {
		t.Errorf("alert metrics after the reset:\n%s", m)
	}
}

// scrapeAlerts is c's alert metrics in Prometheus' text format.
func scrapeAlerts(t *testing.T, c *Console) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.Collector())
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

// TestSamplerPassListsPartitionsOnce: the sampler's pass (a sample and
// the alerts) lists the cluster's partitions only for the consumer
// groups' lag: with no group it lists none (at 10,000 partitions that
// listing, five times every 5 s, was half of an idle broker's CPU), with
// one it lists them once for the whole pass.
func TestSamplerPassListsPartitionsOnce(t *testing.T) {
	var listed atomic.Int32
	e := startEnvWith(t, time.Now(), nil, func(c *Config, _ *broker.Broker) {
		c.Topics = func() map[string][]PartitionMeta { listed.Add(1); return nil } // nil: the store's logs
	}, nil)
	e.createTopic(t, "events", 4)
	e.produce(t, "events", 0, 10, 10, func(i int) string { return "x" })
	e.con.cfg.Alerts.LagSeconds = 1 // one more step that needs the listing
	e.con.pass(time.Now())
	if n := listed.Load(); n != 0 {
		t.Fatalf("with no consumer group, one sampler pass listed the partitions %d times", n)
	}
	consume(t, e, "app", 5)
	e.con.pass(time.Now())
	if n := listed.Load(); n != 1 {
		t.Fatalf("with a consumer group, one sampler pass listed the partitions %d times, want 1", n)
	}
	// Outside a pass (the API's handlers) each call lists afresh.
	listed.Store(0)
	e.con.sample(time.Now())
	e.con.notifyAlerts(t.Context())
	if n := listed.Load(); n < 2 {
		t.Fatalf("a sample and the alerts outside a pass listed the partitions %d times, want one each at least", n)
	}
}
