package testhosts

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// inNS runs fn on a thread that joined ns, and brings the thread back to
// its namespace after (a socket stays in the namespace it was made in).
func inNS(t *testing.T, ns string, fn func()) {
	t.Helper()
	errc := make(chan error)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		fn()
		// Back before the thread serves other goroutines; if that fails the
		// thread stays locked and ends with this goroutine.
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatalf("in namespace %s: %v", ns, err)
	}
}

// serve listens on addr inside h's namespace, accepting and closing.
func serve(t *testing.T, h *Host, addr string) {
	t.Helper()
	var l net.Listener
	var err error
	inNS(t, h.NS, func() { l, err = net.Listen("tcp", addr) })
	if err != nil {
		t.Fatalf("listen in %s: %v", h.NS, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

// dialOK reports whether a connection to addr is accepted within d, from
// the namespace ns ("" for the test's own).
func dialOK(t *testing.T, ns, addr string, d time.Duration) bool {
	var err error
	dial := func() {
		var c net.Conn
		if c, err = net.DialTimeout("tcp", addr, d); err == nil {
			c.Close()
		}
	}
	if ns == "" {
		dial()
	} else {
		inNS(t, ns, dial)
	}
	return err == nil
}

// The test process and the other host reach a host; a cut host is
// unreachable from both, a healed one reachable again; cleanup leaves no
// namespace behind.
func TestCutHeal(t *testing.T) {
	var prefix string
	t.Run("net", func(t *testing.T) {
		n := New(t)
		h1, h2 := n.AddHost(), n.AddHost()
		prefix = n.prefix
		serve(t, h1, h1.Addr(7000))
		for _, from := range []string{"", h2.NS} {
			if !dialOK(t, from, h1.Addr(7000), 5*time.Second) {
				t.Fatalf("cannot reach %s from namespace %q", h1.Addr(7000), from)
			}
		}
		h1.Cut()
		for _, from := range []string{"", h2.NS} {
			if dialOK(t, from, h1.Addr(7000), 300*time.Millisecond) {
				t.Fatalf("reached the cut host from namespace %q", from)
			}
		}
		h1.Heal()
		deadline := time.Now().Add(10 * time.Second)
		for !dialOK(t, h2.NS, h1.Addr(7000), 500*time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("healed host unreachable from the other host after 10s")
			}
		}
		if !dialOK(t, "", h1.Addr(7000), 5*time.Second) {
			t.Fatal("healed host unreachable from the test process")
		}
	})
	if t.Skipped() || prefix == "" {
		return
	}
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix+"-") {
			t.Errorf("namespace %s left after cleanup", e.Name())
		}
	}
}

// New removes a namespace left by a test process that no longer runs.
func TestRemovesStale(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	stale := fmt.Sprintf("%s%d-1-br", namePrefix, dead.Process.Pid)
	if out, err := exec.Command("ip", "netns", "add", stale).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", stale).Run() })
	New(t)
	if _, err := os.Stat("/run/netns/" + stale); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stale namespace %s still there (%v)", stale, err)
	}
}
