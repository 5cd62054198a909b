package segment

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// MaxDecompressedSize bounds the records section of one compressed batch
// after decompression, so a compression bomb cannot exhaust memory.
const MaxDecompressedSize = 256 << 20

// Compression codec ids (Header.Compression).
const (
	CodecNone   = 0
	CodecGzip   = 1
	CodecSnappy = 2
	CodecLZ4    = 3
	CodecZstd   = 4
)

// CodecName is the codec's name as Kafka prints it ("none", "gzip", …).
func CodecName(codec int) string {
	switch codec {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("unknown(%d)", codec)
}

// Record is one decoded record. Key, Value and the headers alias the batch
// (or its decompressed records) and Headers is reused between calls: all are
// valid only during the callback; copy what must outlive it.
type Record struct {
	Offset    int64
	Timestamp int64 // LogAppendTime batches give every record MaxTimestamp
	Key       []byte
	Value     []byte
	KeyNull   bool
	ValueNull bool
	Headers   []RecordHeader
}

// RecordHeader is one record header; Value is nil when null.
type RecordHeader struct {
	Key   string
	Value []byte
}

// ErrDecompress wraps failures to decompress a batch's records (a
// corruption: it also wraps ErrCorrupt).
var ErrDecompress = errors.New("segment: cannot decompress records")

// Records validates batch (exactly one batch's bytes), decompresses its
// records if needed and calls fn for each record in order until fn returns
// false. Errors wrap ErrCorrupt (ErrTorn for a short batch).
func Records(batch []byte, fn func(r Record) bool) error {
	h, err := validate(batch)
	if err != nil {
		return err
	}
	data := batch[HeaderSize:]
	if h.Compression() != CodecNone {
		if data, err = decompress(h.Compression(), data); err != nil {
			return fmt.Errorf("%w: %w: %s: %w", ErrCorrupt, ErrDecompress, CodecName(h.Compression()), err)
		}
	}
	var rec Record
	return walkRecords(data, h.NumRecords, func(r rawRecord) bool {
		fillRecord(&rec, h, &r)
		return fn(rec)
	})
}

func firstKeyless(batch []byte, h Header) (int32, error) {
	if len(batch) < HeaderSize {
		return -1, errShortHeader
	}
	data := batch[HeaderSize:]
	if h.Compression() == CodecNone {
		if delta, ok := firstKeylessInPlace(data, h.NumRecords); ok {
			return delta, nil
		}
	} else {
		var err error
		if data, err = decompress(h.Compression(), data); err != nil {
			return -1, fmt.Errorf("%w: %w: %s: %w", ErrCorrupt, ErrDecompress, CodecName(h.Compression()), err)
		}
	}
	delta := int32(-1)
	err := walkRecords(data, h.NumRecords, func(r rawRecord) bool {
		if r.keyNull {
			delta = r.offsetDelta
		}
		return delta < 0
	})
	return delta, err
}

// firstKeylessInPlace is firstKeyless over validated, uncompressed records
// data: it reads each record's length, then its offset delta and key
// length, and skips the rest. ok is false if data is not what recordsValid
// accepts here (the caller walks it again to say why).
func firstKeylessInPlace(data []byte, n int32) (delta int32, ok bool) {
	pos := 0
	for range n {
		l, p := varintAt(data, pos)
		if p < 0 || l < 0 || l > int64(len(data)-p) {
			return -1, false
		}
		end := p + int(l)
		b := data[:end]
		_, p = varintAt(b, p+1) // after the attributes, the timestamp delta
		if p < 0 {
			return -1, false
		}
		d, p := varintAt(b, p)
		if p < 0 || uint64(d) >= uint64(n) {
			return -1, false
		}
		if key, p := varintAt(b, p); p < 0 {
			return -1, false
		} else if key == -1 {
			return int32(d), true
		}
		pos = end
	}
	return -1, true
}

func fillRecord(rec *Record, h Header, r *rawRecord) {
	rec.Offset = h.BaseOffset + int64(r.offsetDelta)
	rec.Timestamp = h.BaseTimestamp + r.tsDelta
	if h.Attributes&AttrTimestampType != 0 {
		rec.Timestamp = h.MaxTimestamp
	}
	rec.Key, rec.KeyNull = r.key, r.keyNull
	rec.Value, rec.ValueNull = r.value, r.valueNull
	rec.Headers = rec.Headers[:0]
	d := decoder{b: r.headers}
	for i := 0; i < r.numHeaders; i++ {
		k, _ := d.bytes()
		v, _ := d.bytes() // nil when null; parseRecord checked the lengths
		rec.Headers = append(rec.Headers, RecordHeader{Key: string(k), Value: v})
	}
}

func decompress(codec int, src []byte) ([]byte, error) {
	switch codec {
	case CodecGzip:
		zr, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, err
		}
		return readCapped(zr)
	case CodecSnappy:
		return decodeSnappy(src)
	case CodecLZ4:
		return readCapped(lz4.NewReader(bytes.NewReader(src)))
	case CodecZstd:
		return zstdDecoder().DecodeAll(src, nil)
	}
	return nil, errUnknownCodec
}

// readCapped reads r to its end, failing past MaxDecompressedSize.
func readCapped(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxDecompressedSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxDecompressedSize {
		return nil, fmt.Errorf("more than %d bytes", MaxDecompressedSize)
	}
	return b, nil
}

var (
	zstdOnce sync.Once
	zstdDec  *zstd.Decoder
)

// zstdDecoder is shared: DecodeAll is safe for concurrent use.
func zstdDecoder() *zstd.Decoder {
	zstdOnce.Do(func() {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderMaxMemory(MaxDecompressedSize))
		if err != nil {
			panic("BUG: zstd.NewReader with static options failed: " + err.Error())
		}
		zstdDec = d
	})
	return zstdDec
}

// xerialMagic opens snappy data framed by the Java xerial library:
// magic (8 bytes), version (4), compatible version (4), then chunks of
// [length u32 big-endian][raw snappy block].
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderSize = 16

// decodeSnappy handles both raw snappy (librdkafka, franz-go, sarama) and
// xerial-framed snappy (the Java client).
func decodeSnappy(src []byte) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialMagic) {
		return snappyBlock(nil, src)
	}
	if len(src) < xerialHeaderSize {
		return nil, errors.New("short xerial header")
	}
	var out []byte
	for rest := src[xerialHeaderSize:]; len(rest) > 0; {
		if len(rest) < 4 {
			return nil, errors.New("short xerial chunk length")
		}
		n := binary.BigEndian.Uint32(rest)
		if uint64(n) > uint64(len(rest)-4) {
			return nil, errors.New("xerial chunk longer than the data")
		}
		var err error
		if out, err = snappyBlock(out, rest[4:4+n]); err != nil {
			return nil, err
		}
		rest = rest[4+n:]
	}
	return out, nil
}

// snappyBlock appends the decoding of one raw snappy block to dst.
func snappyBlock(dst, block []byte) ([]byte, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return nil, err
	}
	if n > MaxDecompressedSize-len(dst) {
		return nil, fmt.Errorf("more than %d bytes", MaxDecompressedSize)
	}
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	if _, err := snappy.Decode(dst[start:], block); err != nil {
		return nil, err
	}
	return dst, nil
}
