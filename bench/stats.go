package bench

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// meter counts bytes and records and records latencies, from every
// connection of a run; a sampler reads it once a second.
type meter struct {
	bytes, records atomic.Int64
	// values and valueBytes sum the value sizes consumers read (the first
	// record of each uncompressed batch): the record size consume reports.
	values, valueBytes atomic.Int64
	retries            atomic.Int64 // requests sent again after a retriable error
	mu                 struct {
		sync.Mutex
		sec *Histogram // since the last sample
		all *Histogram
	}
}

func newMeter() *meter {
	m := &meter{}
	m.mu.sec, m.mu.all = NewHistogram(), NewHistogram()
	return m
}

func (m *meter) add(bytes, records int64) {
	m.bytes.Add(bytes)
	m.records.Add(records)
}

func (m *meter) value(size int) {
	m.values.Add(1)
	m.valueBytes.Add(int64(size))
}

// recordSize is the mean value size seen by consumers (0: none seen).
func (m *meter) recordSize() int {
	n := m.values.Load()
	if n == 0 {
		return 0
	}
	return int((m.valueBytes.Load() + n/2) / n)
}

func (m *meter) latency(d time.Duration) {
	m.mu.Lock()
	m.mu.sec.Record(d)
	m.mu.all.Record(d)
	m.mu.Unlock()
}

// takeSecond returns the count, p50 and p99 of the latencies since the
// last call and starts a new second.
func (m *meter) takeSecond() (n uint64, p50, p99 time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, p50, p99 = m.mu.sec.Count(), m.mu.sec.Percentile(50), m.mu.sec.Percentile(99)
	m.mu.sec.Reset()
	return n, p50, p99
}

func (m *meter) summary() Latency {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.all.Summary()
}

// Sample is one second of a run.
type Sample struct {
	T             float64 `json:"t_s"` // end of the interval, seconds since start
	MBps          float64 `json:"mb_per_s"`
	RecordsPerSec float64 `json:"records_per_s"`
	Latencies     uint64  `json:"latencies"` // values behind P50 and P99 (0: none, no point charted)
	P50           float64 `json:"p50_ms"`
	P99           float64 `json:"p99_ms"`
}

// sampler takes a Sample of a meter every second and prints it to live.
type sampler struct {
	m     *meter
	live  io.Writer
	label string
	start time.Time
	stop  chan struct{}
	done  chan struct{}
	// written by run until done is closed
	series              []Sample
	lastT               time.Time
	lastBytes, lastRecs int64
}

// minLastSample is the shortest closing interval that still makes a
// sample: the tail of a run (a 1.08 s consume's last 80 ms) is charted too.
const minLastSample = 20 * time.Millisecond

func startSampler(m *meter, live io.Writer, label string) *sampler {
	now := time.Now()
	s := &sampler{m: m, live: live, label: label, start: now, lastT: now,
		stop: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	return s
}

func (s *sampler) run() {
	defer close(s.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			s.sample(now)
		case <-s.stop:
			if now := time.Now(); now.Sub(s.lastT) > minLastSample {
				s.sample(now)
			}
			return
		}
	}
}

func (s *sampler) sample(now time.Time) {
	b, r := s.m.bytes.Load(), s.m.records.Load()
	dt := now.Sub(s.lastT).Seconds()
	n, p50, p99 := s.m.takeSecond()
	smp := Sample{
		T:             now.Sub(s.start).Seconds(),
		MBps:          float64(b-s.lastBytes) / (1 << 20) / dt,
		RecordsPerSec: float64(r-s.lastRecs) / dt,
		Latencies:     n,
		P50:           ms(p50),
		P99:           ms(p99),
	}
	s.series = append(s.series, smp)
	s.lastT, s.lastBytes, s.lastRecs = now, b, r
	if s.live != nil {
		fmt.Fprintf(s.live, "%s %5.0fs %9.1f MB/s %10.0f records/s p50=%s p99=%s\n",
			s.label, smp.T, smp.MBps, smp.RecordsPerSec, fmtMS(smp.P50), fmtMS(smp.P99))
	}
}

// finish stops the sampler and returns the series.
func (s *sampler) finish() []Sample {
	close(s.stop)
	<-s.done
	return s.series
}

// Result is what a run reports (also its --json and results.json).
type Result struct {
	Mode          string   `json:"mode"`
	Topic         string   `json:"topic,omitempty"`
	Partitions    int      `json:"partitions,omitempty"`
	RecordSize    int      `json:"record_size,omitempty"` // consume: the mean value size read
	Acks          int16    `json:"acks"`
	Connections   int      `json:"connections,omitempty"`
	Inflight      int      `json:"inflight,omitempty"`
	Rate          string   `json:"rate,omitempty"`
	Bytes         int64    `json:"bytes"`
	Records       int64    `json:"records"`
	Seconds       float64  `json:"seconds"`
	MBps          float64  `json:"mb_per_s"`
	RecordsPerSec float64  `json:"records_per_s"`
	Latency       Latency  `json:"latency"`
	Retries       int64    `json:"retries,omitempty"` // Produce or Fetch requests sent again (retriable errors)
	Produce       *Result  `json:"produce,omitempty"` // e2e: the producing side
	Series        []Sample `json:"series,omitempty"`
	Floor         *Floor   `json:"floor,omitempty"`
	FloorRatio    float64  `json:"floor_ratio,omitempty"`
	Broker        *Usage   `json:"broker,omitempty"`
	// Client is the load generator's own process over the same window
	// as Broker (measured when Broker is): on a machine the two share,
	// what the client costs bounds what any broker can reach.
	Client *Usage `json:"client,omitempty"`
}

func (r *Result) setTotals(m *meter, elapsed time.Duration) {
	r.Bytes, r.Records = m.bytes.Load(), m.records.Load()
	r.Seconds = elapsed.Seconds()
	if r.Seconds > 0 {
		r.MBps = float64(r.Bytes) / (1 << 20) / r.Seconds
		r.RecordsPerSec = float64(r.Records) / r.Seconds
	}
	r.Latency = m.summary()
	r.Retries = m.retries.Load()
}

// Line is the last line of a run:
// MB/s=… records/s=… p50=… p99=… p99.9=… max=… [retries=…] [floor …]
// [broker …].
func (r *Result) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "MB/s=%.1f records/s=%.0f p50=%s p99=%s p99.9=%s max=%s",
		r.MBps, r.RecordsPerSec, fmtMS(r.Latency.P50), fmtMS(r.Latency.P99),
		fmtMS(r.Latency.P999), fmtMS(r.Latency.Max))
	if r.Retries > 0 {
		fmt.Fprintf(&b, " retries=%d", r.Retries)
	}
	if r.Floor != nil {
		fmt.Fprintf(&b, " floor=%s floor-MB/s=%.1f ratio=%.2f", r.Floor.Kind, r.Floor.MBps, r.FloorRatio)
	}
	if u := r.Broker; u != nil {
		fmt.Fprintf(&b, " broker-cpu-s/GB=%.2f broker-rss-MB=%.0f broker-hwm-MB=%.0f",
			u.CPUSecPerGB, u.RSSMB, u.HWMMB)
	}
	if u := r.Client; u != nil {
		fmt.Fprintf(&b, " client-cpu-s/GB=%.2f", u.CPUSecPerGB)
	}
	return b.String()
}

func fmtMS(v float64) string {
	switch {
	case v < 1:
		return fmt.Sprintf("%.3fms", v)
	case v < 100:
		return fmt.Sprintf("%.2fms", v)
	}
	return fmt.Sprintf("%.0fms", v)
}
