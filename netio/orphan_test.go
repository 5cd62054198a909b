package netio

import (
	"testing"
)

// A client that sends requests and closes at once (an acks=0 producer
// exiting) still has every whole request served, as Kafka does; the
// responses go nowhere and their regions are released.
func TestRequestsBeforePeerCloseAreServed(t *testing.T) {
	h := newTestHandler(t, 1<<20)
	cfg := testConfig()
	cfg.ConnBudgetBytes = 64 << 10 // most frames wait in gnet's buffer at close
	s := startServer(t, cfg, h)
	const n = 300
	var frames [][]byte
	for i := 0; i < n; i++ {
		if i%3 == 0 {
			frames = append(frames, req(opFile, uint32(i), u64(0), u64(4096)))
		} else {
			frames = append(frames, req(opNil, uint32(i), make([]byte, 2000)))
		}
	}
	c := dial(t, s)
	c.write(encode(frames...))
	c.closeWrite()
	eventually(t, "every request served after the client closed", func() bool { return h.handled.Load() == n })
	eventually(t, "every region released", func() bool { return h.released.Load() == h.acquired.Load() })
	c.nc.Close()
	roundTrip(t, s, h) // and the server goes on
}

// The same when the requests end with a large frame cut short (read
// straight into its own buffer, conn.fillDirect, when the client's EOF
// arrives): the whole requests before it are served, the cut one is not.
func TestRequestsBeforePeerCloseServedWithPartialLargeFrame(t *testing.T) {
	h := newTestHandler(t, 1<<20)
	s := startServer(t, testConfig(), h)
	const n = 20
	var frames [][]byte
	for i := 0; i < n; i++ {
		frames = append(frames, req(opNil, uint32(i), make([]byte, 1000+i)))
	}
	big := encode(req(opNil, n, make([]byte, 4<<20)))
	c := dial(t, s)
	c.write(encode(frames...))
	c.write(big[:len(big)/2])
	c.closeWrite()
	eventually(t, "every whole request served after the client closed", func() bool { return h.handled.Load() == n })
	c.nc.Close()
	eventually(t, "the connection to close", func() bool { return s.Stats().ConnsOpen == 0 })
	if got := h.handled.Load(); got != n {
		t.Fatalf("%d requests handled, want %d (the cut one not)", got, n)
	}
	roundTrip(t, s, h)
}
