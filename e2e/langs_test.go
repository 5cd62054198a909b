package e2e

// Consumer groups through client libraries in other languages: kafka-python
// and confluent-kafka-python (Debian's python3-kafka and
// python3-confluent-kafka) and kafkajs (npm, installed into e2e/node by
// scripts/test-deps.sh). Each is driven by a small script in py/ or node/
// that prints one line per fact ("sent P OFFSET KEY", "record P OFFSET KEY
// VALUE", …); the tests read those lines and check them against the broker.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// scriptTimeout bounds one client script's run.
const scriptTimeout = 30 * time.Second

// startGroupBroker starts sluiced on dir with no initial rebalance delay,
// so a group forms as soon as its first member joins and a second member
// makes a real rebalance.
func startGroupBroker(t *testing.T, dir string, extra ...string) *daemon {
	t.Helper()
	return start(t, dir, append([]string{"--group-initial-rebalance-delay", "0"}, extra...)...)
}

// missingClient skips the test, or fails it when SLUICE_REQUIRE_KCAT=1.
func missingClient(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("SLUICE_REQUIRE_KCAT") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// python returns a python3 that imports module. Debian's packages install
// into /usr/bin/python3's dist-packages, which a python3 earlier on PATH
// (pyenv, a virtualenv) does not see, so that one is tried first.
func python(t testing.TB, module, pkg string) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import "+module).Run() == nil {
			return py
		}
	}
	missingClient(t, fmt.Sprintf("no python3 imports %s: install the Debian package %q (scripts/test-deps.sh)", module, pkg))
	return ""
}

// nodeWithKafkajs returns node's path once kafkajs is installed in e2e/node.
func nodeWithKafkajs(t testing.TB) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		missingClient(t, `node not found: install the Debian packages "nodejs" and "npm", then scripts/test-deps.sh`)
	}
	if _, err := os.Stat("node/node_modules/kafkajs/package.json"); err != nil {
		missingClient(t, "kafkajs is not installed in e2e/node: run `npm ci --no-audit --no-fund` there (scripts/test-deps.sh does)")
	}
	return node
}

// proc is a client script running in the background; its stdout lines
// are collected as they come.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *tailBuffer
	done   chan struct{}
	err    error // cmd.Wait's result, set before done is closed

	mu    sync.Mutex
	lines []string
}

// startProc runs name args… for at most scriptTimeout; a t.Cleanup kills
// it if the test leaves it running.
func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	p := &proc{name: strings.Join(append([]string{name}, args...), " "), stderr: &tailBuffer{max: 16 << 10},
		done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, name, args...)
	p.cmd.Stderr = p.stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("%s: %v", p.name, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
		}
		p.err = p.cmd.Wait()
		cancel()
		close(p.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
		if t.Failed() {
			t.Logf("%s stderr (tail):\n%s", p.name, p.stderr.String())
		}
	})
	return p
}

// Lines is what the script printed so far. It fails the test if the
// script has exited with an error.
func (p *proc) Lines(t testing.TB) []string {
	t.Helper()
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("%s: %v\nstderr:\n%s", p.name, p.err, tail(p.stderr.String(), 4096))
		}
	default:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// Finish closes the script's stdin and requires it to exit with status 0.
func (p *proc) Finish(t testing.TB) []string {
	t.Helper()
	p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(scriptTimeout):
		t.Fatalf("%s: still running %v after its stdin closed", p.name, scriptTimeout)
	}
	return p.Lines(t)
}

// runScript runs a client script to completion and returns its lines.
func runScript(t testing.TB, name string, args ...string) []string {
	t.Helper()
	out := strings.TrimSpace(string(runTool(t, scriptTimeout, nil, name, args...)))
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// withPrefix returns the fields after word of every line starting with word.
func withPrefix(lines []string, word string) [][]string {
	var out [][]string
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 0 && f[0] == word {
			out = append(out, f[1:])
		}
	}
	return out
}

// rec is one record a script reported: "P OFFSET KEY [VALUE]".
type rec struct {
	Partition int32
	Offset    int64
	Key       string
	Value     string
}

func parseRec(t testing.TB, f []string) rec {
	t.Helper()
	if len(f) < 3 {
		t.Fatalf("record line %q: want P OFFSET KEY [VALUE]", f)
	}
	p, err1 := strconv.ParseInt(f[0], 10, 32)
	o, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("record line %q: bad partition or offset", f)
	}
	r := rec{Partition: int32(p), Offset: o, Key: f[2]}
	if len(f) > 3 {
		r.Value = f[3]
	}
	return r
}

func parseRecs(t testing.TB, lines []string, word string) []rec {
	t.Helper()
	var out []rec
	for _, f := range withPrefix(lines, word) {
		out = append(out, parseRec(t, f))
	}
	return out
}

// endOffsets is each partition's log-end offset after the records in recs.
func endOffsets(recs []rec) map[int32]int64 {
	end := map[int32]int64{}
	for _, r := range recs {
		end[r.Partition] = max(end[r.Partition], r.Offset+1)
	}
	return end
}

// groupLag runs `sluice groups describe GROUP --output json` and returns
// each partition's committed offset and the sum of the LAG column,
// failing on a partition without a committed offset or lag.
func groupLag(t testing.TB, addr, group string) (map[int32]int64, int64) {
	t.Helper()
	out := runTool(t, ioTimeout, nil, sluiceBin, "groups", "describe", group, "--brokers", addr, "--output", "json")
	var rows []struct { // the table's columns, snake_case; null where the table has "-"
		Partition     int32  `json:"partition"`
		CurrentOffset *int64 `json:"current_offset"`
		Lag           *int64 `json:"lag"`
	}
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatalf("sluice groups describe %s: %v\n%s", group, err, out)
	}
	committed := map[int32]int64{}
	var sum int64
	for _, r := range rows {
		if r.CurrentOffset == nil || r.Lag == nil {
			t.Fatalf("sluice groups describe %s: partition %d: want a committed offset and a lag\n%s", group, r.Partition, out)
		}
		committed[r.Partition] = *r.CurrentOffset
		sum += *r.Lag
	}
	return committed, sum
}

// TestGroupKafkaPython: kafka-python produces 300 keyed records over 3
// partitions with acks=all; two group members in separate processes
// consume them all between them, each record once, committing; a third
// member of the group started afterwards starts at the committed offsets
// and gets nothing new; `sluice groups describe` shows no lag.
func TestGroupKafkaPython(t *testing.T) {
	py := python(t, "kafka", "python3-kafka")
	d := startGroupBroker(t, t.TempDir())
	const topic, group, n = "kp-orders", "kp-group", 300
	createTopic(t, d.Addr, topic, 3)

	members := []*proc{
		startProc(t, py, "py/kafkapython.py", "consume", d.Addr, topic, group),
		startProc(t, py, "py/kafkapython.py", "consume", d.Addr, topic, group),
	}
	// Produce once the group has settled: both members own partitions.
	waitFor(t, "both kafka-python members to own partitions", scriptTimeout, func() bool {
		owned := map[string]bool{}
		for _, m := range members {
			a := withPrefix(m.Lines(t), "assigned")
			if len(a) == 0 || a[len(a)-1][0] == "-" {
				return false
			}
			for _, p := range strings.Split(a[len(a)-1][0], ",") {
				owned[p] = true
			}
		}
		return len(owned) == 3
	})

	out := runScript(t, py, "py/kafkapython.py", "produce", d.Addr, topic, strconv.Itoa(n))
	if v := withPrefix(out, "api_version"); len(v) == 1 {
		t.Logf("kafka-python guessed broker api_version %s", v[0][0])
	}
	sent := parseRecs(t, out, "sent")
	end := endOffsets(sent)
	if len(sent) != n || len(end) != 3 {
		t.Fatalf("kafka-python acknowledged %d records over partitions %v, want %d over 3", len(sent), end, n)
	}
	where := map[string]rec{}
	for _, r := range sent {
		where[r.Key] = r
	}

	consumed := func() int {
		seen := map[string]bool{}
		for _, m := range members {
			for _, f := range withPrefix(m.Lines(t), "record") {
				seen[f[2]] = true
			}
		}
		return len(seen)
	}
	waitFor(t, "the two members to consume every record", scriptTimeout, func() bool { return consumed() == n })
	got := map[string]int{}
	for i, m := range members {
		lines := m.Finish(t)
		recs := parseRecs(t, lines, "record")
		if len(recs) == 0 {
			t.Errorf("member %d consumed nothing (assignments %v)", i, withPrefix(lines, "assigned"))
		}
		for _, r := range recs {
			got[r.Key]++
			if w := where[r.Key]; r.Partition != w.Partition || r.Offset != w.Offset || r.Value != "v"+r.Key[1:] {
				t.Errorf("member %d read %+v; %s was acknowledged at %d/%d", i, r, r.Key, w.Partition, w.Offset)
			}
		}
		t.Logf("member %d: %d records, assignments %v", i, len(recs), withPrefix(lines, "assigned"))
	}
	for k, c := range got {
		if c != 1 {
			t.Errorf("record %s consumed %d times", k, c)
		}
	}

	out = runScript(t, py, "py/kafkapython.py", "check", d.Addr, topic, group)
	for _, f := range withPrefix(out, "position") {
		p, _ := strconv.ParseInt(f[0], 10, 32)
		if f[1] != strconv.FormatInt(end[int32(p)], 10) {
			t.Errorf("a new member starts partition %s at %s, want the committed %d", f[0], f[1], end[int32(p)])
		}
	}
	if len(withPrefix(out, "position")) != 3 || strings.Join(withPrefix(out, "new")[0], "") != "0" {
		t.Errorf("a new member of the group after the others stopped: %q, want 3 positions at the ends and new 0", out)
	}

	committed, lag := groupLag(t, d.Addr, group)
	if lag != 0 || len(committed) != 3 {
		t.Errorf("sluice groups describe %s: committed %v, total lag %d; want 3 partitions at %v, lag 0", group, committed, lag, end)
	}
	d.Stop()
}

// TestGroupConfluentKafkaPython: confluent-kafka-python (librdkafka)
// produces 300 records with 37 keys; a group consumer reads back exactly
// what was acknowledged, partition by partition in offset order, and
// commits.
func TestGroupConfluentKafkaPython(t *testing.T) {
	py := python(t, "confluent_kafka", "python3-confluent-kafka")
	d := startGroupBroker(t, t.TempDir())
	const topic, group, n = "ck-orders", "ck-group", 300
	createTopic(t, d.Addr, topic, 3)

	out := runScript(t, py, "py/confluent.py", "produce", d.Addr, topic, strconv.Itoa(n))
	if v := withPrefix(out, "librdkafka"); len(v) == 1 {
		t.Logf("confluent-kafka-python on librdkafka %s", v[0][0])
	}
	sent := parseRecs(t, out, "sent")
	if len(sent) != n {
		t.Fatalf("%d records acknowledged, want %d", len(sent), n)
	}
	got := parseRecs(t, runScript(t, py, "py/confluent.py", "consume", d.Addr, topic, group, strconv.Itoa(n)), "record")

	byPartition := func(recs []rec, sorted bool) map[int32][]rec {
		m := map[int32][]rec{}
		for _, r := range recs {
			m[r.Partition] = append(m[r.Partition], r)
		}
		if sorted {
			for _, rs := range m {
				sort.Slice(rs, func(i, j int) bool { return rs[i].Offset < rs[j].Offset })
			}
		}
		return m
	}
	want, have := byPartition(sent, true), byPartition(got, false)
	if len(want) != 3 {
		t.Errorf("records acknowledged on %d partitions, want 3", len(want))
	}
	for p, ws := range want {
		hs := have[p]
		if len(hs) != len(ws) {
			t.Errorf("partition %d: read %d records, %d acknowledged", p, len(hs), len(ws))
			continue
		}
		for i := range ws {
			if hs[i] != ws[i] {
				t.Errorf("partition %d, record %d: read %+v, acknowledged %+v", p, i, hs[i], ws[i])
				break
			}
			if i > 0 && ws[i].Value <= ws[i-1].Value { // v000…v299 in production order
				t.Errorf("partition %d: %s stored after %s", p, ws[i].Value, ws[i-1].Value)
			}
		}
	}
	if _, lag := groupLag(t, d.Addr, group); lag != 0 {
		t.Errorf("group %s: lag %d after committing everything, want 0", group, lag)
	}
	d.Stop()
}

// TestGroupKafkaJS: two kafkajs group members in one Node process consume
// 300 records from an idempotent kafkajs producer, each exactly once; the
// broker restarts on the same data directory and port, and the group
// resumes from its committed offsets: a second run reads only the 60
// records produced after the restart.
func TestGroupKafkaJS(t *testing.T) {
	node := nodeWithKafkajs(t)
	dir := t.TempDir()
	d := startGroupBroker(t, dir)
	addr := d.Addr
	const topic, group = "js-orders", "js-group"
	createTopic(t, addr, topic, 3)

	check := func(lines []string, from, n int) []rec {
		t.Helper()
		if v := withPrefix(lines, "kafkajs"); len(v) == 1 && from == 0 {
			t.Logf("kafkajs %s", v[0][0])
		}
		var recs []rec
		perMember := map[string]int{}
		count := map[string]int{}
		for _, f := range withPrefix(lines, "record") {
			r := parseRec(t, f[1:])
			recs = append(recs, r)
			perMember[f[0]]++
			count[r.Key]++
			if k, _ := strconv.Atoi(r.Key[1:]); k < from {
				t.Errorf("read %+v again (run from k%03d)", r, from)
			}
		}
		for i := from; i < from+n; i++ {
			if k := fmt.Sprintf("k%03d", i); count[k] != 1 {
				t.Errorf("%s consumed %d times, want once", k, count[k])
			}
		}
		if len(perMember) != 2 {
			t.Errorf("records per member %v, want both members consuming (joins %v)", perMember, withPrefix(lines, "joined"))
		}
		t.Logf("run from k%03d: records per member %v", from, perMember)
		return recs
	}

	before := endOffsets(check(runScript(t, node, "node/groups.js", addr, topic, group, "0", "300"), 0, 300))
	committed, lag := groupLag(t, addr, group)
	if lag != 0 || len(committed) != 3 {
		t.Errorf("before the restart: committed %v, lag %d; want %v, lag 0", committed, lag, before)
	}

	d.Stop()
	d = startGroupBroker(t, dir, "--listen", addr)
	after := check(runScript(t, node, "node/groups.js", addr, topic, group, "300", "60"), 300, 60)
	for _, r := range after {
		if r.Offset < before[r.Partition] {
			t.Errorf("after the restart read %+v below the committed %d", r, before[r.Partition])
		}
	}
	if _, lag := groupLag(t, addr, group); lag != 0 {
		t.Errorf("after the restart: lag %d, want 0", lag)
	}
	d.Stop()
}
