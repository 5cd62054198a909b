package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// Floor is one measured host reference: the kernel work of a broker's
// path (loopback TCP into a page-cache file; sendfile from the page cache
// to loopback readers) with nothing of a broker around it, measured just
// before the run it is compared with, with the run's connection count.
// Measures says exactly what was timed.
//
// Its two ends run in two processes, as a broker run has two (the broker
// and this generator), when the binary calls ServeFloorChild (sluice
// does); otherwise both run in this process, which on a host loaded by
// other work gets less CPU than two processes do, and the broker can then
// beat its floor (a ratio of 2 was seen that way on the shared 2-core
// development VM). Even in two processes it is a yardstick measured
// seconds apart, not an upper bound: compare ratios from quiet runs.
type Floor struct {
	Kind     string  `json:"kind"` // "tcp-to-file" or "sendfile"
	Bytes    int64   `json:"bytes"`
	Seconds  float64 `json:"seconds"`
	MBps     float64 `json:"mb_per_s"`
	Measures string  `json:"measures"` // what was timed, in words
}

// Line is `floor=KIND MB/s=… bytes=… seconds=…` (Measures is in the JSON
// and in sluice bench's table).
func (f *Floor) Line() string {
	return fmt.Sprintf("floor=%s MB/s=%.1f bytes=%d seconds=%.2f", f.Kind, f.MBps, f.Bytes, f.Seconds)
}

const (
	floorChunk    = 1 << 20   // write and read size, as a 1 MiB batch
	floorFileSize = 256 << 20 // the sendfile floor's source file (page cached)
)

// listenFloor listens on loopback for a floor's own connections, on
// 127.77.0.3 rather than 127.0.0.1: a client elsewhere redialling a
// stopped broker's port (a test, a Raft transport) may reach a listener
// on port 0 there, and a floor takes the first connections it accepts as
// its own. All of 127/8 is loopback on Linux.
func listenFloor() (net.Listener, error) { return net.Listen("tcp", "127.77.0.3:0") }

// FloorTCPToFile is the produce path's floor: conns loopback TCP
// connections each carry total/conns bytes to a receiver that writes what
// it reads, 1 MiB at a time, to its own file in dir (page cache, no
// fsync), as a broker appends. Files are removed afterwards.
func FloorTCPToFile(ctx context.Context, dir string, total int64, conns int) (*Floor, error) {
	conns = max(conns, 1)
	if childCapable.Load() {
		return floorToFileTwoProcs(ctx, dir, total, conns)
	}
	share := total / int64(conns)
	ln, err := listenFloor()
	if err != nil {
		return nil, fmt.Errorf("bench: floor: cannot listen: %w", err)
	}
	defer ln.Close()
	chunk := make([]byte, floorChunk)
	fillRandom(chunk, 1)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, 2*conns)
	ends := make([]time.Time, conns)
	for i := 0; i < conns; i++ {
		wg.Add(2)
		go func() { defer wg.Done(); errs[2*i] = receiveToFile(ln, dir, &ends[i]) }()
		go func() { defer wg.Done(); errs[2*i+1] = sendChunks(ctx, ln.Addr().String(), chunk, share) }()
	}
	wg.Wait()
	end := start
	for _, e := range ends {
		end = later(end, e)
	}
	f := floorResult("tcp-to-file", share*int64(conns), end.Sub(start))
	f.Measures = fmt.Sprintf("%d loopback TCP connection(s) written in 1 MiB chunks into page-cache files (no fsync), "+
		"both ends in this one process", conns)
	return f, errors.Join(errs...)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// receiveToFile writes what one connection sends to a new file in dir and
// sets *end when the last byte is written: closing and removing the file
// (~130 ms per GiB of page cache here) are not part of the floor, as a
// broker does neither on its append path.
func receiveToFile(ln net.Listener, dir string, end *time.Time) error {
	c, err := ln.Accept()
	if err != nil {
		return fmt.Errorf("bench: floor: accept: %w", err)
	}
	defer c.Close()
	f, err := os.CreateTemp(dir, "sluice-floor-*.data")
	if err != nil {
		return fmt.Errorf("bench: floor: cannot create file in %q: %w", dir, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	err = pipeToFile(c, f)
	*end = time.Now()
	return err
}

// floorBuffers is how many 1 MiB buffers the receive side rotates: the
// socket is read while earlier chunks are written, as a broker's network
// and append paths overlap.
const floorBuffers = 4

// pipeToFile reads r in 1 MiB chunks on one goroutine and writes them to f
// on another.
func pipeToFile(r io.Reader, f *os.File) error {
	free := make(chan []byte, floorBuffers)
	full := make(chan []byte, floorBuffers)
	for i := 0; i < floorBuffers; i++ {
		free <- make([]byte, floorChunk)
	}
	werr := make(chan error, 1)
	go func() {
		var err error
		for b := range full {
			if err == nil {
				if _, err = f.Write(b); err != nil {
					err = fmt.Errorf("bench: floor: cannot write %q: %w", f.Name(), err)
				}
			}
			free <- b[:cap(b)]
		}
		werr <- err
	}()
	rerr := readChunks(r, free, full)
	close(full)
	return errors.Join(rerr, <-werr)
}

func readChunks(r io.Reader, free <-chan []byte, full chan<- []byte) error {
	for {
		b := <-free
		n, err := io.ReadFull(r, b)
		if n > 0 {
			full <- b[:n]
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("bench: floor: receive: %w", err)
		}
	}
}

func sendChunks(ctx context.Context, addr string, chunk []byte, n int64) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("bench: floor: dial: %w", err)
	}
	defer c.Close()
	return sendChunksOn(ctx, c.(*net.TCPConn), chunk, n)
}

// sendChunksOn writes n bytes of chunk repeated to c, then shuts down its
// write side.
func sendChunksOn(ctx context.Context, c *net.TCPConn, chunk []byte, n int64) error {
	for n > 0 && ctx.Err() == nil {
		w := chunk[:min(int64(len(chunk)), n)]
		if _, err := c.Write(w); err != nil {
			return fmt.Errorf("bench: floor: send: %w", err)
		}
		n -= int64(len(w))
	}
	return c.CloseWrite()
}

// FloorSendfile is the fetch path's floor: a 256 MiB file in dir (written
// and fsync'd first, so it sits clean in the page cache as a broker's
// settled segments do) is sent with sendfile(2) over conns loopback
// connections, total bytes in all, to readers that discard what they read
// in readSize chunks (a consumer's fetch size; 0: 1 MiB).
func FloorSendfile(ctx context.Context, dir string, total int64, conns, readSize int) (*Floor, error) {
	conns = max(conns, 1)
	if readSize <= 0 {
		readSize = floorChunk
	}
	share := total / int64(conns)
	path, err := writeFloorFile(dir, min(floorFileSize, share))
	if err != nil {
		return nil, err
	}
	defer os.Remove(path)
	if childCapable.Load() {
		return floorSendfileTwoProcs(ctx, path, share, conns, readSize)
	}
	ln, err := listenFloor()
	if err != nil {
		return nil, fmt.Errorf("bench: floor: cannot listen: %w", err)
	}
	defer ln.Close()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, 2*conns)
	for i := 0; i < conns; i++ {
		wg.Add(2)
		go func() { defer wg.Done(); errs[2*i] = discard(ln, readSize) }()
		go func() { defer wg.Done(); errs[2*i+1] = sendFile(ctx, ln.Addr().String(), path, share) }()
	}
	wg.Wait()
	f := floorResult("sendfile", share*int64(conns), time.Since(start))
	f.Measures = fmt.Sprintf("sendfile(2) of a page-cached, fsync'd %d MiB file over %d loopback connection(s) "+
		"to readers of %d-byte chunks, both ends in this one process", min(floorFileSize, share)>>20, conns, readSize)
	return f, errors.Join(errs...)
}

func writeFloorFile(dir string, size int64) (string, error) {
	f, err := os.CreateTemp(dir, "sluice-floor-*.data")
	if err != nil {
		return "", fmt.Errorf("bench: floor: cannot create file in %q: %w", dir, err)
	}
	defer f.Close()
	chunk := make([]byte, floorChunk)
	fillRandom(chunk, 2)
	for left := size; left > 0; left -= int64(len(chunk)) {
		if _, err := f.Write(chunk[:min(int64(len(chunk)), left)]); err != nil {
			os.Remove(f.Name())
			return "", fmt.Errorf("bench: floor: cannot write %q: %w", f.Name(), err)
		}
	}
	// Written back before the clock starts: the flusher must not compete
	// with the measurement for the file the floor itself just wrote.
	if err := f.Sync(); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("bench: floor: cannot fsync %q: %w", f.Name(), err)
	}
	return f.Name(), nil
}

func discard(ln net.Listener, readSize int) error {
	c, err := ln.Accept()
	if err != nil {
		return fmt.Errorf("bench: floor: accept: %w", err)
	}
	defer c.Close()
	buf := make([]byte, readSize)
	for {
		_, err := c.Read(buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("bench: floor: receive: %w", err)
		}
	}
}

// sendFile sends n bytes of path, passing over it as often as needed;
// TCPConn.ReadFrom of an *os.File behind an io.LimitedReader is sendfile.
func sendFile(ctx context.Context, addr, path string, n int64) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("bench: floor: dial: %w", err)
	}
	defer c.Close()
	return sendFileOn(ctx, c.(*net.TCPConn), path, n)
}

// sendFileOn sends n bytes of path on tc with sendfile(2), then shuts
// down its write side.
func sendFileOn(ctx context.Context, tc *net.TCPConn, path string, n int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("bench: floor: %w", err)
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("bench: floor: %w", err)
	}
	for n > 0 && ctx.Err() == nil {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("bench: floor: %w", err)
		}
		sent, err := tc.ReadFrom(&io.LimitedReader{R: f, N: min(size, n)})
		if err != nil {
			return fmt.Errorf("bench: floor: sendfile: %w", err)
		}
		n -= sent
	}
	return tc.CloseWrite()
}

func floorResult(kind string, bytes int64, d time.Duration) *Floor {
	f := &Floor{Kind: kind, Bytes: bytes, Seconds: d.Seconds()}
	if f.Seconds > 0 {
		f.MBps = float64(bytes) / (1 << 20) / f.Seconds
	}
	return f
}
