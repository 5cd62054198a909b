package main

// Tests that run the sluiced binary as a subprocess, built once in TestMain.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/testlog"
)

var binary string // the sluiced built by TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sluiced-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "sluiced")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot build sluiced: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running sluiced.
type proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	addr   string // Kafka listener, once ready
	stderr *testlog.Buffer
	done   chan struct{}
	err    error // Wait's result, once done is closed
}

// start runs sluiced with args (JSON logs) and env added to the test's.
func start(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	return startCmd(t, exec.Command(binary, append([]string{"--log-format", "json"}, args...)...), env)
}

// startCmd runs cmd, a sluiced (possibly wrapped, as by ip netns exec,
// which execs it) with JSON logs, with env added to the test's, and waits
// until it listens.
func startCmd(t testing.TB, cmd *exec.Cmd, env []string) *proc {
	t.Helper()
	cmd.Env = append(os.Environ(), env...)
	p := &proc{t: t, cmd: cmd, stderr: &testlog.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if dir := os.Getenv("SLUICE_TEST_LOGDIR"); dir != "" {
		// Debugging aid: every node's log also goes to a file there, kept
		// after the test (its temporary directories are not).
		f, err := os.CreateTemp(dir, "sluiced-*.log")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, "%s\n", strings.Join(cmd.Args, " "))
		t.Cleanup(func() { f.Close() })
		cmd.Stderr = io.MultiWriter(p.stderr, f)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })
	select {
	case line := <-lines:
		p.addr = strings.TrimPrefix(line, "sluiced listening on ")
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("sluiced not ready after 60s; stderr:\n%s", p.stderr)
	}
	return p
}

func (p *proc) kill() {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Kill()
		<-p.done
	}
}

// wait waits for the process to exit and returns its exit status.
func (p *proc) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		p.t.Fatalf("sluiced did not exit within 60s; stderr:\n%s", p.stderr)
	}
	return p.cmd.ProcessState.ExitCode()
}

// stop sends SIGTERM and wants exit status 0.
func (p *proc) stop() {
	p.t.Helper()
	select {
	case <-p.done: // crashed (a signal to it would fail with "os: process already finished")
		p.t.Fatalf("sluiced exited before it was stopped (%v):\n%s", p.err, crashReport(p.stderr.String()))
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	if code := p.wait(); code != 0 {
		p.t.Fatalf("exit status %d after SIGTERM, want 0; stderr:\n%s", code, p.stderr)
	}
}

// crashReport is the part of a dead sluiced's stderr that says why: the
// log lines before a Go panic or fatal error and the first lines of the
// traceback (the faulting goroutine's), else the last lines.
func crashReport(stderr string) string {
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	at := slices.IndexFunc(lines, func(l string) bool {
		return strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") ||
			strings.HasPrefix(l, "unexpected fault address ")
	})
	if at < 0 {
		return strings.Join(lines[max(len(lines)-40, 0):], "\n")
	}
	return strings.Join(lines[max(at-20, 0):min(at+40, len(lines))], "\n")
}

// logs returns the JSON log records with message msg.
func (p *proc) logs(msg string) []map[string]any {
	var out []map[string]any
	for line := range strings.SplitSeq(p.stderr.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// waitLog polls for a log record with message msg.
func (p *proc) waitLog(msg string) map[string]any {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if recs := p.logs(msg); len(recs) > 0 {
			return recs[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.t.Fatalf("no log %q; stderr:\n%s", msg, p.stderr)
	return nil
}

// runToExit runs sluiced to completion and returns status, stdout, stderr.
func runToExit(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigFileKeys(t *testing.T) {
	good := writeFile(t, "server.properties", `# good, unknown and ignored keys
num.partitions=3
log.retention.hours=24
zookeeper.connect=localhost:2181
num.network.threads=3
my.custom.key=1
another.unknown : 2
`)
	code, stdout, stderr := runToExit(t, nil, "--config", good, "--print-config")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"\nnum.partitions=3\t# " + good + ":2", "\nlog.retention.hours=24\t# "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("no %q in:\n%s", want, stdout)
		}
	}
	if n := strings.Count(stderr, "ignoring unknown settings"); n != 1 || !strings.Contains(stderr, "keys=my.custom.key,another.unknown") {
		t.Errorf("want one warning listing both unknown keys, got %d:\n%s", n, stderr)
	}
	if n := strings.Count(stderr, "mean nothing"); n != 1 || !strings.Contains(stderr, "keys=zookeeper.connect,num.network.threads") {
		t.Errorf("want one warning listing the ignored keys, got %d:\n%s", n, stderr)
	}

	bad := writeFile(t, "bad.properties", "num.partitions=3\nlog.retention.hours=a week\n")
	code, _, stderr = runToExit(t, nil, "--config", bad, "--data-dir", t.TempDir())
	if code != 2 || !strings.Contains(stderr, `log.retention.hours="a week"`) || !strings.Contains(stderr, "bad.properties:2") {
		t.Errorf("bad value: exit %d, stderr:\n%s\nwant exit 2 naming key, value and line", code, stderr)
	}
	code, _, stderr = runToExit(t, nil, "--config", filepath.Join(t.TempDir(), "missing"))
	if code != 2 || !strings.Contains(stderr, "cannot read config file") {
		t.Errorf("missing file: exit %d, stderr:\n%s", code, stderr)
	}
	code, _, stderr = runToExit(t, nil, "--fsync", "sometimes")
	if code != 2 || !strings.Contains(stderr, "sometimes") {
		t.Errorf("bad flag: exit %d, stderr:\n%s", code, stderr)
	}
}

func TestEnvBeatsFileFlagBeatsEnv(t *testing.T) {
	file := writeFile(t, "server.properties", "num.partitions=3\nlog.segment.bytes=100000\n")
	f := func(env []string, args []string, want string) {
		t.Helper()
		code, stdout, stderr := runToExit(t, env, append([]string{"--config", file, "--print-config"}, args...)...)
		if code != 0 || !strings.Contains(stdout, want) {
			t.Fatalf("env %q args %q: exit %d, no %q in:\n%s%s", env, args, code, want, stdout, stderr)
		}
	}
	f(nil, nil, "\nnum.partitions=3\t# "+file+":1\n")
	f([]string{"SLUICE_NUM_PARTITIONS=4"}, nil, "\nnum.partitions=4\t# environment SLUICE_NUM_PARTITIONS\n")
	f([]string{"SLUICE_NUM_PARTITIONS=4"}, []string{"--num-partitions", "5"}, "\nnum.partitions=5\t# flag --num-partitions\n")
	f([]string{"SLUICE_LOG_SEGMENT_BYTES=200000"}, nil, "\nlog.segment.bytes=200000\t# environment")
}

func TestSecondDaemonRefused(t *testing.T) {
	dir := t.TempDir()
	first := start(t, nil, "--data-dir", dir, "--listen", "127.0.0.1:0")
	if first.addr == "" {
		t.Fatalf("first daemon did not start:\n%s", first.stderr)
	}
	second := start(t, nil, "--data-dir", dir, "--listen", "127.0.0.1:0")
	if code := second.wait(); code != 1 || !strings.Contains(second.stderr.String(), "is in use by another sluiced") {
		t.Fatalf("second daemon: exit %d, stderr:\n%s\nwant 1 and the lock error", code, second.stderr)
	}
	first.stop()
}

// TestCrashReport: a crashed node's report holds the log lines before the
// fault and the faulting goroutine, not the thousands of lines after.
func TestCrashReport(t *testing.T) {
	f := func(stderr string, want, wantNot []string) {
		t.Helper()
		got := crashReport(stderr)
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("report lacks %q:\n%s", w, got)
			}
		}
		for _, w := range wantNot {
			if strings.Contains(got, w) {
				t.Errorf("report has %q:\n%s", w, got)
			}
		}
	}
	var b strings.Builder
	for i := range 100 {
		fmt.Fprintf(&b, "{\"msg\":\"log line %d\"}\n", i)
	}
	logs := b.String()
	var gs strings.Builder
	for i := range 500 {
		fmt.Fprintf(&gs, "goroutine %d [select]:\n", i+2)
	}
	crash := "unexpected fault address 0x7f8f12400000\nfatal error: fault\n[signal SIGBUS: bus error code=0x2]\n\n" +
		"goroutine 1 [running]:\nmmapindex.(*offsetIndex).append\n" + gs.String()
	f(logs+crash, []string{"log line 99", "log line 80", "SIGBUS", "mmapindex.(*offsetIndex).append"},
		[]string{"log line 79", "goroutine 400 "})
	f(logs, []string{"log line 99", "log line 60"}, []string{"log line 59"})
	f("", nil, nil)
}
