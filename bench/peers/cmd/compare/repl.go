package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluice/sluice/bench"
	"github.com/sluice/sluice/internal/kafkaref"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The repl workload is issue 15's replication benchmark: a three-node
// cluster on loopback (sluiced: three combined nodes with
// controller.quorum.voters; Apache Kafka: kafkaref.StartCluster, three
// combined KRaft nodes with --repl-heap each), one cluster at a time, in
// --repl-rounds rounds that alternate the brokers (sluiced, kafka, sluiced,
// kafka, …) so both see the same drift of a shared machine. On each
// cluster:
//
//	topic r3   1 partition, RF=3, min.insync.replicas=2
//	topic r1   1 partition, RF=1
//	warm-up    sluice bench produce, 16 KiB to r3, acks=all (not reported:
//	           the JVM's JIT, both brokers' page cache)
//	rows       sluice bench produce --acks all to r3 and --acks 1 to r1, of
//	           16 KiB and of 1 KiB records, --repl-bytes each, against the
//	           partition's leader
//
// Before each row, --repl-warm bytes are written to a file next to the
// data and the file deleted (warmPageCache). This machine is a VM whose
// hypervisor takes back memory the guest leaves free (free page
// reporting), and the first write into such a page costs the guest ~15×
// a write into a page it freed a moment ago (dd of 512 MiB into a new
// file: 0.10-0.13 s while freed pages last, 1.3-1.9 s of system time
// after, 2026-12-04). About 1 GiB of freed memory stays unreported. The
// rows here write up to three copies of 256 MiB after a cluster's start,
// so without the step their figures swung 2-5× with what ran before them
// (RF=1 acks=1: 250-290 MB/s at 3.7-4.3 CPU-s/GB without it, 1,040-1,490
// at 0.7-1.0 with it), a cost no broker pays on real hardware. The matrix
// cells, which write at most 512 MiB after emptying the last cell's
// files, measured the same with and without it.
//
// Each row reports MB/s, p50/p99 per Produce request, and broker CPU as
// CPU-seconds per GB produced: the sum of the three brokers' utime+stime
// (/proc/PID/stat before and after), and the leader's alone. On sluiced,
// the rows with RF=3 also report the share of the replicated bytes that
// left the leaders by sendfile: sluice_replica_fetch_bytes_total{path}
// scraped from every node's /metrics before and after (sendfile over
// sendfile+copied), and how many bytes that is against the two followers'
// copies of what was produced.

// replRow is one produce measured on one cluster.
type replRow struct {
	topic  string // r3 or r1
	size   int
	acks   string // all or 1
	res    *bench.Result
	cpuAll float64 // CPU-s/GB, the three brokers
	// sluiced only: replica bytes sent by the leaders in the row.
	sendfile, copied float64
	scraped          bool
	cmd              string
	err              error
}

func (r *replRow) key() string { return fmt.Sprintf("%s/%d/%s", r.topic, r.size, r.acks) }

// replCluster is one broker's cluster in one round.
type replCluster struct {
	round   int
	broker  string
	cmdline string
	rows    []*replRow
	err     error
}

type replRun struct {
	clusters []*replCluster
	skipped  map[string]string
}

// replNode is a running node of either broker.
type replNode struct {
	id      int
	addr    string
	metrics string // sluiced: host:port of its HTTP listener
	pid     int
}

var replRowSpecs = []struct {
	topic string
	size  int
	acks  string
}{
	{"r3", 16384, "all"}, {"r3", 1024, "all"}, {"r1", 16384, "1"}, {"r1", 1024, "1"},
}

func (c *comparer) runRepl() *replRun {
	run := &replRun{skipped: map[string]string{}}
	var brokers []string
	for _, b := range []string{"sluiced", "kafka"} {
		if !c.selected(b, "") && !c.selected(b, "sluice-bench") {
			continue
		}
		if b == "kafka" {
			if err := kafkaref.Check(c.cfg.kafkaLib); err != nil {
				run.skipped[b] = err.Error()
				continue
			}
		}
		brokers = append(brokers, b)
	}
	for round := 1; round <= c.cfg.replRounds; round++ {
		for _, b := range brokers {
			logf("repl round %d %s: start", round, b)
			cl := c.replCluster(round, b)
			if cl.err != nil {
				logf("repl round %d %s: %v", round, b, cl.err)
			}
			run.clusters = append(run.clusters, cl)
		}
	}
	return run
}

func (c *comparer) replCluster(round int, broker string) *replCluster {
	cl := &replCluster{round: round, broker: broker}
	dir := filepath.Join(c.cfg.work, fmt.Sprintf("repl-%s-%d", broker, round))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		cl.err = fmt.Errorf("cannot create %s: %w", dir, err)
		return cl
	}
	defer retire(dir)
	var nodes []*replNode
	var stop func() error
	var err error
	if broker == "kafka" {
		nodes, stop, cl.cmdline, err = c.startKafkaCluster(dir)
	} else {
		nodes, stop, cl.cmdline, err = c.startSluicedCluster(dir)
	}
	if err != nil {
		cl.err = err
		return cl
	}
	defer func() {
		if err := stop(); err != nil {
			logf("repl round %d %s: stop: %v", round, broker, err)
		}
	}()
	cl.err = c.replRows(cl, nodes)
	return cl
}

// startSluicedCluster starts three combined sluiced nodes on free ports,
// each with an HTTP listener for /metrics.
func (c *comparer) startSluicedCluster(dir string) ([]*replNode, func() error, string, error) {
	type ports struct{ kafka, ctl, http int }
	var ps []ports
	for range 3 {
		var p ports
		for _, x := range []*int{&p.kafka, &p.ctl, &p.http} {
			v, err := kafkaref.FreePort()
			if err != nil {
				return nil, nil, "", err
			}
			*x = v
		}
		ps = append(ps, p)
	}
	var voters []string
	for i, p := range ps {
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i+1, p.ctl))
	}
	env := append(os.Environ(), "SLUICE_CONTROLLER_QUORUM_VOTERS="+strings.Join(voters, ","))
	var nodes []*replNode
	var servers []*server
	var cmdline string
	stop := func() error {
		var errs []error
		for _, s := range servers {
			errs = append(errs, s.stop())
		}
		return errors.Join(errs...)
	}
	fail := func(err error) ([]*replNode, func() error, string, error) {
		stop()
		return nil, nil, "", err
	}
	for i, p := range ps {
		args := []string{"--node-id", strconv.Itoa(i + 1), "--cluster-id", "sluice-repl-bench",
			"--data-dir", filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
			"--listen", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", p.kafka, p.ctl),
			"--http-listen", fmt.Sprintf("127.0.0.1:%d", p.http), "--log-level", "warn"}
		if i == 0 {
			cmdline = "SLUICE_CONTROLLER_QUORUM_VOTERS=" + strings.Join(voters, ",") + " sluiced " + strings.Join(args, " ") + "  # and nodes 2, 3 alike"
		}
		logPath := filepath.Join(c.cfg.work, fmt.Sprintf("%s-n%d.log", filepath.Base(dir), i+1))
		logFile, err := os.Create(logPath)
		if err != nil {
			return fail(fmt.Errorf("cannot create %s: %w", logPath, err))
		}
		cmd := exec.Command(filepath.Join(c.bin, "sluiced"), args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, logFile, logFile
		if err := cmd.Start(); err != nil {
			logFile.Close()
			return fail(fmt.Errorf("cannot start sluiced node %d: %w", i+1, err))
		}
		logFile.Close()
		s := &server{cmd: cmd, cmdline: "sluiced node " + strconv.Itoa(i+1), log: logPath,
			exited: make(chan error, 1), done: make(chan struct{})}
		go func() { err := cmd.Wait(); s.exited <- err; close(s.done) }()
		nodes = append(nodes, &replNode{id: i + 1, addr: fmt.Sprintf("127.0.0.1:%d", p.kafka),
			metrics: fmt.Sprintf("127.0.0.1:%d", p.http), pid: cmd.Process.Pid})
		servers = append(servers, s)
	}
	// Every node answers ApiVersions (the listener is up; the quorum is
	// awaited by the topic creation).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, n := range nodes {
		if err := kafkaref.WaitReady(ctx, n.addr, servers[i].done); err != nil {
			return fail(fmt.Errorf("sluiced node %d: %w", n.id, err))
		}
	}
	return nodes, stop, cmdline, nil
}

// startKafkaCluster starts a three-node Apache Kafka cluster
// (kafkaref.StartCluster), at most three minutes. Its stop gives the
// nodes 15 s to shut down together before killing them: the last node
// standing has no quorum for its controlled shutdown and would wait.
func (c *comparer) startKafkaCluster(dir string) ([]*replNode, func() error, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var logs []*os.File
	defer func() {
		for _, f := range logs {
			f.Close()
		}
	}()
	output := func(id int) io.Writer {
		f, err := os.Create(filepath.Join(c.cfg.work, fmt.Sprintf("%s-node%d.log", filepath.Base(dir), id)))
		if err != nil {
			return nil
		}
		logs = append(logs, f)
		return f
	}
	kc, err := kafkaref.StartCluster(ctx, kafkaref.ClusterOptions{LibDir: c.cfg.kafkaLib, Dir: dir, Nodes: 3,
		Heap: c.cfg.replHeap, Output: output})
	if err != nil {
		return nil, nil, "", err
	}
	var nodes []*replNode
	for i, b := range kc.Brokers {
		nodes = append(nodes, &replNode{id: i + 1, addr: b.Addr, pid: b.Pid()})
	}
	stop := func() error {
		if err := kc.Stop(15 * time.Second); err != nil {
			logf("repl: %v", err) // data thrown away: a kill is no failure
		}
		return nil
	}
	cmdline := fmt.Sprintf("kafkaserver --nodes 3 --heap %s --dir DIR  # Apache Kafka %s, three combined KRaft nodes", c.cfg.replHeap, kafkaref.Version)
	return nodes, stop, cmdline, nil
}

// replRows creates the topics, warms up and measures every row.
func (c *comparer) replRows(cl *replCluster, nodes []*replNode) error {
	boot := make([]string, len(nodes))
	for i, n := range nodes {
		boot[i] = n.addr
	}
	leaders := map[string]*replNode{}
	for _, t := range []struct {
		name string
		rf   int
	}{{"r3", 3}, {"r1", 1}} {
		id, err := createReplTopic(strings.Join(boot, ","), t.name, t.rf)
		if err != nil {
			return err
		}
		for _, n := range nodes {
			if n.id == id {
				leaders[t.name] = n
			}
		}
		if leaders[t.name] == nil {
			return fmt.Errorf("topic %s: leader %d is not one of the nodes", t.name, id)
		}
	}
	// Warm-up: not reported.
	lr := leaders["r3"]
	if _, _, err := c.result("sluice", []string{"bench", "produce", "--brokers", lr.addr, "--topic", "r3",
		"--acks", "all", "--record-size", "16384", "--total-bytes", c.cfg.replWarmup, "--json"}); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	for _, spec := range replRowSpecs {
		r := &replRow{topic: spec.topic, size: spec.size, acks: spec.acks}
		cl.rows = append(cl.rows, r)
		r.err = c.replRow(cl.broker, r, leaders[spec.topic], nodes)
		if r.err != nil {
			logf("repl round %d %s %s: %v", cl.round, cl.broker, r.key(), r.err)
			continue
		}
		logf("repl round %d %s %s: %s; 3 brokers %.2f CPU-s/GB%s", cl.round, cl.broker, r.key(), r.res.Line(), r.cpuAll, r.shareText())
	}
	return nil
}

func (c *comparer) replRow(broker string, r *replRow, leader *replNode, nodes []*replNode) error {
	if err := c.warmPageCache(); err != nil {
		return err
	}
	cpu0, err := cpuSum(nodes)
	if err != nil {
		return err
	}
	var m0 [2]float64
	if broker == "sluiced" {
		if m0, err = scrapeReplica(nodes); err != nil {
			logf("repl: %v", err)
		}
	}
	var cmd string
	r.res, cmd, err = c.result("sluice", []string{"bench", "produce", "--brokers", leader.addr, "--topic", r.topic,
		"--acks", r.acks, "--record-size", strconv.Itoa(r.size), "--total-bytes", c.cfg.replBytes,
		"--broker-pid", strconv.Itoa(leader.pid), "--json"})
	r.cmd = cmd
	if err != nil {
		return err
	}
	cpu1, err := cpuSum(nodes)
	if err != nil {
		return err
	}
	if r.res.Bytes > 0 {
		r.cpuAll = (cpu1 - cpu0) / (float64(r.res.Bytes) / (1 << 30))
	}
	if broker == "sluiced" {
		// Followers fetch a moment after the last acknowledgement with
		// acks=1: scrape until two scrapes 200 ms apart agree (bounded).
		m1, err := scrapeReplica(nodes)
		for deadline := time.Now().Add(5 * time.Second); err == nil && time.Now().Before(deadline); {
			time.Sleep(200 * time.Millisecond) // let the followers finish, bounded
			var again [2]float64
			if again, err = scrapeReplica(nodes); err == nil && again == m1 {
				break
			}
			m1 = again
		}
		if err != nil {
			logf("repl: %v", err)
		} else {
			r.sendfile, r.copied, r.scraped = m1[0]-m0[0], m1[1]-m0[1], true
		}
	}
	return nil
}

// warmPageCache writes --repl-warm bytes of zeros to a new file in the
// work directory and deletes it: the pages the row's writes take next are
// ones this guest has just freed, not ones its hypervisor took back (see
// the package's repl doc). No fsync: the pages are dropped with the file.
func (c *comparer) warmPageCache() error {
	n, err := bench.ParseBytes(c.cfg.replWarm)
	if err != nil || n == 0 {
		return err
	}
	path := filepath.Join(c.cfg.work, "repl-warm")
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("page-cache warm: %w", err)
	}
	defer os.Remove(path)
	buf := make([]byte, 1<<20)
	start := time.Now()
	for left := n; left > 0; left -= int64(len(buf)) {
		if _, err := f.Write(buf[:min(left, int64(len(buf)))]); err != nil {
			f.Close()
			return fmt.Errorf("page-cache warm: %w", err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("page-cache warm: %w", err)
	}
	logf("repl: page cache warmed, %d MiB in %.2f s", n>>20, time.Since(start).Seconds())
	return os.Remove(path)
}

// shareText is the row's sendfile share for the log.
func (r *replRow) shareText() string {
	if !r.scraped || r.sendfile+r.copied == 0 {
		return ""
	}
	return fmt.Sprintf("; replica bytes %.0f%% by sendfile, %.2f× the produced bytes", 100*r.sendfile/(r.sendfile+r.copied),
		(r.sendfile+r.copied)/float64(r.res.Bytes))
}

// cpuSum is the nodes' utime+stime in seconds.
func cpuSum(nodes []*replNode) (float64, error) {
	var sum float64
	for _, n := range nodes {
		s, err := bench.ProcCPU(n.pid)
		if err != nil {
			return 0, fmt.Errorf("node %d: %w", n.id, err)
		}
		sum += s
	}
	return sum, nil
}

// scrapeReplica sums sluice_replica_fetch_bytes_total over the nodes'
// /metrics: [sendfile, copied].
func scrapeReplica(nodes []*replNode) ([2]float64, error) {
	var out [2]float64
	cl := &http.Client{Timeout: 5 * time.Second}
	for _, n := range nodes {
		resp, err := cl.Get("http://" + n.metrics + "/metrics")
		if err != nil {
			return out, fmt.Errorf("scrape node %d: %w", n.id, err)
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "sluice_replica_fetch_bytes_total{") {
				continue
			}
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				continue
			}
			switch {
			case strings.Contains(line, `path="sendfile"`):
				out[0] += v
			case strings.Contains(line, `path="copied"`):
				out[1] += v
			}
		}
		err = sc.Err()
		resp.Body.Close()
		if err != nil {
			return out, fmt.Errorf("scrape node %d: %w", n.id, err)
		}
	}
	return out, nil
}

// createReplTopic creates a one-partition topic with replication factor
// rf (min.insync.replicas=2 when rf is 3) and waits until its leader
// answers ListOffsets and, for rf > 1, every replica is in the ISR. It
// returns the leader's node id.
func createReplTopic(bootstrap, topic string, rf int) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(bootstrap, ",")...))
	if err != nil {
		return 0, fmt.Errorf("cannot create admin client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var configs map[string]*string
	if rf == 3 {
		two := "2"
		configs = map[string]*string{"min.insync.replicas": &two}
	}
	// The quorum may still be electing: retry until the deadline.
	for {
		_, err = adm.CreateTopic(ctx, 1, int16(rf), configs, topic)
		if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
			break
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("cannot create topic %q on %s: %w", topic, bootstrap, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	for {
		td, err := adm.ListTopics(ctx, topic)
		if err == nil {
			if t, ok := td[topic]; ok && t.Err == nil && len(t.Partitions) == 1 {
				p := t.Partitions[0]
				if p.Err == nil && p.Leader >= 0 && len(p.ISR) == rf {
					ends, lerr := adm.ListEndOffsets(ctx, topic)
					if lerr == nil {
						lerr = ends.Error()
					}
					if lerr == nil {
						return int(p.Leader), nil
					}
					err = lerr
				}
			}
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("topic %q on %s not ready after 2 minutes (last: %v)", topic, bootstrap, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// median of xs (0 when empty).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func reportRepl(bw *bufio.Writer, cfg *config, run *replRun) {
	fmt.Fprintf(bw, "\n## Replication: three nodes on loopback, RF=3 acks=all and RF=1 acks=1, %s per row, %d rounds\n\n",
		cfg.replBytes, cfg.replRounds)
	fmt.Fprintf(bw, "sluiced: three combined nodes; Apache Kafka %s: three combined KRaft nodes, heap %s each. One cluster at a time, rounds alternating the brokers.",
		kafkaref.Version, cfg.replHeap)
	if n, _ := bench.ParseBytes(cfg.replWarm); n > 0 {
		fmt.Fprintf(bw, " Before each row, a file of %s written and deleted (--repl-warm: the row's page-cache writes land on memory the VM holds).", cfg.replWarm)
	}
	fmt.Fprint(bw, "\n\n")
	for b, why := range run.skipped {
		fmt.Fprintf(bw, "%s not measured: %s\n\n", b, why)
	}
	fmt.Fprintln(bw, "| round | broker | topic | record | acks | MB/s | p50 | p99 | 3 brokers CPU-s/GB | leader CPU-s/GB | replica bytes by sendfile |")
	fmt.Fprintln(bw, "| ---: | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, cl := range run.clusters {
		if cl.err != nil && len(cl.rows) == 0 {
			fmt.Fprintf(bw, "| %d | %s | failed: %s | | | | | | | | |\n", cl.round, cl.broker, strings.ReplaceAll(firstLine(cl.err.Error()), "|", "/"))
			continue
		}
		for _, r := range cl.rows {
			if r.err != nil {
				fmt.Fprintf(bw, "| %d | %s | %s | %s | %s | failed: %s | | | | | |\n", cl.round, cl.broker, r.topic, byteSize(r.size), r.acks,
					strings.ReplaceAll(firstLine(r.err.Error()), "|", "/"))
				continue
			}
			share := "-"
			if r.scraped && r.sendfile+r.copied > 0 {
				share = fmt.Sprintf("%.1f%% (%.2f× produced)", 100*r.sendfile/(r.sendfile+r.copied), (r.sendfile+r.copied)/float64(r.res.Bytes))
			}
			fmt.Fprintf(bw, "| %d | %s | %s | %s | %s | %.1f | %.1f ms | %.1f ms | %.2f | %s | %s |\n", cl.round, cl.broker, r.topic,
				byteSize(r.size), r.acks, r.res.MBps, r.res.Latency.P50, r.res.Latency.P99, r.cpuAll, cpuPerGB(r.res), share)
		}
	}
	// Ratios within each round, then their medians.
	type pair struct{ mbps, p99, cpu []float64 }
	ratios := map[string]*pair{}
	var keys []string
	byRound := map[int]map[string]map[string]*replRow{}
	for _, cl := range run.clusters {
		if byRound[cl.round] == nil {
			byRound[cl.round] = map[string]map[string]*replRow{}
		}
		byRound[cl.round][cl.broker] = map[string]*replRow{}
		for _, r := range cl.rows {
			if r.err == nil {
				byRound[cl.round][cl.broker][r.key()] = r
			}
		}
	}
	for _, spec := range replRowSpecs {
		k := (&replRow{topic: spec.topic, size: spec.size, acks: spec.acks}).key()
		for round := 1; round <= cfg.replRounds; round++ {
			s, k2 := byRound[round]["sluiced"][k], byRound[round]["kafka"][k]
			if s == nil || k2 == nil || k2.res.MBps == 0 || k2.res.Latency.P99 == 0 || k2.cpuAll == 0 {
				continue
			}
			if ratios[k] == nil {
				ratios[k] = &pair{}
				keys = append(keys, k)
			}
			p := ratios[k]
			p.mbps = append(p.mbps, s.res.MBps/k2.res.MBps)
			p.p99 = append(p.p99, s.res.Latency.P99/k2.res.Latency.P99)
			p.cpu = append(p.cpu, s.cpuAll/k2.cpuAll)
		}
	}
	if len(keys) > 0 {
		fmt.Fprintln(bw, "\nsluiced ÷ Apache Kafka within each round (median of the rounds; targets for RF=3 acks=all: MB/s ≥ 1.5, p99 ≤ 0.5):")
		fmt.Fprintln(bw, "\n| row | MB/s ratio per round | median | p99 ratio per round | median | 3-broker CPU-s/GB ratio (median) |")
		fmt.Fprintln(bw, "| --- | --- | ---: | --- | ---: | ---: |")
		for _, k := range keys {
			p := ratios[k]
			fmt.Fprintf(bw, "| %s | %s | %.2f | %s | %.2f | %.2f |\n", k, floats(p.mbps), median(p.mbps), floats(p.p99), median(p.p99), median(p.cpu))
		}
	}
	fmt.Fprint(bw, `
Notes: MB = 2^20 bytes of RecordBatches (sluice bench). p50/p99 per
Produce request (1 MiB batches, 4 in flight, one connection to the
partition's leader). 3 brokers CPU-s/GB: the three broker processes'
utime+stime over the row per GB produced; leader: the leader's alone
(--broker-pid). Replica bytes by sendfile: sluiced's
sluice_replica_fetch_bytes_total{path} summed over the nodes, sendfile ÷
(sendfile + copied), and that total against the bytes produced (2.00× when
both followers fetched everything once).
`)
	for _, cl := range run.clusters {
		if cl.err != nil {
			fmt.Fprintf(bw, "\nround %d %s failed: %s\n", cl.round, cl.broker, indent(cl.err.Error()))
		}
	}
}

func floats(xs []float64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(s, ", ")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// replCommands are the commands of the run, for the report.
func replCommands(run *replRun) []string {
	var out []string
	seen := map[string]bool{}
	for _, cl := range run.clusters {
		if !seen[cl.broker] && cl.cmdline != "" {
			out = append(out, cl.cmdline)
			seen[cl.broker] = true
		}
		for _, r := range cl.rows {
			if r.cmd != "" && !seen[cl.broker+r.key()] {
				out = append(out, r.cmd)
				seen[cl.broker+r.key()] = true
			}
		}
	}
	return out
}
