package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/bench"
	"golang.org/x/sys/unix"
)

func TestSelected(t *testing.T) {
	f := func(only, broker, generator string, want bool) {
		t.Helper()
		c := &comparer{cfg: &config{only: only}}
		if got := c.selected(broker, generator); got != want {
			t.Errorf("--only %q: selected(%s, %s) = %v, want %v", only, broker, generator, got, want)
		}
	}
	f("", "nats", "natsbench", true)
	f("kafka,sluiced", "kafka", "sluice-bench", true)
	f("kafka,sluiced", "sluiced", "kgobench", true)
	f("kafka,sluiced", "kfake", "kgobench", false)
	f("kfake/kgobench", "kfake", "kgobench", true)
	f("kfake/kgobench", "kfake", "sluice-bench", false)
	f(" kafka , nats/natsbench", "nats", "natsbench", true)
}

func TestParseWorkloads(t *testing.T) {
	w, err := parseWorkloads("16k, omb-1x100")
	if err != nil || !w["16k"] || !w["omb-1x100"] || w["omb-16x1k"] {
		t.Fatalf("parseWorkloads = %v, %v", w, err)
	}
	if _, err := parseWorkloads("16k,omb-7"); err == nil {
		t.Fatal("parseWorkloads accepted an unknown workload")
	}
}

// TestReportOMB: a failed broker reads "failed" in its cells and its
// error follows the table.
func TestReportOMB(t *testing.T) {
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	ok := &bench.Result{MBps: 10, RecordsPerSec: 10240, Latency: bench.Latency{P50: 1, P99: 2, P999: 3},
		Broker: &bench.Usage{CPUSecPerGB: 4.5}}
	reportOMB(bw, &config{kafkaHeap: "1G"}, &ombRun{w: ombWorkloads[0], rate: 5120, rows: []*ombRow{
		{broker: "sluiced", peak: ok, e2e: ok, hwmMB: 30},
		{broker: "kafka", peak: ok, err: errString("boom")},
	}})
	bw.Flush()
	out := buf.String()
	for _, want := range []string{
		"| sluiced (fsync never) | 10.0 | 10240 | 10.0 | 10240 | 1.00 ms | 2.00 ms | 3.00 ms | 4.50 | 30 |",
		"| Apache Kafka 4.1.1 (heap 1G) | 10.0 | 10240 | failed | failed | failed | failed | failed | failed | - |",
		"omb-16x1k kafka failed: boom",
		"Fixed rate: 5120 records/s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestFioWriteMiBps(t *testing.T) {
	f := func(out string, want float64, wantErr bool) {
		t.Helper()
		got, err := fioWriteMiBps([]byte(out))
		if (err != nil) != wantErr || got != want {
			t.Fatalf("fioWriteMiBps(%q) = %v, %v; want %v (error %v)", out, got, err, want, wantErr)
		}
	}
	f(`{"jobs":[{"jobname":"floor","write":{"io_bytes":1073741824,"bw":948224}}]}`, 926, false)
	f(`{"jobs":[]}`, 0, true)
	f(`{"jobs":[{"write":{"bw":0}}]}`, 0, true)
	f(`not json`, 0, true)
}

// TestReportRepl: ratios are taken within each round and their median
// reported; the sendfile share and a failed row are shown.
func TestReportRepl(t *testing.T) {
	res := func(mbps, p99 float64) *bench.Result {
		return &bench.Result{MBps: mbps, Bytes: 1 << 30, Latency: bench.Latency{P50: p99 / 2, P99: p99},
			Broker: &bench.Usage{CPUSecPerGB: 1}}
	}
	row := func(mbps, p99, cpu float64) *replRow {
		return &replRow{topic: "r3", size: 16384, acks: "all", res: res(mbps, p99), cpuAll: cpu}
	}
	s1 := row(100, 10, 2)
	s1.sendfile, s1.copied, s1.scraped = float64(2<<30)*0.95, float64(2<<30)*0.05, true
	run := &replRun{skipped: map[string]string{}, clusters: []*replCluster{
		{round: 1, broker: "sluiced", rows: []*replRow{s1}},
		{round: 1, broker: "kafka", rows: []*replRow{row(50, 40, 8)}},
		{round: 2, broker: "sluiced", rows: []*replRow{row(90, 30, 2)}},
		{round: 2, broker: "kafka", rows: []*replRow{row(60, 40, 4), {topic: "r1", size: 1024, acks: "1", err: errString("boom")}}},
	}}
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	reportRepl(bw, &config{replBytes: "256M", replRounds: 2, replHeap: "512m"}, run)
	bw.Flush()
	out := buf.String()
	for _, want := range []string{
		"| 1 | sluiced | r3 | 16 KiB | all | 100.0 | 5.0 ms | 10.0 ms | 2.00 | 1.00 | 95.0% (2.00× produced) |",
		"| 2 | kafka | r1 | 1 KiB | 1 | failed: boom |",
		// MB/s 2.00 and 1.50 (median 1.75); p99 0.25 and 0.75 (0.50); CPU 0.25 and 0.50.
		"| r3/16384/all | 2.00, 1.50 | 1.75 | 0.25, 0.75 | 0.50 | 0.38 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if c := replCommands(run); len(c) != 0 {
		t.Errorf("commands of a run without any: %q", c)
	}
}

func TestSelectMatrixRows(t *testing.T) {
	rows, err := selectMatrixRows(matrixRows, "fsync-16, 16x1k")
	if err != nil || len(rows) != 2 || rows[0].name != "16x1k" || rows[1].name != "fsync-16" {
		t.Fatalf("selectMatrixRows = %v, %v", rows, err)
	}
	if rows, err := selectMatrixRows(matrixRows, ""); err != nil || len(rows) != len(matrixRows) {
		t.Fatalf("empty list: %d rows, %v", len(rows), err)
	}
	if _, err := selectMatrixRows(matrixRows, "16x1k,17x1k"); err == nil {
		t.Fatal("an unknown row was accepted")
	}
}

// TestRoundOrderChangesNeighbours runs the cells of a few rounds in
// roundOrder, row after row, and checks that every round has each broker
// once, that over the rounds each broker's cell follows each of the
// others' within a round, and that each broker comes first in some
// round.
func TestRoundOrderChangesNeighbours(t *testing.T) {
	for _, brokers := range [][]string{{"sluiced", "kafka", "kfake"}, {"sluiced", "kfake"}} {
		n := len(brokers)
		after := map[[2]string]int{} // {broker, the broker of the cell before}
		first := map[string]int{}
		for i := range 2 * n {
			order := roundOrder(brokers, i)
			prev := "" // a round starts with its floors, not a cell
			if seen := strings.Join(slices.Sorted(slices.Values(order)), ","); seen != strings.Join(slices.Sorted(slices.Values(brokers)), ",") {
				t.Fatalf("%d brokers, round %d: order %v is not each broker once", n, i, order)
			}
			first[order[0]]++
			for range 3 { // rows
				for _, b := range order {
					if prev != "" && prev != b {
						after[[2]string{b, prev}]++
					}
					prev = b
				}
			}
		}
		for _, b := range brokers {
			if first[b] == 0 {
				t.Errorf("%d brokers: %s is never first", n, b)
			}
			for _, o := range brokers {
				if o != b && after[[2]string{b, o}] == 0 {
					t.Errorf("%d brokers: %s never runs right after %s", n, b, o)
				}
			}
		}
	}
}

func TestReportMatrixTargets(t *testing.T) {
	prod := func(mbps, cpu, hwm float64) *matrixCell {
		return &matrixCell{res: &bench.Result{MBps: mbps, Records: 1000, Broker: &bench.Usage{CPUSecPerGB: cpu, CPUSec: cpu / 100}}, hwmMB: hwm}
	}
	client := func(c *matrixCell, cpu float64) *matrixCell {
		c.res.Client = &bench.Usage{CPUSecPerGB: cpu}
		return c
	}
	round := func(s16x100, k16x100, kafka16x100 float64) *matrixRound {
		return &matrixRound{cells: map[string]map[string]*matrixCell{
			"create-1000": {"sluiced": {wall: 100 * time.Millisecond}, "kafka": {wall: 5 * time.Second}},
			"16x100":      {"sluiced": prod(150, s16x100, 40), "kfake": prod(140, k16x100, 20), "kafka": prod(100, kafka16x100, 600)},
			"conns-100":   {"sluiced": prod(20, 30, 30), "kfake": {err: errString("boom")}},
			"1000x1k":     {"sluiced": client(prod(150, 3, 70), 4), "kfake": client(prod(120, 5, 50), 4)},
			"16x1k":       {"sluiced": client(prod(250, 1, 50), 3)},
		}, fio: map[string]float64{}}
	}
	// 16x100 ratios 0.60, 0.80, 0.75: met in one round of three. In the
	// third round Kafka spends less CPU per GB than sluiced.
	run := &matrixRun{brokers: []string{"sluiced", "kafka", "kfake"}, skipped: map[string]string{},
		rounds: []*matrixRound{round(3, 5, 8), round(4, 5, 8), round(3, 4, 2)}}
	// The first round has the kernel's floors of two rows.
	run.rounds[0].floor = map[string]kernelFloor{"16x100": {CPUSecPerGB: 1.5}, "conns-100": {CPUSecPerGB: 9, USPerRequest: 100}, "1000x1k": {CPUSecPerGB: 1.4}}
	run.rounds[0].floorCmds = map[string]string{"16x100": "tcpfloor --files 16", "conns-100": "tcpfloor --conns 100"}
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	reportMatrix(bw, &config{matrixBytes: "512M"}, run)
	bw.Flush()
	out := buf.String()
	for _, want := range []string{
		"### Round 3",
		"| create a 1,000-partition topic < 0.5 s | 0.10 s; 0.10 s; 0.10 s | 0.10 s | 3 of 3 | met |",
		"| 16 × 100 B broker CPU-s/GB ≤ 0.7× kfake's | 0.60×; 0.80×; 0.75× | 0.75× | 1 of 3 | **missed** (met in a minority of rounds) |",
		"| 16 × 100 B RSS < 64 MB | 40 MB; 40 MB; 40 MB | 40 MB | 3 of 3 | met |",
		// CPUSec 0.3 over 1000 records: 300 µs each.
		"| 100 connections: ≤ 10 µs of broker CPU per request | 300.0 µs (floor 100.0); 300.0 µs; 300.0 µs | 300.0 µs | 0 of 3 | **missed** |",
		// Round 1's cells against its floors: 3 ÷ 1.5 CPU-s/GB, 300 ÷ 100 µs.
		"| 16 partitions × 100 B, one franz-go producer | 150.0 MB/s, 3.00 CPU-s/GB, RSS 40 MB, CPU 2.0× floor |",
		"| 100 connections × small requests (one 512 B record each) | 20.0 MB/s, 30.00 CPU-s/GB, 300.0 µs/request, RSS 30 MB, CPU 3.0× floor |",
		"- 16x100: 1.50 CPU-s/GB: `tcpfloor --files 16`",
		"- conns-100: 100.0 µs/request: `tcpfloor --conns 100`",
		// 150 ÷ 120; with round 1's floor, (4 + 5) ÷ (4 + 1.4) = 1.67.
		"| 1,000 × 1 KiB MB/s ≥ 1.5× kfake's | 1.25× (a broker at the floor: 1.67×); 1.25×; 1.25× | 1.25× | 0 of 3 | **missed** |",
		// 150 ÷ 250; the bound: (3 + 1) ÷ (4 + 1.4) = 0.74, short of 0.8.
		"| 1,000 × 1 KiB MB/s ≥ 0.8× sluiced's 16 × 1 KiB | 0.60× (a broker at the floor: 0.74×); 0.60×; 0.60× | 0.60× | 0 of 3 | **missed** |",
		"| 1,000 partitions × 1 KiB, one franz-go producer | 150.0 MB/s, 3.00 CPU-s/GB, RSS 70 MB, CPU 2.1× floor; client 4.00 CPU-s/GB |",
		"| ahead of Apache Kafka on every row (MB/s ≥, CPU-s/GB ≤; create: faster) | 2 of 2 rows; 2 of 2 rows; 1 of 2 rows (behind: 16x100) | - | 2 of 3 | met |",
		"conns-100 kfake failed: boom",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// TestRetire: a finished cell's files are emptied, not deleted (their
// inodes stay in use), directories and all.
func TestRetire(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "topic-0")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	files := []string{filepath.Join(dir, "meta"), filepath.Join(sub, "00000000000000000000.log")}
	for _, f := range files {
		if err := os.WriteFile(f, make([]byte, 4096), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	retire(dir)
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatalf("%s is gone: %v", f, err)
		}
		if fi.Size() != 0 {
			t.Errorf("%s holds %d bytes, want 0", f, fi.Size())
		}
	}
}

// TestSpreadCells: on ext4 the work directory gets the top-directory
// flag (chattr +T), and a cell made in it does not inherit it, so the
// partitions of a cell stay in its block group.
func TestSpreadCells(t *testing.T) {
	dir := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	err := spreadCells(dir)
	if st.Type != unix.EXT4_SUPER_MAGIC {
		t.Skipf("%s is not on ext4 (spreadCells: %v)", dir, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	cell, err := os.MkdirTemp(dir, "data-")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want bool
	}{{dir, true}, {cell, false}} {
		f, err := os.Open(c.path)
		if err != nil {
			t.Fatal(err)
		}
		flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := flags&fsTopdirFlag != 0; got != c.want {
			t.Errorf("%s: top-directory flag %v, want %v (flags %#x)", c.path, got, c.want, flags)
		}
	}
}
