// Package metrics exports sluiced's Prometheus metrics, every name
// prefixed sluice_. Request counts, latencies and bytes per API key come
// from wrapping the broker's netio.Handler (Instrument); the writer's
// rounds and fsyncs from a partition.Observer (Observer, given to the
// store); everything else is read at scrape time from the running parts
// (Sources), so the hot paths pay nothing for it:
//
//	sluice_requests_total{api}                 requests handled, by API key name (Produce, Fetch, …)
//	sluice_request_errors_total{api}           requests whose handling closed the connection
//	sluice_request_duration_seconds{api}       handling time, histogram (a long-poll Fetch counts its wait)
//	sluice_request_bytes_total{api}            request bytes received (frames without the size prefix)
//	sluice_response_bytes_total{api}           response body bytes queued (record bytes of a Fetch included)
//	sluice_connections_open                    netio: connections open now
//	sluice_connections_accepted_total          netio: connections accepted
//	sluice_connections_idle_closed_total       netio: closed by connections.max.idle.ms
//	sluice_frames_rejected_total               netio: size prefixes out of range (connection closed)
//	sluice_inbound_overflows_total             netio: stopped connections closed for unread input over budget
//	sluice_connections_timed_out_total{reason} netio: closed by a deadline: write (no progress for connections.max.idle.ms), request_read (sluice.request.read.timeout.ms)
//	sluice_connections_muted_total             netio: connections whose reading stopped at the socket for back-pressure
//	sluice_tls_handshakes_total{result}        netio: TLS handshakes: ok, failed, timeout
//	sluice_tls_copied_bytes_total              netio: record bytes read and encrypted through a buffer on TLS listeners
//	sluice_accept_errors_total                 netio: failed accepts (EMFILE, ENFILE, …), each followed by a back-off
//	sluice_connections_shed_total              netio: connections closed unserved because file descriptors ran out
//	sluice_connections_refused_total{reason}   netio: closed by max.connections, max.connections.per.ip, max.connection.creation.rate;
//	                                           tls_on_plaintext: a TLS ClientHello, answered a handshake_failure alert and closed (client security.protocol SSL/SASL_SSL);
//	                                           sasl_on_plaintext: SASL requests answered ILLEGAL_SASL_STATE (broker; client SASL_PLAINTEXT)
//	sluice_sasl_authentications_total{result}  SASL listeners: succeeded, failed (SASL_AUTHENTICATION_FAILED), reauthenticated (KIP-368), rate_limited (address blocked)
//	sluice_sasl_blocked_addresses              client addresses refused SASL authentication now (sluice.failed.authentication.*)
//	sluice_sasl_connections_closed_total{reason} SASL listeners: unauthenticated (a request before authentication), expired (session ended without re-authentication)
//	sluice_handler_panics_recovered_total      netio: handler panics recovered
//	sluice_queued_bytes                        netio: bytes counted against connection budgets now
//	sluice_frame_mapped_bytes{state}           netio: request frame buffers mapped outside the Go heap: in_use, free
//	sluice_fetch_sendfile_bytes_total          bytes sent with sendfile(2)
//	sluice_fetch_copied_bytes_total            bytes sent by the copy fallback (pread + write)
//	sluice_replica_fetch_bytes_total{path}     netio: record bytes of followers' Fetch responses, by path:
//	                                           sendfile, or copied (TLS listener, or sendfile unsupported)
//	sluice_log_size_bytes{topic,partition}     bytes of all segments
//	sluice_log_segments{topic,partition}       segment count
//	sluice_log_start_offset{topic,partition}
//	sluice_log_end_offset{topic,partition}
//	sluice_log_high_watermark{topic,partition}
//	sluice_log_dirty_ratio{topic,partition}    compacted logs: share of inactive bytes written since the last cleaning
//	sluice_append_round_bytes                  bytes per pwritev of the writer, histogram (4 KiB..64 MiB)
//	sluice_append_round_batches                batches per pwritev (group commit: appends sharing one write), histogram
//	sluice_fsync_duration_seconds              fsync time of a segment, histogram (--fsync always or interval, rolls, shutdown)
//	sluice_metadata_apply_lag_seconds{stage}   metadata log entry: controller's append to this node's apply, histogram; stage image or reconciled (controller/applylag.go)
//	sluice_unclean_leader_elections_total      unclean leader elections committed by this node as active controller (controller/unclean.go)
//	sluice_cleaner_cleanings_total             log cleaner: logs cleaned
//	sluice_cleaner_bytes_read_total            log cleaner: segment bytes read and rewritten
//	sluice_cleaner_bytes_written_total         log cleaner: bytes of the cleaned segments written
//	sluice_cleaner_seconds_total               log cleaner: time spent cleaning
//	sluice_cleaner_errors_total                log cleaner: cleanings that failed
//	sluice_topic_bytes_in_total{topic}         record bytes appended (idempotent duplicates excluded)
//	sluice_topic_bytes_out_total{topic}        record bytes sent in Fetch responses
//	sluice_topic_converted_bytes_in_total{topic}   legacy (magic 0/1) bytes up-converted on Produce v0-2
//	sluice_topic_converted_bytes_out_total{topic}  batch bytes down-converted (copied) for Fetch v0-3
//	sluice_fetch_record_bytes_total{to="consumer"|"follower"}  record bytes sent in Fetch responses (consumers: also as a KIP-392 follower)
//	sluice_replica_fetched_bytes_total         record bytes fetched from leaders as a follower
//	sluice_replication_throttle_rate_bytes{side="leader"|"follower"}   leader./follower.replication.throttled.rate (-1: off)
//	sluice_replication_throttled_bytes_total{side}   bytes of throttled partitions (the quota's input)
//	sluice_replication_throttled_bytes_per_second{side}   their rate now, over the quota's 11 s window
//	sluice_replication_throttled_fetches_total{side}   partition fetches held back by the quota
//	sluice_consumer_group_committed_offset{group,topic,partition}
//	sluice_consumer_group_lag{group,topic,partition}   high watermark minus the committed offset
//	sluice_broker_info{node_id,cluster_id}     1
//	sluice_build_info{version,revision,go_version} 1
//	sluice_go_*, sluice_process_*              the Go runtime and process collectors
//
// Label values that come from clients (group names; topic names are
// validated, client ids are never labels) may be any bytes, but Prometheus
// needs UTF-8: a byte that is not part of valid UTF-8 is written \xNN
// (labelValue). A scrape never fails as a whole: a collector's error is
// logged and the other metrics are served, and no error text (which may
// hold a stack trace) reaches the HTTP response.
package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/broker"
	"github.com/sluice/sluice/buildinfo"
	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/partition"
	"github.com/sluice/sluice/sendfile"
)

// Sources are what the collectors read at scrape time. Any field may be
// zero; SetSources replaces them (before the store opens there is none,
// and they are dropped before it closes).
type Sources struct {
	Net       func() netio.Stats
	Logs      func() []*partition.Log
	Traffic   func() map[string]broker.TopicTraffic
	Lag       func() []broker.PartitionLag
	Sessions  func() broker.FetchSessionStats // the fetch session cache (KIP-227)
	Cleaner   func() partition.CleanerStats
	Offline   func() []partition.OfflineLog  // partitions the store could not open (offline.go)
	SASL      func() uint64                  // SASL requests refused on the PLAINTEXT listener (broker.Broker.SASLRefused)
	SASLAuth  func() broker.SASLStats        // SASL listeners' authentications (broker.Broker.SASLStats)
	Txns      func() map[string]int          // transactional ids by state (broker.Broker.TransactionStates)
	Repl      func() broker.ReplicationStats // fetch bytes and replication throttles (broker.Broker.ReplicationStats)
	NodeID    int32
	ClusterID string
}

// Metrics is one registry with sluiced's collectors.
type Metrics struct {
	reg    *prometheus.Registry
	req    *requestMetrics // sharded (shard.go)
	errors *prometheus.CounterVec

	roundBytes   histCollector // sharded by partition
	roundBatches histCollector
	fsyncs       prometheus.Histogram
	applyLag     *prometheus.HistogramVec // metadata apply lag, by stage

	mu struct {
		sync.Mutex
		src Sources
	}
}

// New registers every collector on a new registry.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.req = newRequestMetrics()
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_request_errors_total",
		Help: "Kafka requests whose handling failed and closed the connection, by API key."}, []string{"api"})
	m.newWriterHistograms()
	m.reg.MustRegister(m.req, m.errors,
		m.roundBytes, m.roundBatches, m.fsyncs, m.applyLag,
		netCollector{m}, sendfileCollector{}, logCollector{m}, infoCollector{m},
		trafficCollector{m}, lagCollector{m}, sessionCollector{m}, cleanerCollector{m}, offlineCollector{m}, txnCollector{m}, replCollector{m})
	prefixed := prometheus.WrapRegistererWithPrefix("sluice_", m.reg)
	prefixed.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// newWriterHistograms creates the histograms fed by Observer.
func (m *Metrics) newWriterHistograms() {
	m.roundBytes = newHistCollector("sluice_append_round_bytes",
		"Bytes written by one pwritev of a partition's writer (every append queued meanwhile).",
		prometheus.ExponentialBuckets(4<<10, 2, 15))
	m.roundBatches = newHistCollector("sluice_append_round_batches",
		"Record batches written by one pwritev of a partition's writer.",
		prometheus.ExponentialBuckets(1, 2, 12))
	m.fsyncs = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_fsync_duration_seconds",
		Help:    "Time of one fsync of a segment (appends under --fsync always, interval and shutdown flushes, rolled segments).",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)})
	m.applyLag = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_metadata_apply_lag_seconds",
		Help: "Time from the active controller's append of a metadata log entry to this node applying it, by stage: " +
			"image (its metadata image swapped) and reconciled (its broker's local logs brought to that image). " +
			"Clocks of different hosts add their skew; it includes the commit, so it bounds the lag since commit from above.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"stage"})
}

// MetadataApplied observes one metadata log entry's apply lag at stage
// (controller.StageImage or controller.StageReconciled).
func (m *Metrics) MetadataApplied(stage string, lag time.Duration) {
	m.applyLag.WithLabelValues(stage).Observe(lag.Seconds())
}

// UncleanElections exports n, the unclean leader elections this node
// committed as the active controller (controller.UncleanElections), as
// sluice_unclean_leader_elections_total. Call it once the node's
// controller runs; a second call is ignored.
func (m *Metrics) UncleanElections(n func() int64) {
	c := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sluice_unclean_leader_elections_total",
		Help: "Unclean leader elections this node committed as the active controller since it started " +
			"(unclean.leader.election.enable; Kafka's UncleanLeaderElectionsPerSec): leaders elected outside the ISR, " +
			"losing the records only the lost replicas held. Each is logged at ERROR with topic, partition and leader."},
		func() float64 { return float64(n()) })
	_ = m.reg.Register(c) // AlreadyRegisteredError on a second call: the first stays
}

// Observer is the partition.Observer feeding the writer's histograms;
// pass it as partition.StoreConfig.Observer.
func (m *Metrics) Observer() partition.Observer { return observer{m} }

type observer struct{ m *Metrics }

func (o observer) Appended(_ string, partition int32, batches int, bytes int64) {
	o.m.roundBytes.h.observe(uint64(partition), uint64(max(bytes, 0)))
	o.m.roundBatches.h.observe(uint64(partition), uint64(max(batches, 0)))
}

func (o observer) Fsynced(_ string, _ int32, d time.Duration) { o.m.fsyncs.Observe(d.Seconds()) }

// SetSources replaces what the scrape-time collectors read.
func (m *Metrics) SetSources(s Sources) {
	m.mu.Lock()
	m.mu.src = s
	m.mu.Unlock()
}

func (m *Metrics) sources() Sources {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.src
}

// Handler serves the registry in Prometheus' text format. A collector
// that fails (or panics) loses its own samples only: the error goes to log
// and the rest is served with status 200, so one bad label value cannot
// take /metrics down, and no error text reaches the client.
func (m *Metrics) Handler(log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	g := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		mfs, err := m.reg.Gather()
		if err != nil {
			log.Error("metrics: some samples could not be gathered", "err", err)
		}
		return mfs, nil
	})
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slogPrintln{log},
	})
}

// slogPrintln is promhttp's error logger (encoding errors) on slog.
type slogPrintln struct{ log *slog.Logger }

func (l slogPrintln) Println(v ...any) {
	l.log.Error("metrics: cannot serve", "err", strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}

// Registry is the registry (for tests and extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Instrument wraps h to count, time and size every request by API key.
// The result is a netio.QuickChecker, a netio.FrameRecycler and a
// netio.FrameScanner that ask h when h is one.
func (m *Metrics) Instrument(h netio.Handler) netio.Handler {
	q, _ := h.(netio.QuickChecker)
	r, _ := h.(netio.FrameRecycler)
	s, _ := h.(netio.FrameScanner)
	return &instrumented{m: m, h: h, q: q, r: r, s: s}
}

type instrumented struct {
	m *Metrics
	h netio.Handler
	q netio.QuickChecker  // h's, or nil
	r netio.FrameRecycler // h's, or nil
	s netio.FrameScanner  // h's, or nil
}

// Quick forwards to the wrapped Handler (netio.QuickChecker); false when
// it has no such method.
func (i *instrumented) Quick(c *netio.Conn, frame []byte) bool {
	return i.q != nil && i.q.Quick(c, frame)
}

// Recycles forwards to the wrapped Handler (netio.FrameRecycler); false
// when it has no such method. Handle reads no frame after h's Handle.
func (i *instrumented) Recycles(head []byte) bool {
	return i.r != nil && i.r.Recycles(head)
}

// ScanFrame forwards to the wrapped Handler (netio.FrameScanner); nil
// when it has no such method.
func (i *instrumented) ScanFrame(head []byte, size int) netio.FrameScan {
	if i.s == nil {
		return nil
	}
	return i.s.ScanFrame(head, size)
}

func (i *instrumented) Handle(ctx context.Context, c *netio.Conn, frame []byte) (*netio.Response, error) {
	a := i.forAPI(frame)
	var shard uint64
	if c != nil {
		shard = c.ID()
	}
	in := len(frame)
	start := time.Now()
	resp, err := i.h.Handle(ctx, c, frame)
	if err == nil && resp.IsPending() {
		// A pipelined produce: counted when its wait is over, so its
		// latency covers the fsync or the replicas as before.
		return netio.Pending(func() (*netio.Response, error) {
			out, err := resp.Wait()
			i.observe(a, shard, in, start, out, err)
			return out, err
		}), nil
	}
	i.observe(a, shard, in, start, resp, err)
	return resp, err
}

// forAPI returns the metrics of frame's API key.
func (i *instrumented) forAPI(frame []byte) *apiMetrics {
	if len(frame) < 2 {
		return i.m.req.forName("Unknown")
	}
	return i.m.req.forKey(int16(frame[0])<<8|int16(frame[1]), kmsg.NameForKey)
}

// observe counts one served request in its connection's shard.
func (i *instrumented) observe(a *apiMetrics, shard uint64, in int, start time.Time, resp *netio.Response, err error) {
	s := a.h.observe(shard, uint64(max(time.Since(start), 0)))
	s.in.Add(uint64(in))
	if resp != nil {
		s.out.Add(uint64(resp.Len()))
		s.outs.Add(1)
	}
	if err != nil {
		i.m.errors.WithLabelValues(a.api).Inc()
	}
}

// constMetric describes one scrape-time metric.
type constMetric struct {
	desc *prometheus.Desc
	kind prometheus.ValueType
}

func newConst(name, help string, kind prometheus.ValueType, labels ...string) constMetric {
	return constMetric{prometheus.NewDesc(name, help, labels, nil), kind}
}

// emit sends one sample, its label values made valid UTF-8 (labelValue).
// An error is reported for this sample only (the scrape goes on).
func (c constMetric) emit(ch chan<- prometheus.Metric, v float64, labels ...string) {
	for i, l := range labels {
		labels[i] = labelValue(l)
	}
	m, err := prometheus.NewConstMetric(c.desc, c.kind, v, labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(c.desc, err)
	}
	ch <- m
}

// labelValue is s when it is valid UTF-8; otherwise each byte that is not
// part of a valid sequence is written as \xNN, so that different byte
// strings stay distinct labels as far as possible (a valid name spelling
// the escape itself can still collide; Handler then serves the first).
func labelValue(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			fmt.Fprintf(&b, "\\x%02x", s[i])
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

var (
	connsOpen     = newConst("sluice_connections_open", "Kafka connections open now.", prometheus.GaugeValue)
	connsAccepted = newConst("sluice_connections_accepted_total", "Kafka connections accepted.", prometheus.CounterValue)
	idleClosed    = newConst("sluice_connections_idle_closed_total", "Connections closed after connections.max.idle.ms.", prometheus.CounterValue)
	framesRej     = newConst("sluice_frames_rejected_total", "Request size prefixes out of range (each closed its connection).", prometheus.CounterValue)
	overflows     = newConst("sluice_inbound_overflows_total", "Connections closed for unread input beyond their budget.", prometheus.CounterValue)
	timedOut      = newConst("sluice_connections_timed_out_total", "Connections closed by a deadline: write (responses made no progress for connections.max.idle.ms) or request_read (a partial request older than sluice.request.read.timeout.ms).", prometheus.CounterValue, "reason")
	muted         = newConst("sluice_connections_muted_total", "Connections whose reading was stopped at the socket while over their budget (back-pressure).", prometheus.CounterValue)
	acceptErrors  = newConst("sluice_accept_errors_total", "Failed accepts on the Kafka listener (EMFILE, ENFILE, ENOBUFS, ...), each followed by a back-off.", prometheus.CounterValue)
	shed          = newConst("sluice_connections_shed_total", "Connections closed unserved because file descriptors ran out.", prometheus.CounterValue)
	refused       = newConst("sluice_connections_refused_total", "Connections refused: closed at once by a connection limit, or speaking the wrong security.protocol to this PLAINTEXT listener (tls_on_plaintext: a TLS ClientHello, answered a handshake_failure alert and closed; sasl_on_plaintext: SASL requests answered ILLEGAL_SASL_STATE).", prometheus.CounterValue, "reason")
	tlsHandshakes = newConst("sluice_tls_handshakes_total", "TLS handshakes on SSL and SASL_SSL listeners, by result: ok, failed (wrong CA, no or unmapped client certificate, not TLS; each closed its connection) or timeout (not finished within 10 s).", prometheus.CounterValue, "result")
	tlsCopied     = newConst("sluice_tls_copied_bytes_total", "Record bytes read and encrypted through a buffer on TLS listeners (no sendfile without kTLS).", prometheus.CounterValue)
	saslAuth      = newConst("sluice_sasl_authentications_total", "SASL authentications on SASL listeners: succeeded, failed (answered SASL_AUTHENTICATION_FAILED, or closed on a v0 handshake), reauthenticated (KIP-368), rate_limited (refused: the client address failed sluice.failed.authentication.max.per.address times within the window).", prometheus.CounterValue, "result")
	saslBlocked   = newConst("sluice_sasl_blocked_addresses", "Client addresses whose SASL authentications are refused now (too many failures within sluice.failed.authentication.window.ms).", prometheus.GaugeValue)
	saslClosed    = newConst("sluice_sasl_connections_closed_total", "Connections on SASL listeners closed by the broker: unauthenticated (a request other than ApiVersions or the SASL APIs before authentication), expired (the session of connections.max.reauth.ms ended without re-authentication).", prometheus.CounterValue, "reason")
	panics        = newConst("sluice_handler_panics_recovered_total", "Request handler panics recovered (each closed its connection).", prometheus.CounterValue)
	queued        = newConst("sluice_queued_bytes", "Bytes of requests and responses counted against connection budgets now.", prometheus.GaugeValue)
	frameMapped   = newConst("sluice_frame_mapped_bytes", "Bytes of produce request buffers mapped outside the Go heap: in_use (read or being served), free (kept for reuse, at most the peak in use over the last one to two minutes or 16 MiB).", prometheus.GaugeValue, "state")
	sentBytes     = newConst("sluice_fetch_sendfile_bytes_total", "Record bytes sent with sendfile(2).", prometheus.CounterValue)
	replicaBytes  = newConst("sluice_replica_fetch_bytes_total", "Record bytes of followers' Fetch responses (replication) sent by this broker as leader, by path: sendfile (zero copy) or copied (read and written through a buffer: a TLS listener, or sendfile unsupported).", prometheus.CounterValue, "path")
	copiedBytes   = newConst("sluice_fetch_copied_bytes_total", "Record bytes sent by the copy fallback (pread and write).", prometheus.CounterValue)
	tp            = []string{"topic", "partition"}
	logSize       = newConst("sluice_log_size_bytes", "Bytes of all segments of a partition.", prometheus.GaugeValue, tp...)
	logSegments   = newConst("sluice_log_segments", "Segments of a partition.", prometheus.GaugeValue, tp...)
	logStart      = newConst("sluice_log_start_offset", "First offset of a partition.", prometheus.GaugeValue, tp...)
	logEnd        = newConst("sluice_log_end_offset", "Offset the next record of a partition gets.", prometheus.GaugeValue, tp...)
	logHW         = newConst("sluice_log_high_watermark", "Offset up to which a partition's records are visible to consumers.", prometheus.GaugeValue, tp...)
	logLSO        = newConst("sluice_log_last_stable_offset", "Offset below which a partition's transactions are all decided (read_committed consumers read up to it); the high watermark minus it is the LSO lag an open transaction causes.", prometheus.GaugeValue, tp...)
	dirtyRatio    = newConst("sluice_log_dirty_ratio", "Compacted partitions: share of the inactive segments' bytes written since the last cleaning.", prometheus.GaugeValue, tp...)
	cleanings     = newConst("sluice_cleaner_cleanings_total", "Logs cleaned by the log cleaner.", prometheus.CounterValue)
	cleanRead     = newConst("sluice_cleaner_bytes_read_total", "Segment bytes the log cleaner read and rewrote.", prometheus.CounterValue)
	cleanWritten  = newConst("sluice_cleaner_bytes_written_total", "Bytes of cleaned segments the log cleaner wrote.", prometheus.CounterValue)
	cleanSeconds  = newConst("sluice_cleaner_seconds_total", "Time the log cleaner spent cleaning.", prometheus.CounterValue)
	cleanErrors   = newConst("sluice_cleaner_errors_total", "Cleanings that failed (each logged).", prometheus.CounterValue)
	topicIn       = newConst("sluice_topic_bytes_in_total", "Record bytes appended to a topic since start (idempotent duplicates excluded).", prometheus.CounterValue, "topic")
	topicOut      = newConst("sluice_topic_bytes_out_total", "Record bytes sent from a topic in Fetch responses since start.", prometheus.CounterValue, "topic")
	topicConvIn   = newConst("sluice_topic_converted_bytes_in_total", "Legacy message-set bytes (magic 0/1, Produce v0-2) up-converted to RecordBatch v2 since start.", prometheus.CounterValue, "topic")
	topicConvOut  = newConst("sluice_topic_converted_bytes_out_total", "RecordBatch bytes down-converted (copied, not sent by sendfile) for Fetch v0-3 since start.", prometheus.CounterValue, "topic")
	fetchSessions = newConst("sluice_fetch_sessions", "Incremental fetch sessions (KIP-227) cached now (Kafka's NumIncrementalFetchSessions).", prometheus.GaugeValue)
	sessionParts  = newConst("sluice_fetch_session_partitions", "Partitions held by all cached fetch sessions (Kafka's NumIncrementalFetchPartitionsCached).", prometheus.GaugeValue)
	sessionEvict  = newConst("sluice_fetch_session_evictions_total", "Fetch sessions evicted to make room for new ones.", prometheus.CounterValue)
	fetchListed   = newConst("sluice_fetch_request_partitions_total", "Partitions listed in Fetch requests (with sessions, only those whose position moved).", prometheus.CounterValue)
	txnStates     = newConst("sluice_transactions", "Transactional ids known to the transaction coordinator, by state (Ongoing ones hold back read_committed consumers of their partitions until they end or time out).", prometheus.GaugeValue, "state")
	gtp           = []string{"group", "topic", "partition"}
	committedOff  = newConst("sluice_consumer_group_committed_offset", "A consumer group's committed offset on a partition.", prometheus.GaugeValue, gtp...)
	groupLag      = newConst("sluice_consumer_group_lag", "A consumer group's lag on a partition: the high watermark minus its committed offset.", prometheus.GaugeValue, gtp...)
	brokerInfo    = newConst("sluice_broker_info", "The broker's identity (always 1).", prometheus.GaugeValue, "node_id", "cluster_id")
	buildInfo     = newConst("sluice_build_info", "The binary's version and git revision (always 1).", prometheus.GaugeValue, "version", "revision", "go_version")
)

func describe(ch chan<- *prometheus.Desc, ms ...constMetric) {
	for _, m := range ms {
		ch <- m.desc
	}
}

type netCollector struct{ m *Metrics }

func (netCollector) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, connsOpen, connsAccepted, idleClosed, framesRej, overflows, timedOut, muted, acceptErrors, shed, refused, panics, queued, frameMapped, saslAuth, saslBlocked, saslClosed,
		tlsHandshakes, tlsCopied, replicaBytes)
}

func (c netCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.m.sources()
	if src.SASL != nil {
		refused.emit(ch, float64(src.SASL()), "sasl_on_plaintext")
	}
	if src.SASLAuth != nil {
		st := src.SASLAuth()
		saslAuth.emit(ch, float64(st.Succeeded), "succeeded")
		saslAuth.emit(ch, float64(st.Failed), "failed")
		saslAuth.emit(ch, float64(st.Reauthenticated), "reauthenticated")
		saslAuth.emit(ch, float64(st.RateLimited), "rate_limited")
		saslBlocked.emit(ch, float64(st.BlockedAddrs))
		saslClosed.emit(ch, float64(st.Unauthenticated), "unauthenticated")
		saslClosed.emit(ch, float64(st.Expired), "expired")
	}
	if src.Net == nil {
		return
	}
	s := src.Net()
	connsOpen.emit(ch, float64(s.ConnsOpen))
	connsAccepted.emit(ch, float64(s.ConnsAccepted))
	idleClosed.emit(ch, float64(s.IdleClosed))
	framesRej.emit(ch, float64(s.FramesRejected))
	overflows.emit(ch, float64(s.InboundOverflows))
	timedOut.emit(ch, float64(s.WriteTimeouts), "write")
	timedOut.emit(ch, float64(s.FrameTimeouts), "request_read")
	muted.emit(ch, float64(s.Muted))
	acceptErrors.emit(ch, float64(s.AcceptErrors))
	shed.emit(ch, float64(s.ConnsShed))
	refused.emit(ch, float64(s.RefusedMaxConns), "max.connections")
	refused.emit(ch, float64(s.RefusedPerIP), "max.connections.per.ip")
	refused.emit(ch, float64(s.RefusedRate), "max.connection.creation.rate")
	refused.emit(ch, float64(s.RefusedTLS), "tls_on_plaintext")
	panics.emit(ch, float64(s.PanicsRecovered))
	queued.emit(ch, float64(s.QueuedBytes))
	frameMapped.emit(ch, float64(s.FrameBytesInUse), "in_use")
	frameMapped.emit(ch, float64(s.FrameBytesFree), "free")
	tlsHandshakes.emit(ch, float64(s.TLSHandshakes), "ok")
	tlsHandshakes.emit(ch, float64(s.TLSHandshakeFailures), "failed")
	tlsHandshakes.emit(ch, float64(s.TLSHandshakeTimeouts), "timeout")
	tlsCopied.emit(ch, float64(s.TLSCopiedBytes))
	replicaBytes.emit(ch, float64(s.ReplicaSendfileBytes), "sendfile")
	replicaBytes.emit(ch, float64(s.ReplicaCopiedBytes), "copied")
}

type sendfileCollector struct{}

func (sendfileCollector) Describe(ch chan<- *prometheus.Desc) { describe(ch, sentBytes, copiedBytes) }

func (sendfileCollector) Collect(ch chan<- prometheus.Metric) {
	s := sendfile.Stats()
	sentBytes.emit(ch, float64(s.SendfileBytes))
	copiedBytes.emit(ch, float64(s.CopiedBytes))
}

type logCollector struct{ m *Metrics }

func (logCollector) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, logSize, logSegments, logStart, logEnd, logHW, logLSO, dirtyRatio)
}

func (c logCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.m.sources().Logs
	if f == nil {
		return
	}
	for _, l := range f() {
		t, p := l.Topic(), strconv.Itoa(int(l.Partition()))
		logSize.emit(ch, float64(l.Size()), t, p)
		logSegments.emit(ch, float64(l.Segments()), t, p)
		logStart.emit(ch, float64(l.LogStartOffset()), t, p)
		logEnd.emit(ch, float64(l.LogEndOffset()), t, p)
		logHW.emit(ch, float64(l.HighWatermark()), t, p)
		logLSO.emit(ch, float64(l.LastStableOffset()), t, p)
		if l.Config().Compact() {
			dirtyRatio.emit(ch, l.DirtyRatio(), t, p)
		}
	}
}

type cleanerCollector struct{ m *Metrics }

func (cleanerCollector) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, cleanings, cleanRead, cleanWritten, cleanSeconds, cleanErrors)
}

func (c cleanerCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.m.sources().Cleaner
	if f == nil {
		return
	}
	s := f()
	cleanings.emit(ch, float64(s.Cleanings))
	cleanRead.emit(ch, float64(s.BytesRead))
	cleanWritten.emit(ch, float64(s.BytesWritten))
	cleanSeconds.emit(ch, s.Duration.Seconds())
	cleanErrors.emit(ch, float64(s.Errors))
}

type trafficCollector struct{ m *Metrics }

func (trafficCollector) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, topicIn, topicOut, topicConvIn, topicConvOut)
}

func (c trafficCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.m.sources().Traffic
	if f == nil {
		return
	}
	for topic, t := range f() {
		topicIn.emit(ch, float64(t.In), topic)
		topicOut.emit(ch, float64(t.Out), topic)
		if t.ConvertedIn > 0 || t.ConvertedOut > 0 {
			topicConvIn.emit(ch, float64(t.ConvertedIn), topic)
			topicConvOut.emit(ch, float64(t.ConvertedOut), topic)
		}
	}
}

type lagCollector struct{ m *Metrics }

func (lagCollector) Describe(ch chan<- *prometheus.Desc) { describe(ch, committedOff, groupLag) }

func (c lagCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.m.sources().Lag
	if f == nil {
		return
	}
	for _, l := range f() {
		p := strconv.Itoa(int(l.Partition))
		committedOff.emit(ch, float64(l.Committed), l.Group, l.Topic, p)
		groupLag.emit(ch, float64(l.Lag), l.Group, l.Topic, p)
	}
}

type sessionCollector struct{ m *Metrics }

func (sessionCollector) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, fetchSessions, sessionParts, sessionEvict, fetchListed)
}

func (c sessionCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.m.sources().Sessions
	if f == nil {
		return
	}
	s := f()
	fetchSessions.emit(ch, float64(s.Sessions))
	sessionParts.emit(ch, float64(s.Partitions))
	sessionEvict.emit(ch, float64(s.Evictions))
	fetchListed.emit(ch, float64(s.RequestPartitions))
}

var (
	fetchRecordBytes  = newConst("sluice_fetch_record_bytes_total", "Record bytes sent in Fetch responses, to consumers (also as a KIP-392 follower) or to followers.", prometheus.CounterValue, "to")
	replicaFetchedIn  = newConst("sluice_replica_fetched_bytes_total", "Record bytes fetched from partition leaders as a follower.", prometheus.CounterValue)
	throttleRate      = newConst("sluice_replication_throttle_rate_bytes", "leader.replication.throttled.rate or follower.replication.throttled.rate in bytes/s (-1: no throttle).", prometheus.GaugeValue, "side")
	throttledBytes    = newConst("sluice_replication_throttled_bytes_total", "Replication bytes of throttled partitions (what the quota measures).", prometheus.CounterValue, "side")
	throttledByteRate = newConst("sluice_replication_throttled_bytes_per_second", "Rate of the throttled partitions' replication bytes now, over the quota's window.", prometheus.GaugeValue, "side")
	throttledFetches  = newConst("sluice_replication_throttled_fetches_total", "Partition fetches held back because the replication quota was exceeded.", prometheus.CounterValue, "side")
)

type replCollector struct{ m *Metrics }

func (replCollector) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, fetchRecordBytes, replicaFetchedIn, throttleRate, throttledBytes, throttledByteRate, throttledFetches)
}

func (c replCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.m.sources().Repl
	if f == nil {
		return
	}
	s := f()
	fetchRecordBytes.emit(ch, float64(s.ConsumerFetchBytes), "consumer")
	fetchRecordBytes.emit(ch, float64(s.ReplicaFetchBytes), "follower")
	replicaFetchedIn.emit(ch, float64(s.ReplicaFetchedIn))
	rate := func(r int64) float64 {
		if r == math.MaxInt64 {
			return -1
		}
		return float64(r)
	}
	throttleRate.emit(ch, rate(s.LeaderRate), "leader")
	throttleRate.emit(ch, rate(s.FollowerRate), "follower")
	throttledBytes.emit(ch, float64(s.LeaderBytes), "leader")
	throttledBytes.emit(ch, float64(s.FollowerBytes), "follower")
	throttledByteRate.emit(ch, s.LeaderByteRate, "leader")
	throttledByteRate.emit(ch, s.FollowerByteRate, "follower")
	throttledFetches.emit(ch, float64(s.LeaderHeld), "leader")
	throttledFetches.emit(ch, float64(s.FollowerHeld), "follower")
}

type txnCollector struct{ m *Metrics }

func (txnCollector) Describe(ch chan<- *prometheus.Desc) { describe(ch, txnStates) }

func (c txnCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.m.sources().Txns
	if f == nil {
		return
	}
	for state, n := range f() {
		txnStates.emit(ch, float64(n), state)
	}
}

type infoCollector struct{ m *Metrics }

func (infoCollector) Describe(ch chan<- *prometheus.Desc) { describe(ch, brokerInfo, buildInfo) }

func (c infoCollector) Collect(ch chan<- prometheus.Metric) {
	bi := buildinfo.Read()
	buildInfo.emit(ch, 1, bi.Version, bi.ShortRevision(), bi.GoVersion)
	if s := c.m.sources(); s.ClusterID != "" {
		brokerInfo.emit(ch, 1, strconv.Itoa(int(s.NodeID)), s.ClusterID)
	}
}

// Version is the main module's version from the build info ("(devel)"
// for a build from a work tree).
func Version() string { return buildinfo.Read().Version }

// RequestsTotal is the number of Kafka requests handled so far, every API
// key summed (the console samples it for its request-rate chart).
func (m *Metrics) RequestsTotal() float64 {
	var total uint64
	for _, a := range m.req.all() {
		total += a.h.snapshot().count
	}
	return float64(total)
}
