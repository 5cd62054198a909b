package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"sync"
)

// Field offsets inside a RecordBatch v2 (see doc.go).
const (
	offBatchLength  = 8
	offMagic        = 16
	offCRC          = 17
	offAttributes   = 21
	offLastDelta    = 23
	offBaseTS       = 27
	offMaxTS        = 35
	offProducerID   = 43
	offProducerEp   = 51
	offBaseSequence = 53
	offRecordCount  = 57
	batchHeaderSize = 61

	// stampLen is the re-stamped span: baseTimestamp and maxTimestamp.
	stampLen = 16
)

// Errors of batch walking; errCorrupt marks data that fails a check.
var (
	errCorrupt   = errors.New("bench: corrupt record batch")
	errBadRecord = errors.New("bench: record size out of range")
)

// Batch is one prebuilt RecordBatch v2 of Records records of RecordSize
// value bytes each (no key, no headers, no compression, no producer id).
// Stamp re-stamps it in place; it is not safe for concurrent use.
type Batch struct {
	Bytes      []byte
	Records    int
	RecordSize int
	crc        uint32 // current CRC (also in Bytes[17:21])
	tail       *zeroOp
	delta      [stampLen]byte // scratch: old^new stamp bytes
}

// recordLen is the encoded size of one record with an n-byte value.
func recordLen(i, n int) int {
	body := 1 + 1 + varintLen(int64(i)) + 1 + varintLen(int64(n)) + n + 1
	return varintLen(int64(body)) + body
}

// RecordsPerBatch is how many records of recordSize fit in batchBytes
// (at least one).
func RecordsPerBatch(recordSize, batchBytes int) int {
	n, size := 0, batchHeaderSize
	for {
		size += recordLen(n, recordSize)
		if size > batchBytes && n > 0 {
			return n
		}
		n++
	}
}

// NewBatch encodes a batch of n records of recordSize bytes of
// pseudo-random values (seeded, so runs are repeatable).
func NewBatch(n, recordSize int, seed uint64) (*Batch, error) {
	if recordSize < 0 || recordSize > 1<<30 || n <= 0 {
		return nil, fmt.Errorf("%w: %d records of %d bytes", errBadRecord, n, recordSize)
	}
	b := make([]byte, batchHeaderSize, batchHeaderSize+n*recordLen(n, recordSize))
	value := make([]byte, recordSize)
	fillRandom(value, seed)
	for i := 0; i < n; i++ {
		b = appendRecord(b, i, value)
	}
	be := binary.BigEndian
	be.PutUint32(b[offBatchLength:], uint32(len(b)-12))
	b[offMagic] = 2
	be.PutUint32(b[offLastDelta:], uint32(n-1))
	be.PutUint64(b[offProducerID:], ^uint64(0))
	be.PutUint16(b[offProducerEp:], 0xffff)
	be.PutUint32(b[offBaseSequence:], 0xffffffff)
	be.PutUint32(b[offRecordCount:], uint32(n))
	bt := &Batch{Bytes: b, Records: n, RecordSize: recordSize, tail: tailOp(len(b) - offMaxTS - 8)}
	bt.crc = crc32.Checksum(b[offAttributes:], castagnoli)
	be.PutUint32(b[offCRC:], bt.crc)
	return bt, nil
}

func fillRandom(p []byte, seed uint64) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := 0; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], r.Uint64())
	}
	for i := len(p) &^ 7; i < len(p); i++ {
		p[i] = byte(r.Uint32())
	}
}

func appendRecord(b []byte, i int, value []byte) []byte {
	body := 1 + 1 + varintLen(int64(i)) + 1 + varintLen(int64(len(value))) + len(value) + 1
	b = binary.AppendVarint(b, int64(body))
	b = append(b, 0)              // attributes
	b = binary.AppendVarint(b, 0) // timestampDelta
	b = binary.AppendVarint(b, int64(i))
	b = binary.AppendVarint(b, -1) // key: null
	b = binary.AppendVarint(b, int64(len(value)))
	b = append(b, value...)
	return binary.AppendVarint(b, 0) // headers
}

func varintLen(v int64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutVarint(buf[:], v)
}

// tailOps caches one zero operator per tail length (batches of one size
// share it; building one costs ~50µs).
var tailOps sync.Map // int → *zeroOp

func tailOp(n int) *zeroOp {
	if z, ok := tailOps.Load(n); ok {
		return z.(*zeroOp)
	}
	z, _ := tailOps.LoadOrStore(n, newZeroOp(n))
	return z.(*zeroOp)
}

// Stamp sets baseTimestamp and maxTimestamp to ms (every record's
// timestampDelta is 0) and updates the CRC from the changed bytes alone.
func (b *Batch) Stamp(ms int64) {
	p := b.Bytes[offBaseTS : offMaxTS+8]
	delta := b.delta[:]
	copy(delta, p)
	binary.BigEndian.PutUint64(p[0:], uint64(ms))
	binary.BigEndian.PutUint64(p[8:], uint64(ms))
	for i := range delta {
		delta[i] ^= p[i]
	}
	b.crc ^= b.tail.apply(crcRaw(0, delta))
	binary.BigEndian.PutUint32(b.Bytes[offCRC:], b.crc)
}

// batchInfo is what consume needs from a batch header.
type batchInfo struct {
	baseOffset int64
	size       int // whole batch, header included
	records    int32
	lastDelta  int32
	maxTS      int64
	// valueLen is the first record's value size; -1 when the batch is
	// compressed or the record cannot be read.
	valueLen int
}

// walkBatches calls fn for every whole batch in records (a Fetch
// partition's RecordBatches); a trailing partial batch is skipped, as
// Kafka allows. With verify, each batch's CRC-32C is checked.
func walkBatches(records []byte, verify bool, fn func(batchInfo)) error {
	be := binary.BigEndian
	for len(records) >= batchHeaderSize {
		size := int(be.Uint32(records[offBatchLength:])) + 12
		if size < batchHeaderSize {
			return fmt.Errorf("%w: batch length %d", errCorrupt, size-12)
		}
		if size > len(records) {
			return nil
		}
		b := records[:size]
		if verify && crc32.Checksum(b[offAttributes:], castagnoli) != be.Uint32(b[offCRC:]) {
			return fmt.Errorf("%w: CRC mismatch at offset %d", errCorrupt, int64(be.Uint64(b)))
		}
		fn(batchInfo{
			baseOffset: int64(be.Uint64(b)),
			size:       size,
			records:    int32(be.Uint32(b[offRecordCount:])),
			lastDelta:  int32(be.Uint32(b[offLastDelta:])),
			maxTS:      int64(be.Uint64(b[offMaxTS:])),
			valueLen:   firstValueLen(b),
		})
		records = records[size:]
	}
	return nil
}

// firstValueLen reads the value length of an uncompressed batch's first
// record: length, attributes, timestampDelta, offsetDelta, key, value
// (all lengths and deltas varints).
func firstValueLen(b []byte) int {
	if binary.BigEndian.Uint16(b[offAttributes:])&0x7 != 0 || len(b) <= batchHeaderSize {
		return -1
	}
	p := b[batchHeaderSize:]
	next := func() (int64, bool) {
		v, n := binary.Varint(p)
		if n <= 0 {
			return 0, false
		}
		p = p[n:]
		return v, true
	}
	if _, ok := next(); !ok || len(p) < 1 { // record length
		return -1
	}
	p = p[1:]     // attributes
	for range 2 { // timestampDelta, offsetDelta
		if _, ok := next(); !ok {
			return -1
		}
	}
	key, ok := next()
	if !ok || key > int64(len(p)) {
		return -1
	}
	p = p[max(key, 0):]
	v, ok := next()
	if !ok || v < 0 {
		return max(int(v), -1) // a null value counts as -1: unknown
	}
	return int(v)
}
