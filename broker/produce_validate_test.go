package broker

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/segment"
)

// shapedBatch encodes a RecordBatch v2 of values whose header shape mod
// may change after the records are encoded; the CRC is computed last, so
// the batch is intact whatever mod did (the CRC does not cover baseOffset
// nor partitionLeaderEpoch anyway).
func shapedBatch(mod func(b *kmsg.RecordBatch, recs []kmsg.Record), values ...[]byte) []byte {
	ts := time.Now().UnixMilli()
	var rs []kmsg.Record
	for i, v := range values {
		rs = append(rs, kmsg.Record{OffsetDelta: int32(i), Key: []byte("k"), Value: v})
	}
	b := kmsg.RecordBatch{
		Magic: 2, LastOffsetDelta: int32(len(values) - 1), FirstTimestamp: ts, MaxTimestamp: ts,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(len(values)),
	}
	if mod != nil {
		mod(&b, rs)
	}
	var body []byte
	for _, r := range rs {
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		body = r.AppendTo(body)
	}
	b.Records = body
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

// Kafka's broker refuses a client's v2 batch whose header is not what a
// producer writes (ProduceRequest.validateRecords,
// UnifiedLog.analyzeAndValidateRecords and LogValidator.validateBatch /
// validateTimestamp for an append whose origin is a client): each case
// gets Kafka's error code (and the text of Kafka's exception as the
// message), and nothing is appended.
func TestProduceBatchShapeRefused(t *testing.T) {
	ts := startServer(t, "")
	ts.createTopic(t, "t", 1, nil)
	ts.createTopic(t, "lat", 1, map[string]string{"message.timestamp.type": "LogAppendTime"})
	rc := dialRaw(t, ts.addr)
	f := func(name string, version int16, topic string, records []byte, code int16, msg string) {
		t.Helper()
		got := produceOne(t, rc, produceReq(version, 1, topic, 0, records))
		gotMsg := ""
		if got.ErrorMessage != nil {
			gotMsg = *got.ErrorMessage
		}
		if got.ErrorCode != code || msg != "" && gotMsg != msg {
			t.Errorf("%s: error %d (%v) %q, want %d (%v) %q", name, got.ErrorCode, kerr.ErrorForCode(got.ErrorCode), gotMsg,
				code, kerr.ErrorForCode(code), msg)
		}
	}
	type shape = func(b *kmsg.RecordBatch, recs []kmsg.Record)
	a := []byte("a")
	batch := func(mod shape, n int) []byte {
		vs := make([][]byte, n)
		for i := range vs {
			vs[i] = a
		}
		return shapedBatch(mod, vs...)
	}
	invalid, badTS := kerr.InvalidRecord.Code, kerr.InvalidTimestamp.Code

	f("base offset 5", 9, "t", batch(func(b *kmsg.RecordBatch, _ []kmsg.Record) { b.FirstOffset = 5 }, 2),
		invalid, "The baseOffset of the record batch in the append to t-0 should be 0, but it is 5")
	f("base offset -1, v3", 3, "t", batch(func(b *kmsg.RecordBatch, _ []kmsg.Record) { b.FirstOffset = -1 }, 1),
		invalid, "") // no ErrorMessage before v8
	f("base offset 5 on v2", 2, "t", batch(func(b *kmsg.RecordBatch, _ []kmsg.Record) { b.FirstOffset = 5 }, 1), invalid, "")
	tooBig := batch(func(b *kmsg.RecordBatch, recs []kmsg.Record) {
		b.FirstOffset = 7
		recs[0].Value = make([]byte, 1<<20+100)
	}, 1)
	f("base offset before size", 9, "t", tooBig, invalid, "The baseOffset of the record batch in the append to t-0 should be 0, but it is 7")

	f("no records", 9, "t", batch(func(b *kmsg.RecordBatch, _ []kmsg.Record) { b.NumRecords, b.LastOffsetDelta = 0, -1 }, 0),
		invalid, "Batch has an invalid offset range: [0, -1] in topic partition t-0")
	f("count 0", 9, "t", batch(func(b *kmsg.RecordBatch, _ []kmsg.Record) { b.NumRecords = 0 }, 2),
		invalid, "Invalid reported count for record batch: 0 in topic partition t-0")
	f("offset range 4, count 2", 9, "t", batch(func(b *kmsg.RecordBatch, _ []kmsg.Record) { b.LastOffsetDelta = 3 }, 2),
		invalid, "Inconsistent batch offset range [0, 3] and count of records 2 in topic partition t-0")
	f("control batch", 9, "t", batch(func(b *kmsg.RecordBatch, _ []kmsg.Record) { b.Attributes |= 0x20 }, 1),
		invalid, "Clients are not allowed to write control records in topic partition t-0")
	f("producer id without a sequence", 9, "t", batch(func(b *kmsg.RecordBatch, _ []kmsg.Record) { b.ProducerID, b.ProducerEpoch = 5, 0 }, 1),
		invalid, "Invalid sequence number -1 in record batch with producerId 5 in topic partition t-0")
	one := batch(nil, 1)
	two := append(append([]byte(nil), one...), one...)
	f("two batches, v9", 9, "t", two, invalid, "Produce requests with version 9 are only allowed to contain exactly one record batch per partition")
	f("two batches, v2", 2, "t", two, invalid, "")
	zstd, err := zstdBatch()
	if err != nil {
		t.Fatal(err)
	}
	f("zstd on v6", 6, "t", zstd, kerr.UnsupportedCompressionType.Code, "")
	f("zstd on v3", 3, "t", zstd, kerr.UnsupportedCompressionType.Code, "")
	lat := func(b *kmsg.RecordBatch, _ []kmsg.Record) { b.Attributes |= 0x08 }
	f("LogAppendTime batch on a LogAppendTime topic", 9, "lat", batch(lat, 1), badTS, "")
	f("LogAppendTime batch without a timestamp", 9, "t", batch(func(b *kmsg.RecordBatch, recs []kmsg.Record) {
		lat(b, recs)
		b.FirstTimestamp, b.MaxTimestamp = -1, -1
	}, 1), badTS, "")

	// The size and the CRC are looked at before validateBatch's checks.
	huge := batch(func(b *kmsg.RecordBatch, recs []kmsg.Record) {
		b.NumRecords = 0
		recs[0].Value = make([]byte, 1<<20+100)
	}, 1)
	f("too large and count 0", 9, "t", huge, kerr.MessageTooLarge.Code, fmt.Sprintf(
		"The record batch size in the append to t-0 is %d bytes which exceeds the maximum configured value of 1048588.", len(huge)))
	torn := batch(func(b *kmsg.RecordBatch, _ []kmsg.Record) { b.ProducerID, b.ProducerEpoch = 5, 0 }, 1)
	torn[len(torn)-1] ^= 0xff
	f("bad CRC and no sequence", 9, "t", torn, kerr.CorruptMessage.Code, "")

	// Nothing was appended: the next good batch gets offset 0. A
	// LogAppendTime batch with a timestamp is let through on a CreateTime
	// topic, as Kafka checks its timestamp's bounds instead.
	good := shapedBatch(nil, []byte("a"), []byte("b"))
	if p := produceOne(t, rc, produceReq(9, 1, "t", 0, good)); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("good batch after the refused ones: error %d, base offset %d, want 0 and 0", p.ErrorCode, p.BaseOffset)
	}
	if p := produceOne(t, rc, produceReq(9, 1, "t", 0, batch(lat, 1))); p.ErrorCode != 0 || p.BaseOffset != 2 {
		t.Fatalf("LogAppendTime batch on a CreateTime topic: error %d, base offset %d, want 0 and 2", p.ErrorCode, p.BaseOffset)
	}
	if p := produceOne(t, rc, produceReq(7, 1, "t", 0, zstd)); p.ErrorCode != 0 || p.BaseOffset != 3 {
		t.Fatalf("zstd on v7: error %d, base offset %d, want 0 and 3", p.ErrorCode, p.BaseOffset)
	}
}

// zstdBatch is a batch of one record, zstd-compressed.
func zstdBatch() ([]byte, error) {
	r := kmsg.Record{Key: []byte("k"), Value: []byte("v")}
	r.Length = int32(len(r.AppendTo(nil)) - 1)
	data, err := segment.Compress(nil, segment.CodecZstd, false, r.AppendTo(nil))
	if err != nil {
		return nil, err
	}
	ts := time.Now().UnixMilli()
	b := kmsg.RecordBatch{Magic: 2, Attributes: segment.CodecZstd, FirstTimestamp: ts, MaxTimestamp: ts,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: data}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw, nil
}
