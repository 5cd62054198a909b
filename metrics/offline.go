package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	offlineCount = newConst("sluice_offline_partitions",
		"Partitions whose log could not be opened (corruption or I/O error at start); they answer KAFKA_STORAGE_ERROR until repaired (`sluice repair`).",
		prometheus.GaugeValue)
	offlineLog = newConst("sluice_log_offline",
		"1 for each partition that is offline.", prometheus.GaugeValue, tp...)
)

// offlineCollector reports the store's offline partitions.
type offlineCollector struct{ m *Metrics }

func (offlineCollector) Describe(ch chan<- *prometheus.Desc) { describe(ch, offlineCount, offlineLog) }

func (c offlineCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.m.sources().Offline
	if f == nil {
		return
	}
	off := f()
	offlineCount.emit(ch, float64(len(off)))
	for _, o := range off {
		offlineLog.emit(ch, 1, o.Topic, strconv.Itoa(int(o.Partition)))
	}
}
