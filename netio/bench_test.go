package netio

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
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
