package broker

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os/exec"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/segment"
)

// The legacy message format built and parsed by hand here, apart from
// segment/legacy.go, so that a shared misreading of the format shows.

// legacyMsg is one magic 0/1 message.
type legacyMsg struct {
	offset    int64
	magic     int8
	attrs     int8
	timestamp int64
	key       []byte // nil: null
	value     []byte
}

// encode appends the entry: offset, size, crc (IEEE over magic..end),
// magic, attributes, [timestamp], key, value.
func (m legacyMsg) encode(dst []byte) []byte {
	var body []byte
	body = append(body, byte(m.magic), byte(m.attrs))
	if m.magic == 1 {
		body = binary.BigEndian.AppendUint64(body, uint64(m.timestamp))
	}
	for _, b := range [][]byte{m.key, m.value} {
		if b == nil {
			body = binary.BigEndian.AppendUint32(body, 0xffffffff)
			continue
		}
		body = binary.BigEndian.AppendUint32(body, uint32(len(b)))
		body = append(body, b...)
	}
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.offset))
	dst = binary.BigEndian.AppendUint32(dst, uint32(4+len(body)))
	dst = binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(body))
	return append(dst, body...)
}

// gzipWrapper wraps inner (a message set) in one gzip-compressed message.
func gzipWrapper(t *testing.T, magic int8, offset, ts int64, inner []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(inner); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return legacyMsg{offset: offset, magic: magic, attrs: segment.CodecGzip, timestamp: ts, value: buf.Bytes()}.encode(nil)
}

// parseLegacySet parses an uncompressed message set (what down-conversion
// sends) and checks every CRC.
func parseLegacySet(t *testing.T, set []byte) []legacyMsg {
	t.Helper()
	var out []legacyMsg
	for len(set) > 0 {
		if len(set) < 12 {
			t.Fatalf("%d trailing bytes", len(set))
		}
		m := legacyMsg{offset: int64(binary.BigEndian.Uint64(set)), timestamp: -1}
		size := int(binary.BigEndian.Uint32(set[8:]))
		body := set[12 : 12+size]
		set = set[12+size:]
		if binary.BigEndian.Uint32(body) != crc32.ChecksumIEEE(body[4:]) {
			t.Fatalf("offset %d: bad crc", m.offset)
		}
		m.magic, m.attrs = int8(body[4]), int8(body[5])
		rest := body[6:]
		if m.magic == 1 {
			m.timestamp = int64(binary.BigEndian.Uint64(rest))
			rest = rest[8:]
		}
		read := func() []byte {
			n := int32(binary.BigEndian.Uint32(rest))
			rest = rest[4:]
			if n < 0 {
				return nil
			}
			b := rest[:n]
			rest = rest[n:]
			return b
		}
		m.key, m.value = read(), read()
		out = append(out, m)
	}
	return out
}

// TestLegacyProduceRoundTrip: Produce v0-2 with magic 0/1 message sets
// (plain and gzip-wrapped) is stored as RecordBatch v2 (keeping gzip) and
// read back by a modern franz-go consumer; Fetch v0 and v3 read every
// record, the v2 batch franz-go produced too, down-converted.
func TestLegacyProduceRoundTrip(t *testing.T) {
	ts := startServer(t, "")
	const topic = "legacy"
	ts.createTopic(t, topic, 1, nil)
	rc := dialRaw(t, ts.addr)

	var want []string
	next := func() string { v := fmt.Sprintf("value-%d", len(want)); want = append(want, v); return v }
	plain := func(magic int8, n int) []byte {
		var set []byte
		for i := range n {
			set = legacyMsg{offset: int64(i), magic: magic, timestamp: 5000 + int64(len(want)),
				key: []byte("k"), value: []byte(next())}.encode(set)
		}
		return set
	}
	wrapped := func(magic int8, n int) []byte {
		var inner []byte
		for i := range n {
			off := int64(i) // magic 1: relative; magic 0: absolute (the client's guess)
			inner = legacyMsg{offset: off, magic: magic, timestamp: 5000 + int64(len(want)), value: []byte(next())}.encode(inner)
		}
		return gzipWrapper(t, magic, int64(n-1), 9000, inner)
	}
	sets := []struct {
		version int16
		set     []byte
		codec   int
	}{
		{0, plain(0, 2), segment.CodecNone},
		{1, plain(0, 1), segment.CodecNone},
		{2, plain(1, 3), segment.CodecNone},
		{1, wrapped(0, 2), segment.CodecGzip},
		{2, wrapped(1, 4), segment.CodecGzip},
	}
	var base int64
	for _, s := range sets {
		resp := rc.roundTrip(produceReq(s.version, 1, topic, 0, s.set)).(*kmsg.ProduceResponse)
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.BaseOffset != base {
			t.Fatalf("produce v%d: error %v base offset %d, want %d", s.version, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset, base)
		}
		msgs, _ := parseLegacySetDeep(t, s.set)
		base += int64(len(msgs))
	}
	// A modern producer's RecordBatch v2 after them.
	cl := newKgo(t, ts.addr, kgo.DefaultProduceTopic(topic), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx := testCtx(t)
	if err := cl.ProduceSync(ctx, kgo.StringRecord(next())).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// Stored batches are v2 and keep the producer's codec.
	checkStoredCodecs(t, rc, topic, []int{0, 0, 0, segment.CodecGzip, segment.CodecGzip, -1})

	// A modern consumer reads every record in order.
	for i, r := range consumeN(ctx, t, cl, len(want)) {
		if r.Offset != int64(i) || string(r.Value) != want[i] {
			t.Fatalf("record %d: offset %d %q, want %q", i, r.Offset, r.Value, want[i])
		}
	}

	// Fetch v0 (magic 0) and v3 (magic 1) read them down-converted, the
	// two gzip batches as gzip wrappers.
	for _, v := range []int16{0, 3} {
		msgs, wrappers := parseLegacySetDeep(t, fetchLegacy(t, rc, v, topic, 0))
		if len(msgs) != len(want) || wrappers != 2 {
			t.Fatalf("fetch v%d: %d messages in %d wrappers, want %d in 2", v, len(msgs), wrappers, len(want))
		}
		for i, m := range msgs {
			wantMagic := int8(0)
			if v >= 2 {
				wantMagic = 1
			}
			if m.offset != int64(i) || m.magic != wantMagic || m.attrs&7 != 0 || string(m.value) != want[i] {
				t.Fatalf("fetch v%d message %d: %+v, want value %q magic %d", v, i, m, want[i], wantMagic)
			}
			if v == 3 && i >= 3 && i < 6 && m.timestamp != 5000+int64(i) {
				t.Fatalf("fetch v3 message %d: timestamp %d, want %d", i, m.timestamp, 5000+i)
			}
		}
	}
	// From an offset inside the gzip batch: the whole batch comes back.
	if msgs, _ := parseLegacySetDeep(t, fetchLegacy(t, rc, 2, topic, 7)); len(msgs) == 0 || msgs[0].offset > 7 {
		t.Fatalf("fetch v2 from 7: %+v", msgs)
	}
	tr := ts.Broker().Traffic()[topic]
	if tr.ConvertedIn == 0 || tr.ConvertedOut == 0 {
		t.Fatalf("conversion counters %+v", tr)
	}
}

// parseLegacySetDeep parses a message set, unwrapping gzip wrappers
// (magic 1 inner offsets are relative to the wrapper's, which is the
// last's); wrappers is how many there were.
func parseLegacySetDeep(t *testing.T, set []byte) (msgs []legacyMsg, wrappers int) {
	t.Helper()
	for _, m := range parseLegacySet(t, set) {
		if m.attrs&7 == 0 {
			msgs = append(msgs, m)
			continue
		}
		if m.attrs&7 != segment.CodecGzip {
			t.Fatalf("wrapper codec %d", m.attrs&7)
		}
		wrappers++
		zr, err := gzip.NewReader(bytes.NewReader(m.value))
		if err != nil {
			t.Fatal(err)
		}
		var inner bytes.Buffer
		if _, err := inner.ReadFrom(zr); err != nil {
			t.Fatal(err)
		}
		in := parseLegacySet(t, inner.Bytes())
		for i := range in {
			if m.magic == 1 {
				in[i].offset += m.offset - int64(len(in)-1)
			}
		}
		msgs = append(msgs, in...)
	}
	return msgs, wrappers
}

// fetchLegacy fetches partition 0 of topic from offset with Fetch
// version (< 4) and returns the message set.
func fetchLegacy(t *testing.T, rc *rawConn, version int16, topic string, offset int64) []byte {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes = version, -1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes = offset, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := rc.roundTrip(req).(*kmsg.FetchResponse)
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("fetch v%d: %v", version, kerr.ErrorForCode(p.ErrorCode))
	}
	return p.RecordBatches
}

// checkStoredCodecs fetches with v11 and checks each stored batch's codec
// (-1: any).
func checkStoredCodecs(t *testing.T, rc *rawConn, topic string, want []int) {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes = 11, -1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	b := rc.roundTrip(req).(*kmsg.FetchResponse).Topics[0].Partitions[0].RecordBatches
	var got []int
	for len(b) > 0 {
		h, err := segment.ParseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := segment.Validate(b[:h.Size()]); err != nil {
			t.Fatalf("stored batch at %d: %v", h.BaseOffset, err)
		}
		got = append(got, h.Compression())
		b = b[h.Size():]
	}
	if len(got) != len(want) {
		t.Fatalf("stored codecs %v, want %v", got, want)
	}
	for i := range want {
		if want[i] >= 0 && got[i] != want[i] {
			t.Fatalf("stored codecs %v, want %v", got, want)
		}
	}
}

// TestLegacyProduceErrors: a malformed legacy set is CORRUPT_MESSAGE, a
// legacy set in Produce v3+ INVALID_RECORD; neither appends anything.
func TestLegacyProduceErrors(t *testing.T) {
	ts := startServer(t, "")
	ts.createTopic(t, "bad", 1, nil)
	rc := dialRaw(t, ts.addr)
	good := legacyMsg{magic: 1, value: []byte("v")}.encode(nil)
	f := func(name string, set []byte) {
		t.Helper()
		p := rc.roundTrip(produceReq(2, 1, "bad", 0, set)).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
		if p.ErrorCode != kerr.CorruptMessage.Code {
			t.Errorf("%s: %v, want CORRUPT_MESSAGE", name, kerr.ErrorForCode(p.ErrorCode))
		}
	}
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-1] ^= 1
	f("bad crc", badCRC)
	f("truncated", good[:len(good)-2])
	f("trailing bytes", append(bytes.Clone(good), 0, 0, 0))
	for _, v := range []int16{3, 9} {
		p := rc.roundTrip(produceReq(v, 1, "bad", 0, good)).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
		if p.ErrorCode != kerr.InvalidRecord.Code {
			t.Errorf("legacy set in produce v%d: %v, want INVALID_RECORD", v, kerr.ErrorForCode(p.ErrorCode))
		}
	}
	if hw := ts.Broker().topics.get("bad").partition(0).HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d after rejected sets", hw)
	}
}

// TestListOffsetsV0: the old offsets array (sarama before V0_10_1_0,
// Burrow).
func TestListOffsetsV0(t *testing.T) {
	ts := startServer(t, "")
	ts.createTopic(t, "lo", 1, nil)
	rc := dialRaw(t, ts.addr)
	set := legacyMsg{magic: 0, value: []byte("a")}.encode(nil)
	set = legacyMsg{offset: 1, magic: 0, value: []byte("b")}.encode(set)
	if p := rc.roundTrip(produceReq(0, 1, "lo", 0, set)).(*kmsg.ProduceResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(p.ErrorCode))
	}
	f := func(ts int64, maxN int32, want string) {
		t.Helper()
		req := kmsg.NewPtrListOffsetsRequest()
		req.Version, req.ReplicaID = 0, -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "lo"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp, rp.MaxNumOffsets = ts, maxN
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		p := rc.roundTrip(req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
		if p.ErrorCode != 0 || fmt.Sprint(p.OldStyleOffsets) != want {
			t.Errorf("timestamp %d max %d: %v %v, want %s", ts, maxN, kerr.ErrorForCode(p.ErrorCode), p.OldStyleOffsets, want)
		}
	}
	f(-1, 1, "[2]")
	f(-2, 1, "[0]")
	f(-1, 0, "[]")
}

// TestKcatCompression: Debian's kcat (librdkafka 2.0) decides codec
// support from the advertised Produce/Fetch ranges (MsgVer1 needs Produce
// v2, zstd Produce v7); with Produce from v0 it compresses, and the stored
// batches carry its codec. Skipped without kcat on the PATH.
func TestKcatCompression(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed")
	}
	ts := startServer(t, "")
	rc := dialRaw(t, ts.addr)
	for codec := segment.CodecGzip; codec <= segment.CodecZstd; codec++ {
		name := segment.CodecName(codec)
		topic := "kcat-" + name
		ts.createTopic(t, topic, 1, nil)
		ctx := testCtx(t)
		cmd := exec.CommandContext(ctx, kcat, "-P", "-b", ts.addr, "-t", topic, "-p", "0", "-z", name,
			"-X", "linger.ms=50")
		cmd.Stdin = strings.NewReader(strings.Repeat("a fairly compressible line of text\n", 50))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kcat -z %s: %v\n%s", name, err, out)
		}
		checkStoredCodecs(t, rc, topic, []int{codec})
	}
}

// TestOldestVersionsOfGroupAPIs: Metadata v0 lists every topic for an
// empty array; OffsetCommit v0 (ZooKeeper-stored in old Kafka) is stored
// like v1+ and read back by OffsetFetch v0 and v1.
func TestOldestVersionsOfGroupAPIs(t *testing.T) {
	ts := startGroupServer(t, "")
	ts.createTopic(t, "old", 2, nil)
	rc := dialRaw(t, ts.addr)
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 0
	mresp := rc.roundTrip(md).(*kmsg.MetadataResponse)
	found := false
	for _, mt := range mresp.Topics {
		found = found || (mt.Topic != nil && *mt.Topic == "old" && len(mt.Partitions) == 2)
	}
	if !found || len(mresp.Brokers) != 1 {
		t.Fatalf("metadata v0: %+v", mresp)
	}
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version, commit.Group = 0, "old-group"
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic = "old"
	cp := kmsg.NewOffsetCommitRequestTopicPartition()
	cp.Partition, cp.Offset = 1, 42
	ct.Partitions = append(ct.Partitions, cp)
	commit.Topics = append(commit.Topics, ct)
	if code := rc.roundTrip(commit).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("commit v0: %v", kerr.ErrorForCode(code))
	}
	for _, v := range []int16{0, 1} {
		fetch := kmsg.NewPtrOffsetFetchRequest()
		fetch.Version, fetch.Group = v, "old-group"
		ft := kmsg.NewOffsetFetchRequestTopic()
		ft.Topic, ft.Partitions = "old", []int32{0, 1}
		fetch.Topics = append(fetch.Topics, ft)
		ps := rc.roundTrip(fetch).(*kmsg.OffsetFetchResponse).Topics[0].Partitions
		if len(ps) != 2 || ps[0].Offset != -1 || ps[1].Offset != 42 || ps[1].ErrorCode != 0 {
			t.Fatalf("offset fetch v%d: %+v", v, ps)
		}
	}
}
