package netio

import (
	"errors"
	"io"
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
	// Free one for the test's own client, then connect: the kernel
	// completes the handshake, accept gets EMFILE.
	filler[len(filler)-1].Close()
	filler = filler[:len(filler)-1]
	for range 3 {
		c, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
		if errors.Is(err, syscall.ECONNRESET) {
			continue // shed before connect returned
		}
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("a connection over the descriptor limit was not shed: %v", err)
		}
		c.Close()
	}
	st := s.Stats()
	if st.AcceptErrors == 0 || st.ConnsShed == 0 {
		t.Fatalf("no accept error or shed connection: %+v", st)
	}
	if err := s.Health(); !errors.Is(err, ErrNotAccepting) {
		t.Fatalf("Health = %v while descriptors are exhausted", err)
	}
	roundTripOn(t, steady, h) // existing connections are served throughout
	for _, f := range filler {
		f.Close()
	}
	if err := s.Health(); err != nil {
		t.Fatalf("Health = %v with descriptors free", err)
	}
	roundTripOn(t, dial(t, s), h)
}
