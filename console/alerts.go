package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Alert is one condition the console flags: on the overview, in
// GET /api/alerts, and to the webhook when it starts or ends.
type Alert struct {
	ID       string `json:"id"`       // stable: offline, disk, group:<name>:verdict, group:<name>:lag-records, group:<name>:lag-seconds
	Severity string `json:"severity"` // warning or critical
	Text     string `json:"text"`
	Link     string `json:"link,omitempty"` // the console page about it
}

// AlertRules are the thresholds beyond the built-in alerts (offline
// partitions, a disk over 90% full, groups that are lagging, stalled or
// stopped). Zero turns a rule off.
type AlertRules struct {
	// LagRecords [console.alerts.lag.records]: a group's total lag above
	// this many records.
	LagRecords int64
	// LagSeconds [console.alerts.lag.seconds]: a group's oldest
	// unconsumed record older than this (reads one batch per lagging
	// partition per check).
	LagSeconds int64
	// Webhook [console.alerts.webhook.url]: POSTed {"firing": [...],
	// "resolved": [...], "at": ms} when the alerts change (checked every
	// sample).
	Webhook string
}

// alerts evaluates every rule now.
func (c *Console) alerts(ctx context.Context) []Alert {
	out := []Alert{}
	var offline []string
	for _, o := range c.cfg.Store.Offline() {
		offline = append(offline, fmt.Sprintf("%s-%d", o.Topic, o.Partition))
	}
	for _, l := range c.cfg.Store.OfflineLogs() {
		offline = append(offline, fmt.Sprintf("%s-%d", l.Topic(), l.Partition()))
	}
	if len(offline) > 0 {
		out = append(out, Alert{"offline", "critical", fmt.Sprintf("%d partition(s) offline: %s", len(offline), strings.Join(offline[:min(len(offline), 5)], ", ")), ""})
	}
	if total, free := c.statDisk(c.cfg.Store.Dir()); total > 0 && float64(free)/float64(total) < 0.1 {
		out = append(out, Alert{"disk", "warning", fmt.Sprintf("data directory's disk is %.0f%% full", 100-100*float64(free)/float64(total)), ""})
	}
	for _, g := range c.groupVerdicts(ctx) {
		link := "#/groups/" + g.Group
		if g.Verdict != VerdictOK {
			sev := "critical"
			if g.Verdict == VerdictLagging {
				sev = "warning"
			}
			out = append(out, Alert{"group:" + g.Group + ":verdict", sev, fmt.Sprintf("consumer group %q is %s (lag %d records)", g.Group, g.Verdict, g.Lag), link})
		}
		if r := c.cfg.Alerts.LagRecords; r > 0 && g.Lag > r {
			out = append(out, Alert{"group:" + g.Group + ":lag-records", "warning", fmt.Sprintf("consumer group %q lags %d records (over %d)", g.Group, g.Lag, r), link})
		}
		if s := c.cfg.Alerts.LagSeconds; s > 0 && g.Lag > 0 {
			if age := c.oldestUnconsumed(ctx, g.Group); age > float64(s) {
				out = append(out, Alert{"group:" + g.Group + ":lag-seconds", "warning", fmt.Sprintf("consumer group %q is %.0f s behind (over %d s)", g.Group, age, s), link})
			}
		}
	}
	return out
}

// oldestUnconsumed is the age in seconds of the oldest record a group
// has not consumed, over its partitions.
func (c *Console) oldestUnconsumed(ctx context.Context, group string) float64 {
	if c.cfg.Lag == nil {
		return 0
	}
	all := c.topicPartsIn(ctx)
	var oldest float64
	for _, e := range c.lagEntries(ctx) {
		p, ok := partOf(all, e.Topic, e.Partition)
		if e.Group != group || e.End <= e.Committed || !ok || p.local == nil {
			continue
		}
		l := p.local
		if ts, ok, err := recordAt(ctx, l, max(e.Committed, l.LogStartOffset())); err == nil && ok {
			oldest = max(oldest, float64(time.Now().UnixMilli()-ts)/1000)
		}
	}
	return oldest
}

func diskSpace(dir string) (total, free uint64) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0
	}
	return st.Blocks * uint64(st.Bsize), st.Bavail * uint64(st.Bsize)
}

// GET /api/alerts
func (c *Console) alertsAPI(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"alerts": c.alerts(r.Context()),
		"rules": map[string]any{"lag_records": c.cfg.Alerts.LagRecords, "lag_seconds": c.cfg.Alerts.LagSeconds, "webhook": c.cfg.Alerts.Webhook != ""}})
}

// notifyAlerts (the sampler) evaluates the alerts, keeps them for
// /metrics (alertmetrics.go) and posts to the webhook the alerts that
// started and ended since the last post. A failed post is logged and
// retried at the next sample.
func (c *Console) notifyAlerts(ctx context.Context) {
	as := c.alerts(ctx)
	c.lastAlerts.Store(&evaluated{at: time.Now(), alerts: as})
	if c.cfg.Alerts.Webhook == "" {
		return
	}
	now := map[string]Alert{}
	for _, a := range as {
		now[a.ID] = a
	}
	firing, resolved := []Alert{}, []Alert{}
	for id, a := range now {
		if _, ok := c.sent[id]; !ok {
			firing = append(firing, a)
		}
	}
	for id, a := range c.sent {
		if _, ok := now[id]; !ok {
			resolved = append(resolved, a)
		}
	}
	if len(firing) == 0 && len(resolved) == 0 {
		return
	}
	sort.Slice(firing, func(i, j int) bool { return firing[i].ID < firing[j].ID })
	sort.Slice(resolved, func(i, j int) bool { return resolved[i].ID < resolved[j].ID })
	body, _ := json.Marshal(map[string]any{"firing": firing, "resolved": resolved, "at": time.Now().UnixMilli(), "cluster_id": c.cfg.ClusterID})
	if err := postJSON(ctx, c.cfg.Alerts.Webhook, body); err != nil {
		c.warnLimited("webhook", "console: alert webhook failed; retried each sample", "url", c.cfg.Alerts.Webhook, "err", err)
		return
	}
	c.sent = now
}

func postJSON(ctx context.Context, url string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}
