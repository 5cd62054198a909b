// Command kgobench is an independent Kafka load generator built on a plain
// franz-go client (kgo), for checking `sluice bench` against sluiced and
// against kfake on the same workload. It ends with the same line as
// `sluice bench`:
//
//	MB/s=… records/s=… p50=… p99=… p99.9=… max=… [broker-cpu-s/GB=… broker-rss-MB=… broker-hwm-MB=…]
//
// produce: kgo with --acks 1 (kgo.RequiredAcks(kgo.LeaderAck())), the
// idempotent producer disabled and --inflight produce requests per broker,
// or --acks all (idempotent, 5 in flight, as Kafka's Java producer
// defaults); --linger, batches of at most --batch-bytes (1 MiB), records of
// --record-size value bytes spread round-robin over the partitions of a
// topic created with --partitions. Latency runs from Produce to the
// record's promise (so it includes the time spent buffered and lingering).
//
// e2e: produce rate×(warmup+duration) records at a fixed --rate
// (records/s, paced every millisecond) while a kgo consumer reads the
// topic from its start. Each record after the first rate×warmup carries
// its send time (Unix ns) at the start of its value; its latency is
// consume time minus send time. A broker slower than the rate shows as
// records/s below it. The result is the consumer's; Produce holds the
// producer's (latency there: Produce to promise).
//
// consume: a kgo consumer from the start of every partition to the end
// offsets read when it starts (or --total-bytes), --fetch-bytes per fetch
// and partition. Latency is how long each PollFetches call waited.
//
// --client-stats (produce) prints on stderr what the producer sent, by
// kgo's hooks: Produce requests, bytes and batches per request, records
// per batch, response bytes per request.
//
// Bytes are record value bytes (MB = 2^20 bytes, GB = 2^30).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sluice/sluice/bench"
	"github.com/sluice/sluice/bench/peers/internal/peerbench"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

type config struct {
	brokers     string
	topic       string
	partitions  int
	recordSize  int
	total       int64
	batchBytes  int
	linger      time.Duration
	inflight    int
	maxBuffered int
	fetchBytes  int
	acks        string
	rate        int
	duration    time.Duration
	warmup      time.Duration
	brokerPID   int
	json        bool
	stats       *clientStats
	live        io.Writer
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kgobench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	var total string
	fs.StringVar(&cfg.brokers, "brokers", "127.0.0.1:9092", "seed broker host:port")
	fs.StringVar(&cfg.topic, "topic", "kgo-bench", "topic (created if missing)")
	fs.IntVar(&cfg.partitions, "partitions", 4, "partitions of a created topic")
	fs.IntVar(&cfg.recordSize, "record-size", 16384, "record value bytes")
	fs.StringVar(&total, "total-bytes", "", "bytes to produce (default 1G) or consume (default: to the end offsets); suffixes K, M, G")
	fs.IntVar(&cfg.batchBytes, "batch-bytes", 1<<20, "produce: largest RecordBatch (kgo.ProducerBatchMaxBytes)")
	fs.DurationVar(&cfg.linger, "linger", time.Millisecond, "produce: kgo.ProducerLinger")
	fs.IntVar(&cfg.inflight, "inflight", 4, "produce, acks=1: requests in flight per broker (kgo.MaxProduceRequestsInflightPerBroker; acks=all: 5)")
	fs.IntVar(&cfg.maxBuffered, "max-buffered-bytes", 16<<20, "produce: bytes buffered in the client at most (kgo.MaxBufferedBytes)")
	fs.IntVar(&cfg.fetchBytes, "fetch-bytes", 8<<20, "consume: fetch and partition max bytes")
	fs.StringVar(&cfg.acks, "acks", "1", "produce, e2e: 1 (leader, idempotency off) or all (idempotent, as Kafka's own producer defaults)")
	fs.IntVar(&cfg.rate, "rate", 1000, "e2e: records per second, paced every millisecond")
	fs.DurationVar(&cfg.duration, "duration", 30*time.Second, "e2e: how long to produce at --rate after the warm-up")
	fs.DurationVar(&cfg.warmup, "warmup", 5*time.Second, "e2e: produce at --rate this long first, latencies not recorded")
	fs.IntVar(&cfg.brokerPID, "broker-pid", 0, "measure this broker process: CPU seconds per GB, RSS")
	fs.BoolVar(&cfg.json, "json", false, "print the result as JSON too")
	clientStatsOn := fs.Bool("client-stats", false, "produce: print the producer's requests, batches and bytes per request on stderr")
	mode := ""
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		mode, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var err error
	if cfg.total, err = bench.ParseBytes(total); err != nil {
		fmt.Fprintf(stderr, "kgobench: --total-bytes: %v\n", err)
		return 2
	}
	if cfg.acks != "1" && cfg.acks != "all" {
		fmt.Fprintln(stderr, "kgobench: --acks: want 1 or all")
		return 2
	}
	if cfg.partitions < 1 || cfg.recordSize < 8 || cfg.rate < 1 || cfg.inflight < 1 || cfg.batchBytes < 1 || cfg.fetchBytes < 1 {
		fmt.Fprintln(stderr, "kgobench: counts and sizes must be positive")
		return 2
	}
	if bench.IsTerminal(os.Stderr) {
		cfg.live = stderr
	}
	if *clientStatsOn {
		cfg.stats = &clientStats{}
		defer cfg.stats.print(stderr)
	}
	return peerbench.RunModes("kgobench", mode, stdout, stderr, cfg.json, fs.Usage, map[string]peerbench.ModeFunc{
		bench.ModeProduce: func(ctx context.Context) (*bench.Result, error) { return produce(ctx, &cfg) },
		bench.ModeConsume: func(ctx context.Context) (*bench.Result, error) { return consume(ctx, &cfg) },
		bench.ModeE2E:     func(ctx context.Context) (*bench.Result, error) { return e2e(ctx, &cfg) },
	})
}

// ensureTopic creates the topic unless it exists and returns its
// partition count.
func ensureTopic(ctx context.Context, cfg *config) (int, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.brokers))
	if err != nil {
		return 0, fmt.Errorf("cannot create admin client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	_, err = adm.CreateTopic(ctx, int32(cfg.partitions), 1, nil, cfg.topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return 0, fmt.Errorf("cannot create topic %q: %w", cfg.topic, err)
	}
	// CreateTopics answers before every broker of a cluster knows the
	// topic (Kafka's and Sluice's alike): a broker that has not applied
	// it yet answers UNKNOWN_TOPIC_OR_PARTITION for a while, as Kafka's
	// clients retry.
	deadline := time.Now().Add(10 * time.Second)
	for {
		topics, err := adm.ListTopics(ctx, cfg.topic)
		if err != nil {
			return 0, fmt.Errorf("cannot read metadata of %q: %w", cfg.topic, err)
		}
		td, ok := topics[cfg.topic]
		if ok && td.Err == nil {
			return len(td.Partitions), nil
		}
		if time.Now().After(deadline) || (ok && !errors.Is(td.Err, kerr.UnknownTopicOrPartition) && !errors.Is(td.Err, kerr.LeaderNotAvailable)) {
			return 0, fmt.Errorf("topic %q missing after creation: %v", cfg.topic, td.Err)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func produce(ctx context.Context, cfg *config) (*bench.Result, error) {
	total := cfg.total
	if total == 0 {
		total = 1 << 30
	}
	parts, err := ensureTopic(ctx, cfg)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(producerOpts(cfg)...)
	if err != nil {
		return nil, fmt.Errorf("cannot create producer: %w", err)
	}
	defer cl.Close()
	value := make([]byte, cfg.recordSize)
	fillRandom(value)
	m := peerbench.NewMeter()
	errc := make(chan error, 1)
	promise := func(r *kgo.Record, err error) {
		if err != nil {
			select {
			case errc <- fmt.Errorf("produce to %s/%d: %w", r.Topic, r.Partition, err):
			default:
			}
			return
		}
		m.Latency(time.Since(r.Timestamp))
		m.Add(int64(len(r.Value)), 1)
	}
	res := &bench.Result{Mode: bench.ModeProduce, Topic: cfg.topic, Partitions: parts,
		RecordSize: cfg.recordSize, Acks: cfg.acksValue(), Connections: 1, Inflight: cfg.inflightValue()}
	probe, err := peerbench.StartProbe(cfg.brokerPID)
	if err != nil {
		return nil, err
	}
	stopLive := make(chan struct{})
	m.Live(cfg.live, "produce", stopLive)
	start := time.Now()
	var runErr error
	for claimed := int64(0); claimed < total && ctx.Err() == nil; claimed += int64(len(value)) {
		// Produce blocks while MaxBufferedBytes are buffered.
		cl.Produce(ctx, &kgo.Record{Value: value, Timestamp: time.Now()}, promise)
		if len(errc) > 0 {
			break
		}
	}
	if err := cl.Flush(ctx); err != nil {
		runErr = fmt.Errorf("flush: %w", err)
	}
	elapsed := time.Since(start)
	close(stopLive)
	m.Fill(res, elapsed)
	err = probe.Finish(res, res.Bytes)
	select {
	case e := <-errc:
		runErr = errors.Join(runErr, e)
	default:
	}
	return res, errors.Join(runErr, err)
}

// producerOpts: acks=1 without idempotency, or acks=all with it (the
// Java producer's default since Kafka 3.0; kgo then keeps 5 requests in
// flight, as the Java producer does), --linger, --batch-bytes, --inflight
// (acks=1 only), no compression, round-robin over the partitions.
func producerOpts(cfg *config) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.brokers),
		kgo.DefaultProduceTopic(cfg.topic),
		kgo.ProducerLinger(cfg.linger),
		kgo.ProducerBatchMaxBytes(int32(cfg.batchBytes)),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedBytes(cfg.maxBuffered),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
	}
	if cfg.stats != nil {
		opts = append(opts, kgo.WithHooks(cfg.stats))
	}
	if cfg.acks == "all" {
		return append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	return append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.MaxProduceRequestsInflightPerBroker(cfg.inflight))
}

func (cfg *config) acksValue() int16 {
	if cfg.acks == "all" {
		return -1
	}
	return 1
}

func consume(ctx context.Context, cfg *config) (*bench.Result, error) {
	parts, err := ensureTopic(ctx, cfg)
	if err != nil {
		return nil, err
	}
	target, err := recordsToRead(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.total > 0 {
		target = min(target, (cfg.total+int64(cfg.recordSize)-1)/int64(cfg.recordSize))
	}
	cl, err := newConsumer(cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot create consumer: %w", err)
	}
	defer cl.Close()
	m := peerbench.NewMeter()
	res := &bench.Result{Mode: bench.ModeConsume, Topic: cfg.topic, Partitions: parts,
		RecordSize: cfg.recordSize, Acks: 1, Connections: 1}
	probe, err := peerbench.StartProbe(cfg.brokerPID)
	if err != nil {
		return nil, err
	}
	stopLive := make(chan struct{})
	m.Live(cfg.live, "consume", stopLive)
	start := time.Now()
	var runErr error
	for m.Records() < target && ctx.Err() == nil {
		t0 := time.Now()
		fetches := cl.PollFetches(ctx)
		m.Latency(time.Since(t0))
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				runErr = errors.Join(runErr, fmt.Errorf("fetch %s/%d: %w", t, p, err))
			}
		})
		if runErr != nil {
			break
		}
		fetches.EachRecord(func(r *kgo.Record) { m.Add(int64(len(r.Value)), 1) })
	}
	elapsed := time.Since(start)
	close(stopLive)
	m.Fill(res, elapsed)
	err = probe.Finish(res, res.Bytes)
	if ctx.Err() == nil && runErr == nil && res.Records < target {
		runErr = fmt.Errorf("read %d of %d records", res.Records, target)
	}
	return res, errors.Join(runErr, err)
}

// recordsToRead is the sum over partitions of end minus start offsets.
func recordsToRead(ctx context.Context, cfg *config) (int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.brokers))
	if err != nil {
		return 0, fmt.Errorf("cannot create admin client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, cfg.topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("cannot list start offsets of %q: %w", cfg.topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, cfg.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("cannot list end offsets of %q: %w", cfg.topic, err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok {
			n += o.Offset - s.Offset
		}
	})
	return n, nil
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

// inflightValue is the produce requests in flight per broker.
func (cfg *config) inflightValue() int {
	if cfg.acks == "all" {
		return 5 // kgo's fixed limit with idempotency
	}
	return cfg.inflight
}

// newConsumer is a client reading cfg.topic from its start, fetchBytes
// per fetch and per partition.
func newConsumer(cfg *config) (*kgo.Client, error) {
	return kgo.NewClient(
		kgo.SeedBrokers(cfg.brokers),
		kgo.ConsumeTopics(cfg.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(int32(cfg.fetchBytes)),
		kgo.FetchMaxPartitionBytes(int32(cfg.fetchBytes)),
	)
}
