package segment

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// Field offsets inside a RecordBatch v2 (see doc.go).
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21 // the CRC covers offAttributes..end
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offNumRecords      = 57
)

// minLength is the smallest legal batchLength: a header without records.
const minLength = HeaderSize - LogOverhead

// castagnoli is built once; crc32 picks the SSE4.2/ARM64 instructions for it.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// corruption is a preallocated error that wraps ErrCorrupt and a specific
// sentinel, so Validate can fail without allocating.
type corruption struct {
	sentinel error
	detail   string
}

func (e *corruption) Error() string {
	if e.detail == "" {
		return e.sentinel.Error()
	}
	return e.sentinel.Error() + ": " + e.detail
}

func (e *corruption) Unwrap() []error {
	if e.sentinel == ErrCorrupt {
		return []error{ErrCorrupt}
	}
	return []error{ErrCorrupt, e.sentinel}
}

func corrupt(sentinel error, detail string) error {
	return &corruption{sentinel: sentinel, detail: detail}
}

// The errors Validate and ParseHeader return; all but errShortHeader and
// errShortBatch wrap ErrCorrupt.
var (
	errShortHeader   = fmt.Errorf("%w: fewer than %d header bytes", ErrTorn, HeaderSize)
	errShortBatch    = fmt.Errorf("%w: fewer bytes than batchLength says", ErrTorn)
	errBadMagic      = corrupt(ErrBadMagic, "")
	errBadLength     = corrupt(ErrCorrupt, "batchLength out of range")
	errLongBatch     = corrupt(ErrCorrupt, "more bytes than batchLength says")
	errBadCRC        = corrupt(ErrBadCRC, "")
	errBadCount      = corrupt(ErrBadCount, "")
	errNoRecords     = corrupt(ErrBadCount, "no records")
	errTimestamp     = corrupt(ErrTimestamp, "maxTimestamp < baseTimestamp")
	errRecordVarint  = corrupt(ErrCorrupt, "bad record varint")
	errRecordLength  = corrupt(ErrCorrupt, "record length out of range")
	errRecordBody    = corrupt(ErrCorrupt, "record fields do not fill its length")
	errRecordDelta   = corrupt(ErrCorrupt, "record offset delta out of range")
	errFieldLength   = corrupt(ErrCorrupt, "record key, value or header length out of range")
	errRecordsShort  = corrupt(ErrCorrupt, "fewer records than recordsCount")
	errRecordsLong   = corrupt(ErrCorrupt, "bytes left after the last record")
	errEmptyRecords  = fmt.Errorf("%w: empty record set", ErrCorrupt)
	errUnknownCodec  = corrupt(ErrCorrupt, "unknown compression codec")
	errRecordHeaders = corrupt(ErrCorrupt, "record header count out of range")
)

func parseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, errShortHeader
	}
	h := Header{
		BaseOffset:           int64(binary.BigEndian.Uint64(b[offBaseOffset:])),
		Length:               int32(binary.BigEndian.Uint32(b[offLength:])),
		PartitionLeaderEpoch: int32(binary.BigEndian.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  binary.BigEndian.Uint32(b[offCRC:]),
		Attributes:           int16(binary.BigEndian.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:])),
		BaseTimestamp:        int64(binary.BigEndian.Uint64(b[offBaseTimestamp:])),
		MaxTimestamp:         int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(binary.BigEndian.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(binary.BigEndian.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(binary.BigEndian.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(binary.BigEndian.Uint32(b[offNumRecords:])),
	}
	if h.Magic != 2 {
		return h, errBadMagic
	}
	if h.Length < minLength { // MaxBatchSize is math.MaxInt32: no upper check
		return h, errBadLength
	}
	return h, nil
}

func validate(b []byte) (Header, error) {
	h, err := parseHeader(b)
	if err != nil {
		return h, err
	}
	return h, validateParsed(b, h, nil)
}

// validateParsed is validate for a batch whose header h was parsed from
// b already (split: the header is read once per batch, not twice), using
// what pre found for b, if anything (see stream.go): a CRC computed as b
// arrived, a records walk that passed.
func validateParsed(b []byte, h Header, pre Prechecks) error {
	switch size := h.Size(); {
	case int64(len(b)) < size:
		return errShortBatch
	case int64(len(b)) > size:
		return errLongBatch
	}
	var r StreamResult
	ok := false
	if pre != nil {
		r, ok = pre.Precheck(b)
	}
	if !ok || r.CRC != h.CRC {
		// Computed here when nothing was found, and again when what was
		// found does not match: a result only ever accepts.
		if crc32.Checksum(b[offAttributes:], castagnoli) != h.CRC {
			return errBadCRC
		}
		ok = false
	}
	if err := checkHeaderFields(h); err != nil {
		return err
	}
	if h.Compression() != 0 {
		return nil // the produce path never decompresses
	}
	if ok && r.RecordsValid || recordsValid(b[HeaderSize:], h.NumRecords) {
		return nil
	}
	// The slow walk names what is wrong (it accepts exactly what the fast
	// pass accepts: FuzzRecordsValid).
	return walkRecords(b[HeaderSize:], h.NumRecords, nil)
}

// checkHeaderFields checks what the header says about itself.
func checkHeaderFields(h Header) error {
	if h.NumRecords < 1 {
		return errNoRecords
	}
	if int64(h.NumRecords) != int64(h.LastOffsetDelta)+1 {
		return errBadCount
	}
	if h.Compression() > 4 {
		return errUnknownCodec
	}
	// With LogAppendTime the broker overwrote MaxTimestamp, which may then be
	// below the producer's BaseTimestamp; only CreateTime batches are ordered.
	if h.Attributes&AttrTimestampType == 0 && h.BaseTimestamp != -1 &&
		h.MaxTimestamp != -1 && h.MaxTimestamp < h.BaseTimestamp {
		return errTimestamp
	}
	return nil
}

func split(records []byte, pre Prechecks, fn func(batch []byte, h Header) error) error {
	if len(records) == 0 {
		return errEmptyRecords
	}
	for pos := 0; pos < len(records); {
		rest := records[pos:]
		h, err := parseHeader(rest)
		if err != nil {
			return fmt.Errorf("batch at byte %d of the record set: %w", pos, err)
		}
		if h.Size() > int64(len(rest)) {
			return fmt.Errorf("batch at byte %d of the record set: %w", pos, errShortBatch)
		}
		batch := rest[:h.Size():h.Size()]
		if err := validateParsed(batch, h, pre); err != nil {
			return fmt.Errorf("batch at byte %d of the record set: %w", pos, err)
		}
		if err := fn(batch, h); err != nil {
			return err
		}
		pos += len(batch)
	}
	return nil
}

func setBaseOffset(batch []byte, off int64) {
	binary.BigEndian.PutUint64(batch[offBaseOffset:], uint64(off))
}

func setLeaderEpoch(batch []byte, e int32) {
	binary.BigEndian.PutUint32(batch[offLeaderEpoch:], uint32(e))
}

func setLogAppendTime(batch []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(batch[offAttributes:]) | AttrTimestampType
	binary.BigEndian.PutUint16(batch[offAttributes:], attrs)
	binary.BigEndian.PutUint64(batch[offMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(batch[offCRC:], crc32.Checksum(batch[offAttributes:], castagnoli))
}

// rawRecord is one record's fields as sub-slices of the records section.
type rawRecord struct {
	attributes  int8
	tsDelta     int64
	offsetDelta int32
	key, value  []byte
	keyNull     bool
	valueNull   bool
	numHeaders  int
	headers     []byte // numHeaders encoded headers
}

// minRecordSize is the smallest encoded record: its length, attributes,
// timestamp delta, offset delta, key length, value length and header count
// take at least one byte each.
const minRecordSize = 7

// walkRecords checks that data holds exactly n records, each offset delta
// in [0, n), calling fn (if not nil) with each. It does not allocate, and a
// count that data cannot hold is rejected before any record is read.
func walkRecords(data []byte, n int32, fn func(r rawRecord) bool) error {
	if int64(n) > int64(len(data))/minRecordSize {
		return errRecordsShort
	}
	var r rawRecord
	for i := int32(0); i < n; i++ {
		if len(data) == 0 {
			return errRecordsShort
		}
		body, rest, err := nextRecord(data)
		if err != nil {
			return err
		}
		if err := parseRecord(body, &r); err != nil {
			return err
		}
		if r.offsetDelta < 0 || r.offsetDelta >= n {
			return errRecordDelta
		}
		if fn != nil && !fn(r) {
			return nil
		}
		data = rest
	}
	if len(data) != 0 {
		return errRecordsLong
	}
	return nil
}

// recordsValid is walkRecords(data, n, nil) == nil in one tight pass, the
// produce path's per-record check: the same lengths, varint bounds,
// offset deltas and header counts, without building records or tracking an
// error. It says only whether data is valid; walkRecords says why not.
//
// For small records this pass is most of the broker's own CPU, so it reads
// each field in place. The records clients write go through walkFast, a
// loop that checks each from one 16-byte window; the others, one at a
// time, through recordValid: varint12 (inlined) reads the varints of one
// and two bytes that nearly every field of a small record is, and only a
// longer one costs a call (varintLong, binary.Varint). A record's fields
// are read within its length, so none runs past it.
func recordsValid(data []byte, n int32) bool {
	if int64(n) > int64(len(data))/minRecordSize {
		return false
	}
	pos := 0
	for i := int32(0); i < n; i++ {
		if pos, i = walkFast(data, pos, i, n); i == n {
			break
		}
		l, p := varint12(data, pos)
		if p < 0 {
			if l, p = varintLong(data, pos); p < 0 {
				return false
			}
		}
		if l < 0 || l > int64(len(data)-p) {
			return false
		}
		end := p + int(l)
		if !recordValid(data[p:end], n) {
			return false
		}
		pos = end
	}
	return pos == len(data)
}

// recordValid checks one record body (its length prefix removed) as
// parseRecord does, offset delta in [0, n).
func recordValid(b []byte, n int32) bool {
	// attributes (1 byte), then the timestamp delta
	_, pos := varint12(b, 1)
	if pos < 0 {
		if _, pos = varintLong(b, 1); pos < 0 {
			return false
		}
	}
	v, p := varint12(b, pos) // offset delta in [0, n)
	if p < 0 {
		if v, p = varintLong(b, pos); p < 0 {
			return false
		}
	}
	if uint64(v) >= uint64(n) {
		return false
	}
	pos = p
	for range 2 { // key, value: -1 is null
		v, p := varint12(b, pos)
		if p < 0 {
			if v, p = varintLong(b, pos); p < 0 {
				return false
			}
		}
		if v < -1 || v > int64(len(b)-p) {
			return false
		}
		pos = p + int(max(v, 0))
	}
	return headerTailValid(b, pos)
}

// headerTailValid checks a record's header count at b[pos:] and that
// exactly that many headers follow it to b's end.
func headerTailValid(b []byte, pos int) bool {
	v, p := varint12(b, pos)
	if p < 0 {
		if v, p = varintLong(b, pos); p < 0 {
			return false
		}
	}
	switch {
	case v == 0:
		return p == len(b)
	case v < 0 || v > int64((len(b)-p)/2): // a header takes 2+ bytes; this bound < MaxInt32
		return false
	}
	return headersValid(b, p, v)
}

// varint12 reads a varint of one or two bytes at b[pos:] (pos >= 0), as
// varintAt does; its position is negative if the varint there is longer
// or b holds none. It inlines.
func varint12(b []byte, pos int) (int64, int) {
	if pos < len(b) {
		u := int64(b[pos])
		if u < 0x80 {
			return u>>1 ^ -(u & 1), pos + 1
		}
		if pos+1 < len(b) && b[pos+1] < 0x80 {
			u = u&0x7f | int64(b[pos+1])<<7
			return u>>1 ^ -(u & 1), pos + 2
		}
	}
	return 0, -1
}

// headersValid checks that b[pos:] is exactly count headers.
func headersValid(b []byte, pos int, count int64) bool {
	for range count {
		l, p := varintAt(b, pos) // key: never null
		if p < 0 || l < 0 || l > int64(len(b)-p) {
			return false
		}
		l, p = varintAt(b, p+int(l)) // value
		if p < 0 || l < -1 || l > int64(len(b)-p) {
			return false
		}
		pos = p + int(max(l, 0))
	}
	return pos == len(b)
}

// varintAt reads the zig-zag varint at b[pos:] (pos >= 0): its value and
// the position after it, or a negative position if b holds none.
func varintAt(b []byte, pos int) (int64, int) {
	if v, p := varint12(b, pos); p >= 0 {
		return v, p
	}
	return varintLong(b, pos)
}

// varintLong is varintAt by binary.Varint, for the varints varint12 does
// not read.
func varintLong(b []byte, pos int) (int64, int) {
	if pos >= len(b) {
		return 0, -1
	}
	v, k := binary.Varint(b[pos:])
	if k <= 0 {
		return 0, -1
	}
	return v, pos + k
}

// nextRecord splits the length-prefixed record at the start of data.
func nextRecord(data []byte) (body, rest []byte, err error) {
	l, k := binary.Varint(data)
	if k <= 0 {
		return nil, nil, errRecordVarint
	}
	if l < 0 || l > int64(len(data)-k) {
		return nil, nil, errRecordLength
	}
	return data[k : k+int(l)], data[k+int(l):], nil
}

// parseRecord decodes one record body (its length prefix removed) into r.
func parseRecord(b []byte, r *rawRecord) error {
	d := decoder{b: b}
	r.attributes = int8(d.byte())
	r.tsDelta = d.varint()
	r.offsetDelta = d.varint32()
	r.key, r.keyNull = d.bytes()
	r.value, r.valueNull = d.bytes()
	count := d.varint32()
	start := d.pos
	if d.err == nil && (count < 0 || int(count) > (len(b)-start)/2) { // a header takes 2+ bytes
		return errRecordHeaders
	}
	for i := int32(0); i < count && d.err == nil; i++ {
		if _, null := d.bytes(); null {
			d.fail(errFieldLength) // header keys are never null
		}
		d.bytes()
	}
	if d.err != nil {
		return d.err
	}
	if d.pos != len(b) {
		return errRecordBody
	}
	r.numHeaders, r.headers = int(count), b[start:]
	return nil
}

// decoder reads Kafka varint fields, remembering the first error.
type decoder struct {
	b   []byte
	pos int
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.pos = len(d.b)
}

func (d *decoder) byte() byte {
	if d.pos >= len(d.b) {
		d.fail(errRecordBody)
		return 0
	}
	d.pos++
	return d.b[d.pos-1]
}

func (d *decoder) varint() int64 {
	v, k := binary.Varint(d.b[d.pos:])
	if k <= 0 {
		d.fail(errRecordVarint)
		return 0
	}
	d.pos += k
	return v
}

func (d *decoder) varint32() int32 {
	v := d.varint()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail(errRecordVarint)
		return 0
	}
	return int32(v)
}

// bytes reads a varint length (-1 for null) and that many bytes.
func (d *decoder) bytes() (b []byte, null bool) {
	l := d.varint()
	switch {
	case d.err != nil:
		return nil, false
	case l == -1:
		return nil, true
	case l < -1 || l > int64(len(d.b)-d.pos):
		d.fail(errFieldLength)
		return nil, false
	}
	b = d.b[d.pos : d.pos+int(l) : d.pos+int(l)]
	d.pos += int(l)
	return b, false
}
