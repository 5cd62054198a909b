package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/bench"
	"github.com/twmb/franz-go/pkg/kfake"
)

// runJSON runs kgobench with args and --json, and returns its result.
func runJSON(t *testing.T, args ...string) *bench.Result {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(append(args, "--json"), &out, &errb); code != 0 {
		t.Fatalf("kgobench %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
	line, rest, _ := strings.Cut(out.String(), "\n")
	if !strings.HasPrefix(line, "MB/s=") {
		t.Fatalf("first line %q, want the MB/s= line", line)
	}
	var res bench.Result
	if err := json.Unmarshal([]byte(rest), &res); err != nil {
		t.Fatalf("JSON after the line: %v\n%s", err, rest)
	}
	return &res
}

// A kfake broker in this process (its listener a real socket): produce
// 2 MiB of 1 KiB records over 4 partitions, read them back, then a short
// e2e run. Every record counted, the CPU of the process named by
// --broker-pid (this one) and of kgobench itself measured.
func TestProduceConsumeE2E(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := c.ListenAddrs()[0]
	pid := strconv.Itoa(os.Getpid())

	p := runJSON(t, "produce", "--brokers", addr, "--topic", "t", "--partitions", "4", "--record-size", "1024",
		"--total-bytes", "2M", "--broker-pid", pid)
	if p.Records != 2048 || p.Bytes != 2<<20 || p.Partitions != 4 || p.MBps <= 0 {
		t.Errorf("produce: %d records, %d bytes, %d partitions, %.1f MB/s; want 2048, 2 MiB, 4, > 0",
			p.Records, p.Bytes, p.Partitions, p.MBps)
	}
	if p.Broker == nil || p.Client == nil || p.Broker.PID != os.Getpid() || p.Client.PID != os.Getpid() {
		t.Errorf("produce: broker %+v, client %+v: want both measured, this process", p.Broker, p.Client)
	}

	r := runJSON(t, "consume", "--brokers", addr, "--topic", "t")
	if r.Records != 2048 || r.Bytes != 2<<20 {
		t.Errorf("consume: %d records, %d bytes; want what was produced, 2048 and 2 MiB", r.Records, r.Bytes)
	}

	began := time.Now()
	e := runJSON(t, "e2e", "--brokers", addr, "--topic", "e", "--partitions", "1", "--record-size", "64",
		"--rate", "500", "--warmup", "200ms", "--duration", "1s")
	if e.Produce == nil || e.Records != 500 || e.Latency.P50 <= 0 {
		t.Errorf("e2e: %d records, p50 %v, produce %+v; want 500 (rate × duration) with latencies", e.Records, e.Latency.P50, e.Produce)
	}
	// Not a speed check: a run that waits out the catch-up bound after its
	// consumer had every record is stuck, whatever the machine.
	if d := time.Since(began); d >= e2eCatchUp {
		t.Errorf("e2e took %v: it waited out e2eCatchUp (%v) with every record read", d, e2eCatchUp)
	}
}

// Bad flags and a missing mode exit 2 with a message, before connecting.
func TestBadArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"produce", "--acks", "2"}, "--acks: want 1 or all"},
		{[]string{"produce", "--partitions", "0"}, "must be positive"},
		{[]string{"produce", "--total-bytes", "lots"}, "--total-bytes"},
		{[]string{"--topic", "t"}, "want one mode first"},
	} {
		var out, errb bytes.Buffer
		if code := run(tc.args, &out, &errb); code != 2 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("kgobench %v: exit %d, stderr %q; want 2 and %q", tc.args, code, errb.String(), tc.want)
		}
	}
}
