package e2e

// Apache Kafka as the reference client: the Java client programs in
// java/src/main/java/io/sluice/kit (RoundTrip, Groups, Idempotent,
// AdminCalls) and Kafka's own command-line tools, all from the jars that
// scripts/test-deps.sh resolves into java/lib with Maven (Kafka 4.1.1,
// pinned in java/pom.xml), run against a real sluiced.
//
// Each Java program runs all its cases in one JVM and prints one line per
// case ("ok NAME (MS ms)" or "FAIL NAME: REASON"); the tests turn each line
// into a subtest. Kafka's tools run in batches, one JVM per batch, through
// io.sluice.kit.ToolBatch. A case that fails because Sluice differs from
// Apache Kafka is listed in knownJavaDiffs with the reason (and in
// docs/COMPATIBILITY.md): it is skipped with that reason, and the test fails
// once it passes so that the list stays true.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// javaTimeout bounds one JVM: a test program or a tool batch.
const javaTimeout = 3 * time.Minute

// jvmFlags keep a short-lived JVM cheap on two shared cores: the serial
// collector, C1 only, a bounded heap.
var jvmFlags = []string{"-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xmx512m", "-Xss1m"}

// knownJavaDiffs maps "PROGRAM/CASE" (a Java program's case, or
// "tools/NAME", "dump-log/NAME" or "crash/NAME" for the other tests) to
// why Sluice fails it where Apache Kafka passes. Keep it in step with
// docs/COMPATIBILITY.md.
var knownJavaDiffs = map[string]string{}

// javaKit is the reference kit that scripts/test-deps.sh builds in
// e2e/java: a java binary and the classpath of Kafka's jars (java/lib)
// plus the compiled test programs (java/target/classes).
type javaKit struct {
	java string
	cp   string
}

// requireJava returns the kit, or skips the test naming what is missing;
// under CI=true or SLUICE_REQUIRE_JAVA=1 it fails instead.
func requireJava(t testing.TB) *javaKit {
	t.Helper()
	java := ""
	if home := os.Getenv("JAVA_HOME"); home != "" {
		if p := filepath.Join(home, "bin", "java"); isFile(p) {
			java = p
		}
	}
	if java == "" {
		java, _ = exec.LookPath("java")
	}
	dir, err := filepath.Abs("java")
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	if java == "" {
		missing = append(missing, "java (a JDK: Debian's default-jdk-headless or openjdk-17-jdk-headless)")
	}
	if jars, _ := filepath.Glob(filepath.Join(dir, "lib", "kafka-clients-*.jar")); len(jars) == 0 {
		missing = append(missing, "Kafka's jars in e2e/java/lib")
	}
	if !isFile(filepath.Join(dir, "target", "classes", "io", "sluice", "kit", "ToolBatch.class")) {
		missing = append(missing, "the compiled programs in e2e/java/target/classes")
	}
	if src := newerThanStamp(dir); src != "" {
		missing = append(missing, "a build newer than "+src+" (the compiled programs are stale)")
	}
	if len(missing) > 0 {
		msg := "Java reference kit not ready: missing " + strings.Join(missing, ", ") +
			". Run scripts/test-deps.sh (it installs the Debian packages default-jdk-headless and maven when root," +
			" then runs mvn in e2e/java)"
		if os.Getenv("CI") == "true" || os.Getenv("SLUICE_REQUIRE_JAVA") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return &javaKit{java: java, cp: filepath.Join(dir, "lib", "*") + string(os.PathListSeparator) +
		filepath.Join(dir, "target", "classes")}
}

// newerThanStamp names a source of the kit (pom.xml or a .java file)
// changed since scripts/test-deps.sh last built it, or "" when none is or
// the kit was built some other way (no stamp).
func newerThanStamp(dir string) string {
	stamp, err := os.Stat(filepath.Join(dir, "target", ".test-deps-stamp"))
	if err != nil {
		return ""
	}
	newer := ""
	_ = filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || newer != "" {
			return filepath.SkipAll
		}
		if e.IsDir() && (p == filepath.Join(dir, "lib") || p == filepath.Join(dir, "target")) {
			return filepath.SkipDir
		}
		if st, err := e.Info(); err == nil && !e.IsDir() && st.ModTime().After(stamp.ModTime()) &&
			(strings.HasSuffix(p, ".java") || filepath.Base(p) == "pom.xml") {
			newer = p
		}
		return nil
	})
	return newer
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// command is `java <jvmFlags> -cp <kit> main args…`.
func (k *javaKit) command(ctx context.Context, main string, args ...string) *exec.Cmd {
	argv := append(append([]string{}, jvmFlags...), "-cp", k.cp, main)
	return exec.CommandContext(ctx, k.java, append(argv, args...)...)
}

// run runs main to completion within javaTimeout and returns its stdout,
// its stderr and its exit error (nil for status 0); a timeout fails the test.
func (k *javaKit) run(t testing.TB, main string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), javaTimeout)
	defer cancel()
	cmd := k.command(ctx, main, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v: no exit within %v\nstdout:\n%s\nstderr:\n%s", main, args, javaTimeout,
			tail(o.String(), 4096), tail(e.String(), 4096))
	}
	return o.String(), e.String(), err
}

// checkKnown runs one check as subtest name under t: a check listed in
// knownJavaDiffs under key is skipped with its reason when it fails, and
// fails the test when it passes.
func checkKnown(t *testing.T, key, name string, failure string) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		t.Helper()
		reason, known := knownJavaDiffs[key]
		switch {
		case failure != "" && known:
			t.Skipf("known difference from Apache Kafka (%s): %s", reason, failure)
		case failure != "":
			t.Error(failure)
		case known:
			t.Errorf("%s passes now: remove it from knownJavaDiffs and docs/COMPATIBILITY.md", key)
		}
	})
}

// startJavaBroker starts sluiced for the Java tests. The initial rebalance
// delay is 1 ms, not 0: sluiced reads group.initial.rebalance.delay.ms=0 as
// unset and waits its 3 s default (Kafka reads 0 as no delay).
//
// __consumer_offsets gets one partition instead of 50: created on a group's
// first FindCoordinator, 50 partitions cost a JVM client seconds on a
// loaded machine and test nothing more.
func startJavaBroker(t *testing.T, dir string, extra ...string) *daemon {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(cfg, []byte("offsets.topic.num.partitions=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return start(t, dir, append([]string{"--config", cfg, "--group-initial-rebalance-delay", "1"}, extra...)...)
}

// runJavaProgram runs one test program of the kit with args (the broker's
// address first) and turns each case line into a subtest.
func runJavaProgram(t *testing.T, kit *javaKit, program string, args ...string) {
	t.Helper()
	stdout, stderr, err := kit.run(t, "io.sluice.kit."+program, args...)
	done, failed := false, 0
	for _, line := range strings.Split(stdout, "\n") {
		switch {
		case strings.HasPrefix(line, "ok "):
			name := strings.Fields(line)[1]
			t.Logf("%s", line)
			checkKnown(t, program+"/"+name, name, "")
		case strings.HasPrefix(line, "FAIL "):
			name, reason, _ := strings.Cut(strings.TrimPrefix(line, "FAIL "), ": ")
			failed++
			checkKnown(t, program+"/"+name, name, reason)
		case strings.HasPrefix(line, "done: "):
			done = true
		}
	}
	if !done || (err != nil) != (failed > 0) {
		t.Fatalf("%s did not finish normally (exit: %v, %d failed cases)\nstdout:\n%s\nstderr:\n%s", program, err,
			failed, tail(stdout, 4096), tail(stderr, 4096))
	}
}

// TestJavaClients runs the Java client programs, in parallel, against one
// sluiced: the producer/consumer round trip with every codec, headers and
// both timestamp types; a classic-protocol group of two members; the
// idempotent producer; the Admin client's calls; and the transactional
// producer (commit, abort, sendOffsetsToTransaction, fencing).
func TestJavaClients(t *testing.T) {
	kit := requireJava(t)
	d := startJavaBroker(t, t.TempDir())
	for _, program := range []string{"RoundTrip", "Groups", "Idempotent", "AdminCalls", "Transactions"} {
		t.Run(program, func(t *testing.T) {
			t.Parallel()
			runJavaProgram(t, kit, program, d.Addr)
		})
	}
}

// toolRun is one invocation of a Kafka tool in a batch.
type toolRun struct {
	name  string   // unique in the batch
	stdin string   // text for System.in
	main  string   // the tool's main class, as its kafka-*.sh script names it
	args  []string // as given to the script
}

// toolResult is what one tool printed and the code it exited with.
type toolResult struct {
	stdout, stderr string
	exit           string // "0", "1", … or "timeout"
	ms             int
}

// runToolBatch runs the tools one after the other in one JVM (ToolBatch)
// and returns their results by name; a tool the batch did not get to (the
// JVM died) is missing from the map.
func runToolBatch(t testing.TB, kit *javaKit, runs []toolRun) map[string]*toolResult {
	t.Helper()
	dir := t.TempDir()
	var spec strings.Builder
	for i, r := range runs {
		in := "-"
		if r.stdin != "" {
			in = filepath.Join(dir, fmt.Sprintf("stdin-%d", i))
			if err := os.WriteFile(in, []byte(r.stdin), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		fields := append([]string{r.name, in, r.main}, r.args...)
		for _, f := range fields {
			if strings.ContainsAny(f, "\t\n") {
				t.Fatalf("tool %s: argument %q holds a tab or newline", r.name, f)
			}
		}
		spec.WriteString(strings.Join(fields, "\t") + "\n")
	}
	specFile := filepath.Join(dir, "batch")
	if err := os.WriteFile(specFile, []byte(spec.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := kit.run(t, "io.sluice.kit.ToolBatch", specFile)
	res := parseToolBatch(stdout)
	if err != nil || len(res) != len(runs) {
		t.Errorf("ToolBatch: %v; %d of %d tools reported\nstderr:\n%s", err, len(res), len(runs), tail(stderr, 4096))
	}
	return res
}

// parseToolBatch splits ToolBatch's output into results by name.
func parseToolBatch(out string) map[string]*toolResult {
	res := map[string]*toolResult{}
	var cur *toolResult
	var buf *strings.Builder
	var o, e strings.Builder
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "=== begin "):
			cur, buf = &toolResult{}, &o
			o.Reset()
			e.Reset()
		case cur != nil && strings.HasPrefix(line, "=== stderr "):
			buf = &e
		case cur != nil && strings.HasPrefix(line, "=== end "):
			f := strings.Fields(strings.TrimPrefix(line, "=== end "))
			if len(f) == 3 {
				cur.stdout, cur.stderr = o.String(), e.String()
				cur.exit = strings.TrimPrefix(f[1], "exit=")
				cur.ms, _ = strconv.Atoi(strings.TrimPrefix(f[2], "ms="))
				res[f[0]] = cur
			}
			cur = nil
		case cur != nil:
			buf.WriteString(line + "\n")
		}
	}
	return res
}

// toolCheck is a check of one tool's result: "" when it holds, else why not.
type toolCheck func(r *toolResult) string

// checkTools runs each tool's check as a subtest; a tool whose check is
// nil only has to exit 0.
// Known differences are looked up as "GROUP/NAME".
func checkTools(t *testing.T, group string, runs []toolRun, res map[string]*toolResult, checks map[string]toolCheck) {
	t.Helper()
	for _, r := range runs {
		got := res[r.name]
		failure := ""
		switch {
		case got == nil:
			failure = "the batch did not report this tool"
		case got.exit != "0" && !strings.HasSuffix(r.name, "-rejected"):
			failure = fmt.Sprintf("exit %s, want 0", got.exit)
		case checks[r.name] != nil:
			failure = checks[r.name](got)
		}
		if failure != "" && got != nil {
			failure += fmt.Sprintf("\n%s %s\nstdout:\n%s\nstderr:\n%s", r.main, tail(strings.Join(r.args, " "), 512),
				tail(got.stdout, 4096), tail(got.stderr, 4096))
		}
		if got != nil {
			t.Logf("%s: exit %s, %d ms", r.name, got.exit, got.ms)
		}
		checkKnown(t, group+"/"+r.name, r.name, failure)
	}
}

// contains checks that stdout holds every string of want.
func contains(want ...string) toolCheck {
	return func(r *toolResult) string {
		for _, w := range want {
			if !strings.Contains(r.stdout, w) {
				return fmt.Sprintf("stdout lacks %q", w)
			}
		}
		return ""
	}
}

// TestJavaTools runs Kafka's command-line tools against sluiced, in one
// batch: kafka-topics, kafka-configs, kafka-console-producer and
// -consumer, kafka-get-offsets, kafka-consumer-groups (list, describe with
// lag, reset-offsets), kafka-delete-records, kafka-log-dirs and the
// producer and consumer perf tests.
func TestJavaTools(t *testing.T) {
	kit := requireJava(t)
	d := startJavaBroker(t, t.TempDir())
	bs := []string{"--bootstrap-server", d.Addr}
	const (
		topics   = "org.apache.kafka.tools.TopicCommand"
		configs  = "kafka.admin.ConfigCommand"
		producer = "org.apache.kafka.tools.ConsoleProducer"
		consumer = "org.apache.kafka.tools.consumer.ConsoleConsumer"
		groups   = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"
		offsets  = "org.apache.kafka.tools.GetOffsetShell"
		delRecs  = "org.apache.kafka.tools.DeleteRecordsCommand"
		logDirs  = "org.apache.kafka.tools.LogDirsCommand"
		prodPerf = "org.apache.kafka.tools.ProducerPerformance"
		consPerf = "org.apache.kafka.tools.ConsumerPerformance"
	)
	const topic, one, perf, group = "tools", "tools-one", "tools-perf", "tools-group"
	const first, more, perfRecords = 30, 10, 2000
	var in1, in2, inOne strings.Builder
	for i := 0; i < first; i++ {
		fmt.Fprintf(&in1, "k%d:v%d\n", i, i)
	}
	for i := first; i < first+more; i++ {
		fmt.Fprintf(&in2, "k%d:v%d\n", i, i)
	}
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&inOne, "one-%d\n", i)
	}
	deleteJSON := filepath.Join(t.TempDir(), "delete.json")
	if err := os.WriteFile(deleteJSON, []byte(fmt.Sprintf(
		`{"version":1,"partitions":[{"topic":%q,"partition":0,"offset":5}]}`, one)), 0o644); err != nil {
		t.Fatal(err)
	}
	args := func(a ...string) []string { return append(append([]string{}, bs...), a...) }
	saslProps, sslProps := wrongProtocolProps(t)
	keyed := []string{"--property", "parse.key=true", "--property", "key.separator=:"}
	runs := []toolRun{
		{name: "topics-create", main: topics, args: args("--create", "--topic", topic, "--partitions", "3",
			"--replication-factor", "1", "--config", "retention.ms=3600000")},
		{name: "topics-create-rejected", main: topics, args: args("--create", "--topic", topic, "--partitions", "3")},
		{name: "topics-create-one", main: topics, args: args("--create", "--topic", one, "--partitions", "1")},
		{name: "topics-list", main: topics, args: args("--list")},
		{name: "topics-alter", main: topics, args: args("--alter", "--topic", topic, "--partitions", "4")},
		{name: "topics-describe", main: topics, args: args("--describe", "--topic", topic)},
		{name: "configs-alter", main: configs, args: args("--alter", "--entity-type", "topics", "--entity-name", topic,
			"--add-config", "retention.ms=7200000,max.message.bytes=500000")},
		{name: "configs-delete", main: configs, args: args("--alter", "--entity-type", "topics", "--entity-name", topic,
			"--delete-config", "max.message.bytes")},
		{name: "configs-describe", main: configs, args: args("--describe", "--entity-type", "topics", "--entity-name", topic)},
		{name: "configs-describe-all", main: configs, args: args("--describe", "--entity-type", "topics",
			"--entity-name", topic, "--all")},
		{name: "configs-alter-rejected", main: configs, args: args("--alter", "--entity-type", "topics",
			"--entity-name", topic, "--add-config", "retention.ms=soon")},
		{name: "configs-describe-broker", main: configs, args: args("--describe", "--entity-type", "brokers",
			"--entity-name", "1", "--all")},
		{name: "console-produce", stdin: in1.String(), main: producer, args: append(args("--topic", topic), keyed...)},
		{name: "console-produce-one", stdin: inOne.String(), main: producer, args: args("--topic", one)},
		{name: "get-offsets", main: offsets, args: args("--topic", topic)},
		{name: "console-consume", main: consumer, args: args("--topic", topic, "--group", group, "--from-beginning",
			"--max-messages", strconv.Itoa(first), "--timeout-ms", "30000", "--property", "print.key=true",
			"--property", "key.separator=:")},
		{name: "console-produce-more", stdin: in2.String(), main: producer, args: append(args("--topic", topic), keyed...)},
		{name: "groups-list", main: groups, args: args("--list")},
		{name: "groups-describe-lag", main: groups, args: args("--describe", "--group", group)},
		{name: "groups-reset-dry-run", main: groups, args: args("--reset-offsets", "--group", group, "--topic", topic,
			"--to-earliest", "--dry-run")},
		{name: "groups-reset-execute", main: groups, args: args("--reset-offsets", "--group", group, "--topic", topic,
			"--to-offset", "1", "--execute")},
		{name: "groups-describe-after-reset", main: groups, args: args("--describe", "--group", group)},
		{name: "delete-records", main: delRecs, args: args("--offset-json-file", deleteJSON)},
		{name: "get-offsets-earliest", main: offsets, args: args("--topic", one, "--time", "-2")},
		{name: "get-offsets-latest", main: offsets, args: args("--topic", one, "--time", "-1")},
		{name: "log-dirs", main: logDirs, args: args("--describe", "--topic-list", topic+","+one)},
		{name: "producer-perf", main: prodPerf, args: []string{"--topic", perf, "--num-records", strconv.Itoa(perfRecords),
			"--record-size", "100", "--throughput", "-1", "--producer-props", "bootstrap.servers=" + d.Addr, "acks=all",
			"linger.ms=5"}},
		{name: "consumer-perf", main: consPerf, args: args("--topic", perf, "--messages", strconv.Itoa(perfRecords),
			"--timeout", "30000")},
		{name: "groups-delete", main: groups, args: args("--delete", "--group", group)},
		{name: "groups-list-after-delete", main: groups, args: args("--list")},
		{name: "topics-delete", main: topics, args: args("--delete", "--topic", perf)},
		{name: "topics-list-after-delete", main: topics, args: args("--list")},
		{name: "topics-list-sasl-rejected", main: topics, args: args("--list", "--command-config", saslProps)},
		{name: "topics-list-ssl-rejected", main: topics, args: args("--list", "--command-config", sslProps)},
	}
	checks := map[string]toolCheck{
		"topics-create": contains("Created topic " + topic + "."),
		"topics-create-rejected": func(r *toolResult) string {
			if r.exit != "1" || !strings.Contains(r.stdout+r.stderr, "already exists") {
				return fmt.Sprintf("exit %s, want 1 with \"already exists\"", r.exit)
			}
			return ""
		},
		"topics-list": func(r *toolResult) string { return wantLines(r.stdout, []string{topic, one}, nil) },
		"topics-describe": func(r *toolResult) string {
			if !strings.Contains(r.stdout, "PartitionCount: 4") || !strings.Contains(r.stdout, "ReplicationFactor: 1") {
				return "want PartitionCount: 4 and ReplicationFactor: 1"
			}
			for p := 0; p < 4; p++ {
				if !strings.Contains(r.stdout, fmt.Sprintf("Partition: %d\tLeader: 1\tReplicas: 1\tIsr: 1", p)) {
					return fmt.Sprintf("no line for partition %d led by node 1", p)
				}
			}
			return ""
		},
		"configs-describe": func(r *toolResult) string {
			if !strings.Contains(r.stdout, "retention.ms=7200000") || strings.Contains(r.stdout, "max.message.bytes") {
				return "want retention.ms=7200000 and no max.message.bytes override"
			}
			return ""
		},
		"configs-alter-rejected": func(r *toolResult) string {
			if r.exit != "1" || !strings.Contains(r.stdout+r.stderr, "InvalidConfigurationException") {
				return fmt.Sprintf("exit %s, want 1 with InvalidConfigurationException", r.exit)
			}
			return ""
		},
		"configs-describe-broker": contains("All configs for broker 1 are:", "log.segment.bytes=1073741824",
			"num.partitions=1"),
		"groups-delete": contains("Deletion of requested consumer groups ('" + group + "') was successful."),
		"groups-list-after-delete": func(r *toolResult) string {
			return wantLines(r.stdout, nil, []string{group})
		},
		"configs-describe-all": contains("retention.ms=7200000", "max.message.bytes=1048588", "segment.bytes=1073741824",
			"cleanup.policy=delete"),
		"get-offsets": func(r *toolResult) string {
			return sumOffsets(r.stdout, topic, 4, first)
		},
		"console-consume": func(r *toolResult) string {
			var want []string
			for i := 0; i < first; i++ {
				want = append(want, fmt.Sprintf("k%d:v%d", i, i))
			}
			got := nonEmptyLines(r.stdout)
			sort.Strings(got)
			sort.Strings(want)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				return fmt.Sprintf("consumed %d records %v, want the %d produced", len(got), got, first)
			}
			if !strings.Contains(r.stderr, fmt.Sprintf("Processed a total of %d messages", first)) {
				return "stderr lacks the processed total"
			}
			return ""
		},
		"groups-list":         func(r *toolResult) string { return wantLines(r.stdout, []string{group}, nil) },
		"groups-describe-lag": cgLagCheck(topic, group, 4, first, first+more, more),
		"groups-reset-dry-run": func(r *toolResult) string {
			rows := groupRows(r.stdout, topic)
			if len(rows) != 4 {
				return fmt.Sprintf("%d partition rows, want 4", len(rows))
			}
			for _, row := range rows {
				if row["NEW-OFFSET"] != "0" {
					return fmt.Sprintf("row %v: NEW-OFFSET, want 0", row)
				}
			}
			return ""
		},
		"groups-describe-after-reset": cgLagCheck(topic, group, 4, 4, first+more, first+more-4),
		"delete-records":              contains("partition: " + one + "-0\tlow_watermark: 5"),
		"get-offsets-earliest":        contains(one + ":0:5"),
		"get-offsets-latest":          contains(one + ":0:20"),
		"log-dirs":                    logDirsCheck(d.Dir, []string{topic + "-0", topic + "-3", one + "-0"}),
		"producer-perf":               contains(fmt.Sprintf("%d records sent", perfRecords)),
		"consumer-perf": func(r *toolResult) string {
			rows := nonEmptyLines(r.stdout)
			if len(rows) < 2 {
				return "want a header and a data row"
			}
			head := strings.Split(rows[len(rows)-2], ",")
			vals := strings.Split(rows[len(rows)-1], ",")
			for i, h := range head {
				if strings.TrimSpace(h) == "data.consumed.in.nMsg" && i < len(vals) {
					if got := strings.TrimSpace(vals[i]); got != strconv.Itoa(perfRecords) {
						return fmt.Sprintf("data.consumed.in.nMsg %s, want %d", got, perfRecords)
					}
					return ""
				}
			}
			return "no data.consumed.in.nMsg column"
		},
		"topics-list-after-delete": func(r *toolResult) string {
			return wantLines(r.stdout, []string{topic, one}, []string{perf})
		},
		"topics-list-sasl-rejected": failsWith(
			"Unexpected handshake request with client mechanism PLAIN, enabled mechanisms are []"),
		"topics-list-ssl-rejected": failsWith("SSL handshake failed"),
	}
	res := runToolBatch(t, kit, runs)
	checkTools(t, "tools", runs, res, checks)
}

func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return out
}

// wantLines requires every line of want among s's lines and none of absent.
func wantLines(s string, want, absent []string) string {
	have := map[string]bool{}
	for _, l := range nonEmptyLines(s) {
		have[l] = true
	}
	for _, w := range want {
		if !have[w] {
			return fmt.Sprintf("no line %q", w)
		}
	}
	for _, a := range absent {
		if have[a] {
			return fmt.Sprintf("line %q, want none", a)
		}
	}
	return ""
}

// sumOffsets checks GetOffsetShell's TOPIC:PARTITION:OFFSET lines.
func sumOffsets(out, topic string, partitions int, want int64) string {
	var sum int64
	n := 0
	for _, l := range nonEmptyLines(out) {
		f := strings.Split(l, ":")
		if len(f) != 3 || f[0] != topic {
			continue
		}
		o, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return fmt.Sprintf("line %q: %v", l, err)
		}
		sum += o
		n++
	}
	if n != partitions || sum != want {
		return fmt.Sprintf("%d partitions summing to %d, want %d summing to %d", n, sum, partitions, want)
	}
	return ""
}

// groupRows parses kafka-consumer-groups' table: one map per row of topic,
// keyed by the header's column names.
func groupRows(out, topic string) []map[string]string {
	var head []string
	var rows []map[string]string
	for _, l := range nonEmptyLines(out) {
		f := strings.Fields(l)
		if len(f) > 2 && f[0] == "GROUP" {
			head = f
			continue
		}
		if head == nil || len(f) != len(head) {
			continue
		}
		row := map[string]string{}
		for i, h := range head {
			row[h] = f[i]
		}
		if row["TOPIC"] == topic {
			rows = append(rows, row)
		}
	}
	return rows
}

// cgLagCheck checks --describe: a row per partition whose CURRENT-OFFSET,
// LOG-END-OFFSET and LAG columns sum to the given totals.
func cgLagCheck(topic, group string, partitions int, current, end, lag int64) toolCheck {
	return func(r *toolResult) string {
		rows := groupRows(r.stdout, topic)
		if len(rows) != partitions {
			return fmt.Sprintf("%d rows for %s, want %d", len(rows), topic, partitions)
		}
		var sums [3]int64
		for _, row := range rows {
			if row["GROUP"] != group {
				return fmt.Sprintf("row %v: group, want %s", row, group)
			}
			for i, col := range []string{"CURRENT-OFFSET", "LOG-END-OFFSET", "LAG"} {
				v, err := strconv.ParseInt(row[col], 10, 64)
				if err != nil {
					return fmt.Sprintf("row %v: %s: %v", row, col, err)
				}
				sums[i] += v
			}
		}
		if want := [3]int64{current, end, lag}; sums != want {
			return fmt.Sprintf("CURRENT-OFFSET, LOG-END-OFFSET, LAG sum to %v, want %v", sums, want)
		}
		return ""
	}
}

// logDirsCheck checks kafka-log-dirs' JSON: the broker's one log dir is
// dataDir and lists the partitions, each with no offset lag.
func logDirsCheck(dataDir string, partitions []string) toolCheck {
	return func(r *toolResult) string {
		var doc struct {
			Brokers []struct {
				Broker  int `json:"broker"`
				LogDirs []struct {
					LogDir     string  `json:"logDir"`
					Error      *string `json:"error"`
					Partitions []struct {
						Partition string `json:"partition"`
						Size      int64  `json:"size"`
						OffsetLag int64  `json:"offsetLag"`
					} `json:"partitions"`
				} `json:"logDirs"`
			} `json:"brokers"`
		}
		lines := nonEmptyLines(r.stdout)
		if len(lines) == 0 || json.Unmarshal([]byte(lines[len(lines)-1]), &doc) != nil {
			return "the last line is not the JSON document"
		}
		if len(doc.Brokers) != 1 || len(doc.Brokers[0].LogDirs) != 1 {
			return fmt.Sprintf("want one broker with one log dir: %+v", doc)
		}
		ld := doc.Brokers[0].LogDirs[0]
		abs, _ := filepath.Abs(dataDir)
		if filepath.Clean(ld.LogDir) != abs || ld.Error != nil {
			return fmt.Sprintf("log dir %q (error %v), want %q", ld.LogDir, ld.Error, abs)
		}
		found := map[string]bool{}
		for _, p := range ld.Partitions {
			found[p.Partition] = true
			if p.OffsetLag != 0 {
				return fmt.Sprintf("partition %s: offsetLag %d", p.Partition, p.OffsetLag)
			}
		}
		for _, p := range partitions {
			if !found[p] {
				return fmt.Sprintf("partition %s missing", p)
			}
		}
		return ""
	}
}

// dumpLogBad are the phrases kafka.tools.DumpLogSegments prints for a
// mismatch or an error (from its 4.1 source): none may appear. ("FILE is
// empty." is not one: an empty partition's files are.)
var dumpLogBad = []string{"Mismatches in", "Index offset:", "Indexed offset:", "Index timestamp:",
	"Found timestamp mismatch", "Found out of order timestamp", "Non-consecutive offsets", "is followed by",
	"not found in the log", "invalid bytes", "Error at", "Unknown record type", "Ignoring unknown file",
	"isvalid: false", "Exception"}

// TestJavaDumpLog runs Kafka's kafka-dump-log (kafka.tools.DumpLogSegments)
// over the segment files sluiced wrote: several rolled segments per
// partition, plain and compressed batches, CreateTime and LogAppendTime.
// With --deep-iteration --verify-index-only every .index and .timeindex
// must agree with its .log; --index-sanity-check (what a Kafka broker runs
// on the indexes at start-up) must pass them; --print-data-log must parse
// every batch and record of a rolled segment; --offsets-decoder must decode
// the group's offset commit in __consumer_offsets; and it must read the
// producer-state .snapshot files.
func TestJavaDumpLog(t *testing.T) {
	kit := requireJava(t)
	dir := t.TempDir()
	d := startJavaBroker(t, dir, "--segment-bytes", "32768", "--log-index-interval-bytes", "1024")
	createTopic(t, d.Addr, "dump", 2)
	adm := kadm.NewClient(newClient(t, d.Addr))
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	lat := "LogAppendTime"
	if r, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"message.timestamp.type": &lat}, "dump-lat"); err != nil || r.Err != nil {
		t.Fatalf("create dump-lat: %v %v", err, r.Err)
	}
	plain := newClient(t, d.Addr, kgo.ProducerBatchCompression(kgo.NoCompression()))
	lz4 := newClient(t, d.Addr, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	// Values that do not compress away: a prefix the checks look for, then
	// 160 pseudo-random hex digits.
	rnd := rand.New(rand.NewSource(1))
	ts := time.Now().Add(-time.Hour)
	for round := 0; round < 60; round++ {
		var recs []*kgo.Record
		for i := 0; i < 20; i++ {
			n := round*20 + i
			for _, topic := range []string{"dump", "dump-lat"} {
				value := fmt.Sprintf("sluice-dump-log %016x%016x%016x%016x%016x%016x%016x%016x%016x%016x", rnd.Uint64(),
					rnd.Uint64(), rnd.Uint64(), rnd.Uint64(), rnd.Uint64(), rnd.Uint64(), rnd.Uint64(), rnd.Uint64(),
					rnd.Uint64(), rnd.Uint64())
				recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(n)), Value: []byte(value),
					Timestamp: ts.Add(time.Duration(n) * time.Millisecond)})
			}
		}
		cl := plain
		if round%2 == 1 {
			cl = lz4
		}
		produceSync(t, cl, recs...)
	}
	// A committed offset puts a record in __consumer_offsets for the
	// --offsets-decoder run.
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: "dump", Partition: 0, At: 7, Metadata: "dump-meta"})
	if r, err := adm.CommitOffsets(ctx, "dump-group", offs); err != nil || r.Error() != nil {
		t.Fatalf("commit offsets: %v %v", err, r.Error())
	}
	d.Stop()

	var files, logs, snapshots, groupLogs []string
	segs := map[string][]string{} // partition dir → its .log files, in order
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch filepath.Ext(p) {
		case ".index", ".timeindex":
			files = append(files, p)
		case ".snapshot":
			snapshots = append(snapshots, p)
		case ".log":
			files = append(files, p)
			logs = append(logs, p)
			if st, err := os.Stat(p); err == nil && st.Size() > 0 &&
				strings.HasPrefix(filepath.Base(filepath.Dir(p)), "__consumer_offsets-") {
				groupLogs = append(groupLogs, p)
			}
			segs[filepath.Dir(p)] = append(segs[filepath.Dir(p)], p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"dump-0", "dump-1", "dump-lat-0"} {
		if n := len(segs[filepath.Join(dir, part)]); n < 3 {
			t.Fatalf("%s has %d segments, want several rolled ones", part, n)
		}
	}
	// A rolled segment of each topic for --print-data-log: the second, whose
	// records run from its base offset to the next segment's.
	var printed []string
	for _, part := range []string{"dump-0", "dump-lat-0"} {
		printed = append(printed, segs[filepath.Join(dir, part)][1])
	}
	var indexes []string
	for _, f := range files {
		if filepath.Ext(f) != ".log" {
			indexes = append(indexes, f)
		}
	}
	const dump = "kafka.tools.DumpLogSegments"
	runs := []toolRun{
		{name: "verify-index-only", main: dump, args: []string{"--deep-iteration", "--verify-index-only", "--files",
			strings.Join(files, ",")}},
		{name: "index-sanity-check", main: dump, args: []string{"--index-sanity-check", "--files", strings.Join(indexes, ",")}},
	}
	runs = append(runs, toolRun{name: "offsets-decoder", main: dump, args: []string{"--offsets-decoder", "--files",
		strings.Join(groupLogs, ",")}})
	if len(snapshots) == 0 {
		t.Fatal("no producer snapshot (*.snapshot) in the data directory: the idempotent producer's state must be snapshotted at every roll and at shutdown")
	}
	runs = append(runs, toolRun{name: "producer-snapshots", main: dump, args: []string{"--files",
		strings.Join(snapshots, ",")}})
	for i, p := range printed {
		runs = append(runs, toolRun{name: fmt.Sprintf("print-data-log-%d", i), main: dump,
			args: []string{"--print-data-log", "--files", p}})
	}
	noBad := func(r *toolResult) string {
		for _, bad := range dumpLogBad {
			if strings.Contains(r.stdout+r.stderr, bad) {
				return fmt.Sprintf("the output reports %q", bad)
			}
		}
		return ""
	}
	checks := map[string]toolCheck{
		"verify-index-only": func(r *toolResult) string {
			if msg := noBad(r); msg != "" {
				return msg
			}
			for _, f := range files {
				if !strings.Contains(r.stdout, "Dumping "+f+"\n") {
					return "no \"Dumping\" line for " + f
				}
			}
			return ""
		},
		"offsets-decoder": func(r *toolResult) string {
			if msg := noBad(r); msg != "" {
				return msg
			}
			if !strings.Contains(r.stdout, `"group":"dump-group"`) || !strings.Contains(r.stdout, `"offset":7`) ||
				!strings.Contains(r.stdout, `"metadata":"dump-meta"`) {
				return "want the commit of dump-group (offset 7, metadata dump-meta) decoded"
			}
			return ""
		},
		"producer-snapshots": func(r *toolResult) string {
			if msg := noBad(r); msg != "" {
				return msg
			}
			if strings.Contains(r.stdout+r.stderr, "failed") || !strings.Contains(r.stdout, "producerId: ") {
				return "want every snapshot read, with its producers"
			}
			return ""
		},
		"index-sanity-check": func(r *toolResult) string {
			if msg := noBad(r); msg != "" {
				return msg
			}
			for _, f := range indexes {
				// An empty .index is reported "is empty." instead.
				if !strings.Contains(r.stdout, f+" passed sanity check.\n") && !strings.Contains(r.stdout, f+" is empty.\n") {
					return fmt.Sprintf("no \"passed sanity check\" line for %s", f)
				}
			}
			return ""
		},
	}
	// Plain and lz4 batches alternate in both; dump-lat's carry the
	// LogAppendTime attribute, dump's CreateTime.
	attrs := [][]string{{"compresscodec: none", "compresscodec: lz4", " CreateTime: "},
		{"compresscodec: none", "compresscodec: lz4", " LogAppendTime: "}}
	for i, p := range printed {
		p, attrs := p, attrs[i]
		checks[fmt.Sprintf("print-data-log-%d", i)] = func(r *toolResult) string {
			if msg := noBad(r); msg != "" {
				return msg
			}
			if msg := contains(attrs...)(r); msg != "" {
				return msg
			}
			return checkPrintedSegment(r.stdout, p, segs[filepath.Dir(p)])
		}
	}
	res := runToolBatch(t, kit, runs)
	checkTools(t, "dump-log", runs, res, checks)
	t.Logf("%d segment files checked (%d .log)", len(files), len(logs))
}

// checkPrintedSegment checks --print-data-log's output for segment p (one
// of its partition's segments, in order): every batch valid, and one
// record line for each offset from p's base offset up to the next
// segment's, in order, with its key and payload.
func checkPrintedSegment(out, p string, partSegs []string) string {
	base := segmentBase(p)
	next := int64(-1)
	for i, s := range partSegs {
		if s == p && i+1 < len(partSegs) {
			next = segmentBase(partSegs[i+1])
		}
	}
	if base < 0 || next <= base {
		return fmt.Sprintf("cannot tell the offsets of %s", p)
	}
	batches, want := 0, base
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "baseOffset: "):
			batches++
			if !strings.Contains(l, "isvalid: true") {
				return "batch not valid: " + l
			}
		case strings.HasPrefix(l, "| offset: "):
			f := strings.Fields(l)
			if len(f) < 3 || f[2] != strconv.FormatInt(want, 10) {
				return fmt.Sprintf("record line %q, want offset %d", l, want)
			}
			if !strings.Contains(l, " key: ") || !strings.Contains(l, " payload: sluice-dump-log ") {
				return fmt.Sprintf("record line %q lacks its key or payload", l)
			}
			want++
		}
	}
	if batches == 0 || want != next {
		return fmt.Sprintf("%d batches, records up to offset %d, want records %d..%d", batches, want, base, next-1)
	}
	return ""
}

// segmentBase is the base offset in a segment file's name, or -1.
func segmentBase(p string) int64 {
	n, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(p), filepath.Ext(p)), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// verifiableEvent is one JSON line of Kafka's VerifiableProducer or
// VerifiableConsumer (--verbose).
type verifiableEvent struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Exception string `json:"exception"`
	Message   string `json:"message"`
	Sent      int64  `json:"sent"`
	Acked     int64  `json:"acked"`
}

// TestJavaVerifiableCrash is Kafka's own acknowledged-means-stored check
// against sluiced: VerifiableProducer (acks=all) streams to a topic, sluiced
// is killed with SIGKILL mid-stream and started again on the same port, the
// producer carries on to its end, and every record it reported as
// acknowledged (producer_send_success, with partition and offset) must be
// read back by Kafka's VerifiableConsumer at that offset with that value,
// and none stored twice.
func TestJavaVerifiableCrash(t *testing.T) {
	t.Run("default", func(t *testing.T) { javaVerifiableCrash(t) })
	// Under --fsync always a connection's produces are pipelined
	// (netio.Pending): the Java producer's five in flight are appended while
	// earlier ones wait for their fsync, and acknowledged means fsync'd.
	t.Run("fsync-always", func(t *testing.T) { javaVerifiableCrash(t, "--fsync", "always") })
}

// javaVerifiableCrash is TestJavaVerifiableCrash with sluiced started
// with extra.
func javaVerifiableCrash(t *testing.T, extra ...string) {
	kit := requireJava(t)
	dir := t.TempDir()
	d := startJavaBroker(t, dir, extra...)
	addr := d.Addr
	const topic, total = "verifiable", 1200
	createTopic(t, addr, topic, 2)
	cfg := filepath.Join(t.TempDir(), "producer.properties")
	// VerifiableProducer sets retries=0 (so not idempotent) unless its
	// config says otherwise: these are the settings of Kafka's system tests
	// with enable_idempotence.
	if err := os.WriteFile(cfg, []byte("enable.idempotence=true\nretries=2147483647\nmax.in.flight.requests.per.connection=5\n"+
		"linger.ms=1\nrequest.timeout.ms=10000\ndelivery.timeout.ms=60000\n"+
		"reconnect.backoff.ms=20\nreconnect.backoff.max.ms=200\nretry.backoff.ms=20\nretry.backoff.max.ms=200\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), javaTimeout)
	defer cancel()
	cmd := kit.command(ctx, "org.apache.kafka.tools.VerifiableProducer", "--bootstrap-server", addr, "--topic", topic,
		"--max-messages", strconv.Itoa(total), "--throughput", "400", "--acks", "-1", "--producer.config", cfg)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &tailBuffer{max: 16 << 10}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start VerifiableProducer: %v", err)
	}
	var mu sync.Mutex
	var events []verifiableEvent
	var acked int
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev verifiableEvent
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				continue
			}
			mu.Lock()
			events = append(events, ev)
			if ev.Name == "producer_send_success" {
				acked++
			}
			mu.Unlock()
		}
		done <- cmd.Wait()
	}()
	ackedNow := func() int { mu.Lock(); defer mu.Unlock(); return acked }
	waitFor(t, "250 records acknowledged before the kill", javaTimeout, func() bool { return ackedNow() >= 250 })
	d.Kill()
	before := ackedNow()
	startJavaBroker(t, dir, append([]string{"--listen", addr}, extra...)...)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("VerifiableProducer: %v\nstderr:\n%s", err, stderr.String())
		}
	case <-ctx.Done():
		t.Fatalf("VerifiableProducer still running after %v\nstderr:\n%s", javaTimeout, stderr.String())
	}

	want := map[int32]map[int64]string{} // partition → offset → value
	errs, firstErr, last := 0, "", verifiableEvent{}
	for _, ev := range events {
		switch ev.Name {
		case "producer_send_success":
			if want[ev.Partition] == nil {
				want[ev.Partition] = map[int64]string{}
			}
			want[ev.Partition][ev.Offset] = ev.Value
		case "producer_send_error":
			if errs++; firstErr == "" {
				firstErr = fmt.Sprintf(" (first: %s: %s)", ev.Exception, ev.Message)
			}
		case "tool_data":
			last = ev
		}
	}
	if acked-before <= 0 {
		t.Fatalf("no record acknowledged after the restart (%d before)", before)
	}
	if last.Sent != total {
		t.Fatalf("tool_data: sent %d, want %d", last.Sent, total)
	}
	got := map[int32]map[int64]string{}
	values := map[string]int{}
	end := listEndOffsets(t, addr, topic)
	var n int64
	for _, o := range end {
		n += o
	}
	// Kafka's VerifiableConsumer reads the whole topic back in a group,
	// printing every record (--verbose: record_data events).
	t0 := time.Now()
	out, errOut, err := kit.run(t, "org.apache.kafka.tools.VerifiableConsumer", "--bootstrap-server", addr,
		"--topic", topic, "--group-id", "verifiable-check", "--group-protocol", "classic", "--reset-policy", "earliest",
		"--max-messages", strconv.FormatInt(n, 10), "--verbose")
	if err != nil {
		t.Fatalf("VerifiableConsumer: %v\nstderr:\n%s", err, tail(errOut, 4096))
	}
	t.Logf("VerifiableConsumer: %v", time.Since(t0).Round(time.Millisecond))
	consumed := 0
	for _, line := range strings.Split(out, "\n") {
		var ev verifiableEvent
		if json.Unmarshal([]byte(line), &ev) != nil || ev.Name != "record_data" {
			continue
		}
		if got[ev.Partition] == nil {
			got[ev.Partition] = map[int64]string{}
		}
		got[ev.Partition][ev.Offset] = ev.Value
		values[ev.Value]++
		consumed++
	}
	if int64(consumed) != n {
		t.Errorf("VerifiableConsumer printed %d records, want the %d in the topic", consumed, n)
	}
	lost := 0
	for p, offs := range want {
		for o, v := range offs {
			if got[p][o] != v {
				lost++
				if lost <= 5 {
					t.Errorf("acknowledged %q at partition %d offset %d; the log has %q", v, p, o, got[p][o])
				}
			}
		}
	}
	dups := 0
	for _, c := range values {
		dups += c - 1
	}
	// The producer is idempotent and retries for a minute: nothing fails,
	// and its retries across the restart store no record twice.
	errMsg := ""
	if errs > 0 {
		errMsg = fmt.Sprintf("%d sends failed%s", errs, firstErr)
	}
	checkKnown(t, "crash/no-send-errors", "no-send-errors", errMsg)
	dupMsg := ""
	if dups > 0 {
		dupMsg = fmt.Sprintf("%d records stored more than once", dups)
	}
	checkKnown(t, "crash/no-duplicates", "no-duplicates", dupMsg)
	t.Logf("VerifiableProducer: %d sent, %d acknowledged (%d before the kill), %d send errors%s; the log holds %d"+
		" records (%d duplicates); %d acknowledged records missing", last.Sent, acked, before, errs, firstErr, n, dups, lost)
}

// listEndOffsets is the end offset of every partition of topic.
func listEndOffsets(t testing.TB, addr, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	res, err := kadm.NewClient(newClient(t, addr)).ListEndOffsets(ctx, topic)
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	out := map[int32]int64{}
	res.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}
