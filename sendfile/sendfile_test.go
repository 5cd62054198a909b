package sendfile

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection: the sender
// (server side) and the receiver (client side).
func tcpPair(tb testing.TB) (*net.TCPConn, *net.TCPConn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.77.0.4:0") // not 127.0.0.1: another test's client redialling a stopped broker's port could be the connection accepted
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	server := <-accepted
	if server == nil {
		tb.Fatal("accept failed")
	}
	tb.Cleanup(func() { server.Close(); client.Close() })
	return server.(*net.TCPConn), client.(*net.TCPConn)
}

// tempFile writes n random bytes to a new file and returns it open.
func tempFile(tb testing.TB, n int) (*os.File, []byte) {
	tb.Helper()
	data := make([]byte, n)
	if _, err := rand.Read(data); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(tb.TempDir(), "segment.log")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	return f, data
}

func rawConn(tb testing.TB, c *net.TCPConn) syscall.RawConn {
	tb.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	return rc
}

// readN reads n bytes from c in chunks of chunk bytes, pausing between
// reads when pause > 0, and returns them.
func readN(c net.Conn, n, chunk int, pause time.Duration) ([]byte, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, chunk)
	for len(out) < n {
		m, err := c.Read(buf[:min(chunk, n-len(out))])
		out = append(out, buf[:m]...)
		if err != nil {
			return out, err
		}
		if pause > 0 {
			time.Sleep(pause) // simulates a slow consumer, not a wait for a condition
		}
	}
	return out, nil
}

func TestSendRegions(t *testing.T) {
	f, data := tempFile(t, 1<<20)
	server, client := tcpPair(t)
	rc := rawConn(t, server)
	check := func(off, n int64) {
		t.Helper()
		before := Stats()
		got := make(chan []byte, 1)
		go func() { b, _ := readN(client, int(n), 4096, 0); got <- b }()
		sent, err := Send(rc, Region{File: f, Off: off, Len: n})
		if err != nil || sent != n {
			t.Fatalf("Send(off=%d, len=%d) = %d, %v", off, n, sent, err)
		}
		if b := <-got; !bytes.Equal(b, data[off:off+n]) {
			t.Fatalf("Send(off=%d, len=%d): bytes differ", off, n)
		}
		if d := Stats().SendfileBytes - before.SendfileBytes; d < n {
			t.Fatalf("sendfile counter grew by %d, want >= %d", d, n)
		}
	}
	check(0, 1)
	check(0, 1<<20)
	check(12345, 1000)
	check(1<<20-7, 7)
	if pos, _ := f.Seek(0, io.SeekCurrent); pos != 0 {
		t.Fatalf("file position moved to %d", pos)
	}
	if n, err := Send(rc, Region{File: f, Off: 5, Len: 0}); n != 0 || err != nil {
		t.Fatalf("empty region: %d, %v", n, err)
	}
}

// TestSendSlowReader exercises EAGAIN: the receiver's small buffer and slow
// reads fill the socket, and Send must wait on the netpoller, not fail or
// spin.
func TestSendSlowReader(t *testing.T) {
	const size = 8 << 20
	f, data := tempFile(t, size)
	server, client := tcpPair(t)
	if err := client.SetReadBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	if err := server.SetWriteBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := Send(rawConn(t, server), Region{File: f, Off: 0, Len: size})
		errc <- err
	}()
	got, err := readN(client, size, 64<<10, 50*time.Microsecond)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatal("SHA-256 differs")
	}
}

// TestSendSharedFd sends different ranges of one file to several sockets at
// once: explicit offsets mean no sender disturbs another.
func TestSendSharedFd(t *testing.T) {
	const size, conns = 4 << 20, 4
	f, data := tempFile(t, size)
	var wg sync.WaitGroup
	errs := make(chan error, 2*conns)
	for i := range conns {
		server, client := tcpPair(t)
		off, n := int64(i*size/conns/2), int64(size/2)
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := Send(rawConn(t, server), Region{File: f, Off: off, Len: n})
			errs <- err
		}()
		go func() {
			defer wg.Done()
			got, err := readN(client, int(n), 32<<10, 0)
			if err == nil && !bytes.Equal(got, data[off:off+n]) {
				err = errors.New("bytes differ")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestSendShortFile(t *testing.T) {
	f, _ := tempFile(t, 1000)
	server, client := tcpPair(t)
	go io.Copy(io.Discard, client)
	n, err := Send(rawConn(t, server), Region{File: f, Off: 900, Len: 200})
	if n != 100 || !errors.Is(err, ErrShortFile) {
		t.Fatalf("Send past EOF = %d, %v; want 100, ErrShortFile", n, err)
	}
	n, err = Send(rawConn(t, server), Region{File: f, Off: 5000, Len: 10})
	if n != 0 || !errors.Is(err, ErrShortFile) {
		t.Fatalf("Send beyond EOF = %d, %v; want 0, ErrShortFile", n, err)
	}
}

func TestSendClosedSocket(t *testing.T) {
	f, _ := tempFile(t, 1<<20)
	server, client := tcpPair(t)
	rc := rawConn(t, server)
	client.Close()
	server.Close()
	if _, err := Send(rc, Region{File: f, Len: 1 << 20}); err == nil {
		t.Fatal("Send on a closed socket succeeded")
	}
}

func TestSendFromPipe(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	if _, err := pw.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	server, client := tcpPair(t)
	_, err = Send(rawConn(t, server), Region{File: pr, Off: 0, Len: 5})
	if err == nil {
		t.Skip("this kernel sends from a pipe with an explicit offset")
	}
	if !IsUnsupported(err) && !errors.Is(err, syscall.ESPIPE) {
		t.Fatalf("Send from a pipe: %v", err)
	}
	t.Logf("Send from a pipe: %v (IsUnsupported=%v)", err, IsUnsupported(err))
	_ = client
}

func TestCopy(t *testing.T) {
	f, data := tempFile(t, 100_000)
	f0 := func(off, n int64, bufSize int) {
		t.Helper()
		var out bytes.Buffer
		before := Stats().CopiedBytes
		got, err := Copy(&out, Region{File: f, Off: off, Len: n}, make([]byte, bufSize))
		if err != nil || got != n || !bytes.Equal(out.Bytes(), data[off:off+n]) {
			t.Fatalf("Copy(off=%d, len=%d, buf=%d) = %d, %v", off, n, bufSize, got, err)
		}
		if d := Stats().CopiedBytes - before; d < n {
			t.Fatalf("copy counter grew by %d, want >= %d", d, n)
		}
	}
	f0(0, 100_000, 4096)
	f0(1, 99_999, 7)
	f0(50_000, 1, 1)
	f0(0, 0, 1)
	n, err := Copy(io.Discard, Region{File: f, Off: 99_000, Len: 2000}, make([]byte, 512))
	if n != 1000 || !errors.Is(err, ErrShortFile) {
		t.Fatalf("Copy past EOF = %d, %v; want 1000, ErrShortFile", n, err)
	}
}

func TestSendDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	f, _ := tempFile(t, 64<<10)
	server, client := tcpPair(t)
	go io.Copy(io.Discard, client)
	rc := rawConn(t, server)
	r := Region{File: f, Off: 0, Len: 64 << 10}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := Send(rc, r); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Send allocated %.1f times per call", allocs)
	}
	buf := make([]byte, 16<<10)
	allocs = testing.AllocsPerRun(100, func() {
		if _, err := Copy(server, r, buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Copy allocated %.1f times per call", allocs)
	}
}
