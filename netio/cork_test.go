package netio

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sluice/sluice/sendfile"
)

// sockInfo reads the server side of c's socket: its TCP_CORK flag and
// the data segments it has sent.
func sockInfo(t *testing.T, c *conn) (cork int, dataSegs uint32) {
	t.Helper()
	var err error
	if cerr := c.raw.Control(func(fd uintptr) {
		if cork, err = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_CORK); err != nil {
			return
		}
		var info *unix.TCPInfo
		if info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			dataSegs = info.Data_segs_out
		}
	}); cerr != nil {
		t.Fatal(cerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	return cork, dataSegs
}

// A response that mixes byte runs and file regions leaves in one TCP
// segment when it fits in one (the writer corks the socket around the
// batch), not one per run and per region; the cork is off once the
// batch is written, so the next response is not held.
func TestRegionsLeaveInFewSegments(t *testing.T) {
	h := newTestHandler(t, 1<<20)
	s := startServer(t, testConfig(), h)
	c := dial(t, s)
	first := req(opEcho, 1, []byte("hello"))
	c.send(first)
	if got, want := c.recv(), h.want(first); !bytes.Equal(got, want) {
		t.Fatalf("first response: got %q, want %q", got, want)
	}
	sc := onlyConn(s)
	for _, tc := range []struct {
		n        uint64
		maxSegs  uint32 // data segments the response may take; 0: not checked
		describe string
	}{
		// Six runs (size and id, "<", 100 bytes, ">", 50 bytes, "!"):
		// one segment when corked, five or more without.
		{100, 1, "a small mixed response"},
		// 300 KiB of regions: mostly full segments either way; the
		// cork must still be off once they are sent.
		{200 << 10, 0, "a large mixed response"},
	} {
		_, before := sockInfo(t, sc)
		r := req(opMixed, 7, u64(4096), u64(tc.n))
		c.send(r)
		if got, want := c.recv(), h.want(r); !bytes.Equal(got, want) {
			t.Fatalf("%s: got %d bytes, want %d", tc.describe, len(got), len(want))
		}
		cork, after := sockInfo(t, sc)
		if cork != 0 {
			t.Fatalf("%s: TCP_CORK is %d after the response was sent; want 0", tc.describe, cork)
		}
		if segs := after - before; tc.maxSegs != 0 && segs > tc.maxSegs {
			t.Errorf("%s: %d data segments; want at most %d", tc.describe, segs, tc.maxSegs)
		}
	}
	// Bytes alone are not corked, and still arrive.
	r := req(opEcho, 8, []byte("after"))
	c.send(r)
	if got, want := c.recv(), h.want(r); !bytes.Equal(got, want) {
		t.Fatalf("echo after regions: got %q, want %q", got, want)
	}
}

// A batch is corked only when its file regions average under
// corkRegionMax: a consumer catching up gets MiB regions, which leave in
// full segments without the cork, and corking them cost the broker more
// CPU per GB.
func TestSmallRegionsDecidesTheCork(t *testing.T) {
	resp := func(regions ...int64) outItem {
		r := &Response{}
		r.AppendBytes([]byte("framing"))
		for _, n := range regions {
			r.AppendRegion(sendfile.Region{Len: n})
		}
		return outItem{resp: r}
	}
	for _, tc := range []struct {
		batch []outItem
		want  bool
	}{
		{[]outItem{resp()}, false},                           // bytes only
		{[]outItem{resp(300, 200, 500)}, true},               // a Fetch at the log's end
		{[]outItem{resp(2<<20, 2<<20, 2<<20, 2<<20)}, false}, // catching up
		{[]outItem{resp(corkRegionMax)}, false},
		{[]outItem{resp(corkRegionMax - 1)}, true},
		{[]outItem{resp(1 << 20), resp(100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100)}, true}, // averaged over the batch
		{[]outItem{{closeAfter: true}}, false},
	} {
		if got := smallRegions(tc.batch); got != tc.want {
			t.Errorf("smallRegions(%d items) = %v, want %v", len(tc.batch), got, tc.want)
		}
	}
}
