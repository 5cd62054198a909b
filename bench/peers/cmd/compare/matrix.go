package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice/sluice/bench"
	"github.com/sluice/sluice/internal/kafkaref"
)

// The matrix workload is issue 19's table: the workloads where many
// partitions, small records, many connections or fsync=always cost a
// broker most. Each cell is its own fresh broker, so one row's files and
// memory never carry into the next:
//
//	create-1000   CreateTopics of 1,000 partitions until every partition
//	              has a leader and answers ListOffsets: wall and broker CPU,
//	              from the fresh broker's first Metadata answer
//	1000x1k       kgobench produce, 1,000 partitions x 1 KiB, acks=1
//	16x1k         kgobench produce, 16 partitions x 1 KiB, acks=1
//	16x100        kgobench produce, 16 partitions x 100 B, acks=1
//	conns-100     sluice bench produce, 100 connections, one 512 B record
//	              per request (--batch-bytes 1024): broker µs per request
//	fsync-16      sluice bench produce, 16 connections x 16 partitions x
//	              16 KiB, every append fsync'd (sluiced --fsync always,
//	              kfake --sync, Kafka log.flush.interval.messages=1)
//	fsync-16x1k   the same with 1 KiB records in requests of 16 KiB
//	              (--batch-bytes 16384): the fsync, not the copy, is the cost
//
// Every produced row reports MB/s, the broker's CPU-seconds per GB and its
// peak RSS (VmHWM). --matrix-bytes sets the 16x1k and fsync-16 volume;
// 1000x1k produces half of it, 16x100 a quarter, fsync-16x1k an eighth,
// conns-100 a sixteenth.
//
// --matrix-runs N repeats the whole table N times (rounds, the brokers'
// order changing: roundOrder) and ends the report with issue 19's
// targets judged from the cells (matrix_targets.go). Each cell's data directory is new and is
// emptied, not deleted, when the cell ends (retire, main.go).
//
// When fio is on the PATH, the fsync rows also get their floors, measured
// in each round right before and right after the row (the higher counts),
// on the work directory's filesystem (fioFloors): fsync-16 against fio's
// sequential 1 MiB writes fsync'd every 32 MiB (the disk's bandwidth),
// fsync-16x1k against 16 fio jobs writing 16 KiB and fdatasyncing each
// write (16 writers of the same request size).
//
// Every round also measures the kernel's floor of four rows with
// bench/tcpfloor (kernelFloors): 1000x1k, 16x1k, 16x100 and conns-100,
// in the same shapes, with nothing of a broker around the socket reads,
// the one write per partition batch (or request) and the answers. Each of
// those cells then gives its broker's CPU as a multiple of the floor.

// matrixBrokers are measured in every row (Kafka when its jars are there).
var matrixBrokers = []string{"sluiced", "kafka", "kfake"}

type matrixRow struct {
	name, title string
}

var matrixRows = []matrixRow{
	{"create-1000", "create a 1,000-partition topic"},
	{"1000x1k", "1,000 partitions × 1 KiB, one franz-go producer"},
	{"16x1k", "16 partitions × 1 KiB, one franz-go producer"},
	{"16x100", "16 partitions × 100 B, one franz-go producer"},
	{"conns-100", "100 connections × small requests (one 512 B record each)"},
	{"fsync-16", "fsync=always, 16 producers × 16 KiB"},
	{"fsync-16x1k", "fsync=always, 16 producers × 1 KiB, 16 KiB requests"},
}

// selectMatrixRows keeps the rows named in the comma-separated list
// (all of them when it is empty), in the table's order.
func selectMatrixRows(rows []matrixRow, list string) ([]matrixRow, error) {
	if strings.TrimSpace(list) == "" {
		return rows, nil
	}
	want := map[string]bool{}
	for _, n := range strings.Split(list, ",") {
		want[strings.TrimSpace(n)] = true
	}
	var out []matrixRow
	for _, r := range rows {
		if want[r.name] {
			out = append(out, r)
			delete(want, r.name)
		}
	}
	for n := range want {
		return nil, fmt.Errorf("--matrix-rows: unknown row %q", n)
	}
	return out, nil
}

// fioFloor is one fio job of the fsync rows' floors.
type fioFloor struct {
	name string   // the row it is the floor of
	args []string // fio's job options
}

var fioFloors = []fioFloor{
	{"fsync-16", []string{"--rw=write", "--bs=1M", "--size=1G", "--ioengine=psync", "--fsync=32", "--end_fsync=1"}},
	{"fsync-16x1k", []string{"--rw=write", "--bs=16k", "--size=16M", "--numjobs=16", "--ioengine=psync", "--fdatasync=1", "--group_reporting"}},
}

// matrixCell is one broker's figures in one row.
type matrixCell struct {
	res      *bench.Result // produce rows
	wall     time.Duration // create-1000
	cpuSec   float64       // create-1000: broker CPU over the create
	hwmMB    float64
	commands []string
	err      error
}

type matrixRun struct {
	brokers []string
	skipped map[string]string // broker: why not measured
	rounds  []*matrixRound
}

// matrixRound is one pass over the rows, every broker in each.
type matrixRound struct {
	cells     map[string]map[string]*matrixCell // row: broker: its cell
	fio       map[string]float64                // row: its fio floor in MiB/s, the higher of fioRuns
	fioRuns   map[string][]float64              // row: fio's MiB/s before and after the row's cells
	fioCmds   map[string]string                 // row: its fio command
	fioErr    error
	floor     map[string]kernelFloor // row: its kernel floor (tcpfloor)
	floorCmds map[string]string
	floorErr  error
}

// kernelFloor is one bench/tcpfloor run: the receiving side's CPU per GB
// and, in the 100-connection shape, per request.
type kernelFloor struct {
	CPUSecPerGB  float64 `json:"cpu_s_per_gb"`
	USPerRequest float64 `json:"us_per_request"`
}

// kernelFloors are the rows bench/tcpfloor has a floor for, with its
// arguments for each: what reading the socket, writing each partition's
// batch (or each request) to its page-cache file with one call and
// answering cost, with nothing of a broker around it. The shapes follow
// the rows' own writes: the one franz-go producer's requests carry ~290 KB
// per partition at 16 × 1 KiB, ~40 KB at 16 × 100 B and ~8 KB at 1,000
// partitions; the 100-connection row's requests are ~640 bytes.
var kernelFloors = []struct {
	row  string
	args []string // tcpfloor's, but --total
	div  int64    // --total: --matrix-bytes divided by div, as the row's volume
}{
	{"1000x1k", []string{"--files", "1000", "--write-size", "8192"}, 2},
	{"16x1k", []string{"--files", "16", "--write-size", "294912"}, 1},
	{"16x100", []string{"--files", "16", "--write-size", "40960"}, 4},
	{"conns-100", []string{"--conns", "100", "--files", "16", "--write-size", "640"}, 16},
}

// cell is broker's cell of row, nil when it was not measured or failed.
func (rd *matrixRound) cell(row, broker string) *matrixCell {
	c := rd.cells[row][broker]
	if c == nil || c.err != nil {
		return nil
	}
	return c
}

// runMatrix measures cfg.matrixRuns rounds. Each round runs every row on
// every broker, a fresh broker per cell, an fsync row between two runs of
// its fio floor (the disk's speed drifts), in the order of roundOrder.
func (c *comparer) runMatrix() *matrixRun {
	run := &matrixRun{skipped: map[string]string{}}
	for _, b := range matrixBrokers {
		if !c.selected(b, "") && !c.selected(b, "kgobench") && !c.selected(b, "sluice-bench") {
			continue
		}
		if b == "kafka" {
			if err := kafkaref.Check(c.cfg.kafkaLib); err != nil {
				run.skipped[b] = err.Error()
				continue
			}
		}
		run.brokers = append(run.brokers, b)
	}
	for i := range max(c.cfg.matrixRuns, 1) {
		rd := &matrixRound{cells: map[string]map[string]*matrixCell{}}
		run.rounds = append(run.rounds, rd)
		rd.fio, rd.fioRuns, rd.fioCmds = map[string]float64{}, map[string][]float64{}, map[string]string{}
		rd.floor, rd.floorCmds, rd.floorErr = c.measureKernelFloors(i + 1)
		for _, r := range matrixRows {
			rd.cells[r.name] = map[string]*matrixCell{}
			if rd.fioErr == nil {
				rd.fioErr = c.measureFioFloor(r.name, rd)
			}
			for _, b := range roundOrder(run.brokers, i) {
				logf("matrix round %d %s %s: start", i+1, r.name, b)
				cell := c.matrixCell(r.name, b)
				rd.cells[r.name][b] = cell
				if cell.err != nil {
					logf("matrix round %d %s %s: %v", i+1, r.name, b, cell.err)
				} else if cell.res != nil {
					logf("matrix round %d %s %s: %s", i+1, r.name, b, cell.res.Line())
				} else {
					logf("matrix round %d %s %s: %.3f s, %.2f CPU-s", i+1, r.name, b, cell.wall.Seconds(), cell.cpuSec)
				}
			}
			if rd.fioErr == nil {
				rd.fioErr = c.measureFioFloor(r.name, rd)
			}
		}
	}
	return run
}

// roundOrder is the brokers' order in round i (from 0): the list rotated
// by i/2, and reversed in odd rounds. A cell can be charged for the
// state the cell before it leaves (its freed memory, its writeback).
// The cells run row after row, so the cell before a broker's is the one
// before it in the order, or the last one's for the first. Rotation
// alone would keep that neighbour the same in every round (sluiced
// always after kfake, kfake always after Kafka); reversing every other
// round gives each broker the other neighbour, and the rotation takes
// each broker through the first place, right after the round's floors.
func roundOrder(brokers []string, i int) []string {
	n := len(brokers)
	out := make([]string, n)
	for j := range n {
		out[j] = brokers[(i/2+j)%n]
	}
	if i%2 == 1 {
		slices.Reverse(out)
	}
	return out
}

// matrixErrors are the failed cells of every round.
func matrixErrors(m *matrixRun) []error {
	var errs []error
	for i, rd := range m.rounds {
		for _, r := range matrixRows {
			for _, b := range m.brokers {
				if cell := rd.cells[r.name][b]; cell != nil && cell.err != nil {
					errs = append(errs, fmt.Errorf("matrix round %d %s %s: %w", i+1, r.name, b, cell.err))
				}
			}
		}
	}
	return errs
}

// matrixCommands are the commands of the run's first round (the others
// repeat them), for the report.
func matrixCommands(m *matrixRun) []string {
	if len(m.rounds) == 0 {
		return nil
	}
	var out []string
	for _, r := range matrixRows {
		for _, b := range m.brokers {
			if cell := m.rounds[0].cells[r.name][b]; cell != nil {
				out = append(out, cell.commands...)
			}
		}
	}
	return out
}

// matrixVolume gives a row's volume: --matrix-bytes divided by div, at
// least 1 MiB, as a decimal byte count.
func (c *comparer) matrixVolume() (func(div int64) string, error) {
	total, err := bench.ParseBytes(c.cfg.matrixBytes)
	if err != nil {
		return nil, err
	}
	return func(div int64) string { return strconv.FormatInt(max(total/div, 1<<20), 10) }, nil
}

func (c *comparer) matrixCell(row, broker string) *matrixCell {
	cell := &matrixCell{}
	bytes, err := c.matrixVolume()
	if err != nil {
		cell.err = err
		return cell
	}
	o := serverOpts{}
	partitions := 16
	var tool string
	var args []string
	switch row {
	case "create-1000":
		o.noTopic = true
	case "1000x1k", "16x1k", "16x100":
		size, div := "1024", int64(1)
		switch row {
		case "1000x1k":
			partitions, div = 1000, 2
		case "16x100":
			size, div = "100", 4
		}
		tool = "kgobench"
		args = []string{"produce", "--topic", "matrix", "--partitions", strconv.Itoa(partitions),
			"--record-size", size, "--acks", "1", "--total-bytes", bytes(div), "--json"}
	case "conns-100":
		tool = "sluice"
		args = []string{"bench", "produce", "--topic", "matrix", "--partitions", "16", "--producers", "100",
			"--record-size", "512", "--batch-bytes", "1024", "--acks", "1", "--total-bytes", bytes(16), "--json"}
	case "fsync-16":
		o.fsync = true
		tool = "sluice"
		args = []string{"bench", "produce", "--topic", "matrix", "--partitions", "16", "--producers", "16",
			"--record-size", "16384", "--acks", "1", "--total-bytes", bytes(1), "--json"}
	case "fsync-16x1k":
		o.fsync = true
		tool = "sluice"
		args = []string{"bench", "produce", "--topic", "matrix", "--partitions", "16", "--producers", "16",
			"--record-size", "1024", "--batch-bytes", "16384", "--acks", "1", "--total-bytes", bytes(8), "--json"}
	}
	var cmdline string
	cell.hwmMB, cmdline, cell.err = c.withServerOpts(broker, "matrix-"+row+"-"+broker, "matrix", partitions, o,
		func(addr string, pid int) error {
			if row == "create-1000" {
				return c.timeCreate(cell, addr, pid)
			}
			full := append(args, "--brokers", addr, "--broker-pid", strconv.Itoa(pid))
			var cmd string
			var err error
			cell.res, cmd, err = c.result(tool, full)
			cell.commands = append(cell.commands, cmd)
			return err
		})
	if cmdline != "" {
		cell.commands = append([]string{cmdline}, cell.commands...)
	}
	return cell
}

// timeCreate creates a 1,000-partition topic and waits until every
// partition answers (createTopic), measuring wall time and broker CPU from
// when the broker, just started, has answered a first Metadata request
// (its start-up is not the topic's creation).
func (c *comparer) timeCreate(cell *matrixCell, addr string, pid int) error {
	var cpu0 float64
	var start time.Time
	ready := func() (err error) {
		cpu0, err = bench.ProcCPU(pid)
		start = time.Now()
		return err
	}
	if err := createTopicAfter(addr, "create1000", 1000, ready); err != nil {
		return err
	}
	cell.wall = time.Since(start)
	cpu1, err := bench.ProcCPU(pid)
	if err != nil {
		return err
	}
	cell.cpuSec = cpu1 - cpu0
	cell.commands = append(cell.commands, "(kadm) BrokerMetadata (clock starts), CreateTopic create1000, 1000 partitions, then ListTopics + ListEndOffsets until every partition answers")
	return nil
}

func reportMatrix(bw *bufio.Writer, cfg *config, m *matrixRun) {
	fmt.Fprintf(bw, "\n## Matrix (issue 19): each cell a fresh broker; --matrix-bytes %s, %d round(s)\n", cfg.matrixBytes, len(m.rounds))
	for i, rd := range m.rounds {
		if len(m.rounds) > 1 {
			fmt.Fprintf(bw, "\n### Round %d\n", i+1)
		}
		reportMatrixRound(bw, cfg, m, rd)
	}
	fmt.Fprint(bw, `
Cells: MB/s (MB = 2^20 bytes), the broker's CPU-seconds per GB produced
(utime+stime of the broker process over the run) and its peak RSS (VmHWM);
the create row gives wall time from CreateTopics (sent once the fresh
broker has answered a first Metadata request) until every partition
answers ListOffsets, and the broker's CPU-seconds over it; the 100-connection
row adds the broker's CPU per request (one record per request). The load
generator shares the machine's CPUs with the broker.
`)
	for b, why := range m.skipped {
		fmt.Fprintf(bw, "\n%s not measured: %s\n", b, indent(why))
	}
	reportMatrixTargets(bw, m)
}

// reportMatrixRound writes one round's table, its fio floors and its
// failed cells.
func reportMatrixRound(bw *bufio.Writer, cfg *config, m *matrixRun, rd *matrixRound) {
	fmt.Fprint(bw, "\n| workload |")
	for _, b := range m.brokers {
		fmt.Fprintf(bw, " %s |", matrixLabel(cfg, b))
	}
	fmt.Fprint(bw, "\n| --- |")
	for range m.brokers {
		fmt.Fprint(bw, " ---: |")
	}
	fmt.Fprintln(bw)
	for _, r := range matrixRows {
		fmt.Fprintf(bw, "| %s |", r.title)
		for _, b := range m.brokers {
			text := matrixText(r.name, rd.cells[r.name][b])
			if cell := rd.cell(r.name, b); rd.fio[r.name] > 0 && cell != nil && cell.res != nil {
				text += fmt.Sprintf(", %.2f× fio", cell.res.MBps/rd.fio[r.name])
			}
			if x, ok := floorShare(rd, r.name, rd.cell(r.name, b)); ok {
				text += fmt.Sprintf(", CPU %.1f× floor", x)
			}
			if cell := rd.cell(r.name, b); cell != nil && cell.res != nil && cell.res.Client != nil && cell.res.Client.CPUSecPerGB > 0 {
				text += fmt.Sprintf("; client %.2f CPU-s/GB", cell.res.Client.CPUSecPerGB)
			}
			fmt.Fprintf(bw, " %s |", text)
		}
		fmt.Fprintln(bw)
	}
	switch {
	case rd.fioErr != nil:
		fmt.Fprintf(bw, "\nfio floors not measured: %s\n", indent(rd.fioErr.Error()))
	case len(rd.fio) > 0:
		fmt.Fprint(bw, "\nfio floors, each measured right before and after its row, same filesystem (the fsync rows give each broker's MB/s as a share of them):\n\n")
		for _, f := range fioFloors {
			if cmd, ok := rd.fioCmds[f.name]; ok {
				fmt.Fprintf(bw, "- %s: %.1f MiB/s (before and after the row: %s): `%s`\n", f.name, rd.fio[f.name], mibpsList(rd.fioRuns[f.name]), cmd)
			}
		}
	}
	switch {
	case rd.floorErr != nil:
		fmt.Fprintf(bw, "\nkernel floors not measured: %s\n", indent(rd.floorErr.Error()))
	case len(rd.floor) > 0:
		fmt.Fprint(bw, "\nkernel floors, same round (bench/tcpfloor: the socket read, one write per partition batch or request and the answers on one thread, nothing of a broker; \"CPU n× floor\" above is a broker's CPU per GB, per request in the 100-connection row, as a multiple of its row's):\n\n")
		for _, f := range kernelFloors {
			kf, ok := rd.floor[f.row]
			if !ok {
				continue
			}
			fig := fmt.Sprintf("%.2f CPU-s/GB", kf.CPUSecPerGB)
			if f.row == "conns-100" {
				fig = fmt.Sprintf("%.1f µs/request", kf.USPerRequest)
			}
			fmt.Fprintf(bw, "- %s: %s: `%s`\n", f.row, fig, rd.floorCmds[f.row])
		}
	}
	for _, r := range matrixRows {
		for _, b := range m.brokers {
			if cell := rd.cells[r.name][b]; cell != nil && cell.err != nil {
				fmt.Fprintf(bw, "\n%s %s failed: %s\n", r.name, b, indent(cell.err.Error()))
			}
		}
	}
}

func matrixLabel(cfg *config, b string) string {
	switch b {
	case "sluiced":
		return "sluiced"
	case "kfake":
		return "kfake (DataDir)"
	}
	return brokerLabel(cfg, b)
}

func matrixText(row string, cell *matrixCell) string {
	switch {
	case cell == nil:
		return "-"
	case cell.err != nil:
		return "failed"
	case row == "create-1000":
		return fmt.Sprintf("%.2f s, %.2f CPU-s", cell.wall.Seconds(), cell.cpuSec)
	case cell.res == nil:
		return "-"
	}
	r := cell.res
	s := fmt.Sprintf("%.1f MB/s", r.MBps)
	if r.Broker != nil {
		s += fmt.Sprintf(", %.2f CPU-s/GB", r.Broker.CPUSecPerGB)
		if us, ok := brokerUSPerRequest(cell); ok && row == "conns-100" {
			s += fmt.Sprintf(", %.1f µs/request", us)
		}
	}
	return s + ", RSS " + hwmText(cell.hwmMB) + " MB"
}

// rowSelected reports whether the run measures row (--matrix-rows).
func rowSelected(row string) bool {
	return slices.ContainsFunc(matrixRows, func(r matrixRow) bool { return r.name == row })
}

// measureKernelFloors runs bench/tcpfloor for each selected row of
// kernelFloors, in a directory of the work directory that is emptied, not
// deleted, afterwards (retire: 1,000 files deleted would slow the next
// cell's file creation on this ext4), and returns each row's floor and
// command.
func (c *comparer) measureKernelFloors(round int) (map[string]kernelFloor, map[string]string, error) {
	bytes, err := c.matrixVolume()
	if err != nil {
		return nil, nil, err
	}
	floors, cmds := map[string]kernelFloor{}, map[string]string{}
	for _, f := range kernelFloors {
		if !rowSelected(f.row) {
			continue
		}
		dir := filepath.Join(c.cfg.work, fmt.Sprintf("tcpfloor-%d-%s", round, f.row))
		args := append(slices.Clone(f.args), "--total", bytes(f.div), "--dir", dir, "--json")
		logf("matrix kernel floor of %s: tcpfloor %s", f.row, strings.Join(args, " "))
		out, cmdline, err := c.runTool("tcpfloor", args)
		retire(dir)
		if err != nil {
			return nil, nil, err
		}
		var kf kernelFloor
		if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &kf); err != nil || kf.CPUSecPerGB <= 0 {
			return nil, nil, fmt.Errorf("cannot read the output of %s: %v\n%s", cmdline, err, out)
		}
		floors[f.row], cmds[f.row] = kf, cmdline
		logf("matrix kernel floor of %s: %.2f CPU-s/GB, %.2f µs/request", f.row, kf.CPUSecPerGB, kf.USPerRequest)
	}
	return floors, cmds, nil
}

// brokerUSPerRequest is a cell's broker CPU per record in µs, which in
// the 100-connection row (one record per request) is per request; ok false
// when the cell has no broker figures or no records.
func brokerUSPerRequest(cell *matrixCell) (float64, bool) {
	if cell == nil || cell.res == nil || cell.res.Broker == nil || cell.res.Records == 0 {
		return 0, false
	}
	return cell.res.Broker.CPUSec / float64(cell.res.Records) * 1e6, true
}

// floorShare is a cell's broker CPU as a multiple of its row's kernel
// floor in the same round: per request in the 100-connection row, per GB
// in the others (ok false when either is missing).
func floorShare(rd *matrixRound, row string, cell *matrixCell) (float64, bool) {
	f, ok := rd.floor[row]
	if !ok || cell == nil || cell.res == nil || cell.res.Broker == nil {
		return 0, false
	}
	if row == "conns-100" {
		us, ok := brokerUSPerRequest(cell)
		if !ok || f.USPerRequest <= 0 {
			return 0, false
		}
		return us / f.USPerRequest, true
	}
	if f.CPUSecPerGB <= 0 || cell.res.Broker.CPUSecPerGB <= 0 {
		return 0, false
	}
	return cell.res.Broker.CPUSecPerGB / f.CPUSecPerGB, true
}

// measureFioFloor runs the fio job of row's floor, if row has one, in a
// directory of the work directory removed afterwards, and records its
// MiB/s and command in rd. It runs right before the row's cells and again
// right after them, not at the round's start: the disk's speed drifts
// within minutes (319 and 635 MiB/s a minute apart here), and the cells of
// the rows between would write and delete gigabytes first. The row's
// floor is the higher of the two, so a slow moment of the disk never
// makes the target easier.
func (c *comparer) measureFioFloor(row string, rd *matrixRound) error {
	i := slices.IndexFunc(fioFloors, func(f fioFloor) bool { return f.name == row })
	if i < 0 {
		return nil
	}
	fio, err := exec.LookPath("fio")
	if err != nil {
		return fmt.Errorf("fio is not on the PATH, so the fsync rows have no floor (Debian: apt-get install fio): %w", err)
	}
	dir := filepath.Join(c.cfg.work, "fio")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create %s: %w", dir, err)
	}
	defer os.RemoveAll(dir)
	args := append([]string{"--name=floor", "--directory=" + dir, "--output-format=json"}, fioFloors[i].args...)
	logf("matrix fio floor of %s: fio %s", row, strings.Join(args, " "))
	out, err := exec.Command(fio, args...).Output()
	if err != nil {
		return fmt.Errorf("fio %s: %w", strings.Join(args, " "), err)
	}
	mibps, err := fioWriteMiBps(out)
	if err != nil {
		return err
	}
	logf("matrix fio floor of %s: %.1f MiB/s", row, mibps)
	rd.fioRuns[row] = append(rd.fioRuns[row], mibps)
	rd.fio[row], rd.fioCmds[row] = max(rd.fio[row], mibps), "fio "+strings.Join(args, " ")
	return nil
}

// mibpsList formats fio runs' MiB/s as "319.1, 634.8".
func mibpsList(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'f', 1, 64)
	}
	return strings.Join(s, ", ")
}

// fioWriteMiBps reads the write bandwidth of fio's JSON output (one job,
// or one group with --group_reporting): write.bw is in KiB/s.
func fioWriteMiBps(out []byte) (float64, error) {
	var r struct {
		Jobs []struct {
			Write struct {
				BW float64 `json:"bw"`
			} `json:"write"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return 0, fmt.Errorf("cannot parse fio's JSON output: %w", err)
	}
	if len(r.Jobs) == 0 || r.Jobs[0].Write.BW <= 0 {
		return 0, errors.New("fio's JSON output has no write bandwidth")
	}
	return r.Jobs[0].Write.BW / 1024, nil
}
