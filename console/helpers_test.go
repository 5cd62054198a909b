package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice/sluice/broker"
	"github.com/sluice/sluice/metrics"
	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/partition"
)

// env is a real broker on loopback, a console over it and an HTTP client
// with a cookie jar (the CSRF cookie).
type env struct {
	srv  *broker.Server
	con  *Console
	http *httptest.Server
	cl   *http.Client
	kcl  *kgo.Client
	dir  string
}

func testLogger() *slog.Logger {
	if os.Getenv("SLUICE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startEnv starts a broker and its console; the console never samples by
// itself (SampleEvery is an hour): tests call sample.
func startEnv(t testing.TB) *env { return startEnvAt(t, time.Now()) }

// startEnvAt is startEnv with the console's first sample taken at now.
func startEnvAt(t testing.TB, now time.Time) *env { return startEnvWith(t, now, nil, nil, nil) }

// startEnvWith is startEnvAt with changes to the broker's and the
// console's configs (either may be nil) and the test client's options.
func startEnvWith(t testing.TB, now time.Time, bopt func(*broker.ServerConfig), copt func(*Config, *broker.Broker), kopts []kgo.Opt) *env {
	t.Helper()
	dir := t.TempDir()
	ncfg := netio.DefaultConfig()
	ncfg.Addr = "127.0.0.1:0"
	bcfg := broker.DefaultConfig()
	bcfg.Groups.InitialRebalanceDelay = 0
	m := metrics.New()
	scfg := broker.ServerConfig{
		Store: partition.StoreConfig{Dir: dir, Defaults: partition.DefaultConfig()},
		Net:   ncfg, Broker: bcfg, Logger: testLogger(), WrapHandler: m.Instrument,
	}
	if bopt != nil {
		bopt(&scfg)
	}
	srv, err := broker.StartServer(scfg)
	if err != nil {
		t.Fatalf("StartServer: %v", err)
	}
	b := srv.Broker()
	ccfg := Config{NodeID: b.NodeID(), ClusterID: b.ClusterID(), Version: "test", KafkaAddr: srv.Addr().String(),
		Store: srv.Store(), DataDir: dir, Requests: m.RequestsTotal, SampleEvery: time.Hour, Logger: testLogger(), Now: func() time.Time { return now },
		Traffic: func() map[string]TopicBytes {
			out := map[string]TopicBytes{}
			for k, v := range b.Traffic() {
				out[k] = TopicBytes{v.In, v.Out}
			}
			return out
		},
		Lag: func() []LagEntry {
			var out []LagEntry
			for _, l := range b.ConsumerLag() {
				out = append(out, LagEntry{l.Group, l.Topic, l.Partition, l.Committed, l.LogEnd})
			}
			return out
		},
	}
	if copt != nil {
		copt(&ccfg, b)
	}
	con, err := New(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	// A disk half full, whatever this machine's is: no disk alert.
	con.statDisk = func(string) (uint64, uint64) { return 100 << 30, 50 << 30 }
	hs := httptest.NewServer(con.Handler())
	jar, _ := cookiejar.New(nil)
	kcl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(srv.Addr().String()), kgo.RecordPartitioner(kgo.ManualPartitioner())}, kopts...)...)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{srv: srv, con: con, http: hs, cl: &http.Client{Jar: jar}, kcl: kcl, dir: dir}
	t.Cleanup(func() {
		kcl.Close()
		hs.Close()
		if err := con.Close(); err != nil {
			t.Errorf("console Close: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	e.get(t, "/api/csrf", nil) // sets the cookie
	return e
}

func (e *env) token() string {
	u, _ := url.Parse(e.http.URL)
	for _, c := range e.cl.Jar.Cookies(u) {
		if c.Name == csrfCookie {
			return c.Value
		}
	}
	return ""
}

// do sends a request and decodes a JSON answer into out (when not nil);
// it returns the status.
func (e *env) do(t testing.TB, method, path string, body any, csrf bool, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, e.http.URL+path, rd)
	if csrf {
		req.Header.Set(csrfHeader, e.token())
	}
	resp, err := e.cl.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d, bad JSON %q: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

// rawPost posts body (JSON text) with the CSRF header; the caller closes
// nothing (the body is read and closed).
func (e *env) rawPost(t testing.TB, path, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.http.URL+path, strings.NewReader(body))
	req.Header.Set(csrfHeader, e.token())
	resp, err := e.cl.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func (e *env) get(t testing.TB, path string, out any) int {
	t.Helper()
	return e.do(t, http.MethodGet, path, nil, false, out)
}

func (e *env) post(t testing.TB, path string, body, out any) int {
	t.Helper()
	return e.do(t, http.MethodPost, path, body, true, out)
}

// mustStatus fails unless got is want, showing the error body.
func mustStatus(t testing.TB, what string, got, want int, body any) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: status %d, want %d (%+v)", what, got, want, body)
	}
}

// createTopic creates a topic through the console's API.
func (e *env) createTopic(t testing.TB, name string, partitions int32) {
	t.Helper()
	var out map[string]any
	mustStatus(t, "create "+name, e.post(t, "/api/topics", map[string]any{"name": name, "partitions": partitions}, &out), http.StatusCreated, out)
}

// produce writes n records to topic's partition p, value fmt(i), in
// batches of batch records; it returns the timestamp of the first.
func (e *env) produce(t testing.TB, topic string, p int32, n, batch int, value func(i int) string) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i += batch {
		var recs []*kgo.Record
		for j := i; j < min(i+batch, n); j++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Key: []byte(fmt.Sprintf("k%d", j)), Value: []byte(value(j)),
				Headers: []kgo.RecordHeader{{Key: "seq", Value: []byte(fmt.Sprint(j))}}})
		}
		if err := e.kcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
}

func readFile(p string) ([]byte, error) { return os.ReadFile(p) }
