package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Paths of the binaries built by TestMain.
var (
	sluicedBin string
	sluiceBin  string
)

// Deadlines. Generous: the suite runs under -race on two shared cores.
const (
	startTimeout = 30 * time.Second // until "sluiced listening on"
	stopTimeout  = 60 * time.Second // SIGTERM until exit
	ioTimeout    = 60 * time.Second // one client operation
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "sluice-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := buildBinaries(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	return m.Run()
}

// buildBinaries builds cmd/sluiced and cmd/sluice into dir from the module
// root that `go env GOMOD` names.
func buildBinaries(dir string) error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return errors.New("go env GOMOD: not inside a module")
	}
	root := filepath.Dir(gomod)
	sluicedBin = filepath.Join(dir, "sluiced")
	sluiceBin = filepath.Join(dir, "sluice")
	for bin, pkg := range map[string]string{sluicedBin: "./cmd/sluiced", sluiceBin: "./cmd/sluice"} {
		args := []string{"build", "-o", bin}
		if os.Getenv("SLUICE_E2E_RACE") == "1" {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, pkg)...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return nil
}

// daemon is one running sluiced subprocess.
type daemon struct {
	Addr string // host:port it listens on
	Dir  string // its data directory

	t      testing.TB
	cmd    *exec.Cmd
	out    *lineWatcher // stdout
	errOut *tailBuffer  // stderr, for failure messages
	done   chan struct{}
	err    error // cmd.Wait's result, set before done is closed
}

// start runs sluiced on dataDir, listening on 127.0.0.1:0 unless extra
// carries --listen, and waits for its "sluiced listening on" line. A
// t.Cleanup kills it if the test leaves it running and logs its stderr if
// the test failed.
func start(t testing.TB, dataDir string, extra ...string) *daemon {
	t.Helper()
	args := []string{"--data-dir", dataDir}
	if !hasFlag(extra, "--listen") {
		args = append(args, "--listen", "127.0.0.1:0")
	}
	args = append(args, extra...)
	d := &daemon{Dir: dataDir, t: t, out: newLineWatcher("sluiced listening on "),
		errOut: &tailBuffer{max: 64 << 10}, done: make(chan struct{})}
	d.cmd = exec.Command(sluicedBin, args...)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.errOut
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start sluiced %v: %v", args, err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		if d.running() {
			d.kill()
		}
		if t.Failed() {
			t.Logf("sluiced %v stderr (tail):\n%s", args, d.errOut.String())
		}
	})
	select {
	case line := <-d.out.found:
		d.Addr = strings.TrimSpace(strings.TrimPrefix(line, "sluiced listening on "))
	case <-d.done:
		t.Fatalf("sluiced %v exited before listening: %v\nstderr:\n%s", args, d.err, d.errOut.String())
	case <-time.After(startTimeout):
		d.kill()
		t.Fatalf("sluiced %v: no listening line within %v\nstderr:\n%s", args, startTimeout, d.errOut.String())
	}
	return d
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// Pid is the daemon's process id.
func (d *daemon) Pid() int { return d.cmd.Process.Pid }

func (d *daemon) running() bool {
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM and requires a clean exit (status 0) within
// stopTimeout.
func (d *daemon) Stop() {
	d.t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		d.t.Fatalf("SIGTERM sluiced: %v", err)
	}
	select {
	case <-d.done:
	case <-time.After(stopTimeout):
		d.kill()
		d.t.Fatalf("sluiced did not exit within %v of SIGTERM\nstderr:\n%s", stopTimeout, d.errOut.String())
	}
	if d.err != nil {
		d.t.Fatalf("sluiced exited after SIGTERM with %v, want status 0\nstderr:\n%s", d.err, d.errOut.String())
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (d *daemon) Kill() {
	d.t.Helper()
	d.kill()
	if d.running() {
		d.t.Fatalf("sluiced still running after SIGKILL")
	}
}

func (d *daemon) kill() {
	_ = d.cmd.Process.Kill()
	select {
	case <-d.done:
	case <-time.After(stopTimeout):
	}
}

// Stderr is the tail of what the daemon logged so far.
func (d *daemon) Stderr() string { return d.errOut.String() }

// lineWatcher is an io.Writer that reports the first line starting with
// prefix on found.
type lineWatcher struct {
	prefix string
	found  chan string
	mu     struct {
		sync.Mutex
		partial []byte
		sent    bool
	}
}

func newLineWatcher(prefix string) *lineWatcher {
	return &lineWatcher{prefix: prefix, found: make(chan string, 1)}
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.mu.partial = append(w.mu.partial, p...)
	for {
		i := bytes.IndexByte(w.mu.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(w.mu.partial[:i])
		w.mu.partial = w.mu.partial[i+1:]
		if !w.mu.sent && strings.HasPrefix(line, w.prefix) {
			w.mu.sent = true
			w.found <- line
		}
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// waitFor polls cond every 10ms until it holds or timeout passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// requireTool returns the path of an external tool the test drives. A
// missing tool skips the test, or fails it when SLUICE_REQUIRE_KCAT=1,
// naming the Debian package to install (scripts/test-deps.sh does).
func requireTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s not found: install the Debian package %q (scripts/test-deps.sh)", name, pkg)
	if os.Getenv("SLUICE_REQUIRE_KCAT") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func requireKcat(t testing.TB) string { t.Helper(); return requireTool(t, "kcat", "kcat") }

// runTool runs a command with stdin, failing the test on a non-zero exit
// or a timeout; it returns stdout.
func runTool(t testing.TB, timeout time.Duration, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v (ctx: %v)\nstderr:\n%s", name, strings.Join(args, " "), err, ctx.Err(), tail(stderr.String(), 4096))
	}
	return stdout.Bytes()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
