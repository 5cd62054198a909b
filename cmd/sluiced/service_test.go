package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// notifySocket listens on a unixgram socket as systemd does and returns
// its name and a channel of the datagrams received.
func notifySocket(t *testing.T, abstract bool) (string, <-chan string) {
	t.Helper()
	name := fmt.Sprintf("@sluiced-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	if !abstract {
		dir, err := os.MkdirTemp("", "sdn") // short: sun_path holds 108 bytes
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		name = filepath.Join(dir, "notify")
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return name, ch
}

func receive(t *testing.T, ch <-chan string, want string, pid int) {
	t.Helper()
	select {
	case msg := <-ch:
		if !strings.Contains(msg, want+"\n") || !strings.Contains(msg, fmt.Sprintf("MAINPID=%d\n", pid)) {
			t.Fatalf("sd_notify message %q, want %s and MAINPID=%d", msg, want, pid)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no %s on the notify socket", want)
	}
}

func httpGet(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestServiceNotifyAndHTTP runs sluiced as systemd would (NOTIFY_SOCKET,
// a path and an abstract socket) with the HTTP listener, and checks
// READY=1, /healthz, /readyz, /metrics, pprof, STOPPING=1 and exit 0.
func TestServiceNotifyAndHTTP(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		t.Run(fmt.Sprintf("abstract=%v", abstract), func(t *testing.T) {
			sock, ch := notifySocket(t, abstract)
			dir := t.TempDir()
			p := start(t, []string{"NOTIFY_SOCKET=" + sock}, "--data-dir", dir, "--listen", "127.0.0.1:0",
				"--http-listen", "127.0.0.1:0", "--pprof", "--fsync", "always")
			receive(t, ch, "READY=1", p.cmd.Process.Pid)
			base := "http://" + p.waitLog("http listening")["addr"].(string)
			if abstract {
				checkHTTP(t, p, base)
			}
			p.stop()
			receive(t, ch, "STOPPING=1", p.cmd.Process.Pid)
			if _, err := os.Stat(filepath.Join(dir, "console", "history")); err != nil {
				t.Errorf("the console's history was not saved at shutdown: %v", err)
			}
		})
	}
}

func checkHTTP(t *testing.T, p *proc, base string) {
	t.Helper()
	produce(t, p.addr, "metrics-topic", 10)
	if code, body := httpGet(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	if code, body := httpGet(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	if code, body := httpGet(t, base+"/"); code != 200 || !strings.Contains(body, "<title>Sluice console</title>") {
		t.Fatalf("console page: %d %s", code, body)
	}
	if code, body := httpGet(t, base+"/api/topics"); code != 200 || !strings.Contains(body, `"name":"metrics-topic"`) || !strings.Contains(body, `"records":10,`) {
		t.Fatalf("/api/topics: %d %s", code, body)
	}
	// A combined single node: its console's brokers table is itself, the
	// controller, alive.
	consoleBrokers(t, p, func(bs []consoleBroker) string { return wantBrokers(bs, 1, map[int32]string{1: "alive"}) })
	if code, _ := httpGet(t, base+"/debug/pprof/"); code != 200 {
		t.Fatalf("/debug/pprof/: %d", code)
	}
	code, body := httpGet(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`sluice_requests_total{api="Produce"}`, `sluice_requests_total{api="Metadata"}`,
		`sluice_request_duration_seconds_bucket{api="Produce",le=`, `sluice_request_bytes_total{api="Produce"}`,
		"sluice_connections_open ", "sluice_connections_accepted_total ", "sluice_frames_rejected_total ",
		"sluice_handler_panics_recovered_total ", "sluice_fetch_sendfile_bytes_total ", "sluice_fetch_copied_bytes_total ",
		`sluice_frame_mapped_bytes{state="in_use"}`, `sluice_frame_mapped_bytes{state="free"}`,
		`sluice_log_end_offset{partition="0",topic="metrics-topic"} 10`, `sluice_log_high_watermark{partition="0",topic="metrics-topic"} 10`,
		`sluice_log_start_offset{partition="0",topic="metrics-topic"} 0`, `sluice_log_segments{partition="0",topic="metrics-topic"} 1`,
		`sluice_log_size_bytes{partition="0",topic="metrics-topic"}`, `sluice_broker_info{cluster_id=`, "sluice_process_open_fds ",
		`sluice_topic_bytes_in_total{topic="metrics-topic"}`, `sluice_append_round_bytes_bucket{le="4096"}`,
		`sluice_append_round_batches_bucket{le="1"}`, `sluice_fsync_duration_seconds_bucket{le=`,
		"sluice_cleaner_cleanings_total ", `sluice_console_alerts{rule="offline",severity="critical"} 0`,
		"sluice_console_alerts_evaluated_timestamp_seconds ", "sluice_cleaner_bytes_read_total ", "sluice_cleaner_errors_total ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics has no %q", want)
		}
	}
	// 10 synchronous produces: at least 10 writer rounds, each fsync'd.
	for _, name := range []string{"sluice_append_round_bytes_count", "sluice_fsync_duration_seconds_count"} {
		if n := metricValue(body, name); n < 10 {
			t.Errorf("/metrics: %s is %v, want at least 10", name, n)
		}
	}
}

// metricValue is the value of the unlabelled sample name in a Prometheus
// text body, or -1.
func metricValue(body, name string) float64 {
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				return f
			}
		}
	}
	return -1
}

// produce sends n records synchronously.
func produce(t *testing.T, addr, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "r%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSIGTERMUnderLoad stops sluiced while a producer (acks=all) sends
// continuously: exit 0, every acknowledged record is there after a
// restart, and the restart trusted the clean-shutdown marker.
func TestSIGTERMUnderLoad(t *testing.T) {
	dir := t.TempDir()
	p := start(t, nil, "--data-dir", dir, "--listen", "127.0.0.1:0", "--num-partitions", "2", "--segment-bytes", "1048576")
	acked := &ackSet{m: map[string]bool{}}
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr), kgo.DefaultProduceTopic("load"), kgo.AllowAutoTopicCreation(),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { produceForever(ctx, cl, acked) })
	acked.waitFor(t, 5000)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d under load; stderr:\n%s", code, p.stderr)
	}
	cancel()
	cl.Close()
	wg.Wait()
	want := acked.snapshot()
	t.Logf("%d records acknowledged before SIGTERM", len(want))

	p2 := start(t, nil, "--data-dir", dir, "--listen", "127.0.0.1:0")
	// Logged after the store opens: stderr may trail the ready line.
	p2.waitLog("clean start: no segment data read")
	logs := p2.stderr.String()
	if len(p2.logs("clean start: no segment data read")) != 1 ||
		strings.Contains(logs, "truncated") || strings.Contains(logs, "of segment data in") {
		t.Fatalf("restart did not trust the clean shutdown; stderr:\n%s", logs)
	}
	got := consumeAll(t, p2.addr, "load")
	for v := range want {
		if !got[v] {
			t.Fatalf("acknowledged record %q lost (%d acknowledged, %d read)", v, len(want), len(got))
		}
	}
	p2.stop()
}

type ackSet struct {
	mu sync.Mutex
	m  map[string]bool
}

func (a *ackSet) add(v string) {
	a.mu.Lock()
	a.m[v] = true
	a.mu.Unlock()
}

func (a *ackSet) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.m)
}

func (a *ackSet) snapshot() map[string]bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]bool, len(a.m))
	for k := range a.m {
		out[k] = true
	}
	return out
}

func (a *ackSet) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for a.len() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d records acknowledged in 60s", a.len())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// produceForever produces 1 KiB records until ctx ends, recording those
// acknowledged.
func produceForever(ctx context.Context, cl *kgo.Client, acked *ackSet) {
	pad := strings.Repeat("x", 1000)
	for i := 0; ctx.Err() == nil; i++ {
		v := fmt.Sprintf("%08d-%s", i, pad)
		cl.Produce(ctx, &kgo.Record{Value: []byte(v)}, func(r *kgo.Record, err error) {
			if err == nil {
				acked.add(string(r.Value))
			}
		})
	}
}

// consumeAll reads topic from the start up to its end offsets.
func consumeAll(t *testing.T, addr, topic string) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil || ends.Error() != nil {
		t.Fatalf("end offsets: %v %v", err, ends.Error())
	}
	remaining := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			remaining[o.Partition] = o.Offset
		}
	})
	got := map[string]bool{}
	for len(remaining) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d records, partitions %v not finished", len(got), remaining)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[string(r.Value)] = true
			if r.Offset+1 >= remaining[r.Partition] {
				delete(remaining, r.Partition)
			}
		})
	}
	return got
}

// TestCrashRestartLogsRecovery kills sluiced (no clean shutdown) and checks
// the restart says how much segment data recovery read.
func TestCrashRestartLogsRecovery(t *testing.T) {
	dir := t.TempDir()
	p := start(t, nil, "--data-dir", dir, "--listen", "127.0.0.1:0")
	p.waitLog("new data directory")
	produce(t, p.addr, "crash", 10)
	p.kill()
	p2 := start(t, nil, "--data-dir", dir, "--listen", "127.0.0.1:0")
	defer p2.stop()
	rec := waitRecovered(t, p2)
	bytes, _ := rec["bytes"].(float64)
	if rec["level"] != "WARN" || bytes <= 0 || rec["logs"] != 1.0 ||
		rec["msg"] != "recovered "+strconv.FormatFloat(bytes, 'f', -1, 64)+" bytes of segment data in 1 logs" {
		t.Fatalf("recovery line %v after a crash; stderr:\n%s", rec, p2.stderr)
	}
	if len(p2.logs("clean start: no segment data read")) != 0 {
		t.Fatalf("a crashed directory reported a clean start; stderr:\n%s", p2.stderr)
	}
}

// waitRecovered polls p's log for the "recovered N bytes …" record (logged
// after the store opens, so stderr may trail the ready line).
func waitRecovered(t *testing.T, p *proc) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for line := range strings.SplitSeq(p.stderr.String(), "\n") {
			var r map[string]any
			if json.Unmarshal([]byte(line), &r) == nil && strings.HasPrefix(fmt.Sprint(r["msg"]), "recovered ") {
				return r
			}
		}
	}
	t.Fatalf("no recovery line after a crash; stderr:\n%s", p.stderr)
	return nil
}
