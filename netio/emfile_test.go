package netio

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestAcceptOutOfDescriptors runs in a child process (it lowers
// RLIMIT_NOFILE, which is process-wide): with every descriptor taken,
// accept fails with EMFILE; the server sheds the pending connections
// (their clients see them closed at once), keeps serving its open
// connection, reports itself unhealthy, and takes connections again once
// descriptors are free.
func TestAcceptOutOfDescriptors(t *testing.T) {
	if os.Getenv("NETIO_EMFILE_CHILD") == "1" {
		acceptOutOfDescriptors(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAcceptOutOfDescriptors$", "-test.v")
	cmd.Env = append(os.Environ(), "NETIO_EMFILE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func acceptOutOfDescriptors(t *testing.T) {
	h := newTestHandler(t, 4096)
	s := startServer(t, testConfig(), h)
	steady := dial(t, s)
	roundTripOn(t, steady, h)
	// The clients' sockets exist before the fault: connecting needs no
	// new descriptor.
	addr := s.Addr().(*net.TCPAddr)
	sa := &unix.SockaddrInet4{Port: addr.Port}
	copy(sa.Addr[:], addr.IP.To4())
	var socks []int
	for range 3 {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		socks = append(socks, fd)
	}
	// The fault: take every descriptor the process may open.
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = 256
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	var filler []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			break
		}
		filler = append(filler, f)
	}
	for _, fd := range socks {
		if err := unix.Connect(fd, sa); err != nil {
			t.Fatalf("connect: %v", err)
		}
		tv := unix.Timeval{Sec: 10}
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		var b [16]byte
		if n, err := unix.Read(fd, b[:]); n > 0 || err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("a connection over the descriptor limit was not shed: read %d, %v", n, err)
		}
		// Replace the socket by /dev/null in one step: closing it would
		// free a descriptor that the server's spare (reopened after each
		// shed connection) and the filler would then race for.
		if err := unix.Dup3(int(filler[0].Fd()), fd, unix.O_CLOEXEC); err != nil {
			t.Fatalf("dup3: %v", err)
		}
	}
	if st := s.Stats(); st.AcceptErrors < 3 || st.ConnsShed != 3 {
		t.Fatalf("want 3 accept errors and 3 connections shed: %+v", st)
	}
	if err := s.Health(); !errors.Is(err, ErrNotAccepting) {
		t.Fatalf("Health = %v while descriptors are exhausted", err)
	}
	// Existing connections are served throughout (the response needs no
	// new descriptor).
	roundTripOn(t, steady, h)
	for _, f := range filler {
		f.Close()
	}
	for _, fd := range socks {
		unix.Close(fd)
	}
	if err := s.Health(); err != nil {
		t.Fatalf("Health = %v with descriptors free", err)
	}
	c := dial(t, s)
	q := req(opEcho, 9, []byte("hello"))
	c.send(q)
	if got, err := c.tryRecv(10 * time.Second); err != nil || !bytes.Equal(got, h.want(q)) {
		t.Fatalf("a new connection once descriptors are free: %q, %v; %+v", got, err, s.Stats())
	}
}
