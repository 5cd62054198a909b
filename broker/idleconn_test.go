package broker

import (
	"io"
	"net"
	"testing"
	"time"
)

// idlePair is a loopback TCP connection: its client and server ends.
func idlePair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

// TestIdleWatchHandsBackALiveConnection: a watched connection taken back
// carries the next exchange as if never watched, however often it rests,
// and with the deadline a round trip left on it expired meanwhile.
func TestIdleWatchHandsBackALiveConnection(t *testing.T) {
	c, s := idlePair(t)
	go func() { _, _ = io.Copy(s, s) }() // echo
	for i := range 5 {
		_ = c.SetDeadline(time.Now().Add(20 * time.Millisecond)) // as roundTripWithin leaves it
		w := watchIdle(c)
		time.Sleep(50 * time.Millisecond) // past that deadline: the watcher must not give up
		got := w.take()
		if got != c {
			t.Fatalf("rest %d: take gave %v, want the connection", i, got)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		msg := []byte{byte('a' + i), 'b'}
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("rest %d: write: %v", i, err)
		}
		buf := make([]byte, 2)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != string(msg) {
			t.Fatalf("rest %d: read %q, %v", i, buf, err)
		}
	}
}

// TestIdleWatchClosesOnThePeersFIN: a peer closing (a broker shutting
// down) or sending what nobody asked for while the connection rests gets
// it closed at once; take then says so.
func TestIdleWatchClosesOnThePeersFIN(t *testing.T) {
	for _, tc := range []struct {
		name string
		peer func(net.Conn)
	}{
		{"FIN", func(s net.Conn) { _ = s.(*net.TCPConn).CloseWrite() }},
		{"stray byte", func(s net.Conn) { _, _ = s.Write([]byte{0}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, s := idlePair(t)
			w := watchIdle(c)
			tc.peer(s)
			// The server end sees our close without any request of ours.
			_ = s.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := s.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("server end read %d, %v: want EOF (the watcher closing the connection)", n, err)
			}
			if got := w.take(); got != nil {
				t.Fatal("take gave back a connection its peer closed")
			}
		})
	}
}
