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
	// new descriptor. More than three: see the loop below.
	addr := s.Addr().(*net.TCPAddr)
	sa := &unix.SockaddrInet4{Port: addr.Port}
	copy(sa.Addr[:], addr.IP.To4())
	var socks []int
	for range 8 {
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
	// topUp takes every descriptor that is free.
	topUp := func() {
		for {
			f, err := os.Open(os.DevNull)
			if err != nil {
				return
			}
			filler = append(filler, f)
		}
	}
	topUp()
	// Something else in the process may close a descriptor after the
	// filling (a finalizer, the race runtime). Accept then succeeds and
	// the connection is shed where it is handed to an event loop instead
	// (gnet's dup fails); closing it frees that descriptor again. Such a
	// connection is counted, the free descriptor taken and the next spare
	// socket tried, until three were shed by a failed accept. The filler
	// is topped up only then: after a shed by a failed accept the server
	// reopens its spare, and the test must not race it for that
	// descriptor.
	used := 0
	for _, fd := range socks {
		before := s.Stats().AcceptErrors
		if before >= 3 {
			break
		}
		used++
		if err := unix.Connect(fd, sa); err != nil {
			t.Fatalf("connect: %v", err)
		}
		tv := unix.Timeval{Sec: 10}
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		var b [16]byte
		if n, err := unix.Read(fd, b[:]); n > 0 || err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("a connection over the descriptor limit was not shed: read %d, %v; %+v", n, err, s.Stats())
		}
		// Replace the socket by /dev/null in one step: closing it would
		// free a descriptor that the server's spare and the filler would
		// race for.
		if err := unix.Dup3(int(filler[0].Fd()), fd, unix.O_CLOEXEC); err != nil {
			t.Fatalf("dup3: %v", err)
		}
		if s.Stats().AcceptErrors == before {
			topUp()
		}
	}
	if st := s.Stats(); st.AcceptErrors < 3 || st.ConnsShed != uint64(used) {
		t.Fatalf("want 3 accept errors and all %d connections shed: %+v", used, st)
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
