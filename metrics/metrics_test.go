package metrics

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/partition"
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
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
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
	m.SetSources(Sources{Net: func() netio.Stats { return netio.Stats{ConnsOpen: 3} }, Logs: store.Logs, NodeID: 1, ClusterID: "c"})
	h := m.Instrument(fakeHandler{})
	for _, frame := range [][]byte{{0, 3, 0, 1}, {0, 0}, {0x7f, 0x7f}, nil} {
		if _, err := h.Handle(context.Background(), nil, frame); err != nil {
			t.Fatal(err)
		}
	}
	out := scrape(t, m)
	for _, want := range []string{
		`sluice_requests_total{api="Metadata"} 1`,
		`sluice_requests_total{api="Produce"} 1`,
		`sluice_requests_total{api="Unknown"} 2`,
		`sluice_request_bytes_total{api="Metadata"} 4`,
		`sluice_response_bytes_total{api="Metadata"} 10`,
		`sluice_request_duration_seconds_bucket{api="Metadata",le="+Inf"} 1`,
		`sluice_connections_open 3`,
		`sluice_fetch_sendfile_bytes_total `,
		`sluice_log_end_offset{partition="0",topic="t"} 0`,
		`sluice_log_segments{partition="0",topic="t"} 1`,
		`sluice_log_size_bytes{partition="0",topic="t"} 0`,
		`sluice_broker_info{cluster_id="c",node_id="1"} 1`,
		`sluice_build_info{`,
		`sluice_go_goroutines `,
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
	m.SetSources(Sources{})
	if out := scrape(t, m); strings.Contains(out, "sluice_log_end_offset") {
		t.Error("log metrics after the sources were dropped")
	}
}
