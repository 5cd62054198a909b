package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	offlineCount = newConst("sluice_offline_partitions",
		"Partitions that are offline: their log could not be opened (corruption or I/O error at start; `sluice repair`), or a write or fsync failed since (until restarted). They answer KAFKA_STORAGE_ERROR.",
		prometheus.GaugeValue)
	offlineLog = newConst("sluice_log_offline",
		"1 for each partition that is offline.", prometheus.GaugeValue, tp...)
)

// offlineCollector reports the store's offline partitions.
type offlineCollector struct{ m *Metrics }

func (offlineCollector) Describe(ch chan<- *prometheus.Desc) { describe(ch, offlineCount, offlineLog) }

func (c offlineCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.m.sources()
	n := 0
	if src.Offline != nil {
		for _, o := range src.Offline() {
			n++
			offlineLog.emit(ch, 1, o.Topic, strconv.Itoa(int(o.Partition)))
		}
	}
	if src.Logs != nil {
		for _, l := range src.Logs() {
			if l.Offline() != nil {
				n++
				offlineLog.emit(ch, 1, l.Topic(), strconv.Itoa(int(l.Partition())))
			}
		}
	}
	if src.Offline != nil || src.Logs != nil {
		offlineCount.emit(ch, float64(n))
	}
}
