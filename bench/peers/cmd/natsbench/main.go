// Command natsbench is a NATS JetStream load generator for the workload
// `sluice bench produce` and `sluice bench consume` run against a Kafka
// broker, ending with the same line:
//
//	MB/s=… records/s=… p50=… p99=… p99.9=… max=… [broker-cpu-s/GB=… broker-rss-MB=… broker-hwm-MB=…]
//
// produce: one stream (--stream) with --subjects subjects STREAM.0 …
// STREAM.N-1 (the partitions), file storage, one replica; records of
// --record-size bytes published round-robin over the subjects with
// PublishMsgAsync, at most --max-pending unacknowledged (acks=1 with
// requests in flight: the default 256 × 16 KiB is the 4 MiB sluice bench
// keeps in flight with --inflight 4 and 1 MiB batches). Latency runs from
// the publish to its PubAck, per record.
//
// consume: an ephemeral pull consumer over the whole stream (deliver all,
// no acks, as a Kafka consumer that does not commit) read with --inflight
// concurrent Fetch calls of --fetch-bytes/--record-size messages each, up
// to the stream's last message at the start (or --total-bytes). Latency is
// each Fetch's round trip.
//
// Bytes are record payload bytes (MB = 2^20 bytes, GB = 2^30).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sluice/sluice/bench"
	"github.com/sluice/sluice/bench/peers/internal/peerbench"
)

type config struct {
	server     string
	stream     string
	subjects   int
	recordSize int
	total      int64
	maxPending int
	fetchBytes int
	inflight   int
	brokerPID  int
	json       bool
	live       io.Writer
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("natsbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	var total string
	fs.StringVar(&cfg.server, "server", "nats://127.0.0.1:4222", "NATS server URL")
	fs.StringVar(&cfg.stream, "stream", "sluice-bench", "stream (created if missing; subjects STREAM.0 …)")
	fs.IntVar(&cfg.subjects, "subjects", 4, "subjects of a created stream (the partitions)")
	fs.IntVar(&cfg.subjects, "partitions", 4, "alias of --subjects")
	fs.IntVar(&cfg.recordSize, "record-size", 16384, "record payload bytes")
	fs.StringVar(&total, "total-bytes", "", "bytes to produce (default 1G) or consume (default: to the end of the stream); suffixes K, M, G")
	fs.IntVar(&cfg.maxPending, "max-pending", 256, "produce: publishes awaiting their PubAck at most")
	fs.IntVar(&cfg.fetchBytes, "fetch-bytes", 8<<20, "consume: bytes per Fetch (batch = fetch-bytes / record-size messages)")
	fs.IntVar(&cfg.inflight, "inflight", 4, "consume: concurrent Fetch requests")
	fs.IntVar(&cfg.brokerPID, "broker-pid", 0, "measure this server process: CPU seconds per GB, RSS")
	fs.BoolVar(&cfg.json, "json", false, "print the result as JSON too")
	mode := ""
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		mode, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var err error
	if cfg.total, err = bench.ParseBytes(total); err != nil {
		fmt.Fprintf(stderr, "natsbench: --total-bytes: %v\n", err)
		return 2
	}
	if cfg.subjects < 1 || cfg.recordSize < 1 || cfg.maxPending < 1 || cfg.inflight < 1 || cfg.fetchBytes < cfg.recordSize {
		fmt.Fprintln(stderr, "natsbench: --subjects, --record-size, --max-pending, --inflight must be positive, --fetch-bytes at least --record-size")
		return 2
	}
	if bench.IsTerminal(os.Stderr) {
		cfg.live = stderr
	}
	return peerbench.Run("natsbench", mode, stdout, stderr, cfg.json, fs.Usage,
		func(ctx context.Context) (*bench.Result, error) { return produce(ctx, &cfg) },
		func(ctx context.Context) (*bench.Result, error) { return consume(ctx, &cfg) })
}

func connect(cfg *config) (*nats.Conn, error) {
	nc, err := nats.Connect(cfg.server, nats.Name("natsbench"))
	if err != nil {
		return nil, fmt.Errorf("cannot connect to %s: %w", cfg.server, err)
	}
	return nc, nil
}

func newResult(mode string, cfg *config, conns, inflight int) *bench.Result {
	return &bench.Result{Mode: mode, Topic: cfg.stream, Partitions: cfg.subjects,
		RecordSize: cfg.recordSize, Acks: 1, Connections: conns, Inflight: inflight}
}

// ensureStream creates the stream when missing.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg *config) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, cfg.stream)
	if err == nil {
		return s, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("cannot look up stream %q: %w", cfg.stream, err)
	}
	s, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     cfg.stream,
		Subjects: []string{cfg.stream + ".*"},
		Storage:  jetstream.FileStorage,
		Replicas: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot create stream %q: %w", cfg.stream, err)
	}
	return s, nil
}

func produce(ctx context.Context, cfg *config) (*bench.Result, error) {
	total := cfg.total
	if total == 0 {
		total = 1 << 30
	}
	nc, err := connect(cfg)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	m := peerbench.NewMeter()
	slots := make(chan struct{}, cfg.maxPending)
	var (
		mu      sync.Mutex
		sent    = make(map[*nats.Msg]time.Time, cfg.maxPending)
		firstMu sync.Mutex
		first   error
	)
	done := func(msg *nats.Msg) time.Time {
		mu.Lock()
		t := sent[msg]
		delete(sent, msg)
		mu.Unlock()
		return t
	}
	onAck := func(_ jetstream.JetStream, msg *nats.Msg, _ *jetstream.PubAck) {
		t := done(msg)
		m.Latency(time.Since(t))
		m.Add(int64(len(msg.Data)), 1)
		<-slots
	}
	onErr := func(_ jetstream.JetStream, msg *nats.Msg, err error) {
		done(msg)
		firstMu.Lock()
		if first == nil {
			first = fmt.Errorf("publish to %s: %w", msg.Subject, err)
		}
		firstMu.Unlock()
		<-slots
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncAckHandler(onAck),
		jetstream.WithPublishAsyncErrHandler(onErr),
		// Our slots bound what is pending; the library must never stall.
		jetstream.WithPublishAsyncMaxPending(2*cfg.maxPending),
		jetstream.WithPublishAsyncTimeout(30*time.Second))
	if err != nil {
		return nil, fmt.Errorf("cannot open JetStream: %w", err)
	}
	if _, err := ensureStream(ctx, js, cfg); err != nil {
		return nil, err
	}
	payload := make([]byte, cfg.recordSize)
	fillRandom(payload)
	subjects := make([]string, cfg.subjects)
	for i := range subjects {
		subjects[i] = fmt.Sprintf("%s.%d", cfg.stream, i)
	}
	res := newResult(bench.ModeProduce, cfg, 1, cfg.maxPending)
	probe, err := peerbench.StartProbe(cfg.brokerPID)
	if err != nil {
		return nil, err
	}
	stopLive := make(chan struct{})
	m.Live(cfg.live, "produce", stopLive)
	start := time.Now()
	var pubErr error
	for i, claimed := 0, int64(0); claimed < total && ctx.Err() == nil; i++ {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		msg := &nats.Msg{Subject: subjects[i%len(subjects)], Data: payload}
		mu.Lock()
		sent[msg] = time.Now()
		mu.Unlock()
		if _, err := js.PublishMsgAsync(msg); err != nil {
			done(msg)
			<-slots
			pubErr = fmt.Errorf("cannot publish: %w", err)
			break
		}
		claimed += int64(len(payload))
	}
	// Every slot back: every publish was acknowledged or failed.
	for range cfg.maxPending {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			pubErr = errors.Join(pubErr, ctx.Err())
		}
		if ctx.Err() != nil {
			break
		}
	}
	elapsed := time.Since(start)
	close(stopLive)
	m.Fill(res, elapsed)
	err = probe.Finish(res, res.Bytes)
	firstMu.Lock()
	defer firstMu.Unlock()
	return res, errors.Join(pubErr, first, err)
}

func consume(ctx context.Context, cfg *config) (*bench.Result, error) {
	nc, err := connect(cfg)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("cannot open JetStream: %w", err)
	}
	s, err := ensureStream(ctx, js, cfg)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot read stream %q: %w", cfg.stream, err)
	}
	target := int64(info.State.Msgs)
	if cfg.total > 0 {
		target = min(target, (cfg.total+int64(cfg.recordSize)-1)/int64(cfg.recordSize))
	}
	cons, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot create a pull consumer on %q: %w", cfg.stream, err)
	}
	batch := cfg.fetchBytes / cfg.recordSize
	m := peerbench.NewMeter()
	res := newResult(bench.ModeConsume, cfg, 1, cfg.inflight)
	probe, err := peerbench.StartProbe(cfg.brokerPID)
	if err != nil {
		return nil, err
	}
	stopLive := make(chan struct{})
	m.Live(cfg.live, "consume", stopLive)
	start := time.Now()
	var (
		finished atomic.Bool
		endOnce  sync.Once
		end      time.Time
		wg       sync.WaitGroup
		errs     = make([]error, cfg.inflight)
	)
	reached := func() bool {
		if m.Records() < target {
			return false
		}
		endOnce.Do(func() { end = time.Now(); finished.Store(true) })
		return true
	}
	for i := range cfg.inflight {
		wg.Go(func() {
			for !finished.Load() && !reached() && ctx.Err() == nil {
				t0 := time.Now()
				b, err := cons.Fetch(batch, jetstream.FetchMaxWait(time.Second))
				if err != nil {
					errs[i] = fmt.Errorf("fetch: %w", err)
					return
				}
				n := 0
				for msg := range b.Messages() {
					m.Add(int64(len(msg.Data())), 1)
					n++
				}
				if n > 0 {
					m.Latency(time.Since(t0))
				}
				if err := b.Error(); err != nil && !finished.Load() && !reached() &&
					!errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) {
					errs[i] = fmt.Errorf("fetch: %w", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if !finished.Load() {
		end = time.Now()
	}
	close(stopLive)
	m.Fill(res, end.Sub(start))
	err = probe.Finish(res, res.Bytes)
	if ctx.Err() == nil && res.Records < target {
		err = errors.Join(err, fmt.Errorf("read %d of %d messages", res.Records, target))
	}
	return res, errors.Join(append(errs, err)...)
}

// fillRandom fills b with xorshift noise, so nothing compresses it.
func fillRandom(b []byte) {
	x := uint64(0x9e3779b97f4a7c15)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
}
