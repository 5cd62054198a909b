package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/sluice/sluice/bench"
)

func init() {
	// sluice bench floor re-runs this binary as the broker's side of each
	// floor (see bench.ServeFloorChild); such a child exits here.
	bench.ServeFloorChild()
	register(&command{
		name:    "bench",
		summary: "load generator: produce, consume, e2e latency, and this host's floors",
		usage:   "bench produce|consume|e2e|floor [FLAGS] [--output table|json|yaml] [--report DIR]",
		flags:   benchFlags,
	})
}

// benchOpts are the flags beyond bench.Config.
type benchOpts struct {
	acks, rate, total, from string
	output                  string // table, json or yaml
	json                    bool   // --json: the same as --output json
	report                  string
	tls                     tlsFlags
	sasl                    saslFlags
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
	fs.IntVar(&cfg.BrokerPID, "broker-pid", 0, "measure this broker process (CPU seconds per GB, RSS), and this one's CPU over the same run")
	fs.StringVar(&o.output, "output", "table", "table (one labelled result line per run), json or yaml (the same fields as results.json)")
	fs.BoolVar(&o.json, "json", false, "the same as --output json")
	fs.StringVar(&o.report, "report", "", "write DIR/results.json and DIR/chart.svg")
	o.tls.register(fs)
	o.sasl.bind(fs)
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
	m, user, pass, err := o.sasl.resolve()
	if err != nil {
		return err
	}
	cfg.SASL = bench.SASL{Mechanism: string(m), User: user, Password: pass}
	if cfg.Acks, err = bench.ParseAcks(o.acks); err != nil {
		return err
	}
	if cfg.Rate, err = bench.ParseRate(o.rate); err != nil {
		return err
	}
	if cfg.TotalBytes, err = bench.ParseBytes(o.total); err != nil {
		return err
	}
	if cfg.TLS, err = o.tls.config(); err != nil {
		return err
	}
	switch o.from {
	case "earliest":
	case "latest":
		cfg.FromLatest = true
	default:
		return fmt.Errorf("--from %q: want earliest or latest", o.from)
	}
	if o.json {
		o.output = "json"
	}
	switch o.output {
	case "table", "json", "yaml":
	default:
		return fmt.Errorf("--output %q: want table, json or yaml", o.output)
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
	if err := printResult(res, o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "sluice bench %s: %v\n", mode, err)
		return 1
	}
	return status
}

// printResult writes res to stdout in o.output and, with --report, the
// report files (saying so on stderr: stdout holds the result alone).
func printResult(res *bench.Result, o benchOpts, stdout, stderr io.Writer) error {
	if err := writeResultAs(stdout, o.output, res, func(w io.Writer) { writeResultLines(w, res) }); err != nil {
		return err
	}
	if res.Floor != nil && res.FloorRatio > 1 {
		fmt.Fprintf(stderr, "sluice bench: note: the broker ran at %.2fx its floor (%s). The floor is a yardstick "+
			"measured seconds before the run, not an upper bound: on a host loaded by other work both swing. "+
			"Compare ratios from a quiet host.\n", res.FloorRatio, res.Floor.Measures)
	}
	if o.report == "" {
		return nil
	}
	if err := bench.WriteReport(o.report, res); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "sluice bench: wrote %s and %s\n",
		filepath.Join(o.report, "results.json"), filepath.Join(o.report, "chart.svg"))
	return nil
}

// writeResultLines is the table form: one line per measured run, each
// labelled with what it measured.
func writeResultLines(w io.Writer, res *bench.Result) {
	if res.Floor != nil {
		fmt.Fprintln(w, floorLine(res.Floor))
	}
	if res.Produce != nil {
		fmt.Fprintf(w, "%s: %s\n", bench.ModeProduce, res.Produce.Line())
	}
	fmt.Fprintf(w, "%s: %s\n", res.Mode, res.Line())
}

func floorLine(f *bench.Floor) string {
	return fmt.Sprintf("floor %s: MB/s=%.1f bytes=%d seconds=%.2f (%s)", f.Kind, f.MBps, f.Bytes, f.Seconds, f.Measures)
}

// writeResultAs writes v through the CLI's one output layer (printOut):
// JSON, YAML with the same keys in the same order, or the table.
func writeResultAs(w io.Writer, format string, v any, table func(io.Writer)) error {
	return printOut(w, outputFlag(format), v, func(w io.Writer) error { table(w); return nil })
}

func runFloor(ctx context.Context, cfg bench.Config, o benchOpts, stdout, stderr io.Writer) int {
	floors, err := bench.RunFloor(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "sluice bench floor: %v\n", err)
		return 1
	}
	err = writeResultAs(stdout, o.output, floors, func(w io.Writer) {
		for _, f := range floors {
			fmt.Fprintln(w, floorLine(f))
		}
	})
	if err != nil {
		fmt.Fprintf(stderr, "sluice bench floor: %v\n", err)
		return 1
	}
	return 0
}
