// Package peerbench holds what the peer load generators (natsbench,
// kgobench) share: a thread-safe meter over the bench package's exported
// histogram, the broker-process probe (CPU seconds per GB, RSS) and the
// result line, so every generator ends with the same
// `MB/s=… records/s=… p50=… p99=… p99.9=… max=…` line as `sluice bench`.
package peerbench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluice/sluice/bench"
)

// Meter counts bytes and records and records latencies from any
// goroutine.
type Meter struct {
	bytes, records atomic.Int64
	mu             sync.Mutex
	hist           *bench.Histogram
}

// NewMeter returns an empty meter.
func NewMeter() *Meter { return &Meter{hist: bench.NewHistogram()} }

// Add counts bytes and records.
func (m *Meter) Add(bytes, records int64) {
	m.bytes.Add(bytes)
	m.records.Add(records)
}

// Latency records one latency.
func (m *Meter) Latency(d time.Duration) {
	m.mu.Lock()
	m.hist.Record(d)
	m.mu.Unlock()
}

// Bytes is the bytes counted so far.
func (m *Meter) Bytes() int64 { return m.bytes.Load() }

// Records is the records counted so far.
func (m *Meter) Records() int64 { return m.records.Load() }

// Fill sets res's totals, rates and latency summary for a run of elapsed.
func (m *Meter) Fill(res *bench.Result, elapsed time.Duration) {
	res.Bytes, res.Records = m.bytes.Load(), m.records.Load()
	res.Seconds = elapsed.Seconds()
	if res.Seconds > 0 {
		res.MBps = float64(res.Bytes) / (1 << 20) / res.Seconds
		res.RecordsPerSec = float64(res.Records) / res.Seconds
	}
	m.mu.Lock()
	res.Latency = m.hist.Summary()
	m.mu.Unlock()
}

// Live prints one line a second (MB/s, records/s) to w until stop is
// closed; a nil w prints nothing.
func (m *Meter) Live(w io.Writer, label string, stop <-chan struct{}) {
	if w == nil {
		return
	}
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		start, last, lastB, lastR := time.Now(), time.Now(), int64(0), int64(0)
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				b, r := m.bytes.Load(), m.records.Load()
				dt := now.Sub(last).Seconds()
				fmt.Fprintf(w, "%s %5.0fs %9.1f MB/s %10.0f records/s\n", label,
					now.Sub(start).Seconds(), float64(b-lastB)/(1<<20)/dt, float64(r-lastR)/dt)
				last, lastB, lastR = now, b, r
			}
		}
	}()
}

// Probe measures a broker process, and this load generator's own, over
// a run; a zero pid measures nothing.
type Probe struct {
	broker, self *bench.UsageProbe
}

// StartProbe reads pid's CPU time, and this process's, now.
func StartProbe(pid int) (*Probe, error) {
	if pid == 0 {
		return nil, nil
	}
	broker, err := bench.StartUsage(pid)
	if err != nil {
		return nil, err
	}
	self, err := bench.StartUsage(os.Getpid())
	if err != nil {
		return nil, err
	}
	return &Probe{broker: broker, self: self}, nil
}

// Finish sets res.Broker and res.Client to the usage of the broker and of
// this process for bytes moved (nothing for a nil probe).
func (p *Probe) Finish(res *bench.Result, bytes int64) error {
	if p == nil {
		return nil
	}
	var err error
	if res.Broker, err = p.broker.Finish(bytes); err != nil {
		return err
	}
	res.Client, err = p.self.Finish(bytes)
	return err
}

// Print writes res's last line and, with asJSON, the result as JSON (as
// `sluice bench --json` does).
func Print(w io.Writer, res *bench.Result, asJSON bool) error {
	if _, err := fmt.Fprintln(w, res.Line()); err != nil {
		return fmt.Errorf("peerbench: cannot print result: %w", err)
	}
	if !asJSON {
		return nil
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		return fmt.Errorf("peerbench: cannot encode JSON: %w", err)
	}
	return nil
}

// ModeFunc runs one mode of a generator.
type ModeFunc func(context.Context) (*bench.Result, error)

// Run runs one generator's mode (produce or consume); see RunModes.
func Run(name, mode string, stdout, stderr io.Writer, asJSON bool, usage func(),
	produce, consume ModeFunc) int {
	return RunModes(name, mode, stdout, stderr, asJSON, usage,
		map[string]ModeFunc{bench.ModeProduce: produce, bench.ModeConsume: consume})
}

// RunModes runs one of a generator's modes until it ends or the process
// gets SIGINT/SIGTERM, prints the result (as JSON with asJSON) and returns
// the exit status: 0, 1 on a failed run, 2 on an unknown mode (after
// usage).
func RunModes(name, mode string, stdout, stderr io.Writer, asJSON bool, usage func(), modes map[string]ModeFunc) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	run, ok := modes[mode]
	if !ok {
		names := make([]string, 0, len(modes))
		for n := range modes {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(stderr, "%s: want one mode first: %s\n", name, strings.Join(names, ", "))
		usage()
		return 2
	}
	res, err := run(ctx)
	status := 0
	if err != nil {
		fmt.Fprintf(stderr, "%s %s: %v\n", name, mode, err)
		status = 1
	}
	if res != nil {
		if err := Print(stdout, res, asJSON); err != nil {
			fmt.Fprintf(stderr, "%s %s: %v\n", name, mode, err)
			return 1
		}
	}
	return status
}
