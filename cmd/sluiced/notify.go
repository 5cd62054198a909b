package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
)

// notifier speaks systemd's sd_notify protocol, written by hand: one
// datagram of newline-separated VAR=value assignments to the unixgram
// socket named by NOTIFY_SOCKET. A name starting with '@' is an abstract
// socket (Go's net package maps the '@' to the leading NUL byte on Linux).
// Without NOTIFY_SOCKET it does nothing.
type notifier struct {
	addr string
	log  *slog.Logger
}

func newNotifier(environ []string, log *slog.Logger) *notifier {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "NOTIFY_SOCKET="); ok && v != "" {
			return &notifier{addr: v, log: log}
		}
	}
	return nil
}

// send sends the assignments plus MAINPID; a failure is logged (systemd
// then times the start out, which says more than failing here would).
func (n *notifier) send(assignments ...string) {
	if n == nil {
		return
	}
	msg := strings.Join(append(assignments, fmt.Sprintf("MAINPID=%d", os.Getpid())), "\n") + "\n"
	if err := n.write(msg); err != nil {
		n.log.Warn("sd_notify failed", "socket", n.addr, "err", err)
	}
}

func (n *notifier) write(msg string) error {
	if !strings.HasPrefix(n.addr, "/") && !strings.HasPrefix(n.addr, "@") {
		return fmt.Errorf("NOTIFY_SOCKET %q is neither a path nor an abstract name", n.addr)
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("cannot connect: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(msg)); err != nil {
		return fmt.Errorf("cannot send: %w", err)
	}
	return nil
}
