package console

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice/sluice/broker"
)

// One-off measurements (docs/BENCHMARKS.md), skipped unless
// SLUICE_CONSOLE_MEASURE is set: they are not timed tests and assert
// nothing about speed or memory; they print what they measured.

func measuring(t *testing.T) {
	if os.Getenv("SLUICE_CONSOLE_MEASURE") == "" {
		t.Skip("a one-off measurement: set SLUICE_CONSOLE_MEASURE=1 (see docs/BENCHMARKS.md)")
	}
}

// TestMeasureProduceWithConsole produces SLUICE_CONSOLE_MB MiB (128) of
// 1 KiB records to a 4-partition topic as fast as one kgo producer can,
// with the console sampling every 5 s and, when SLUICE_CONSOLE_POLL=1, a
// browser-like client polling the overview page's calls (overview and its
// four series) and a group page's (the group and its lag series) every
// 2 s. Run whole processes, polling and not, alternately; the ratio of
// their times is the console's cost to the produce path.
func TestMeasureProduceWithConsole(t *testing.T) {
	measuring(t)
	mib, _ := strconv.Atoi(os.Getenv("SLUICE_CONSOLE_MB"))
	if mib <= 0 {
		mib = 128
	}
	e := startEnvWith(t, time.Now(), nil, func(c *Config, _ *broker.Broker) { c.SampleEvery = 5 * time.Second }, nil)
	e.createTopic(t, "load", 4)
	ctx := context.Background()
	var offs kadm.Offsets
	for p := int32(0); p < 4; p++ {
		offs.Add(kadm.Offset{Topic: "load", Partition: p, At: 0, LeaderEpoch: -1})
	}
	if _, err := kadm.NewClient(e.kcl).CommitOffsets(ctx, "readers", offs); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	polls := 0
	if n, _ := strconv.Atoi(os.Getenv("SLUICE_CONSOLE_POLL_CPU")); n > 0 {
		// The CPU one poll cycle costs, from the process's rusage over n
		// back-to-back cycles after a produce of 64 MiB (no other load).
		for i := range 64 << 10 {
			e.kcl.Produce(ctx, &kgo.Record{Topic: "load", Partition: int32(i % 4), Value: make([]byte, 1024)}, nil)
		}
		if err := e.kcl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		c0 := cpuTime()
		for range n {
			pollOnce(e.http.URL)
		}
		per := (cpuTime() - c0) / time.Duration(n)
		fmt.Printf("one poll cycle (7 API calls): %v of CPU; every 2 s: %.3f%% of one core\n", per, 100*per.Seconds()/2)
		return
	}
	if os.Getenv("SLUICE_CONSOLE_POLL") == "1" {
		done := make(chan struct{})
		defer func() { close(stop); <-done }()
		go func() {
			defer close(done)
			tick := time.NewTicker(2 * time.Second)
			defer tick.Stop()
			for {
				pollOnce(e.http.URL)
				polls++
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		}()
	}
	value := make([]byte, 1024)
	n := mib << 10
	start := time.Now()
	for i := range n {
		e.kcl.Produce(ctx, &kgo.Record{Topic: "load", Partition: int32(i % 4), Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := e.kcl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	fmt.Printf("produced %d MiB in %.2f s: %.1f MiB/s (console polls: %d)\n", mib, d.Seconds(), float64(mib)/d.Seconds(), polls)
}

// TestMeasureConsoleMemory: a broker with a 1,000-partition topic and 50
// groups committed on it; the console's history filled to its bounds (the
// series cap, 7 days of per-minute points and the live hour), its verdict
// windows full (10 samples of every group partition, up to its 10,000 key
// cap), its record counts cached (the topics list), and the overview,
// groups and series APIs served. It prints the heap the console holds
// (live heap after GC, the broker's own state subtracted by measuring
// before the console is filled) and the process's peak RSS.
func TestMeasureConsoleMemory(t *testing.T) {
	measuring(t)
	const partitions, groups = 1000, 50
	e := startEnvWith(t, time.Now(), nil, func(c *Config, _ *broker.Broker) { c.Retention = 7 * 24 * time.Hour }, nil)
	e.createTopic(t, "wide", partitions)
	ctx := context.Background()
	adm := kadm.NewClient(e.kcl)
	var recs []*kgo.Record
	for p := range partitions {
		recs = append(recs, &kgo.Record{Topic: "wide", Partition: int32(p), Value: []byte("v")})
	}
	if err := e.kcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for g := range groups {
		var offs kadm.Offsets
		for p := range partitions / 5 { // each group reads a fifth of the partitions
			offs.Add(kadm.Offset{Topic: "wide", Partition: int32((g*partitions/5 + p) % partitions), At: 0, LeaderEpoch: -1})
		}
		if _, err := adm.CommitOffsets(ctx, fmt.Sprintf("group-%02d", g), offs); err != nil {
			t.Fatal(err)
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	c := e.con
	retention := 7 * 24 * time.Hour
	now := time.Now()
	t0 := now.Add(-retention)
	for m := 0; m <= int(retention/time.Minute); m++ {
		at := t0.Add(time.Duration(m) * time.Minute)
		for s := range c.cfg.MaxSeries {
			c.hist.add(fmt.Sprintf("group_lag:group-%03d", s), at, float64(m))
		}
	}
	for i := range 10 {
		c.sample(now.Add(time.Duration(i) * 5 * time.Second))
	}
	for _, p := range []string{"/api/topics", "/api/overview", "/api/groups", "/api/series?name=group_lag:group-001&since=604800"} {
		if code := e.get(t, p, nil); code != 200 {
			t.Fatalf("%s: %d", p, code)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	c.mu.Lock()
	keys := len(c.mu.lag.w)
	c.mu.Unlock()
	fmt.Printf("console heap: %.1f MiB (history %d series × 7 days, %d verdict windows, %d partitions counted); process heap in use %.1f MiB\n",
		float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), len(c.hist.names()), keys, partitions,
		float64(after.HeapInuse)/(1<<20))
}

// pollOnce makes the calls the overview page and a group page make.
func pollOnce(base string) {
	for _, p := range []string{"/api/overview", "/api/series?name=bytes_in_per_sec&since=600", "/api/series?name=bytes_out_per_sec&since=600",
		"/api/series?name=requests_per_sec&since=600", "/api/series?name=disk_bytes&since=600",
		"/api/groups/readers", "/api/series?name=group_lag:readers&since=3600"} {
		resp, err := http.Get(base + p)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
