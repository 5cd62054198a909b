// Command compare runs the same workloads against several brokers in one
// run and prints Markdown tables: sluiced, Apache Kafka itself
// (cmd/kafkaserver, one KRaft node from e2e/java/lib, heap 1 GiB),
// franz-go's kfake and NATS JetStream, each started fresh on its own
// temporary directory and port, with `sluice bench`, the independent
// franz-go generator (kgobench) and, for NATS, natsbench. `sluice bench
// floor` runs once first for the yardsticks.
//
//	cd bench/peers && go run ./cmd/compare --only kafka,sluiced
//
// Workload 16k, every row: start the broker, produce (--record-size,
// acks=1, --partitions), consume everything produced, read the broker's
// peak RSS (VmHWM), stop it with SIGTERM. Broker CPU-seconds per GB come
// from the generator's --broker-pid measurement of the broker process.
//
// Workloads omb-16x1k and omb-1x100 (OpenMessaging-Benchmark-shaped,
// kgobench with acks=all and linger 1 ms): each broker's peak produce
// rate on a fresh broker, then, on another fresh broker, end-to-end
// latency at a fixed rate, half the slower broker's peak (omb.go).
//
// Workload matrix is issue 19's table (matrix.go). Workload repl is issue
// 15's replication benchmark (repl.go): three-node sluiced and Apache
// Kafka clusters, one at a time in alternating rounds, RF=3 acks=all and
// RF=1 acks=1 produce of 16 KiB and 1 KiB records, with the three
// brokers' CPU and the share of replicated bytes sent by sendfile:
//
//	cd bench/peers && go run ./cmd/compare --workloads repl   # make bench-repl
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluice/sluice/bench"
	"github.com/sluice/sluice/bench/peers/internal/peerbench"
	"github.com/sluice/sluice/internal/kafkaref"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

type config struct {
	repo        string
	work        string
	keep        bool
	total       string
	recordSize  int
	partitions  int
	kfakeMemory bool
	natsSync    string
	only        string
	timeout     time.Duration
	out         string
	workloads   string
	ombDuration time.Duration
	ombWarmup   time.Duration
	kafkaHeap   string
	kafkaLib    string
	matrixBytes string
	matrixOnly  string
	matrixRuns  int
	replBytes   string
	replWarmup  string
	replRounds  int
	replHeap    string
	replWarm    string
}

func main() {
	var cfg config
	flag.StringVar(&cfg.repo, "repo", "", "the sluice repository (default: found from the working directory)")
	flag.StringVar(&cfg.work, "work-dir", "", "binaries, data and logs (default: a new temporary directory, removed afterwards)")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the work directory (logs) afterwards")
	flag.StringVar(&cfg.total, "total-bytes", "1G", "bytes to produce per run (suffixes K, M, G)")
	flag.IntVar(&cfg.recordSize, "record-size", 16384, "record bytes")
	flag.IntVar(&cfg.partitions, "partitions", 4, "partitions (NATS: subjects)")
	flag.BoolVar(&cfg.kfakeMemory, "kfake-memory", false, "kfake keeps records in memory (default: its DataDir on disk, page cache, like sluiced --fsync never)")
	flag.StringVar(&cfg.natsSync, "nats-sync", "default", "natsserver --sync: default (fsync every 2 min), always, or an interval")
	flag.StringVar(&cfg.only, "only", "", "comma-separated brokers or rows to run, e.g. kafka,sluiced or sluiced/sluice-bench,kfake/kgobench (default: all)")
	flag.StringVar(&cfg.workloads, "workloads", "16k,omb-16x1k,omb-1x100", "comma-separated workloads: 16k (--record-size, acks=1, produce then consume), omb-16x1k, omb-1x100 (OpenMessaging-Benchmark-shaped, acks=all), matrix (issue 19's table: many partitions, small records, many connections, fsync=always), repl (issue 15: three-node clusters, RF=3 acks=all beside RF=1 acks=1, sluiced and Apache Kafka in alternating rounds)")
	flag.StringVar(&cfg.matrixBytes, "matrix-bytes", "1G", "matrix: bytes produced by the 16x1k and fsync-16 rows (1000x1k: half, 16x100: a quarter, conns-100: a sixteenth)")
	flag.StringVar(&cfg.matrixOnly, "matrix-rows", "", "matrix: comma-separated rows to run, e.g. 16x1k,fsync-16 (default: all: create-1000, 1000x1k, 16x1k, 16x100, conns-100, fsync-16, fsync-16x1k)")
	flag.IntVar(&cfg.matrixRuns, "matrix-runs", 1, "matrix: rounds, each every row on every broker (their order changing from round to round), with a median and a verdict per target over the rounds")
	flag.StringVar(&cfg.replBytes, "repl-bytes", "256M", "repl: bytes produced by each row")
	flag.StringVar(&cfg.replWarmup, "repl-warmup", "64M", "repl: bytes produced (16 KiB, RF=3, acks=all) on each fresh cluster before its rows, not reported")
	flag.IntVar(&cfg.replRounds, "repl-rounds", 2, "repl: rounds, each a fresh sluiced cluster then a fresh Apache Kafka cluster")
	flag.StringVar(&cfg.replHeap, "repl-heap", "512m", "repl: each Apache Kafka node's JVM -Xmx/-Xms (three share the machine)")
	flag.StringVar(&cfg.replWarm, "repl-warm", "1G", "repl: before each row, write and delete a file of this size next to the data, so the row's page-cache writes land on memory the VM holds (see repl.go; 0: off)")
	flag.DurationVar(&cfg.ombDuration, "omb-duration", 30*time.Second, "OMB workloads: time measured at the fixed rate (after --omb-warmup)")
	flag.DurationVar(&cfg.ombWarmup, "omb-warmup", 5*time.Second, "OMB workloads: time at the fixed rate before measuring")
	flag.StringVar(&cfg.kafkaHeap, "kafka-heap", "1G", "Apache Kafka's JVM -Xmx/-Xms (kafka-server-start.sh's 1G)")
	flag.StringVar(&cfg.kafkaLib, "kafka-lib", "", "Apache Kafka jars (default: e2e/java/lib; cd e2e/java && mvn -q -B dependency:copy-dependencies -DoutputDirectory=lib)")
	flag.DurationVar(&cfg.timeout, "timeout", 15*time.Minute, "limit for each command")
	flag.StringVar(&cfg.out, "out", "", "also write the report to this file")
	flag.Parse()
	if err := run(&cfg); err != nil {
		fmt.Fprintf(os.Stderr, "compare: %v\n", err)
		os.Exit(1)
	}
}

// row is one broker measured by one load generator.
type row struct {
	broker, generator string
	produce, consume  *bench.Result
	hwmMB             float64
	commands          []string
	err               error
}

func (r *row) name() string { return r.broker + "/" + r.generator }

func run(cfg *config) error {
	if _, err := bench.ParseBytes(cfg.total); err != nil {
		return fmt.Errorf("--total-bytes: %w", err)
	}
	if _, err := bench.ParseBytes(cfg.replWarm); err != nil {
		return fmt.Errorf("--repl-warm: %w", err)
	}
	want, err := parseWorkloads(cfg.workloads)
	if err != nil {
		return err
	}
	if matrixRows, err = selectMatrixRows(matrixRows, cfg.matrixOnly); err != nil {
		return err
	}
	if cfg.repo == "" {
		repo, err := peerbench.RepoRoot()
		if err != nil {
			return fmt.Errorf("%w: pass --repo", err)
		}
		cfg.repo = repo
	}
	if cfg.kafkaLib == "" {
		cfg.kafkaLib = kafkaref.LibDir(cfg.repo)
	}
	if cfg.work == "" {
		dir, err := os.MkdirTemp("", "sluice-peers-*")
		if err != nil {
			return fmt.Errorf("cannot create a work directory: %w", err)
		}
		cfg.work = dir
		if !cfg.keep {
			defer os.RemoveAll(dir)
		}
	}
	if err := spreadCells(cfg.work); err != nil {
		logf("the cells' data directories are not spread over block groups: %v", err)
	} else {
		logf("the cells' data directories are spread over block groups (chattr +T on %s)", cfg.work)
	}
	bin := filepath.Join(cfg.work, "bin")
	logf("building into %s", bin)
	if err := build(cfg.repo, bin); err != nil {
		return err
	}
	c := &comparer{cfg: cfg, bin: bin}
	load0 := loadavg()
	var floors []*bench.Floor
	var floorCmd string
	if want["16k"] || want["omb-16x1k"] || want["omb-1x100"] { // the matrix rows need no floor
		floors, floorCmd, err = c.floor()
		if err != nil {
			logf("floor failed: %v", err)
		}
	}
	var rows []*row
	if want["16k"] {
		rows = []*row{
			{broker: "sluiced", generator: "sluice-bench"},
			{broker: "sluiced", generator: "kgobench"},
			{broker: "kafka", generator: "sluice-bench"},
			{broker: "kafka", generator: "kgobench"},
			{broker: "kfake", generator: "sluice-bench"},
			{broker: "kfake", generator: "kgobench"},
			{broker: "nats", generator: "natsbench"},
		}
	}
	for _, r := range rows {
		if !c.selected(r.broker, r.generator) {
			continue
		}
		logf("%s: start", r.name())
		r.err = c.runRow(r)
		if r.err != nil {
			logf("%s: %v", r.name(), r.err)
		}
	}
	var ombs []*ombRun
	for _, w := range ombWorkloads {
		if want[w.name] {
			ombs = append(ombs, c.runOMB(w))
		}
	}
	var matrix *matrixRun
	if want["matrix"] {
		matrix = c.runMatrix()
	}
	var repl *replRun
	if want["repl"] {
		repl = c.runRepl()
	}
	var buf bytes.Buffer
	report(&buf, cfg, floors, floorCmd, rows, ombs, matrix, repl, load0, loadavg(), err)
	os.Stdout.Write(buf.Bytes())
	if cfg.out != "" {
		if err := os.WriteFile(cfg.out, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("cannot write %s: %w", cfg.out, err)
		}
	}
	var errs []error
	for _, r := range rows {
		if r.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.name(), r.err))
		}
	}
	for _, o := range ombs {
		for _, r := range o.rows {
			if r.err != nil {
				errs = append(errs, fmt.Errorf("%s %s: %w", o.w.name, r.broker, r.err))
			}
		}
	}
	if matrix != nil {
		errs = append(errs, matrixErrors(matrix)...)
	}
	if repl != nil {
		for _, cl := range repl.clusters {
			if cl.err != nil {
				errs = append(errs, fmt.Errorf("repl round %d %s: %w", cl.round, cl.broker, cl.err))
			}
			for _, r := range cl.rows {
				if r.err != nil {
					errs = append(errs, fmt.Errorf("repl round %d %s %s: %w", cl.round, cl.broker, r.key(), r.err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

func parseWorkloads(list string) (map[string]bool, error) {
	known := map[string]bool{"16k": true, "matrix": true, "repl": true}
	for _, w := range ombWorkloads {
		known[w.name] = true
	}
	want := map[string]bool{}
	for _, w := range strings.Split(list, ",") {
		w = strings.TrimSpace(w)
		if !known[w] {
			return nil, fmt.Errorf("--workloads: unknown workload %q (16k, omb-16x1k, omb-1x100, matrix, repl)", w)
		}
		want[w] = true
	}
	return want, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "compare: "+format+"\n", args...)
}

func build(repo, bin string) error {
	own := []string{"./cmd/sluiced", "./cmd/sluice"}
	// The matrix's kernel floors; an older --repo may not have it (the
	// matrix then reports them as not measured).
	if _, err := os.Stat(filepath.Join(repo, "bench", "tcpfloor")); err == nil {
		own = append(own, "./bench/tcpfloor")
	}
	for _, b := range []struct {
		dir  string
		pkgs []string
	}{
		{repo, own},
		{filepath.Join(repo, "bench", "peers"), []string{"./cmd/kfakeserver", "./cmd/natsserver", "./cmd/natsbench", "./cmd/kgobench", "./cmd/kafkaserver"}},
	} {
		cmd := exec.Command("go", append([]string{"build", "-o", bin + "/"}, b.pkgs...)...)
		cmd.Dir = b.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s in %s: %w\n%s", strings.Join(b.pkgs, " "), b.dir, err, out)
		}
	}
	return nil
}

type comparer struct {
	cfg *config
	bin string
}

// selected reports whether --only names the broker or broker/generator.
func (c *comparer) selected(broker, generator string) bool {
	if c.cfg.only == "" {
		return true
	}
	for _, s := range strings.Split(c.cfg.only, ",") {
		s = strings.TrimSpace(s)
		if s == broker || s == broker+"/"+generator {
			return true
		}
	}
	return false
}

func (c *comparer) floor() ([]*bench.Floor, string, error) {
	dir := filepath.Join(c.cfg.work, "floor")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", fmt.Errorf("cannot create %s: %w", dir, err)
	}
	defer os.RemoveAll(dir)
	args := []string{"bench", "floor", "--total-bytes", c.cfg.total, "--dir", dir, "--json"}
	out, cmdline, err := c.runTool("sluice", args)
	if err != nil {
		return nil, cmdline, err
	}
	out = "\n" + out // the JSON may start the output or follow human lines
	i := strings.Index(out, "\n[")
	if i < 0 {
		return nil, cmdline, fmt.Errorf("no JSON in the output of %s:\n%s", cmdline, out)
	}
	var floors []*bench.Floor
	if err := json.Unmarshal([]byte(out[i+1:]), &floors); err != nil {
		return nil, cmdline, fmt.Errorf("cannot decode the output of %s: %w", cmdline, err)
	}
	return floors, cmdline, nil
}

// runTool runs a built binary and returns its stdout.
func (c *comparer) runTool(name string, args []string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.timeout)
	defer cancel()
	path := filepath.Join(c.bin, name)
	cmdline := name + " " + strings.Join(args, " ")
	cmd := exec.CommandContext(ctx, path, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), cmdline, fmt.Errorf("%s: %w\n%s%s", cmdline, err, stdout.String(), tail(stderr.String(), 2000))
	}
	return stdout.String(), cmdline, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// server is a broker process started for one row.
type server struct {
	cmd     *exec.Cmd
	cmdline string
	log     string
	exited  chan error
	done    chan struct{} // closed when the process has exited
}

// serverOpts are a row's departures from the default broker.
type serverOpts struct {
	noTopic bool // withServerOpts creates no topic (the row times its own)
	fsync   bool // every append fsync'd before it is acknowledged
}

// startServer starts broker on dir and port (logging to tag.log) and
// waits until it listens; Apache Kafka, until it answers ApiVersions.
func (c *comparer) startServer(broker, tag, dir string, port, partitions int, o serverOpts) (*server, error) {
	var name string
	var args []string
	switch broker {
	case "sluiced":
		name = "sluiced"
		args = []string{"--data-dir", dir, "--listen", fmt.Sprintf("127.0.0.1:%d", port),
			"--num-partitions", strconv.Itoa(partitions), "--log-level", "warn"}
		if o.fsync {
			args = append(args, "--fsync", "always")
		}
	case "kafka":
		name = "kafkaserver"
		args = []string{"--port", strconv.Itoa(port), "--dir", dir, "--lib", c.cfg.kafkaLib,
			"--heap", c.cfg.kafkaHeap, "--partitions", strconv.Itoa(partitions)}
		if o.fsync {
			args = append(args, "--prop", "log.flush.interval.messages=1")
		}
	case "kfake":
		name = "kfakeserver"
		args = []string{"--port", strconv.Itoa(port), "--partitions", strconv.Itoa(partitions)}
		if !c.cfg.kfakeMemory || o.fsync {
			args = append(args, "--data-dir", dir)
		}
		if o.fsync {
			args = append(args, "--sync")
		}
	case "nats":
		name = "natsserver"
		args = []string{"--port", strconv.Itoa(port), "--store-dir", dir, "--sync", c.cfg.natsSync}
	default:
		return nil, fmt.Errorf("unknown broker %q", broker)
	}
	logPath := filepath.Join(c.cfg.work, tag+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", logPath, err)
	}
	defer logFile.Close()
	s := &server{cmdline: name + " " + strings.Join(args, " "), log: logPath, exited: make(chan error, 1),
		done: make(chan struct{})}
	s.cmd = exec.Command(filepath.Join(c.bin, name), args...)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s: %w", s.cmdline, err)
	}
	go func() { err := s.cmd.Wait(); s.exited <- err; close(s.done) }()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if broker == "kafka" {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := kafkaref.WaitReady(ctx, addr, s.done); err != nil {
			s.stop()
			return nil, fmt.Errorf("%s: %w\n%s", s.cmdline, err, readTail(logPath))
		}
		return s, nil
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return s, nil
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("%s exited at start\n%s", s.cmdline, readTail(logPath))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("%s: nothing listening on %s after 30s", s.cmdline, addr)
		}
	}
}

// stop sends SIGTERM, then SIGKILL after 30 s.
func (s *server) stop() error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("cannot stop %s: %w", s.cmdline, err)
	}
	select {
	case <-s.done:
		return nil
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("%s ignored SIGTERM for 30s: killed", s.cmdline)
	}
}

func readTail(path string) string {
	b, _ := os.ReadFile(path)
	return tail(string(b), 2000)
}

// withServer starts broker fresh on its own directory and a free port,
// creates topic (Kafka protocol brokers), runs fn, then reads the
// broker's peak RSS and stops it. It returns the server's command line.
func (c *comparer) withServer(broker, tag, topic string, partitions int, fn func(addr string, pid int) error) (hwmMB float64, cmdline string, err error) {
	return c.withServerOpts(broker, tag, topic, partitions, serverOpts{}, fn)
}

// withServerOpts is withServer with o's departures from the defaults.
func (c *comparer) withServerOpts(broker, tag, topic string, partitions int, o serverOpts, fn func(addr string, pid int) error) (hwmMB float64, cmdline string, err error) {
	dir, err := os.MkdirTemp(c.cfg.work, "data-"+tag+"-") // new for each cell
	if err != nil {
		return 0, "", fmt.Errorf("cannot create a data directory in %s: %w", c.cfg.work, err)
	}
	defer retire(dir)
	port, err := kafkaref.FreePort()
	if err != nil {
		return 0, "", err
	}
	s, err := c.startServer(broker, tag, dir, port, partitions, o)
	if err != nil {
		return 0, "", err
	}
	defer func() {
		if _, hwm, perr := bench.ProcMem(s.cmd.Process.Pid); perr == nil {
			hwmMB = hwm
		}
		err = errors.Join(err, s.stop())
	}()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if broker != "nats" && !o.noTopic {
		if err := createTopic(addr, topic, partitions); err != nil {
			return 0, s.cmdline, err
		}
	}
	return 0, s.cmdline, fn(addr, s.cmd.Process.Pid)
}

// createTopic creates topic and waits until every partition has a leader
// (Apache Kafka answers CreateTopics before its broker can take writes).
func createTopic(addr, topic string, partitions int) error {
	return createTopicAfter(addr, topic, partitions, nil)
}

// createTopicAfter is createTopic calling ready, if not nil, once the
// broker has answered a first Metadata request (it is up and serving),
// just before CreateTopics: the create row's clock starts there, so a
// broker's start-up is not counted as topic creation.
func createTopicAfter(addr, topic string, partitions int, ready func() error) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return fmt.Errorf("cannot create admin client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if ready != nil {
		if _, err := adm.BrokerMetadata(ctx); err != nil {
			return fmt.Errorf("broker at %s not serving Metadata: %w", addr, err)
		}
		if err := ready(); err != nil {
			return err
		}
	}
	if _, err := adm.CreateTopic(ctx, int32(partitions), 1, nil, topic); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("cannot create topic %q on %s: %w", topic, addr, err)
	}
	for {
		td, err := adm.ListTopics(ctx, topic)
		if err == nil {
			t, ok := td[topic]
			ready := ok && t.Err == nil && len(t.Partitions) == partitions
			for _, p := range t.Partitions {
				ready = ready && p.Err == nil && p.Leader >= 0
			}
			if ready {
				// Kafka's Metadata may name a leader before the partition
				// takes requests: ListOffsets on every partition too.
				ends, lerr := adm.ListEndOffsets(ctx, topic)
				if lerr == nil {
					lerr = ends.Error()
				}
				if err = lerr; err == nil {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %q on %s has no leaders after a minute (last: %v)", topic, addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *comparer) runRow(r *row) error {
	var err error
	var cmdline string
	r.hwmMB, cmdline, err = c.withServer(r.broker, r.broker+"-"+r.generator, "bench", c.cfg.partitions, func(addr string, pidn int) error {
		pid := strconv.Itoa(pidn)
		size, parts := strconv.Itoa(c.cfg.recordSize), strconv.Itoa(c.cfg.partitions)
		var tool string
		var prodArgs, consArgs []string
		switch r.generator {
		case "sluice-bench":
			tool = "sluice"
			prodArgs = []string{"bench", "produce", "--brokers", addr, "--topic", "bench", "--partitions", parts,
				"--record-size", size, "--total-bytes", c.cfg.total, "--acks", "1", "--broker-pid", pid, "--json"}
			consArgs = []string{"bench", "consume", "--brokers", addr, "--topic", "bench", "--broker-pid", pid, "--json"}
		case "kgobench":
			tool = "kgobench"
			prodArgs = []string{"produce", "--brokers", addr, "--topic", "bench", "--partitions", parts,
				"--record-size", size, "--total-bytes", c.cfg.total, "--broker-pid", pid, "--json"}
			consArgs = []string{"consume", "--brokers", addr, "--topic", "bench", "--broker-pid", pid, "--json"}
		case "natsbench":
			tool = "natsbench"
			server := "nats://" + addr
			prodArgs = []string{"produce", "--server", server, "--stream", "bench", "--subjects", parts,
				"--record-size", size, "--total-bytes", c.cfg.total, "--broker-pid", pid, "--json"}
			consArgs = []string{"consume", "--server", server, "--stream", "bench", "--broker-pid", pid, "--json"}
		default:
			return fmt.Errorf("unknown generator %q", r.generator)
		}
		var cmdline string
		var err error
		r.produce, cmdline, err = c.result(tool, prodArgs)
		r.commands = append(r.commands, cmdline)
		if err != nil {
			return fmt.Errorf("produce: %w", err)
		}
		logf("%s: produce %s", r.name(), r.produce.Line())
		r.consume, cmdline, err = c.result(tool, consArgs)
		r.commands = append(r.commands, cmdline)
		if err != nil {
			return fmt.Errorf("consume: %w", err)
		}
		logf("%s: consume %s", r.name(), r.consume.Line())
		return nil
	})
	if cmdline != "" {
		r.commands = append([]string{cmdline}, r.commands...)
	}
	return err
}

// result runs a generator with --json and decodes its result.
func (c *comparer) result(tool string, args []string) (*bench.Result, string, error) {
	out, cmdline, err := c.runTool(tool, args)
	if err != nil {
		return nil, cmdline, err
	}
	out = "\n" + out // the JSON may start the output or follow human lines
	i := strings.Index(out, "\n{")
	if i < 0 {
		return nil, cmdline, fmt.Errorf("no JSON in the output of %s:\n%s", cmdline, out)
	}
	var res bench.Result
	if err := json.Unmarshal([]byte(out[i+1:]), &res); err != nil {
		return nil, cmdline, fmt.Errorf("cannot decode the output of %s: %w", cmdline, err)
	}
	return &res, cmdline, nil
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func report(w io.Writer, cfg *config, floors []*bench.Floor, floorCmd string, rows []*row, ombs []*ombRun, matrix *matrixRun, repl *replRun, load0, load1 string, floorErr error) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	fmt.Fprintf(bw, "\nHost: %d CPUs, load average %s at the start, %s at the end.\n\n", runtime.NumCPU(), load0, load1)
	if floorErr != nil {
		fmt.Fprintf(bw, "Floor: failed: %v\n\n", floorErr)
	}
	for _, f := range floors {
		fmt.Fprintf(bw, "- floor %s: %.1f MB/s\n", f.Kind, f.MBps)
	}
	if len(rows) > 0 {
		report16k(bw, cfg, rows)
	}
	for _, o := range ombs {
		reportOMB(bw, cfg, o)
	}
	if matrix != nil {
		reportMatrix(bw, cfg, matrix)
	}
	if repl != nil {
		reportRepl(bw, cfg, repl)
	}
	fmt.Fprintln(bw, "\nCommands (binaries built from this tree; ports and directories as in this run):")
	fmt.Fprintln(bw, "\n```sh")
	if floorCmd != "" {
		fmt.Fprintln(bw, floorCmd)
	}
	for _, r := range rows {
		for _, c := range r.commands {
			fmt.Fprintln(bw, c)
		}
	}
	for _, o := range ombs {
		for _, r := range o.rows {
			for _, c := range r.commands {
				fmt.Fprintln(bw, c)
			}
		}
	}
	if matrix != nil {
		for _, c := range matrixCommands(matrix) {
			fmt.Fprintln(bw, c)
		}
	}
	if repl != nil {
		for _, c := range replCommands(repl) {
			fmt.Fprintln(bw, c)
		}
	}
	fmt.Fprintln(bw, "```")
}

func report16k(bw *bufio.Writer, cfg *config, rows []*row) {
	fmt.Fprintf(bw, "\n## Peers: %s records, acks=1, %d partitions, %s produced per run\n\n",
		byteSize(cfg.recordSize), cfg.partitions, cfg.total)
	fmt.Fprintln(bw, "| broker | generator | produce MB/s | produce p99 | produce broker cpu-s/GB | consume MB/s | consume broker cpu-s/GB | peak RSS MB |")
	fmt.Fprintln(bw, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range rows {
		if len(r.commands) == 0 && r.err == nil {
			continue // not selected
		}
		p, cs := r.produce, r.consume
		fmt.Fprintf(bw, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", brokerLabel(cfg, r.broker), r.generator,
			num(p, func(x *bench.Result) string { return fmt.Sprintf("%.1f", x.MBps) }),
			num(p, func(x *bench.Result) string { return fmt.Sprintf("%.2f ms", x.Latency.P99) }),
			num(p, cpuPerGB),
			num(cs, func(x *bench.Result) string { return fmt.Sprintf("%.1f", x.MBps) }),
			num(cs, cpuPerGB),
			hwm(r))
	}
	fmt.Fprint(bw, `
Notes: MB = 2^20 bytes. sluice bench counts RecordBatch bytes, kgobench and
natsbench record value bytes (16 KiB records: under 0.1% apart). Produce
p99: sluice bench, per Produce request (write to response); kgobench, per
record from Produce to its promise (includes buffering and linger);
natsbench, per message from publish to PubAck. Broker cpu-s/GB: the broker
process's utime+stime over the run per GB moved (the generator's
--broker-pid). Peak RSS: the broker's VmHWM after produce and consume.
`)
	for _, r := range rows {
		if r.err != nil {
			fmt.Fprintf(bw, "\n%s failed: %s\n", r.name(), indent(r.err.Error()))
		}
	}
}

func indent(s string) string {
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    ")
}

func brokerLabel(cfg *config, b string) string {
	switch b {
	case "sluiced":
		return "sluiced (fsync never)"
	case "kafka":
		return "Apache Kafka " + kafkaref.Version + " (heap " + cfg.kafkaHeap + ")"
	case "kfake":
		if cfg.kfakeMemory {
			return "kfake (in memory)"
		}
		return "kfake (DataDir, no fsync)"
	case "nats":
		return "NATS JetStream (file, sync " + cfg.natsSync + ")"
	}
	return b
}

func num(r *bench.Result, f func(*bench.Result) string) string {
	if r == nil {
		return "failed"
	}
	return f(r)
}

func cpuPerGB(r *bench.Result) string {
	if r.Broker == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", r.Broker.CPUSecPerGB)
}

func hwm(r *row) string { return hwmText(r.hwmMB) }

func hwmText(mb float64) string {
	if mb == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", mb)
}

func byteSize(n int) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

// retire frees a finished cell's disk space without deleting its files:
// it empties every regular file under dir and leaves the files and
// directories for the work directory's removal at the end of the run.
//
// On an ext4 without a journal (this project's benchmark VM), the kernel
// will not hand out an inode freed in the last 60 seconds (6 minutes when
// its inode-table block is still dirty): each new file or directory scans
// past every recently freed inode in its group (fs/ext4/ialloc.c,
// recently_deleted). Deleting a 1,000-partition cell's files made the next
// cells that create many files pay that scan per file: measured, the
// 1,000 × 1 KiB row's broker CPU went from 4.8 to 8–15 CPU-s/GB in
// back-to-back runs, 47% of it in recently_deleted. Emptying keeps the
// inodes in use, so no cell pays for another's files (spreadCells keeps
// other processes' deletions out of the cells' block groups). When
// emptying fails, the directory is removed instead.
func retire(dir string) {
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		return os.Truncate(path, 0)
	})
	if err != nil {
		logf("cannot empty %s (%v): removing it", dir, err)
		os.RemoveAll(dir)
	}
}
