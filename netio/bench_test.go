package netio

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRoundTrip: one connection, one request at a time (latency).
func BenchmarkRoundTrip(b *testing.B) {
	for _, size := range []int{16, 1 << 10} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			h := newTestHandler(b, 4096)
			s := startServer(b, testConfig(), h)
			c := dial(b, s)
			frame := encode(req(opEcho, 1, make([]byte, size)))
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				c.write(frame)
				c.recv()
			}
		})
	}
}

// BenchmarkPipelined: one connection, 64 requests in flight (throughput).
func BenchmarkPipelined(b *testing.B) {
	const depth = 64
	h := newTestHandler(b, 4096)
	s := startServer(b, testConfig(), h)
	c := dial(b, s)
	frames := make([][]byte, depth)
	for i := range frames {
		frames[i] = req(opEcho, uint32(i), make([]byte, 100))
	}
	batch := encode(frames...)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		c.write(batch)
		for range depth {
			c.recv()
		}
	}
}

// BenchmarkFetchRegion: a request answered by a file region, through the
// whole server (frame, handler, writer, sendfile), read and discarded.
func BenchmarkFetchRegion(b *testing.B) {
	for _, size := range []int{1 << 20, 16 << 20} {
		b.Run(fmt.Sprintf("size=%dMiB", size>>20), func(b *testing.B) {
			h := newTestHandler(b, size)
			s := startServer(b, testConfig(), h)
			c := dial(b, s)
			frame := encode(req(opFile, 1, u64(0), u64(uint64(size))))
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				c.write(frame)
				if _, err := io.CopyN(io.Discard, c.r, int64(4+4+size)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRoundTripBaseline is the same exchange against a plain
// goroutine-per-connection echo server: the floor netio is compared with.
func BenchmarkRoundTripBaseline(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		r := bufio.NewReader(nc)
		var hdr [4]byte
		for {
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				return
			}
			body := make([]byte, binary.BigEndian.Uint32(hdr[:]))
			if _, err := io.ReadFull(r, body); err != nil {
				return
			}
			if _, err := nc.Write(encode(body[1:])); err != nil {
				return
			}
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	c := &client{t: b, nc: nc, r: bufio.NewReaderSize(nc, 64<<10)}
	frame := encode(req(opEcho, 1, make([]byte, 16)))
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		c.write(frame)
		c.recv()
	}
}

// BenchmarkManyConns is issue 19's conns-100 row in netio alone: 100
// connections, each keeping 4 small requests in flight (the next sent as
// each response arrives), echoed by the test handler. cpu-ns/req is the
// whole process's CPU (user+system, the clients' included) per request;
// writes/req the response batches per request. quick=true lets the
// request goroutine hold responses before a quick frame.
func BenchmarkManyConns(b *testing.B) {
	for _, quick := range []bool{false, true} {
		b.Run(fmt.Sprintf("quick=%v", quick), func(b *testing.B) {
			const conns, depth = 100, 4
			h := newTestHandler(b, 4096)
			if quick {
				h.quickOps = string(opEcho)
			}
			s := startServer(b, testConfig(), h)
			cs := make([]*client, conns)
			for i := range cs {
				cs[i] = dial(b, s)
			}
			frame := encode(req(opEcho, 1, make([]byte, 100)))
			per := b.N/conns + 1
			st0, cpu0 := s.Stats(), processCPU(b)
			b.ResetTimer()
			errs := make(chan error, conns)
			for _, c := range cs {
				go func() { errs <- c.keepInFlight(frame, depth, per) }()
			}
			for range cs {
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			n := float64(per * conns)
			b.ReportMetric(float64(processCPU(b)-cpu0)/n, "cpu-ns/req")
			st := s.Stats()
			b.ReportMetric(float64(st.InlineBatches+st.WriterBatches-st0.InlineBatches-st0.WriterBatches)/n, "writes/req")
		})
	}
}

// keepInFlight sends frame n times, keeping depth unanswered, and reads
// every response.
func (c *client) keepInFlight(frame []byte, depth, n int) error {
	sent := 0
	for ; sent < depth && sent < n; sent++ {
		if _, err := c.nc.Write(frame); err != nil {
			return err
		}
	}
	for range n {
		if _, err := c.tryRecv(10 * time.Second); err != nil {
			return err
		}
		if sent < n {
			if _, err := c.nc.Write(frame); err != nil {
				return err
			}
			sent++
		}
	}
	return nil
}

// processCPU is the process's user+system CPU time so far, in ns.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
