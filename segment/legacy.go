package segment

// The legacy message format (magic 0 and 1, Kafka before 0.11), which the
// log never stores: Produce v0-2 sets are up-converted to one RecordBatch
// v2 on append, and Fetch v0-3 answers are down-converted from v2, as
// Kafka's LogValidator and down-conversion do.
//
// A message set is a sequence of entries:
//
//	| offset int64 | size int32 | crc uint32 | magic int8 | attributes int8 |
//	| timestamp int64 (magic 1 only) | key int32 len + bytes | value int32 len + bytes |
//
// size counts the bytes from crc to the end; crc is CRC-32 (IEEE) over
// magic..end; a length of -1 is null. attributes bits 0-2 are the codec,
// bit 3 (magic 1) the timestamp type (1 = LogAppendTime). A compressed
// entry (a wrapper) carries in its value a whole inner message set,
// compressed: with magic 0 the inner offsets are absolute, with magic 1
// they are relative (0..n-1) and the wrapper's offset is the last one's.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Sizes of the legacy message framing.
const (
	legacyLogOverhead = 12 // offset + size
	legacyV0Header    = 14 // crc, magic, attributes, key length, value length
	legacyV1Header    = 22 // v0 + timestamp
)

// ErrLegacy wraps every malformed message set (and ErrCorrupt).
var ErrLegacy = errors.New("segment: malformed legacy message set")

// LegacyMessage is one decoded magic 0/1 message. Key and Value alias the
// set (or its decompressed inner set).
type LegacyMessage struct {
	Offset     int64
	Magic      int8
	Attributes int8
	Timestamp  int64 // -1 for magic 0
	Key, Value []byte
	KeyNull    bool
	ValueNull  bool
}

// LegacyMagic reports the magic byte of the first entry of records, or -1
// if records are too short to tell. Magic sits at offset 16 in both
// formats.
func LegacyMagic(records []byte) int8 {
	if len(records) < 17 {
		return -1
	}
	return int8(records[16])
}

// legacyError formats a malformed-set error.
func legacyError(format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s", ErrCorrupt, ErrLegacy, fmt.Sprintf(format, args...))
}

// WalkLegacy decodes a magic 0/1 message set, decompressing wrappers, and
// calls fn for every (inner) message in order. It returns the codec of the
// last compressed wrapper (CodecNone if none). A trailing partial entry is
// an error: producers send whole sets. Errors wrap ErrCorrupt.
func WalkLegacy(set []byte, fn func(m LegacyMessage)) (codec int, err error) {
	codec = CodecNone
	if len(set) == 0 {
		return codec, legacyError("empty message set")
	}
	for len(set) > 0 {
		m, n, err := parseLegacy(set)
		if err != nil {
			return codec, err
		}
		set = set[n:]
		c := int(m.Attributes & AttrCompressionMask)
		if c == CodecNone {
			fn(m)
			continue
		}
		codec = c
		if err := walkWrapper(m, fn); err != nil {
			return codec, err
		}
	}
	return codec, nil
}

// walkWrapper decompresses a wrapper's inner set and calls fn for each
// inner message, with absolute offsets and, for a LogAppendTime wrapper,
// the wrapper's timestamp.
func walkWrapper(w LegacyMessage, fn func(m LegacyMessage)) error {
	c := int(w.Attributes & AttrCompressionMask)
	inner, err := decompress(c, w.Value)
	if err != nil {
		return fmt.Errorf("%w: %w: %s: %w", ErrCorrupt, ErrDecompress, CodecName(c), err)
	}
	var msgs []LegacyMessage
	for len(inner) > 0 {
		m, n, err := parseLegacy(inner)
		if err != nil {
			return err
		}
		if m.Attributes&AttrCompressionMask != 0 {
			return legacyError("nested compressed message at offset %d", m.Offset)
		}
		msgs = append(msgs, m)
		inner = inner[n:]
	}
	if len(msgs) == 0 {
		return legacyError("empty compressed message at offset %d", w.Offset)
	}
	// Magic 1 inner offsets are relative; the wrapper holds the last one.
	shift := int64(0)
	if w.Magic == 1 {
		shift = w.Offset - msgs[len(msgs)-1].Offset
	}
	for _, m := range msgs {
		m.Offset += shift
		if w.Magic == 1 && w.Attributes&AttrTimestampType != 0 {
			m.Timestamp = w.Timestamp
		}
		fn(m)
	}
	return nil
}

// parseLegacy decodes the entry at the start of b and returns its length.
func parseLegacy(b []byte) (LegacyMessage, int, error) {
	var m LegacyMessage
	if len(b) < legacyLogOverhead+legacyV0Header {
		return m, 0, legacyError("entry of %d bytes is short", len(b))
	}
	be := binary.BigEndian
	m.Offset = int64(be.Uint64(b))
	size := int64(int32(be.Uint32(b[8:])))
	if size < legacyV0Header || size > int64(len(b)-legacyLogOverhead) {
		return m, 0, legacyError("entry size %d with %d bytes left", size, len(b)-legacyLogOverhead)
	}
	msg := b[legacyLogOverhead : legacyLogOverhead+size]
	if crc := be.Uint32(msg); crc != crc32.ChecksumIEEE(msg[4:]) {
		return m, 0, fmt.Errorf("%w: %w: legacy message at offset %d", ErrCorrupt, ErrBadCRC, m.Offset)
	}
	m.Magic, m.Attributes, m.Timestamp = int8(msg[4]), int8(msg[5]), -1
	rest := msg[6:]
	switch m.Magic {
	case 0:
	case 1:
		if len(rest) < 8+8 {
			return m, 0, legacyError("magic 1 entry of %d bytes is short", size)
		}
		m.Timestamp = int64(be.Uint64(rest))
		rest = rest[8:]
	default:
		return m, 0, legacyError("magic %d in a legacy message set", m.Magic)
	}
	var err error
	if m.Key, m.KeyNull, rest, err = legacyBytes(rest); err != nil {
		return m, 0, err
	}
	if m.Value, m.ValueNull, rest, err = legacyBytes(rest); err != nil {
		return m, 0, err
	}
	if len(rest) != 0 {
		return m, 0, legacyError("%d bytes after the value at offset %d", len(rest), m.Offset)
	}
	return m, legacyLogOverhead + int(size), nil
}

// legacyBytes reads an int32-length-prefixed nullable byte string.
func legacyBytes(b []byte) ([]byte, bool, []byte, error) {
	if len(b) < 4 {
		return nil, false, nil, legacyError("short length")
	}
	n := int64(int32(binary.BigEndian.Uint32(b)))
	b = b[4:]
	switch {
	case n == -1:
		return nil, true, b, nil
	case n < 0 || n > int64(len(b)):
		return nil, false, nil, legacyError("length %d with %d bytes left", n, len(b))
	}
	return b[:n:n], false, b[n:], nil
}

// UpConvert returns a magic 0/1 message set as one RecordBatch v2, as
// Kafka's LogValidator does on append: records in order with offsets
// 0..n-1 (the log assigns the real ones), the codec of the set's
// compressed wrappers (none if there were none), producer id -1, CreateTime
// with each message's timestamp (-1 for magic 0; the wrapper's for a
// LogAppendTime magic 1 wrapper). It also returns the record count.
func UpConvert(set []byte) ([]byte, int, error) {
	var recs []Record
	codec, err := WalkLegacy(set, func(m LegacyMessage) {
		recs = append(recs, Record{Offset: int64(len(recs)), Timestamp: m.Timestamp,
			Key: m.Key, KeyNull: m.KeyNull, Value: m.Value, ValueNull: m.ValueNull})
	})
	if err != nil {
		return nil, 0, err
	}
	spec := BatchSpec{PartitionLeaderEpoch: -1, Attributes: int16(codec), ProducerID: -1,
		ProducerEpoch: -1, BaseSequence: -1}
	batch, err := EncodeBatch(spec, recs)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot up-convert %d legacy messages: %w", len(recs), err)
	}
	return batch, len(recs), nil
}

// DownConvert appends to dst the records of the whole v2 batches in
// batches as a magic 0 or 1 message set with absolute offsets, as Kafka
// down-converts for Fetch v0-3 (v0-1 read magic 0, v2-3 magic 1). A
// batch compressed with gzip or snappy (or lz4 for magic 1) becomes one
// wrapper message of that codec (snappy xerial-framed, as the Java client
// of that era wrote it); other batches become plain messages: magic 0/1
// have no zstd, and magic 0 lz4 used a broken frame checksum. Control
// batches are skipped; headers are dropped (magic 0/1 cannot carry them);
// a LogAppendTime batch gives magic 1 messages that timestamp type. A
// partial batch at the end is ignored (the client asks again from there).
// It returns the messages written (wrapped ones counted one by one).
func DownConvert(dst, batches []byte, magic int8) ([]byte, int, error) {
	if magic != 0 && magic != 1 {
		return dst, 0, fmt.Errorf("BUG: segment: down-convert to magic %d", magic)
	}
	n := 0
	for len(batches) >= HeaderSize {
		h, err := parseHeader(batches)
		if err != nil {
			return dst, n, err
		}
		if h.Size() > int64(len(batches)) {
			break
		}
		batch := batches[:h.Size()]
		batches = batches[h.Size():]
		if h.Attributes&AttrControl != 0 {
			continue
		}
		var k int
		if dst, k, err = downConvertBatch(dst, batch, h, magic); err != nil {
			return dst, n, err
		}
		n += k
	}
	return dst, n, nil
}

// downConvertBatch appends one batch's records, wrapped if its codec is
// kept.
func downConvertBatch(dst, batch []byte, h Header, magic int8) ([]byte, int, error) {
	attrs := int8(0)
	if magic == 1 && h.Attributes&AttrTimestampType != 0 {
		attrs = AttrTimestampType
	}
	codec := h.Compression()
	wrap := codec == CodecGzip || codec == CodecSnappy || (codec == CodecLZ4 && magic == 1)
	if !wrap {
		n := 0
		err := Records(batch, func(r Record) bool {
			dst = appendLegacy(dst, magic, attrs, &r)
			n++
			return true
		})
		return dst, n, err
	}
	var inner []byte
	var w Record
	n := 0
	w.Timestamp = -1
	err := Records(batch, func(r Record) bool {
		w.Offset, w.Timestamp = r.Offset, max(w.Timestamp, r.Timestamp)
		if magic == 1 {
			r.Offset = int64(n) // relative inside a magic 1 wrapper
		}
		inner = appendLegacy(inner, magic, attrs, &r)
		n++
		return true
	})
	if err != nil || n == 0 {
		return dst, 0, err
	}
	w.Value, err = Compress(nil, codec, codec == CodecSnappy, inner)
	if err != nil {
		return dst, 0, err
	}
	return appendLegacy(dst, magic, attrs|int8(codec), &w), n, nil
}

// appendLegacy appends one uncompressed magic 0/1 entry.
func appendLegacy(dst []byte, magic, attrs int8, r *Record) []byte {
	be := binary.BigEndian
	dst = be.AppendUint64(dst, uint64(r.Offset))
	sizeAt := len(dst)
	dst = be.AppendUint32(dst, 0) // size, patched below
	crcAt := len(dst)
	dst = be.AppendUint32(dst, 0) // crc, patched below
	dst = append(dst, byte(magic), byte(attrs))
	if magic == 1 {
		dst = be.AppendUint64(dst, uint64(r.Timestamp))
	}
	dst = appendLegacyBytes(dst, r.Key, r.KeyNull)
	dst = appendLegacyBytes(dst, r.Value, r.ValueNull)
	be.PutUint32(dst[sizeAt:], uint32(len(dst)-crcAt))
	be.PutUint32(dst[crcAt:], crc32.ChecksumIEEE(dst[crcAt+4:]))
	return dst
}

func appendLegacyBytes(dst, b []byte, null bool) []byte {
	if null {
		return binary.BigEndian.AppendUint32(dst, 0xffffffff)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// AppendLegacyMessage appends one magic 0/1 entry to dst: with codec none,
// m's key and value; otherwise a wrapper whose value is inner (a whole
// uncompressed message set) compressed with codec. Tests and tools use it
// to build the sets old clients send.
func AppendLegacyMessage(dst []byte, m LegacyMessage, codec int, inner []byte) ([]byte, error) {
	r := Record{Offset: m.Offset, Timestamp: m.Timestamp, Key: m.Key, KeyNull: m.KeyNull,
		Value: m.Value, ValueNull: m.ValueNull}
	attrs := m.Attributes &^ AttrCompressionMask
	if codec != CodecNone {
		v, err := Compress(nil, codec, false, inner)
		if err != nil {
			return dst, err
		}
		r.Value, r.ValueNull = v, false
		attrs |= int8(codec)
	}
	return appendLegacy(dst, m.Magic, attrs, &r), nil
}
