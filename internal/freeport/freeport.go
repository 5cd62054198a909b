// Package freeport hands out loopback TCP ports for tests and benchmark
// harnesses that must name a port before the process that listens on it
// starts (a quorum's voter list, a peer broker's config).
//
// Between the moment a port is chosen and the moment a node listens on
// it, anything else on the machine could take it. Two sources did, in CI:
// the kernel, which hands a just-closed port to the next listen on port 0
// or to an outgoing connection (both draw from its ephemeral range), and
// another test process choosing the same port. So a port is chosen
// outside the ephemeral range (net.ipv4.ip_local_port_range), where the
// kernel never assigns one by itself, it must be free to listen on when
// chosen, and the process holds a lock on it for the rest of its life:
//
//	$TMPDIR/sluice-freeport-<uid>/<port>.lock   flock(LOCK_EX), kept open
//
// so no other process of the same user using this package takes it
// while this one lives (the kernel drops the lock when the process exits,
// however it exits).
// Ports given out by this process are never given out again.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

var (
	mu    sync.Mutex
	given = map[int]*os.File{} // port -> its lock file, held open
)

// Port returns a TCP port on 127.0.0.1 that was free a moment ago, that
// this process has not handed out before, and that no other live process
// using this package holds.
func Port() (int, error) {
	mu.Lock()
	defer mu.Unlock()
	lo, hi := pickRange()
	dir, err := lockDir()
	if err != nil {
		return 0, err
	}
	for range 2000 {
		p := lo + rand.IntN(hi-lo+1)
		if given[p] != nil {
			continue
		}
		f, ok, err := lock(dir, p)
		if err != nil {
			return 0, err
		}
		if !ok {
			continue // another process holds it
		}
		if !listenable(p) {
			f.Close()
			continue
		}
		given[p] = f
		return p, nil
	}
	return 0, fmt.Errorf("freeport: no free port found in %d-%d", lo, hi)
}

// Addr is Port as "127.0.0.1:port".
func Addr() (string, error) {
	p, err := Port()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", p), nil
}

// lockDir makes the lock files' directory, once per process.
var lockDir = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(os.TempDir(), "sluice-freeport-"+strconv.Itoa(os.Getuid()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("freeport: cannot make the lock directory: %w", err)
	}
	return dir, nil
})

// lock takes port p's lock file without waiting: ok false when another
// process holds it.
func lock(dir string, p int) (f *os.File, ok bool, err error) {
	f, err = os.OpenFile(filepath.Join(dir, strconv.Itoa(p)+".lock"), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("freeport: cannot open the lock of port %d: %w", p, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("freeport: cannot lock port %d: %w", p, err)
	}
	return f, true, nil
}

// listenable reports whether 127.0.0.1:p can be listened on now.
func listenable(p int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// pickRange is the range ports are chosen from: below the kernel's
// ephemeral range when there is room (from 20000, clear of the usual
// fixed ports: Kafka's 9092, ZooKeeper's 2181, the benchmarks' 19xxx),
// else above it. It is read once per process.
var pickRange = sync.OnceValues(func() (lo, hi int) {
	elo, ehi := ephemeralRange()
	switch {
	case elo-1 >= 20000+1000:
		return 20000, elo - 1
	case 65535-ehi >= 1000:
		return ehi + 1, 65535
	}
	return 20000, 65535 // no room outside it: the lock still keeps processes apart
})

// ephemeralRange reads net.ipv4.ip_local_port_range (Linux's default when
// it cannot be read).
func ephemeralRange() (lo, hi int) {
	lo, hi = 32768, 60999
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return lo, hi
	}
	l, err1 := strconv.Atoi(f[0])
	h, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || l < 1 || h < l || h > 65535 {
		return lo, hi
	}
	return l, h
}
