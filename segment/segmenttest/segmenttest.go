// Package segmenttest builds RecordBatch v2 bytes for tests: any codec,
// correct CRC. It does not import segment, so segment's own tests use it.
package segmenttest

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Codecs, as in the batch attributes.
const (
	None   = 0
	Gzip   = 1
	Snappy = 2
	LZ4    = 3
	Zstd   = 4
)

// Batch describes one RecordBatch. Zero values are valid defaults except
// ProducerID/BaseSequence, which Kafka's non-idempotent clients set to -1
// (see NewBatch).
type Batch struct {
	BaseOffset    int64
	LeaderEpoch   int32
	Attributes    int16 // codec bits are taken from Codec
	Codec         int
	Xerial        bool // snappy only: frame as the Java client does
	BaseTimestamp int64
	MaxTimestamp  int64 // 0: computed from the records
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
	Records       []Record
}

// Record is one record; nil Key or Value encodes as null.
type Record struct {
	TimestampDelta int64
	Key, Value     []byte
	Headers        []Header
}

// Header is one record header; nil Value encodes as null.
type Header struct {
	Key   string
	Value []byte
}

// NewBatch returns a non-idempotent batch of n records at baseOffset whose
// values are valueSize bytes and whose timestamps are ts, ts+1, ….
func NewBatch(baseOffset int64, n int, ts int64, valueSize int) Batch {
	b := Batch{BaseOffset: baseOffset, BaseTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
	for i := range n {
		v := bytes.Repeat([]byte{byte('a' + i%26)}, valueSize)
		b.Records = append(b.Records, Record{TimestampDelta: int64(i), Key: fmt.Appendf(nil, "k%d", i), Value: v})
	}
	return b
}

// Encode returns the batch's bytes.
func (b Batch) Encode() []byte {
	records := b.encodeRecords()
	body := compress(b.Codec, b.Xerial, records)
	maxTS := b.MaxTimestamp
	if maxTS == 0 {
		maxTS = b.BaseTimestamp
		for _, r := range b.Records {
			maxTS = max(maxTS, b.BaseTimestamp+r.TimestampDelta)
		}
	}
	out := make([]byte, 61, 61+len(body))
	be := binary.BigEndian
	be.PutUint64(out[0:], uint64(b.BaseOffset))
	be.PutUint32(out[8:], uint32(61-12+len(body)))
	be.PutUint32(out[12:], uint32(b.LeaderEpoch))
	out[16] = 2
	be.PutUint16(out[21:], uint16(b.Attributes&^7|int16(b.Codec)))
	be.PutUint32(out[23:], uint32(len(b.Records)-1))
	be.PutUint64(out[27:], uint64(b.BaseTimestamp))
	be.PutUint64(out[35:], uint64(maxTS))
	be.PutUint64(out[43:], uint64(b.ProducerID))
	be.PutUint16(out[51:], uint16(b.ProducerEpoch))
	be.PutUint32(out[53:], uint32(b.BaseSequence))
	be.PutUint32(out[57:], uint32(len(b.Records)))
	out = append(out, body...)
	FixCRC(out)
	return out
}

// FixCRC recomputes a batch's CRC after a test edited it.
func FixCRC(batch []byte) {
	crc := crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli))
	binary.BigEndian.PutUint32(batch[17:], crc)
}

func (b Batch) encodeRecords() []byte {
	var out []byte
	for i, r := range b.Records {
		var body []byte
		body = append(body, 0) // attributes
		body = binary.AppendVarint(body, r.TimestampDelta)
		body = binary.AppendVarint(body, int64(i))
		body = appendNullable(body, r.Key)
		body = appendNullable(body, r.Value)
		body = binary.AppendVarint(body, int64(len(r.Headers)))
		for _, h := range r.Headers {
			body = appendNullable(body, []byte(h.Key))
			body = appendNullable(body, h.Value)
		}
		out = binary.AppendVarint(out, int64(len(body)))
		out = append(out, body...)
	}
	return out
}

func appendNullable(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

func compress(codec int, xerial bool, src []byte) []byte {
	var buf bytes.Buffer
	switch codec {
	case None:
		return src
	case Gzip:
		w := gzip.NewWriter(&buf)
		must(w.Write(src))
		must(0, w.Close())
	case Snappy:
		if !xerial {
			return snappy.Encode(nil, src)
		}
		return xerialEncode(src)
	case LZ4:
		w := lz4.NewWriter(&buf)
		must(w.Write(src))
		must(0, w.Close())
	case Zstd:
		w, err := zstd.NewWriter(&buf)
		must(0, err)
		must(w.Write(src))
		must(0, w.Close())
	default:
		panic(fmt.Sprintf("segmenttest: unknown codec %d", codec))
	}
	return buf.Bytes()
}

// xerialEncode frames src as xerial snappy in 100-byte chunks (small so
// tests exercise several chunks).
func xerialEncode(src []byte) []byte {
	out := []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}
	for len(src) > 0 {
		n := min(len(src), 100)
		block := snappy.Encode(nil, src[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(block)))
		out = append(out, block...)
		src = src[n:]
	}
	return out
}

func must(_ int, err error) {
	if err != nil {
		panic("segmenttest: " + err.Error())
	}
}
