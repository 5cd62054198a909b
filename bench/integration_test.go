package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/broker"
	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/partition"
)

// startBroker runs a real broker on 127.0.0.1:0 in the test's process
// (only the test imports it; package bench speaks the wire protocol).
func startBroker(t *testing.T) string {
	t.Helper()
	ncfg := netio.DefaultConfig()
	ncfg.Addr = "127.0.0.1:0"
	return startBrokerOn(t, ncfg)
}

// startBrokerOn is startBroker with ncfg's listeners; it returns the
// first one's address.
func startBrokerOn(t *testing.T, ncfg netio.Config) string {
	t.Helper()
	srv, err := broker.StartServer(broker.ServerConfig{
		Store:  partition.StoreConfig{Dir: t.TempDir(), Defaults: partition.DefaultConfig()},
		Net:    ncfg,
		Broker: broker.DefaultConfig(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("StartServer: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return srv.Addr().String()
}

func testConfig(addr, topic string) Config {
	cfg := DefaultConfig()
	cfg.Brokers, cfg.Topic, cfg.Partitions, cfg.RecordSize = addr, topic, 3, 3000
	cfg.BatchBytes, cfg.Producers, cfg.Consumers = 256<<10, 2, 2
	return cfg
}

func TestProduceThenConsume(t *testing.T) {
	addr := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := testConfig(addr, "pc")
	cfg.TotalBytes = 8 << 20
	cfg.BrokerPID = os.Getpid() // the broker runs in this process: measured as broker and as client
	prod, err := Run(ctx, ModeProduce, cfg)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	if prod.Bytes < cfg.TotalBytes || prod.Partitions < 1 || prod.Latency.Count == 0 {
		t.Fatalf("produce: %+v", prod)
	}
	if prod.Broker == nil || prod.Client == nil || prod.Client.PID != os.Getpid() || prod.Client.CPUSecPerGB <= 0 {
		t.Fatalf("produce: broker %+v client %+v", prod.Broker, prod.Client)
	}
	if !strings.Contains(prod.Line(), " client-cpu-s/GB=") {
		t.Fatalf("line %q", prod.Line())
	}
	cfg.TotalBytes, cfg.VerifyCRC, cfg.BrokerPID = 0, true, 0
	cfg.RecordSize = 0 // the consumer must report what it reads, not this default (1024)
	cons, err := Run(ctx, ModeConsume, cfg)
	if err != nil {
		t.Fatalf("consume: %v", err)
	}
	if cons.Bytes != prod.Bytes || cons.Records != prod.Records {
		t.Fatalf("consumed %d bytes %d records, produced %d bytes %d records",
			cons.Bytes, cons.Records, prod.Bytes, prod.Records)
	}
	if cons.RecordSize != 3000 {
		t.Fatalf("consume record_size %d, produced 3000-byte records", cons.RecordSize)
	}
	if !strings.HasPrefix(cons.Line(), "MB/s=") {
		t.Fatalf("line %q", cons.Line())
	}
}

func TestProduceAcksAllAndRecordRate(t *testing.T) {
	addr := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := testConfig(addr, "rate")
	cfg.Acks, cfg.RecordSize, cfg.Partitions = -1, 100, 1
	cfg.Rate = Rate{Per: 20000, Records: true}
	cfg.Duration = 500 * time.Millisecond
	res, err := Run(ctx, ModeProduce, cfg)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	// 0.5 s at 20000 rec/s plus one burst of one batch: well under 3×.
	if res.Records == 0 || res.Records > 3*10000+int64(RecordsPerBatch(100, cfg.BatchBytes)) {
		t.Fatalf("%d records in 0.5 s at 20000 rec/s", res.Records)
	}
}

func TestE2E(t *testing.T) {
	addr := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := testConfig(addr, "e2e")
	cfg.Rate, _ = ParseRate("20MB/s")
	cfg.Duration = 700 * time.Millisecond
	res, err := Run(ctx, ModeE2E, cfg)
	if err != nil {
		t.Fatalf("e2e: %v", err)
	}
	if res.Produce == nil || res.Bytes != res.Produce.Bytes || res.Bytes == 0 {
		t.Fatalf("e2e consumed %d bytes, produced %+v", res.Bytes, res.Produce)
	}
	if res.Latency.Count == 0 || res.Latency.Max > 10_000 {
		t.Fatalf("e2e latency %+v", res.Latency)
	}
	dir := t.TempDir()
	if err := WriteReport(dir, res); err != nil {
		t.Fatalf("WriteReport: %v", err)
	}
	var back Result
	js, _ := os.ReadFile(filepath.Join(dir, "results.json"))
	if err := json.Unmarshal(js, &back); err != nil || back.Bytes != res.Bytes {
		t.Fatalf("results.json: %v, %d bytes", err, back.Bytes)
	}
	svg, _ := os.ReadFile(filepath.Join(dir, "chart.svg"))
	if !strings.HasPrefix(string(svg), "<svg") || !strings.Contains(string(svg), "<polyline") {
		t.Fatalf("chart.svg: %.200s", svg)
	}
}

func TestFloors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := FloorTCPToFile(ctx, dir, 8<<20, 2)
	if err != nil || w.Bytes != 8<<20 || w.MBps <= 0 {
		t.Fatalf("tcp-to-file: %+v, %v", w, err)
	}
	s, err := FloorSendfile(ctx, dir, 8<<20, 2, 1<<20)
	if err != nil || s.Bytes != 8<<20 || s.MBps <= 0 {
		t.Fatalf("sendfile: %+v, %v", s, err)
	}
	for _, f := range []*Floor{w, s} {
		if !strings.Contains(f.Measures, "second process") {
			t.Errorf("%s floor not in two processes: %s", f.Kind, f.Measures)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("floor left %d files", len(left))
	}
	// Without ServeFloorChild both ends run here, and Measures says so.
	childCapable.Store(false)
	defer childCapable.Store(true)
	w, err = FloorTCPToFile(ctx, dir, 8<<20, 1)
	if err != nil || w.Bytes != 8<<20 || !strings.Contains(w.Measures, "this one process") {
		t.Fatalf("in-process tcp-to-file: %+v, %v", w, err)
	}
	s, err = FloorSendfile(ctx, dir, 8<<20, 1, 0)
	if err != nil || s.Bytes != 8<<20 || !strings.Contains(s.Measures, "this one process") {
		t.Fatalf("in-process sendfile: %+v, %v", s, err)
	}
}

func TestProcUsage(t *testing.T) {
	root := t.TempDir()
	pdir := filepath.Join(root, "42")
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		t.Fatal(err)
	}
	stat := "42 (my (odd) name) S 1 42 42 0 -1 4194560 1 0 0 0 250 150 0 0 20 0 3 0 1 2 3\n"
	status := "Name:\tsluiced\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n"
	os.WriteFile(filepath.Join(pdir, "stat"), []byte(stat), 0o644)
	os.WriteFile(filepath.Join(pdir, "status"), []byte(status), 0o644)
	cpu, err := procCPU(root, 42)
	if err != nil || cpu != 4 {
		t.Fatalf("procCPU = %v, %v; want 4 s", cpu, err)
	}
	rss, hwm, err := procMem(root, 42)
	if err != nil || rss != 100 || hwm != 200 {
		t.Fatalf("procMem = %v, %v, %v", rss, hwm, err)
	}
}

// deleteTopic deletes topic and, when recreate is set, creates it again
// with partitions partitions once the broker takes it.
func deleteTopic(t *testing.T, addr, topic string, partitions int, recreate bool) error {
	c, err := dial(context.Background(), addr, nil, SASL{})
	if err != nil {
		return err
	}
	defer c.Close()
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.SetVersion(4)
	req.TopicNames = []string{topic}
	req.TimeoutMillis = 10000
	resp := kmsg.NewPtrDeleteTopicsResponse()
	if err := c.roundTrip(req, resp); err != nil {
		return err
	}
	for _, rt := range resp.Topics {
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil {
			return fmt.Errorf("delete %s: %w", topic, err)
		}
	}
	if !recreate {
		return nil
	}
	time.Sleep(300 * time.Millisecond) // produce requests fail meanwhile
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		err := createTopic(c, topic, partitions)
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
}

// A produce run goes on through retriable errors (here the topic deleted
// and created again under it) and ends with every byte of its budget
// acknowledged, counting the requests it sent again.
func TestProduceRetriesRetriableErrors(t *testing.T) {
	addr := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := testConfig(addr, "again")
	cfg.RecordSize, cfg.BatchBytes = 1000, 16<<10
	cfg.TotalBytes = 24 << 20
	cfg.Rate, _ = ParseRate("12MB/s") // about 2 s
	errc := make(chan error, 1)
	go func() {
		time.Sleep(500 * time.Millisecond)
		errc <- deleteTopic(t, addr, cfg.Topic, cfg.Partitions, true)
	}()
	res, err := Run(ctx, ModeProduce, cfg)
	if derr := <-errc; derr != nil {
		t.Fatalf("delete and create again: %v", derr)
	}
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	if res.Bytes < cfg.TotalBytes || res.Retries == 0 {
		t.Fatalf("produce: %d of %d bytes acknowledged, %d retries (want some)", res.Bytes, cfg.TotalBytes, res.Retries)
	}
	if !strings.Contains(res.Line(), " retries=") {
		t.Fatalf("line %q does not count the retries", res.Line())
	}
}

// A retriable error that lasts past the retry window fails the run,
// naming the error.
func TestProduceRetriesEnd(t *testing.T) {
	old := retryWindow
	retryWindow = time.Second
	t.Cleanup(func() { retryWindow = old })
	addr := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := testConfig(addr, "gone")
	cfg.RecordSize, cfg.BatchBytes = 1000, 16<<10
	cfg.Duration = 20 * time.Second
	cfg.Rate, _ = ParseRate("4MB/s")
	errc := make(chan error, 1)
	go func() {
		time.Sleep(500 * time.Millisecond)
		errc <- deleteTopic(t, addr, cfg.Topic, cfg.Partitions, false)
	}()
	start := time.Now()
	_, err := Run(ctx, ModeProduce, cfg)
	if derr := <-errc; derr != nil {
		t.Fatalf("delete: %v", derr)
	}
	if err == nil || !strings.Contains(err.Error(), "UNKNOWN_TOPIC_OR_PARTITION") || !strings.Contains(err.Error(), "still failing") {
		t.Fatalf("produce to a deleted topic: %v, want UNKNOWN_TOPIC_OR_PARTITION still failing", err)
	}
	if el := time.Since(start); el > 15*time.Second {
		t.Fatalf("the run failed after %s, not after the 1 s window", el)
	}
}

// A consume run goes on through retriable fetch errors (the topic deleted
// and created again under it) and reads what is produced afterwards.
func TestConsumeRetriesRetriableErrors(t *testing.T) {
	addr := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := testConfig(addr, "cagain")
	cfg.Consumers = 1
	c, err := dial(ctx, addr, nil, SASL{})
	if err != nil {
		t.Fatal(err)
	}
	err = createTopic(c, cfg.Topic, cfg.Partitions)
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		res *Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		ccfg := cfg
		ccfg.Duration = 4 * time.Second
		res, err := Run(ctx, ModeConsume, ccfg)
		done <- result{res, err}
	}()
	time.Sleep(500 * time.Millisecond) // the consumer polls the empty partitions
	if err := deleteTopic(t, addr, cfg.Topic, cfg.Partitions, true); err != nil {
		t.Fatalf("delete and create again: %v", err)
	}
	pcfg := cfg
	pcfg.TotalBytes = 1 << 20
	prod, err := Run(ctx, ModeProduce, pcfg)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("consume: %v", r.err)
	}
	if r.res.Records != prod.Records || r.res.Retries == 0 {
		t.Fatalf("consumed %d of %d records after the topic came back, %d retries (want some)",
			r.res.Records, prod.Records, r.res.Retries)
	}
}
