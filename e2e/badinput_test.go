package e2e

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// frame prefixes body with its size.
func frame(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// reqHeader is a request header v1 (or v2 with an empty tag section when
// flexible) with client id "e2e".
func reqHeader(key, version int16, corr int32, flexible bool) []byte {
	h := binary.BigEndian.AppendUint16(nil, uint16(key))
	h = binary.BigEndian.AppendUint16(h, uint16(version))
	h = binary.BigEndian.AppendUint32(h, uint32(corr))
	h = binary.BigEndian.AppendUint16(h, 3)
	h = append(h, "e2e"...)
	if flexible {
		h = append(h, 0)
	}
	return h
}

// TestBadInput is the protocol server issue's battery: the daemon meets
// malformed and hostile input on one connection at a time, closes that
// connection (or answers, where Kafka does), and a franz-go client still
// produces and consumes afterwards. At the end SIGTERM exits 0.
func TestBadInput(t *testing.T) {
	d := start(t, t.TempDir())
	const topic = "bad-input"
	requireHealthy(t, d.Addr, topic)

	// closes: the bytes are sent and the daemon must close the connection
	// without answering.
	closes := func(name string, p []byte) {
		t.Helper()
		rc := dialRaw(t, d.Addr)
		rc.write(p)
		rc.expectClosed(name)
		requireHealthy(t, d.Addr, topic)
	}
	closes("2 GiB size prefix", []byte{0x7f, 0xff, 0xff, 0xff})
	closes("size just above 100 MiB", binary.BigEndian.AppendUint32(nil, 100<<20+1))
	closes("negative size -1", []byte{0xff, 0xff, 0xff, 0xff})
	closes("negative size MinInt32", []byte{0x80, 0, 0, 0})
	closes("empty frame", frame(nil))
	closes("short header", frame([]byte{0, 3, 0, 1, 0}))
	closes("client id overruns the frame", frame([]byte{0, 3, 0, 1, 0, 0, 0, 1, 0x7f, 0xff, 'x'}))
	closes("client id length -2", frame([]byte{0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xfe}))
	closes("unknown api key 9999", frame(reqHeader(9999, 0, 1, false)))
	closes("unknown api key -1", frame(reqHeader(-1, 0, 1, false)))
	closes("unsupported Produce version 99", frame(reqHeader(0, 99, 1, false)))
	garbage := []byte{0x7f, 0xff, 0xff}
	for _, c := range []struct {
		name     string
		key, ver int16
		flexible bool
	}{
		{"Produce v3", 0, 3, false}, {"Produce v9", 0, 9, true},
		{"Fetch v4", 1, 4, false}, {"Fetch v12", 1, 12, true},
		{"Metadata v1", 3, 1, false}, {"Metadata v9", 3, 9, true},
	} {
		closes("garbage body for "+c.name, frame(append(reqHeader(c.key, c.ver, 1, c.flexible), garbage...)))
	}
	closes("bad header tags (Metadata v9)", frame(append(reqHeader(3, 9, 1, false), 0x05, 0x01)))

	// Random bytes: whatever they frame, a half-close must end with the
	// daemon closing the connection, and it must stay healthy.
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 30 {
		p := make([]byte, 1+r.IntN(8192))
		for j := range p {
			p[j] = byte(r.UintN(256))
		}
		if i%3 == 1 { // a plausible size prefix, random rest
			binary.BigEndian.PutUint32(p, uint32(r.IntN(len(p)+8)))
		}
		rc := dialRaw(t, d.Addr)
		rc.write(p)
		_ = rc.conn.(*net.TCPConn).CloseWrite()
		rc.drainUntilClosed("random bytes")
	}
	requireHealthy(t, d.Addr, topic)

	// A truncated frame, then close.
	for _, cut := range []int{1, 3, 4, 10, 20} {
		rc := dialRaw(t, d.Addr)
		full := rc.fmt.AppendRequest(nil, kmsg.NewPtrApiVersionsRequest(), 1)
		rc.write(full[:cut])
		rc.conn.Close()
	}
	requireHealthy(t, d.Addr, topic)

	t.Run("Pipelined2000", func(t *testing.T) { testPipelined(t, d.Addr, 2000) })
	t.Run("SlowReader", func(t *testing.T) { testSlowReader(t, d, topic) })
	t.Run("ApiVersionsV99", func(t *testing.T) { testAPIVersionsUnsupported(t, d.Addr) })
	t.Run("HalfOpen200", func(t *testing.T) { testHalfOpen(t, d.Addr, topic, 200) })
	t.Run("BadCRC", func(t *testing.T) { testBadCRC(t, d.Addr) })
	requireHealthy(t, d.Addr, topic)
	d.Stop()
}

// testAPIVersionsUnsupported sends ApiVersions v99: the answer is a
// v0-shaped response with UNSUPPORTED_VERSION (35) and the range of
// ApiVersions alone (KIP-511, as Kafka), and the connection stays usable.
func testAPIVersionsUnsupported(t *testing.T, addr string) {
	rc := dialRaw(t, addr)
	rc.write(frame(append(reqHeader(18, 99, 77, true), 0, 0, 0)))
	f, err := rc.readFrame(nil)
	if err != nil {
		t.Fatalf("ApiVersions v99: no response: %v", err)
	}
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(0)
	resp, err := decodeResponse(req, 77, f)
	if err != nil {
		t.Fatalf("ApiVersions v99: response is not v0-shaped: %v (frame % x)", err, f)
	}
	av := resp.(*kmsg.ApiVersionsResponse)
	if av.ErrorCode != 35 {
		t.Errorf("ApiVersions v99: error code %d, want 35 (UNSUPPORTED_VERSION)", av.ErrorCode)
	}
	ranges := map[int16][2]int16{}
	for _, k := range av.ApiKeys {
		ranges[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	// KIP-511, as Kafka: the range of ApiVersions alone, to retry with.
	if r, ok := ranges[18]; len(ranges) != 1 || !ok || r[0] != 0 || r[1] < 3 {
		t.Errorf("ApiVersions v99 ranges %v, want ApiVersions 0-3 or more alone", ranges)
	}
	ok := kmsg.NewPtrApiVersionsRequest()
	ok.SetVersion(3)
	ok.ClientSoftwareName, ok.ClientSoftwareVersion = "e2e", "1"
	if got := rc.roundTrip(ok).(*kmsg.ApiVersionsResponse); got.ErrorCode != 0 || len(got.ApiKeys) < 20 {
		t.Errorf("ApiVersions v3 after v99: error %d, %d keys", got.ErrorCode, len(got.ApiKeys))
	}
}

// testHalfOpen holds n connections open at once, each with part of a
// frame sent, checks that clients are still served, then closes them.
func testHalfOpen(t *testing.T, addr, topic string, n int) {
	partial := binary.BigEndian.AppendUint32(nil, 100) // more than is ever sent
	partial = append(partial, reqHeader(3, 1, 1, false)...)
	conns := make([]*rawConn, n)
	for i := range conns {
		conns[i] = dialRaw(t, addr)
		conns[i].write(partial[:1+i%len(partial)])
	}
	requireHealthy(t, addr, topic)
	for _, rc := range conns {
		rc.conn.Close()
	}
	requireHealthy(t, addr, topic)
}

// testBadCRC produces a batch whose CRC does not match: the partition
// answers CORRUPT_MESSAGE (2), nothing is appended, and the topic works.
func testBadCRC(t *testing.T, addr string) {
	const topic = "bad-crc"
	rc := dialRaw(t, addr)
	rc.metadataCreate(topic)
	good := encodeBatch(kv{[]byte("k"), []byte("good")})
	bad := encodeBatch(kv{[]byte("k"), []byte("evil")})
	bad[len(bad)-3] ^= 0x20 // in the value: the CRC no longer matches
	produce := func(batch []byte, wantErr int16, wantOffset int64) {
		t.Helper()
		resp := rc.roundTrip(produceReq(7, -1, topic, 0, batch)).(*kmsg.ProduceResponse)
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != wantErr || (wantErr == 0 && p.BaseOffset != wantOffset) {
			t.Fatalf("produce: error %d base offset %d, want error %d offset %d", p.ErrorCode, p.BaseOffset, wantErr, wantOffset)
		}
	}
	produce(good, 0, 0)
	produce(bad, 2, 0)
	produce(good, 0, 1)
	recs := consumeN(t, addr, topic, 2)
	for _, r := range recs {
		if string(r.Value) != "good" {
			t.Errorf("offset %d holds %q, want only the good batches", r.Offset, r.Value)
		}
	}
	requireHealthy(t, addr, topic)
}

// testPipelined writes n requests before reading any answer: they come
// back complete and in request order.
func testPipelined(t *testing.T, addr string, n int) {
	rc := dialRaw(t, addr)
	var all []byte
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(1)
	for i := range n {
		all = append(all, rc.fmt.AppendRequest(nil, req, int32(i+1))...) // AppendRequest sizes from dst[0]
	}
	go func() { _, _ = rc.conn.Write(all) }() // the daemon may answer before all is written
	buf := make([]byte, 0, 4096)
	for i := range n {
		f, err := rc.readFrame(buf)
		if err != nil {
			t.Fatalf("response %d of %d: %v", i+1, n, err)
		}
		if _, err := decodeResponse(req, int32(i+1), f); err != nil {
			t.Fatalf("response %d of %d: %v", i+1, n, err)
		}
	}
}

// testSlowReader pipelines Fetch requests for far more than the
// per-connection budget and never reads: other clients are still served
// and the daemon's memory stays bounded (regions are file references).
func testSlowReader(t *testing.T, d *daemon, topic string) {
	const bulk = "slow-reader"
	produceBulk(t, d.Addr, bulk, 8<<20)
	rss0 := processRSS(t, d.Pid())
	rc := dialRaw(t, d.Addr)
	var all []byte
	for i := range 200 { // 200 × 8 MiB = 1.6 GB of answers, unread
		all = append(all, rc.fmt.AppendRequest(nil, fetchReq(bulk, 0), int32(i+1))...)
	}
	go func() { _, _ = rc.conn.Write(all) }()
	requireHealthy(t, d.Addr, topic)
	rss1 := processRSS(t, d.Pid())
	t.Logf("daemon RSS %d MiB before, %d MiB with a slow reader owing 1.6 GB", rss0>>20, rss1>>20)
	if rss1-rss0 > 256<<20 {
		t.Errorf("daemon RSS grew by %d MiB for one slow reader, want the budget (64 MiB) to bound it", (rss1-rss0)>>20)
	}
	rc.conn.Close()
	requireHealthy(t, d.Addr, topic)
}
