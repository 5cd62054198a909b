package broker

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/segment"
)

// scanRequest builds a Produce request of version v: topics "a"
// (partitions 0 and 1) and "b" (partition 0), each partition's records
// two batches, of n and n/2+1 records of size bytes; flexible versions
// carry unknown tagged fields on each partition and topic and on the
// body.
func scanRequest(v int16, n, size int) *kmsg.ProduceRequest { return scanRequestOf(v, n, size, 2) }

// scanRequestOf is scanRequest with one or two batches per partition
// (Kafka, and the broker's append, take one per partition from v3).
func scanRequestOf(v int16, n, size, batches int) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = v, 1, 5000
	value := bytes.Repeat([]byte("v"), size)
	values := make([][]byte, n)
	for i := range values {
		values[i] = value
	}
	for _, tp := range []struct {
		topic string
		parts []int32
	}{{"a", []int32{0, 1}}, {"b", []int32{0}}} {
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = tp.topic
		for _, p := range tp.parts {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition = p
			rp.Records = makeBatch(noProducer, values...)
			if batches > 1 {
				rp.Records = append(rp.Records, makeBatch(noProducer, values[:n/2+1]...)...)
			}
			if req.IsFlexible() {
				rp.UnknownTags.Set(7, []byte("partition tag"))
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		if req.IsFlexible() {
			rt.UnknownTags.Set(3, bytes.Repeat([]byte{0xff}, 200))
			rt.UnknownTags.Set(9, nil)
		}
		req.Topics = append(req.Topics, rt)
	}
	if req.IsFlexible() {
		req.UnknownTags.Set(1, []byte{1, 2, 3})
	}
	return req
}

// encodeFrame is req as netio hands it to the Handler: the frame without
// its size prefix.
func encodeFrame(req kmsg.Request) []byte {
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("scan-test")).AppendRequest(nil, req, 9)[4:]
}

// scanInPieces feeds frame to a produceScan as netio does, in pieces of
// 1 to piece bytes.
func scanInPieces(frame []byte, piece int, rng *rand.Rand) *produceScan {
	s := &produceScan{}
	for n := 0; n < len(frame); {
		n = min(len(frame), n+1+rng.IntN(piece))
		s.Arrived(frame, n)
	}
	return s
}

// framePartitions decodes frame as dispatchProduce does and returns each
// partition's records (sub-slices of frame).
func framePartitions(t testing.TB, frame []byte) [][]byte {
	t.Helper()
	h, body, err := parseHeader(frame)
	if err != nil {
		t.Fatal(err)
	}
	pc := &produceCall{}
	if err := pc.decode(h, body); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, rt := range pc.req.Topics {
		for _, rp := range rt.Partitions {
			out = append(out, rp.Records)
		}
	}
	return out
}

// splitErr is segment.SplitPrechecked's outcome as text ("" for none).
func splitErr(records []byte, pre segment.Prechecks) (string, int) {
	found := 0
	if pre != nil {
		pre = countingChecks{pre, &found}
	}
	err := segment.SplitPrechecked(records, pre, func([]byte, segment.Header) error { return nil })
	if err == nil {
		return "", found
	}
	return err.Error(), found
}

type countingChecks struct {
	segment.Prechecks
	n *int
}

func (c countingChecks) Precheck(b []byte) (segment.StreamResult, bool) {
	r, ok := c.Prechecks.Precheck(b)
	if ok {
		*c.n++
	}
	return r, ok
}

// Every batch of every version the scan walks (v3-12, flexible from v9
// with tagged fields at every level) is found by its place in the frame,
// however the frame arrives in pieces; a copy of a batch is not.
func TestProduceScanFindsEveryBatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for v := int16(3); v <= 12; v++ {
		frame := encodeFrame(scanRequest(v, 5, 300))
		for _, piece := range []int{1, 13, 1000, len(frame)} {
			s := scanInPieces(frame, piece, rng)
			parts := framePartitions(t, frame)
			if len(parts) != 3 {
				t.Fatalf("v%d: %d partitions", v, len(parts))
			}
			for i, records := range parts {
				msg, found := splitErr(records, s)
				if msg != "" || found != 2 {
					t.Fatalf("v%d piece %d partition %d: %q, %d of 2 batches found", v, piece, i, msg, found)
				}
				if _, found := splitErr(bytes.Clone(records), s); found != 0 {
					t.Fatalf("v%d: a copy of the records found %d results", v, found)
				}
			}
		}
	}
}

// A scan gives up on what it does not walk — a v0-2 request, a frame
// cut short, lengths past the frame — finding nothing for the batches
// concerned, while those it checked before keep their results.
func TestProduceScanGivesUp(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	found := func(frame []byte) int {
		s := scanInPieces(frame, 100, rng)
		return len(s.checked)
	}
	if n := found(encodeFrame(scanRequest(2, 5, 300))); n != 0 {
		t.Fatalf("v2: %d batches checked", n)
	}
	full := encodeFrame(scanRequest(7, 5, 300))
	if n := found(full); n != 6 {
		t.Fatalf("v7: %d of 6 batches checked", n)
	}
	// The connection closes inside the third partition's second batch:
	// five batches arrived whole.
	parts := framePartitions(t, full)
	cut := offsetIn(full, parts[2]) + len(parts[2]) - 10
	s := &produceScan{}
	for n := 0; n < cut; {
		n = min(cut, n+1+rng.IntN(100))
		s.Arrived(full, n)
	}
	if n := len(s.checked); n != 5 {
		t.Fatalf("cut mid-batch: %d of 5 batches checked", n)
	}
	// A records field that ends inside its last batch: that batch is
	// left to the append path (which says CORRUPT_MESSAGE).
	short := scanRequest(7, 5, 300)
	rp := &short.Topics[1].Partitions[0]
	rp.Records = rp.Records[:len(rp.Records)-10]
	if n := found(encodeFrame(short)); n != 5 {
		t.Fatalf("records field cut mid-batch: %d of 5 batches checked", n)
	}
	// The second partition's records length says more than the frame
	// holds: its batches and all after are left to the append path.
	bad := bytes.Clone(full)
	at := offsetIn(full, parts[1]) - 4
	bad[at] = 0x7f
	if n := found(bad); n != 2 {
		t.Fatalf("records length past the frame: %d of 2 batches checked", n)
	}
}

// offsetIn is where sub (a sub-slice of frame) starts in frame.
func offsetIn(frame, sub []byte) int {
	for i := range frame {
		if len(frame[i:]) >= len(sub) && &frame[i] == &sub[0] {
			return i
		}
	}
	panic("not a sub-slice")
}

// A bad CRC in the second batch of the second partition: the scan's CRC
// does not match the header, so the append path computes it again and
// fails with the error Split gives without a scan.
func TestProduceScanBadCRCInSecondBatch(t *testing.T) {
	frame := encodeFrame(scanRequest(9, 5, 300))
	parts := framePartitions(t, frame)
	second, err := secondBatch(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	second[len(second)-1] ^= 0x40
	s := scanInPieces(frame, 64, rand.New(rand.NewPCG(7, 8)))
	for i, records := range parts {
		msg, found := splitErr(records, s)
		plain, _ := splitErr(records, nil)
		if msg != plain || found != 2 {
			t.Fatalf("partition %d: %q (%d found), without scan %q", i, msg, found, plain)
		}
		if (i == 1) != strings.Contains(msg, "crc mismatch") {
			t.Fatalf("partition %d: %q", i, msg)
		}
	}
}

// secondBatch returns the second batch of records (a sub-slice).
func secondBatch(records []byte) ([]byte, error) {
	h, err := segment.ParseHeader(records)
	if err != nil {
		return nil, err
	}
	return records[h.Size():], nil
}

// FuzzProduceScan: for any bytes arriving in any pieces the scan neither
// panics nor changes an outcome: every batch it found validates (or
// fails, with the same error) as without it.
func FuzzProduceScan(f *testing.F) {
	for _, v := range []int16{3, 8, 9, 12} {
		f.Add(encodeFrame(scanRequest(v, 2, 20)), uint16(7), uint64(v))
	}
	f.Add([]byte{0, 0, 0, 9}, uint16(1), uint64(0))
	f.Fuzz(func(t *testing.T, frame []byte, piece uint16, seed uint64) {
		if len(frame) == 0 {
			return
		}
		s := scanInPieces(frame, max(int(piece), 1), rand.New(rand.NewPCG(seed, 1)))
		end := 0
		for _, c := range s.checked {
			if c.off < end || c.off+c.size > len(frame) {
				t.Fatalf("check %+v out of order or past the frame (%d bytes)", c, len(frame))
			}
			end = c.off + c.size
			batch := frame[c.off:end]
			msg, found := splitErr(batch, s)
			plain, _ := splitErr(batch, nil)
			if msg != plain || found != 1 {
				t.Fatalf("batch at %d: %q (found %d), without scan %q", c.off, msg, found, plain)
			}
		}
	})
}

// Over a real socket: a Produce frame large enough to be read in pieces
// is scanned as it arrives and its batches' checks are used; a bad CRC in
// the frame's second batch (its second partition), and a batch cut short
// by its records field, give CORRUPT_MESSAGE for their partitions alone; a
// connection closed mid-frame leaves no frame behind; a v2 request (not
// scanned) is served as before.
func TestProduceScanOverSocket(t *testing.T) {
	ts := startServer(t, "")
	ts.createTopic(t, "a", 2, nil)
	ts.createTopic(t, "b", 1, nil)
	var mu sync.Mutex
	var seen []int // batches checked per Produce frame, -1: no scan
	hook := func(pre segment.Prechecks) {
		mu.Lock()
		defer mu.Unlock()
		if s, ok := pre.(*produceScan); ok {
			seen = append(seen, len(s.checked))
		} else {
			seen = append(seen, -1)
		}
	}
	produceScanned.Store(&hook)
	t.Cleanup(func() { produceScanned.Store(nil) })
	last := func() int {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) == 0 {
			return -2
		}
		return seen[len(seen)-1]
	}
	codes := func(req *kmsg.ProduceRequest) []int16 {
		t.Helper()
		resp := dialRaw(t, ts.addr).roundTrip(req).(*kmsg.ProduceResponse)
		var out []int16
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				out = append(out, rp.ErrorCode)
			}
		}
		return out
	}
	corrupt := kerr.CorruptMessage.Code
	f := func(what string, req *kmsg.ProduceRequest, wantScan int, want ...int16) {
		t.Helper()
		got := codes(req)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: codes %v, want %v", what, got, want)
		}
		if n := last(); n != wantScan {
			t.Fatalf("%s: %d batches checked as the frame arrived, want %d", what, n, wantScan)
		}
	}
	// 3 partitions x 300 records of 1 KiB: about 900 KiB, one batch per
	// partition (what clients send, and all Kafka takes from v3).
	one := func(v int16) *kmsg.ProduceRequest { return scanRequestOf(v, 300, 1024, 1) }
	f("v9", one(9), 3, 0, 0, 0)
	f("v3", one(3), 3, 0, 0, 0)

	req := one(12)
	req.Topics[0].Partitions[1].Records[100] ^= 1
	f("bad CRC in the second batch of the frame (second partition)", req, 3, 0, corrupt, 0)

	req = one(9)
	rp := &req.Topics[1].Partitions[0]
	rp.Records = rp.Records[:len(rp.Records)-10]
	f("last batch cut short by its records field", req, 2, 0, 0, corrupt)

	f("v2: not scanned", one(2), 0, 0, 0, 0)

	// A connection closed with half a frame sent: the frame is dropped
	// (and recycled), nothing is handled.
	inUse0, _ := netio.FrameMemory()
	handled := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	}
	n := handled()
	rc := dialRaw(t, ts.addr)
	whole := rc.fmt.AppendRequest(nil, one(9), 1)
	rc.write(whole[:len(whole)/2])
	rc.c.Close()
	waitFor(t, "the half frame recycled", 10*time.Second, func() bool {
		inUse, _ := netio.FrameMemory()
		return inUse == inUse0
	})
	f("after the cut frame", one(9), 3, 0, 0, 0)
	if got := handled(); got != n+1 {
		t.Fatalf("%d Produce frames handled since the cut one, want 1", got-n)
	}
}
