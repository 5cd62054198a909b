package e2e

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// An independent RecordBatch v2 codec, written from Kafka's protocol
// documentation, so that the storage checks do not share code with the
// segment package they check:
//
//	+------------------+------------+------------------------+-----------+
//	| baseOffset i64   | length i32 | partitionLeaderEpoch   | magic i8  |
//	+------------------+------------+------------------------+-----------+
//	| crc u32 (CRC-32C of attributes … end of batch)                     |
//	+------------+--------------------+----------------+-----------------+
//	| attrs i16  | lastOffsetDelta i32| firstTs i64    | maxTs i64       |
//	+------------+--------------------+----------------+-----------------+
//	| producerId i64 | producerEpoch i16 | baseSequence i32 | count i32  |
//	+----------------+-------------------+------------------+------------+
//	| records: count × (varint length, attrs i8, varlong tsDelta,        |
//	|   varint offsetDelta, varint key len + key, varint value len +     |
//	|   value, varint header count + headers)                            |
//	+--------------------------------------------------------------------+
//
// length counts the bytes after the length field (total size - 12).

const (
	batchHeaderLen = 61 // bytes before the first record
	batchCRCStart  = 21 // offset of attributes: the CRC covers from here
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batch is one decoded RecordBatch header.
type batch struct {
	BaseOffset      int64
	Length          int32
	LeaderEpoch     int32
	Magic           int8
	CRC             uint32
	Attributes      int16
	LastOffsetDelta int32
	FirstTimestamp  int64
	MaxTimestamp    int64
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
	Count           int32
	Raw             []byte // the whole batch, len == 12+Length
}

// LastOffset is the offset of the batch's last record.
func (b *batch) LastOffset() int64 { return b.BaseOffset + int64(b.LastOffsetDelta) }

// Compression is the codec (attributes & 7): 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
func (b *batch) Compression() int { return int(b.Attributes & 7) }

var errShortBatch = errors.New("short batch")

// parseBatch decodes the batch at the start of p and checks its magic,
// length and CRC. errShortBatch means p ends inside the batch.
func parseBatch(p []byte) (*batch, error) {
	if len(p) < 12 {
		return nil, errShortBatch
	}
	be := binary.BigEndian
	b := &batch{BaseOffset: int64(be.Uint64(p)), Length: int32(be.Uint32(p[8:]))}
	if b.Length < batchHeaderLen-12 {
		return nil, fmt.Errorf("batch length %d below the header's %d", b.Length, batchHeaderLen-12)
	}
	size := 12 + int(b.Length)
	if len(p) < size {
		return nil, errShortBatch
	}
	p = p[:size]
	b.Raw = p
	b.LeaderEpoch = int32(be.Uint32(p[12:]))
	b.Magic = int8(p[16])
	b.CRC = be.Uint32(p[17:])
	b.Attributes = int16(be.Uint16(p[21:]))
	b.LastOffsetDelta = int32(be.Uint32(p[23:]))
	b.FirstTimestamp = int64(be.Uint64(p[27:]))
	b.MaxTimestamp = int64(be.Uint64(p[35:]))
	b.ProducerID = int64(be.Uint64(p[43:]))
	b.ProducerEpoch = int16(be.Uint16(p[51:]))
	b.BaseSequence = int32(be.Uint32(p[53:]))
	b.Count = int32(be.Uint32(p[57:]))
	if b.Magic != 2 {
		return nil, fmt.Errorf("magic %d, want 2", b.Magic)
	}
	if got := crc32.Checksum(p[batchCRCStart:], castagnoli); got != b.CRC {
		return nil, fmt.Errorf("crc %#08x, computed %#08x", b.CRC, got)
	}
	return b, nil
}

// record is one decoded record with its absolute offset.
type record struct {
	Offset    int64
	Timestamp int64
	Key       []byte // nil for a null key
	Value     []byte // nil for a null value
}

// records decodes an uncompressed batch's records and checks that their
// offset deltas run 0..count-1 and end at lastOffsetDelta.
func (b *batch) records() ([]record, error) {
	if b.Compression() != 0 {
		return nil, fmt.Errorf("batch at %d: compression %d not decoded here", b.BaseOffset, b.Compression())
	}
	p := b.Raw[batchHeaderLen:]
	out := make([]record, 0, b.Count)
	for i := range int(b.Count) {
		n, m := binary.Varint(p)
		if m <= 0 || n < 0 || int(n) > len(p)-m {
			return nil, fmt.Errorf("batch at %d: record %d: bad length", b.BaseOffset, i)
		}
		r, err := parseRecord(p[m : m+int(n)])
		if err != nil {
			return nil, fmt.Errorf("batch at %d: record %d: %w", b.BaseOffset, i, err)
		}
		if r.Offset != int64(i) {
			return nil, fmt.Errorf("batch at %d: record %d has offset delta %d", b.BaseOffset, i, r.Offset)
		}
		r.Offset += b.BaseOffset
		r.Timestamp += b.FirstTimestamp
		out = append(out, r)
		p = p[m+int(n):]
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("batch at %d: %d bytes after %d records", b.BaseOffset, len(p), b.Count)
	}
	if b.Count > 0 && out[len(out)-1].Offset != b.LastOffset() {
		return nil, fmt.Errorf("batch at %d: last record at %d, lastOffsetDelta says %d", b.BaseOffset, out[len(out)-1].Offset, b.LastOffset())
	}
	return out, nil
}

// parseRecord decodes one record body (after its length); Offset and
// Timestamp are the deltas.
func parseRecord(p []byte) (record, error) {
	var r record
	if len(p) < 1 {
		return r, errShortBatch
	}
	p = p[1:] // attributes
	var ok bool
	if r.Timestamp, p, ok = varint(p); !ok {
		return r, errors.New("bad timestamp delta")
	}
	if r.Offset, p, ok = varint(p); !ok {
		return r, errors.New("bad offset delta")
	}
	if r.Key, p, ok = varBytes(p); !ok {
		return r, errors.New("bad key")
	}
	if r.Value, p, ok = varBytes(p); !ok {
		return r, errors.New("bad value")
	}
	nh, p, ok := varint(p)
	if !ok || nh < 0 {
		return r, errors.New("bad header count")
	}
	for range nh {
		if _, p, ok = varBytes(p); !ok {
			return r, errors.New("bad header key")
		}
		if _, p, ok = varBytes(p); !ok {
			return r, errors.New("bad header value")
		}
	}
	if len(p) != 0 {
		return r, fmt.Errorf("%d trailing bytes", len(p))
	}
	return r, nil
}

func varint(p []byte) (int64, []byte, bool) {
	v, m := binary.Varint(p)
	if m <= 0 {
		return 0, p, false
	}
	return v, p[m:], true
}

func varBytes(p []byte) ([]byte, []byte, bool) {
	n, p, ok := varint(p)
	switch {
	case !ok || n < -1 || n > int64(len(p)):
		return nil, p, false
	case n == -1:
		return nil, p, true
	}
	return p[:n:n], p[n:], true
}

// kv is a key and value to encode.
type kv struct{ Key, Value []byte }

// encodeBatch builds an uncompressed RecordBatch v2 with base offset 0 and
// no producer id (as a non-idempotent producer sends it), every record at
// the current time.
func encodeBatch(recs ...kv) []byte {
	ts := make([]int64, len(recs))
	now := time.Now().UnixMilli()
	for i := range ts {
		ts[i] = now
	}
	return encodeBatchAt(ts, recs...)
}

// encodeBatchAt is encodeBatch with the i-th record at timestamp ts[i]
// (firstTimestamp ts[0], maxTimestamp the largest).
func encodeBatchAt(ts []int64, recs ...kv) []byte {
	be := binary.BigEndian
	maxTS := ts[0]
	for _, x := range ts {
		maxTS = max(maxTS, x)
	}
	p := make([]byte, batchHeaderLen, batchHeaderLen+len(recs)*32)
	p[16] = 2                                 // magic
	be.PutUint32(p[23:], uint32(len(recs)-1)) // lastOffsetDelta
	be.PutUint64(p[27:], uint64(ts[0]))       // firstTimestamp
	be.PutUint64(p[35:], uint64(maxTS))       // maxTimestamp
	be.PutUint64(p[43:], ^uint64(0))          // producerId -1
	be.PutUint16(p[51:], ^uint16(0))          // producerEpoch -1
	be.PutUint32(p[53:], ^uint32(0))          // baseSequence -1
	be.PutUint32(p[57:], uint32(len(recs)))   // count
	var body []byte
	for i, r := range recs {
		body = body[:0]
		body = append(body, 0)                        // attributes
		body = binary.AppendVarint(body, ts[i]-ts[0]) // timestamp delta
		body = binary.AppendVarint(body, int64(i))    // offset delta
		body = appendVarBytes(body, r.Key)
		body = appendVarBytes(body, r.Value)
		body = binary.AppendVarint(body, 0) // headers
		p = binary.AppendVarint(p, int64(len(body)))
		p = append(p, body...)
	}
	be.PutUint32(p[8:], uint32(len(p)-12))
	be.PutUint32(p[17:], crc32.Checksum(p[batchCRCStart:], castagnoli))
	return p
}

func appendVarBytes(p, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(p, -1)
	}
	return append(binary.AppendVarint(p, int64(len(b))), b...)
}
