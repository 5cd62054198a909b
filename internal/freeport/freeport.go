// Package freeport hands out loopback TCP ports for tests and benchmark
// harnesses that must name a port before the process that listens on it
// starts (a quorum's voter list, a peer broker's config).
//
// A port is found by listening on 127.0.0.1:0 and closing; the kernel may
// hand the same port to the next such listen, so ports already given out
// by this process are skipped: two nodes of one test never get the same
// address.
package freeport

import (
	"fmt"
	"net"
	"sync"
)

var (
	mu    sync.Mutex
	given = map[int]bool{}
)

// Port returns a TCP port on 127.0.0.1 that was free a moment ago and that
// this process has not handed out before.
func Port() (int, error) {
	mu.Lock()
	defer mu.Unlock()
	for range 1000 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("freeport: cannot find a free port: %w", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !given[p] {
			given[p] = true
			return p, nil
		}
	}
	return 0, fmt.Errorf("freeport: the kernel kept offering ports already handed out")
}

// Addr is Port as "127.0.0.1:port".
func Addr() (string, error) {
	p, err := Port()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", p), nil
}
