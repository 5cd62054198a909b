package console

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Alerts as Prometheus metrics (registered on /metrics by sluiced):
//
//	sluice_console_alerts{rule,severity}             firing alerts per rule (0 for every rule not firing)
//	sluice_console_alert_firing{id,rule,severity}    1 per firing alert (id as in GET /api/alerts)
//	sluice_console_alerts_evaluated_timestamp_seconds when the rules were last evaluated
//
// The values are the sampler's last evaluation (every SampleEvery, 5 s);
// before the first one a scrape evaluates the rules itself.

// Alert rules and the severities they raise.
var alertRules = []struct{ rule, severity string }{
	{"offline", "critical"}, {"disk", "warning"},
	{"group_verdict", "warning"}, {"group_verdict", "critical"},
	{"group_lag_records", "warning"}, {"group_lag_seconds", "warning"},
}

// alertRule is the rule that raised the alert with id.
func alertRule(id string) string {
	i := strings.LastIndexByte(id, ':')
	if !strings.HasPrefix(id, "group:") || i < 0 {
		return id
	}
	return "group_" + strings.ReplaceAll(id[i+1:], "-", "_")
}

type evaluated struct {
	at     time.Time
	alerts []Alert
}

var (
	alertsDesc = prometheus.NewDesc("sluice_console_alerts", "Web console alerts firing, per rule and severity (0: none).",
		[]string{"rule", "severity"}, nil)
	alertFiringDesc = prometheus.NewDesc("sluice_console_alert_firing", "1 for each web console alert firing (id as GET /api/alerts names it).",
		[]string{"id", "rule", "severity"}, nil)
	alertsEvalDesc = prometheus.NewDesc("sluice_console_alerts_evaluated_timestamp_seconds",
		"When the web console last evaluated its alert rules (Unix seconds).", nil, nil)
)

type alertCollector struct{ c *Console }

// Collector exposes the console's alerts as Prometheus metrics.
func (c *Console) Collector() prometheus.Collector { return alertCollector{c} }

func (alertCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- alertsDesc
	ch <- alertFiringDesc
	ch <- alertsEvalDesc
}

func (a alertCollector) Collect(ch chan<- prometheus.Metric) {
	ev := a.c.lastAlerts.Load()
	if ev == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ev = &evaluated{at: time.Now(), alerts: a.c.alerts(ctx)}
		cancel()
	}
	counts := map[[2]string]float64{}
	for _, r := range alertRules {
		counts[[2]string{r.rule, r.severity}] = 0
	}
	for _, al := range ev.alerts {
		rule := alertRule(al.ID)
		counts[[2]string{rule, al.Severity}]++
		ch <- prometheus.MustNewConstMetric(alertFiringDesc, prometheus.GaugeValue, 1, al.ID, rule, al.Severity)
	}
	for k, v := range counts {
		ch <- prometheus.MustNewConstMetric(alertsDesc, prometheus.GaugeValue, v, k[0], k[1])
	}
	ch <- prometheus.MustNewConstMetric(alertsEvalDesc, prometheus.GaugeValue, float64(ev.at.UnixNano())/1e9)
}
