package main

import (
	"bufio"
	"fmt"
	"math"
	"strconv"

	"github.com/sluice/sluice/bench"
)

// ombWorkload is an OpenMessaging-Benchmark-shaped workload: one topic,
// acks=all, linger 1 ms, measured first at its peak produce rate, then
// end to end at a fixed rate, half of the slower broker's peak.
type ombWorkload struct {
	name       string
	partitions int
	recordSize int
	peakBytes  string // produced for the peak
}

var ombWorkloads = []ombWorkload{
	{name: "omb-16x1k", partitions: 16, recordSize: 1024, peakBytes: "256M"},
	{name: "omb-1x100", partitions: 1, recordSize: 100, peakBytes: "32M"},
}

// ombBrokers are measured with kgobench (the same franz-go producer and
// consumer for each).
var ombBrokers = []string{"sluiced", "kafka", "kfake"}

type ombRun struct {
	w    ombWorkload
	rate int // records/s of the fixed-rate phase
	rows []*ombRow
}

type ombRow struct {
	broker    string
	peak, e2e *bench.Result
	hwmMB     float64
	commands  []string
	err       error
}

func (c *comparer) runOMB(w ombWorkload) *ombRun {
	run := &ombRun{w: w}
	for _, b := range ombBrokers {
		if c.selected(b, "kgobench") {
			run.rows = append(run.rows, &ombRow{broker: b})
		}
	}
	slowest := math.Inf(1)
	for _, r := range run.rows {
		logf("%s %s: peak", w.name, r.broker)
		r.peak, r.err = c.ombPhase(w, r, "peak", []string{"produce", "--total-bytes", w.peakBytes})
		if r.err != nil {
			logf("%s %s: %v", w.name, r.broker, r.err)
			continue
		}
		logf("%s %s: peak %s", w.name, r.broker, r.peak.Line())
		slowest = math.Min(slowest, r.peak.RecordsPerSec)
	}
	if math.IsInf(slowest, 1) {
		return run
	}
	run.rate = max(1, int(slowest/2))
	for _, r := range run.rows {
		if r.err != nil {
			continue
		}
		logf("%s %s: e2e at %d records/s", w.name, r.broker, run.rate)
		r.e2e, r.err = c.ombPhase(w, r, "e2e", []string{"e2e", "--rate", strconv.Itoa(run.rate),
			"--duration", c.cfg.ombDuration.String(), "--warmup", c.cfg.ombWarmup.String()})
		if r.err != nil {
			logf("%s %s: %v", w.name, r.broker, r.err)
			continue
		}
		logf("%s %s: e2e %s", w.name, r.broker, r.e2e.Line())
	}
	return run
}

// ombPhase runs kgobench mode args on a fresh broker.
func (c *comparer) ombPhase(w ombWorkload, r *ombRow, phase string, args []string) (*bench.Result, error) {
	var res *bench.Result
	var genCmd string
	tag := w.name + "-" + r.broker + "-" + phase
	hwm, cmdline, err := c.withServer(r.broker, tag, "omb", w.partitions, func(addr string, pid int) error {
		full := append(args, "--brokers", addr, "--topic", "omb", "--partitions", strconv.Itoa(w.partitions),
			"--record-size", strconv.Itoa(w.recordSize), "--acks", "all", "--linger", "1ms",
			"--broker-pid", strconv.Itoa(pid), "--json")
		var err error
		res, genCmd, err = c.result("kgobench", full)
		return err
	})
	for _, cmd := range []string{cmdline, genCmd} {
		if cmd != "" {
			r.commands = append(r.commands, cmd)
		}
	}
	r.hwmMB = math.Max(r.hwmMB, hwm)
	return res, err
}

func reportOMB(bw *bufio.Writer, cfg *config, o *ombRun) {
	fmt.Fprintf(bw, "\n## %s: 1 topic × %d partition(s) × %s records, acks=all, linger.ms=1\n\n",
		o.w.name, o.w.partitions, byteSize(o.w.recordSize))
	fmt.Fprintf(bw, "Peak: kgobench produce, %s per broker. Fixed rate: %d records/s (half the slower peak), "+
		"%s warm-up then %s measured, end-to-end latency from send to consume.\n\n",
		o.w.peakBytes, o.rate, cfg.ombWarmup, cfg.ombDuration)
	fmt.Fprintln(bw, "| broker | peak MB/s | peak records/s | at rate: MB/s | records/s | e2e p50 | e2e p99 | e2e p99.9 | broker cpu-s/GB | peak RSS MB |")
	fmt.Fprintln(bw, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range o.rows {
		p, e := r.peak, r.e2e
		fmt.Fprintf(bw, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", brokerLabel(cfg, r.broker),
			num(p, func(x *bench.Result) string { return fmt.Sprintf("%.1f", x.MBps) }),
			num(p, func(x *bench.Result) string { return fmt.Sprintf("%.0f", x.RecordsPerSec) }),
			num(e, func(x *bench.Result) string { return fmt.Sprintf("%.1f", x.MBps) }),
			num(e, func(x *bench.Result) string { return fmt.Sprintf("%.0f", x.RecordsPerSec) }),
			num(e, func(x *bench.Result) string { return fmt.Sprintf("%.2f ms", x.Latency.P50) }),
			num(e, func(x *bench.Result) string { return fmt.Sprintf("%.2f ms", x.Latency.P99) }),
			num(e, func(x *bench.Result) string { return fmt.Sprintf("%.2f ms", x.Latency.P999) }),
			num(e, cpuPerGB),
			hwmText(r.hwmMB))
	}
	fmt.Fprint(bw, `
Notes: the same generator (kgobench: franz-go, idempotent, acks=all, 5
requests in flight, linger 1 ms, no compression, round-robin) for every
broker, each started fresh for each phase. Peak: produce only, as fast as
the client goes. At rate: records paced every millisecond; each value
carries its send time, and e2e latency is consume time minus send time
(records sent during the warm-up are not counted). Broker cpu-s/GB: the
broker's CPU time over the fixed-rate run per GB produced. Peak RSS: the
broker's VmHWM, the larger of the two phases.
`)
	for _, r := range o.rows {
		if r.err != nil {
			fmt.Fprintf(bw, "\n%s %s failed: %s\n", o.w.name, r.broker, indent(r.err.Error()))
		}
	}
}
