package metrics

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluice/sluice/broker"
	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/partition"
	"github.com/sluice/sluice/segment/segmenttest"
)

type fakeHandler struct{}

func (fakeHandler) Handle(ctx context.Context, c *netio.Conn, frame []byte) (*netio.Response, error) {
	r := &netio.Response{}
	r.AppendBytes(make([]byte, 10))
	return r, nil
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler(nil).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestMetrics(t *testing.T) {
	m := New()
	store, err := partition.OpenStore(partition.StoreConfig{Dir: t.TempDir(), Defaults: partition.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.Create("t", 0, [16]byte{1}, partition.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	traffic := func() map[string]broker.TopicTraffic {
		return map[string]broker.TopicTraffic{"t": {In: 5, Out: 7, ConvertedIn: 3, ConvertedOut: 4}, "u": {In: 1}}
	}
	m.SetSources(Sources{Net: func() netio.Stats { return netio.Stats{ConnsOpen: 3, RefusedTLS: 2} }, Logs: store.Logs,
		Traffic: traffic, NodeID: 1, ClusterID: "c", SASL: func() uint64 { return 6 },
		Txns: func() map[string]int { return map[string]int{"Ongoing": 2, "CompleteCommit": 5} },
		Sessions: func() broker.FetchSessionStats {
			return broker.FetchSessionStats{Sessions: 2, Partitions: 300, Evictions: 1, Requests: 9, RequestPartitions: 420}
		}})
	m.UncleanElections(func() int64 { return 2 })
	m.UncleanElections(func() int64 { return 9 }) // ignored
	h := m.Instrument(fakeHandler{})
	for _, frame := range [][]byte{{0, 3, 0, 1}, {0, 0}, {0x7f, 0x7f}, nil} {
		if _, err := h.Handle(context.Background(), nil, frame); err != nil {
			t.Fatal(err)
		}
	}
	out := scrape(t, m)
	for _, want := range []string{
		`sluice_requests_total{api="Metadata"} 1`,
		`sluice_fetch_sessions 2`,
		`sluice_transactions{state="Ongoing"} 2`,
		`sluice_transactions{state="CompleteCommit"} 5`,
		`sluice_fetch_session_partitions 300`,
		`sluice_fetch_session_evictions_total 1`,
		`sluice_fetch_request_partitions_total 420`,
		`sluice_requests_total{api="Produce"} 1`,
		`sluice_requests_total{api="Unknown"} 2`,
		`sluice_request_bytes_total{api="Metadata"} 4`,
		`sluice_response_bytes_total{api="Metadata"} 10`,
		`sluice_request_duration_seconds_bucket{api="Metadata",le="+Inf"} 1`,
		`sluice_connections_open 3`,
		`sluice_connections_refused_total{reason="tls_on_plaintext"} 2`,
		`sluice_connections_refused_total{reason="sasl_on_plaintext"} 6`,
		`sluice_fetch_sendfile_bytes_total `,
		`sluice_log_end_offset{partition="0",topic="t"} 0`,
		`sluice_log_last_stable_offset{partition="0",topic="t"} 0`,
		`sluice_log_segments{partition="0",topic="t"} 1`,
		`sluice_log_size_bytes{partition="0",topic="t"} 0`,
		`sluice_broker_info{cluster_id="c",node_id="1"} 1`,
		`sluice_build_info{`,
		`sluice_go_goroutines `,
		`sluice_topic_bytes_in_total{topic="t"} 5`,
		`sluice_topic_converted_bytes_in_total{topic="t"} 3`,
		`sluice_topic_converted_bytes_out_total{topic="t"} 4`,
		`sluice_unclean_leader_elections_total 2`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	for line := range strings.SplitSeq(out, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "sluice_") {
			t.Errorf("metric without the sluice_ prefix: %s", line)
		}
	}
	if strings.Contains(out, `converted_bytes_in_total{topic="u"}`) {
		t.Error("conversion counters for a topic that never converted")
	}
	m.SetSources(Sources{})
	if out := scrape(t, m); strings.Contains(out, "sluice_log_end_offset") {
		t.Error("log metrics after the sources were dropped")
	}
}

// TestWriterAndCleanerMetrics feeds the writer histograms through the
// store's Observer (FlushAlways) and reads the cleaner's counters and a
// compacted log's dirty ratio at scrape time.
func TestWriterAndCleanerMetrics(t *testing.T) {
	m := New()
	def := partition.DefaultConfig()
	def.Flush = partition.FlushAlways
	store, err := partition.OpenStore(partition.StoreConfig{Dir: t.TempDir(), Defaults: def, Observer: m.Observer(), CleanerThreads: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	plain, err := store.Create("t", 0, [16]byte{1}, def)
	if err != nil {
		t.Fatal(err)
	}
	compacted := def
	compacted.CleanupPolicy, compacted.SegmentBytes = "compact", 1024
	c, err := store.Create("c", 0, [16]byte{2}, compacted)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []*partition.Log{plain, c, c, c, c, c, c, c, c} {
		if _, err := l.Append(segmenttest.NewBatch(0, 5, 1, 50).Encode()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.Clean(c); err != nil {
		t.Fatal(err)
	}
	m.SetSources(Sources{Logs: store.Logs, Cleaner: store.CleanerStats})
	out := scrape(t, m)
	for _, want := range []string{
		`sluice_append_round_bytes_count 9`,
		`sluice_append_round_batches_bucket{le="1"} 9`,
		`sluice_append_round_bytes_bucket{le="4096"} 9`,
		`sluice_append_round_bytes_bucket{le="6.7108864e+07"} 9`,
		`sluice_fsync_duration_seconds_bucket{le="+Inf"} `,
		`sluice_cleaner_cleanings_total 1`,
		`sluice_cleaner_bytes_read_total `,
		`sluice_cleaner_bytes_written_total `,
		`sluice_cleaner_seconds_total `,
		`sluice_cleaner_errors_total 0`,
		`sluice_log_dirty_ratio{partition="0",topic="c"} `,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, `sluice_log_dirty_ratio{partition="0",topic="t"}`) {
		t.Error("a dirty ratio for a log that is not compacted")
	}
	if strings.Contains(out, "sluice_fsync_duration_seconds_count 0\n") {
		t.Error("no fsync observed under FlushAlways")
	}
}
