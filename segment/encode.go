package segment

// The encoder side of records.go: the log cleaner re-encodes the records it
// keeps into new batches, compressed with the codec the producer used.

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// BatchSpec is what EncodeBatch copies into the new batch's header.
type BatchSpec struct {
	PartitionLeaderEpoch int32
	// Attributes: codec, timestamp type and transactional bits are kept.
	Attributes    int16
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32 // sequence of the first record, -1 for none
	// Xerial frames snappy as the Java client does (else raw snappy).
	Xerial bool
	// Level is the codec's compression level, as Kafka's
	// compression.gzip.level (-1 or 1-9), compression.lz4.level (1-17) and
	// compression.zstd.level (-131072 to 22) take it; 0: the codec's default
	// as Compress uses it.
	Level int
	// LogAppendTime batches: every record's timestamp is MaxTimestamp, and
	// BaseTimestamp is kept as given. CreateTime batches compute both from
	// the records.
	BaseTimestamp, MaxTimestamp int64
}

// ErrEncode is returned for records EncodeBatch cannot put in one batch.
var ErrEncode = errors.New("segment: cannot encode batch")

// EncodeBatch returns one RecordBatch v2 holding records, whose offsets must
// be contiguous (Validate's rule): the batch's baseOffset is the first
// record's offset. The records section is compressed with the codec of
// spec.Attributes and the CRC computed.
func EncodeBatch(spec BatchSpec, records []Record) ([]byte, error) {
	if len(records) == 0 {
		return nil, fmt.Errorf("%w: no records", ErrEncode)
	}
	base := records[0].Offset
	baseTS, maxTS := batchTimestamps(spec, records)
	var body []byte
	for i := range records {
		r := &records[i]
		if r.Offset != base+int64(i) {
			return nil, fmt.Errorf("%w: offset %d after %d is not contiguous", ErrEncode, r.Offset, base+int64(i)-1)
		}
		tsDelta := r.Timestamp - baseTS
		if spec.Attributes&AttrTimestampType != 0 {
			tsDelta = 0
		}
		body = appendRecord(body, r, tsDelta, int32(i))
	}
	codec := int(spec.Attributes & AttrCompressionMask)
	data, err := CompressLevel(nil, codec, spec.Level, spec.Xerial, body)
	if err != nil {
		return nil, err
	}
	return encodeHeader(spec, base, int32(len(records)), baseTS, maxTS, data), nil
}

// batchTimestamps is the base and max timestamp of a new batch.
func batchTimestamps(spec BatchSpec, records []Record) (int64, int64) {
	if spec.Attributes&AttrTimestampType != 0 {
		return spec.BaseTimestamp, spec.MaxTimestamp
	}
	lo, hi := records[0].Timestamp, records[0].Timestamp
	for _, r := range records[1:] {
		lo, hi = min(lo, r.Timestamp), max(hi, r.Timestamp)
	}
	return lo, hi
}

func encodeHeader(spec BatchSpec, base int64, n int32, baseTS, maxTS int64, data []byte) []byte {
	out := make([]byte, HeaderSize, HeaderSize+len(data))
	be := binary.BigEndian
	be.PutUint64(out[offBaseOffset:], uint64(base))
	be.PutUint32(out[offLength:], uint32(HeaderSize-LogOverhead+len(data)))
	be.PutUint32(out[offLeaderEpoch:], uint32(spec.PartitionLeaderEpoch))
	out[offMagic] = 2
	be.PutUint16(out[offAttributes:], uint16(spec.Attributes))
	be.PutUint32(out[offLastOffsetDelta:], uint32(n-1))
	be.PutUint64(out[offBaseTimestamp:], uint64(baseTS))
	be.PutUint64(out[offMaxTimestamp:], uint64(maxTS))
	be.PutUint64(out[offProducerID:], uint64(spec.ProducerID))
	be.PutUint16(out[offProducerEpoch:], uint16(spec.ProducerEpoch))
	be.PutUint32(out[offBaseSequence:], uint32(spec.BaseSequence))
	be.PutUint32(out[offNumRecords:], uint32(n))
	out = append(out, data...)
	be.PutUint32(out[offCRC:], crc32.Checksum(out[offAttributes:], castagnoli))
	return out
}

// appendRecord appends one length-prefixed record (attributes 0).
func appendRecord(dst []byte, r *Record, tsDelta int64, offsetDelta int32) []byte {
	var tmp [64]byte
	body := tmp[:0]
	body = append(body, 0)
	body = binary.AppendVarint(body, tsDelta)
	body = binary.AppendVarint(body, int64(offsetDelta))
	n := len(body) + nullableLen(r.Key, r.KeyNull) + nullableLen(r.Value, r.ValueNull) +
		varintLen(int64(len(r.Headers)))
	for _, h := range r.Headers {
		n += nullableLen([]byte(h.Key), false) + nullableLen(h.Value, h.Value == nil)
	}
	dst = binary.AppendVarint(dst, int64(n))
	dst = append(dst, body...)
	dst = appendNullable(dst, r.Key, r.KeyNull)
	dst = appendNullable(dst, r.Value, r.ValueNull)
	dst = binary.AppendVarint(dst, int64(len(r.Headers)))
	for _, h := range r.Headers {
		dst = appendNullable(dst, []byte(h.Key), false)
		dst = appendNullable(dst, h.Value, h.Value == nil)
	}
	return dst
}

func varintLen(v int64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutVarint(b[:], v)
}

func nullableLen(b []byte, null bool) int {
	if null {
		return varintLen(-1)
	}
	return varintLen(int64(len(b))) + len(b)
}

func appendNullable(dst, b []byte, null bool) []byte {
	if null {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// IsXerial reports whether batch (whole, snappy-compressed) is framed by
// the Java client's xerial library.
func IsXerial(batch []byte) bool {
	return len(batch) > HeaderSize && bytes.HasPrefix(batch[HeaderSize:], xerialMagic)
}

// xerialBlock is the chunk size the Java client's xerial framing uses.
const xerialBlock = 32 << 10

// Compress appends src compressed with codec to dst, in the framing Kafka
// clients read: gzip, raw snappy (xerial-framed if xerial), the LZ4 frame
// format, zstd frames. CodecNone appends src as it is.
func Compress(dst []byte, codec int, xerial bool, src []byte) ([]byte, error) {
	switch codec {
	case CodecNone:
		return append(dst, src...), nil
	case CodecGzip:
		return streamCompress(dst, src, func(b *bytes.Buffer) compressWriter { return gzip.NewWriter(b) })
	case CodecSnappy:
		if xerial {
			return xerialEncode(dst, src), nil
		}
		return append(dst, snappy.Encode(nil, src)...), nil
	case CodecLZ4:
		return streamCompress(dst, src, func(b *bytes.Buffer) compressWriter { return lz4.NewWriter(b) })
	case CodecZstd:
		return zstdEncoder().EncodeAll(src, dst), nil
	}
	return nil, fmt.Errorf("%w: unknown codec %d", ErrEncode, codec)
}

// CompressLevel is Compress at a compression level (BatchSpec.Level);
// level 0, and snappy (which has none), are Compress.
func CompressLevel(dst []byte, codec, level int, xerial bool, src []byte) ([]byte, error) {
	switch {
	case level == 0:
	case codec == CodecGzip:
		if level < gzip.HuffmanOnly || level > gzip.BestCompression {
			return nil, fmt.Errorf("%w: gzip level %d", ErrEncode, level)
		}
		return streamCompress(dst, src, func(b *bytes.Buffer) compressWriter {
			w, _ := gzip.NewWriterLevel(b, level) // level checked above
			return w
		})
	case codec == CodecLZ4:
		return streamCompress(dst, src, func(b *bytes.Buffer) compressWriter {
			w := lz4.NewWriter(b)
			_ = w.Apply(lz4.CompressionLevelOption(lz4Level(level))) // a valid level cannot fail
			return w
		})
	case codec == CodecZstd:
		return zstdLevelEncoder(level).EncodeAll(src, dst), nil
	}
	return Compress(dst, codec, xerial, src)
}

// lz4Level maps Kafka's lz4 levels (1-17, LZ4 HC levels above 2) onto the
// pierrec/lz4 ones (Fast, Level1..Level9).
func lz4Level(level int) lz4.CompressionLevel {
	if level <= 2 {
		return lz4.Fast
	}
	return lz4.CompressionLevel(1 << (8 + min(level, 11) - 2)) // Level_n is 1<<(8+n): 3 → Level1 … ≥11 → Level9
}

// zstdEncoders caches one encoder per zstd level (EncodeAll is safe for
// concurrent use).
var zstdEncoders sync.Map // zstd.EncoderLevel → *zstd.Encoder

func zstdLevelEncoder(level int) *zstd.Encoder {
	l := zstd.EncoderLevelFromZstd(level)
	if e, ok := zstdEncoders.Load(l); ok {
		return e.(*zstd.Encoder)
	}
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(l))
	if err != nil {
		panic(fmt.Sprintf("BUG: zstd encoder at level %v: %v", l, err))
	}
	actual, _ := zstdEncoders.LoadOrStore(l, e)
	return actual.(*zstd.Encoder)
}

type compressWriter interface {
	Write([]byte) (int, error)
	Close() error
}

func streamCompress(dst, src []byte, open func(*bytes.Buffer) compressWriter) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	w := open(buf)
	if _, err := w.Write(src); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEncode, err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEncode, err)
	}
	return buf.Bytes(), nil
}

// xerialEncode frames src as the Java client's xerial SnappyOutputStream.
func xerialEncode(dst, src []byte) []byte {
	dst = append(dst, xerialMagic...)
	dst = binary.BigEndian.AppendUint32(dst, 1) // version
	dst = binary.BigEndian.AppendUint32(dst, 1) // compatible version
	for len(src) > 0 {
		n := min(len(src), xerialBlock)
		block := snappy.Encode(nil, src[:n])
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(block)))
		dst = append(dst, block...)
		src = src[n:]
	}
	return dst
}

var (
	zstdEncOnce sync.Once
	zstdEnc     *zstd.Encoder
)

// zstdEncoder is shared: EncodeAll is safe for concurrent use.
func zstdEncoder() *zstd.Encoder {
	zstdEncOnce.Do(func() {
		e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			panic("BUG: zstd.NewWriter with static options failed: " + err.Error())
		}
		zstdEnc = e
	})
	return zstdEnc
}
