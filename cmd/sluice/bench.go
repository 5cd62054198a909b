package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/sluice/sluice/bench"
)

func init() {
	register(&command{
		name:    "bench",
		summary: "load generator: produce, consume, e2e latency, and this host's floors",
		usage:   "bench produce|consume|e2e|floor [FLAGS]",
		flags:   benchFlags,
	})
}

// benchOpts are the flags beyond bench.Config.
type benchOpts struct {
	acks, rate, total, from string
	json                    bool
	report                  string
}

func benchFlags(fs *flag.FlagSet) func(args []string, stdout, stderr io.Writer) int {
	cfg := bench.DefaultConfig()
	var o benchOpts
	fs.StringVar(&cfg.Brokers, "brokers", cfg.Brokers, "broker host:port (env SLUICE_BROKERS)")
	fs.StringVar(&cfg.Topic, "topic", cfg.Topic, "topic (created if missing)")
	fs.IntVar(&cfg.Partitions, "partitions", cfg.Partitions, "partitions of a created topic")
	fs.IntVar(&cfg.RecordSize, "record-size", cfg.RecordSize, "record value bytes")
	fs.IntVar(&cfg.BatchBytes, "batch-bytes", cfg.BatchBytes, "largest RecordBatch (one per Produce request); the broker's max.message.bytes caps it")
	fs.StringVar(&o.acks, "acks", "1", "0, 1 or all")
	fs.IntVar(&cfg.Producers, "producers", cfg.Producers, "producer connections (floor: tcp-to-file connections)")
	fs.IntVar(&cfg.Consumers, "consumers", cfg.Consumers, "consumer connections (floor: sendfile connections)")
	fs.IntVar(&cfg.Inflight, "inflight", cfg.Inflight, "requests in flight per connection (pipelined)")
	fs.StringVar(&o.rate, "rate", "", "produce at a fixed load, e.g. 200MB/s or 50000rec/s (default: as fast as possible)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "run time (default: produce 1 GiB; consume to the end of the topic; e2e 10s)")
	fs.StringVar(&o.total, "total-bytes", "", "bytes to produce or consume (suffixes K, M, G: powers of 1024)")
	fs.StringVar(&o.from, "from", "earliest", "consume: earliest or latest")
	fs.BoolVar(&cfg.VerifyCRC, "verify-crc", false, "consume: check each batch's CRC-32C")
	fs.IntVar(&cfg.FetchBytes, "fetch-bytes", cfg.FetchBytes, "consume: Fetch max bytes per request")
	fs.StringVar(&cfg.Dir, "dir", cfg.Dir, "floor: directory for its files")
	fs.BoolVar(&cfg.Floor, "floor", false, "produce/consume: run the matching floor first and print the ratio")
	fs.IntVar(&cfg.BrokerPID, "broker-pid", 0, "measure this broker process: CPU seconds per GB, RSS")
	fs.BoolVar(&o.json, "json", false, "print the result as JSON")
	fs.StringVar(&o.report, "report", "", "write DIR/results.json and DIR/chart.svg")
	return func(args []string, stdout, stderr io.Writer) int {
		// The mode comes first (sluice bench produce --topic T): parse the
		// flags after it too.
		if len(args) > 1 {
			if err := fs.Parse(args[1:]); err != nil {
				return 2
			}
			args = append(args[:1], fs.Args()...)
		}
		if len(args) != 1 {
			fmt.Fprintln(stderr, "sluice bench: want one mode: produce, consume, e2e or floor")
			fs.Usage()
			return 2
		}
		if err := o.apply(&cfg); err != nil {
			fmt.Fprintf(stderr, "sluice bench: %v\n", err)
			return 2
		}
		if bench.IsTerminal(os.Stderr) {
			cfg.Live = stderr
		}
		return runBench(args[0], cfg, o, stdout, stderr)
	}
}

func (o *benchOpts) apply(cfg *bench.Config) error {
	var err error
	if cfg.Acks, err = bench.ParseAcks(o.acks); err != nil {
		return err
	}
	if cfg.Rate, err = bench.ParseRate(o.rate); err != nil {
		return err
	}
	if cfg.TotalBytes, err = bench.ParseBytes(o.total); err != nil {
		return err
	}
	switch o.from {
	case "earliest":
	case "latest":
		cfg.FromLatest = true
	default:
		return fmt.Errorf("--from %q: want earliest or latest", o.from)
	}
	return nil
}

func runBench(mode string, cfg bench.Config, o benchOpts, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if mode == bench.ModeFloor {
		return runFloor(ctx, cfg, o, stdout, stderr)
	}
	res, err := bench.Run(ctx, mode, cfg)
	if res == nil {
		fmt.Fprintf(stderr, "sluice bench %s: %v\n", mode, err)
		if errors.Is(err, bench.ErrConfig) {
			return 2
		}
		return 1
	}
	status := 0
	if err != nil {
		fmt.Fprintf(stderr, "sluice bench %s: %v\n", mode, err)
		status = 1
	}
	if err := printResult(res, o, stdout); err != nil {
		fmt.Fprintf(stderr, "sluice bench %s: %v\n", mode, err)
		return 1
	}
	return status
}

func printResult(res *bench.Result, o benchOpts, stdout io.Writer) error {
	if res.Floor != nil {
		fmt.Fprintln(stdout, res.Floor.Line())
	}
	if res.Produce != nil {
		fmt.Fprintf(stdout, "produce: %s\n", res.Produce.Line())
	}
	fmt.Fprintln(stdout, res.Line())
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return fmt.Errorf("cannot encode JSON: %w", err)
		}
	}
	if o.report != "" {
		return bench.WriteReport(o.report, res)
	}
	return nil
}

func runFloor(ctx context.Context, cfg bench.Config, o benchOpts, stdout, stderr io.Writer) int {
	floors, err := bench.RunFloor(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "sluice bench floor: %v\n", err)
		return 1
	}
	for _, f := range floors {
		fmt.Fprintln(stdout, f.Line())
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(floors); err != nil {
			fmt.Fprintf(stderr, "sluice bench floor: %v\n", err)
			return 1
		}
	}
	return 0
}
