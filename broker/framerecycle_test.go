package broker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
)

// Produce frames over 256 KiB are mapped outside the Go heap (the broker is
// a netio.FrameRecycler) and must come back on every path, or the mapping
// leaks: served (acks=1, acks=0, pipelined under flush.messages=1),
// refused (an unsupported version), malformed (a body kmsg cannot decode,
// a short header), and queued behind a request that closes the connection.
// Under `go test -tags framecheck` every Produce frame is mapped and made
// inaccessible once recycled, so a use after release faults here.
func TestProduceFramesRecycledOnEveryPath(t *testing.T) {
	ts := startServer(t, "")
	big := map[string]string{"max.message.bytes": "8388608"}
	ts.createTopic(t, "r", 1, big)
	ts.createTopic(t, "rs", 1, map[string]string{"max.message.bytes": "8388608", "flush.messages": "1"})
	inUse0, _ := netio.FrameMemory()
	settled := func(what string) {
		t.Helper()
		waitFor(t, what+": mapped frames back to the free list", 10*time.Second, func() bool {
			inUse, _ := netio.FrameMemory()
			return inUse == inUse0
		})
	}
	batch := makeBatch(noProducer, bytes.Repeat([]byte("v"), 2<<20))
	ok := func(topic string, acks int16) {
		t.Helper()
		rc := dialRaw(t, ts.addr)
		req := produceReq(9, acks, topic, 0, batch)
		corr := rc.send(req)
		if acks == 0 {
			rc.c.Close()
			return
		}
		resp := rc.read(req, corr).(*kmsg.ProduceResponse)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("%s acks=%d: error %d", topic, acks, code)
		}
	}
	ok("r", 1)
	settled("acks=1")
	ok("rs", 1) // pipelined: recycled after the wait
	settled("pipelined")
	ok("r", 0)
	settled("acks=0")

	frame := func(version int16, mangle func([]byte) []byte) []byte {
		req := produceReq(9, 1, "r", 0, batch)
		f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("t")).AppendRequest(nil, req, 1)
		binary.BigEndian.PutUint16(f[6:], uint16(version))
		if mangle != nil {
			f = mangle(f)
		}
		binary.BigEndian.PutUint32(f, uint32(len(f)-4))
		return f
	}
	closed := func(what string, frames ...[]byte) {
		t.Helper()
		rc := dialRaw(t, ts.addr)
		// The broker may close before it has read everything: EPIPE or
		// ECONNRESET is then the expected outcome of the write.
		rc.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := rc.c.Write(bytes.Join(frames, nil)); err != nil &&
			!errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("%s: write: %v", what, err)
		}
		rc.expectClosed()
		settled(what)
	}
	closed("unsupported version", frame(99, nil))
	closed("undecodable body", frame(9, func(f []byte) []byte {
		for i := len(f) - len(batch) - 16; i < len(f)-len(batch); i++ {
			f[i] = 0xff // the topic and partition arrays: lengths kmsg refuses
		}
		return f
	}))
	closed("short header", []byte{0, 0, 0, 4, 0, 0, 0, 9})
	closed("frames queued behind a refused one", frame(99, nil), frame(9, nil), frame(9, nil))
}
