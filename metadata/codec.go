package metadata

import (
	"encoding/binary"
	"fmt"
	"math"
)

// frameHeaderSize is a frame's type, version and length.
const frameHeaderSize = 1 + 1 + 4

// maxFieldsSize bounds one record's fields (a frame's length).
const maxFieldsSize = 64 << 20

// AppendRecord appends rec's frame to dst.
func AppendRecord(dst []byte, rec Record) []byte {
	start := len(dst)
	dst = append(dst, byte(rec.Type()), rec.Version(), 0, 0, 0, 0)
	w := writer{b: dst}
	rec.encodeFields(&w)
	dst = w.b
	n := len(dst) - start - frameHeaderSize
	if n > maxFieldsSize {
		panic(fmt.Sprintf("BUG: metadata record %d of %d bytes", rec.Type(), n))
	}
	binary.BigEndian.PutUint32(dst[start+2:], uint32(n))
	return dst
}

// EncodeBatch returns the frames of recs back to back: one Raft log entry.
func EncodeBatch(recs []Record) []byte {
	var b []byte
	for _, rec := range recs {
		b = AppendRecord(b, rec)
	}
	return b
}

// DecodeRecord decodes the frame at the start of b and returns the record
// (a value, not a pointer) and the bytes after it. Every failure wraps
// ErrCorrupt.
func DecodeRecord(b []byte) (Record, []byte, error) {
	if len(b) < frameHeaderSize {
		return nil, nil, fmt.Errorf("%w: frame header of %d bytes", ErrCorrupt, len(b))
	}
	t, v, n := Type(b[0]), b[1], binary.BigEndian.Uint32(b[2:])
	if uint64(n) > uint64(len(b)-frameHeaderSize) || n > maxFieldsSize {
		return nil, nil, fmt.Errorf("%w: frame of %d bytes, %d left", ErrCorrupt, n, len(b)-frameHeaderSize)
	}
	p := newRecord(t, v)
	if p == nil {
		return nil, nil, fmt.Errorf("%w: unknown type %d version %d", ErrCorrupt, t, v)
	}
	r := reader{b: b[frameHeaderSize : frameHeaderSize+int(n)], version: v}
	p.decodeFields(&r)
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d bytes after the fields", ErrCorrupt, len(r.b))
	}
	if r.err != nil {
		return nil, nil, fmt.Errorf("cannot decode record type %d: %w", t, r.err)
	}
	return deref(p), b[frameHeaderSize+int(n):], nil
}

// DecodeBatch decodes every frame of b.
func DecodeBatch(b []byte) ([]Record, error) {
	var recs []Record
	for len(b) > 0 {
		rec, rest, err := DecodeRecord(b)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", len(recs), err)
		}
		recs = append(recs, rec)
		b = rest
	}
	return recs, nil
}

func deref(p decodable) Record {
	switch r := p.(type) {
	case *RegisterBroker:
		return *r
	case *FenceBroker:
		return *r
	case *UnfenceBroker:
		return *r
	case *UnregisterBroker:
		return *r
	case *Topic:
		return *r
	case *Partition:
		return *r
	case *PartitionChange:
		return *r
	case *RemoveTopic:
		return *r
	case *Config:
		return *r
	case *ProducerIdsBlock:
		return *r
	case *AccessControlEntry:
		return *r
	case *RemoveAccessControlEntry:
		return *r
	case *UserScramCredential:
		return *r
	case *RemoveUserScramCredential:
		return *r
	}
	panic(fmt.Sprintf("BUG: metadata: deref of %T", p))
}

// writer appends big-endian fields.
type writer struct{ b []byte }

func (w *writer) int8(v int8)     { w.b = append(w.b, byte(v)) }
func (w *writer) uint16(v uint16) { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *writer) int16(v int16)   { w.uint16(uint16(v)) }
func (w *writer) int32(v int32)   { w.b = binary.BigEndian.AppendUint32(w.b, uint32(v)) }
func (w *writer) int64(v int64)   { w.b = binary.BigEndian.AppendUint64(w.b, uint64(v)) }
func (w *writer) uuid(v UUID)     { w.b = append(w.b, v[:]...) }

func (w *writer) bool(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}

func (w *writer) count(n int) {
	if n > math.MaxInt32 {
		panic(fmt.Sprintf("BUG: metadata: count %d", n))
	}
	w.int32(int32(n))
}

func (w *writer) string(s string) {
	if len(s) > math.MaxUint16 {
		panic(fmt.Sprintf("BUG: metadata: string of %d bytes", len(s)))
	}
	w.uint16(uint16(len(s)))
	w.b = append(w.b, s...)
}

func (w *writer) int32s(v []int32) {
	w.count(len(v))
	for _, x := range v {
		w.int32(x)
	}
}

// nullableInt32s writes -1 for nil, so nil and empty stay apart.
func (w *writer) nullableInt32s(v []int32) {
	if v == nil {
		w.int32(-1)
		return
	}
	w.int32s(v)
}

// reader consumes big-endian fields. The first error sticks; later reads
// return zero values.
type reader struct {
	b       []byte
	err     error
	version uint8 // the record's version
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.err = fmt.Errorf("%w: field of %d bytes, %d left", ErrCorrupt, n, len(r.b))
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) int8() int8 {
	if p := r.take(1); p != nil {
		return int8(p[0])
	}
	return 0
}

func (r *reader) uint16() uint16 {
	if p := r.take(2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (r *reader) int16() int16 { return int16(r.uint16()) }

func (r *reader) int32() int32 {
	if p := r.take(4); p != nil {
		return int32(binary.BigEndian.Uint32(p))
	}
	return 0
}

func (r *reader) int64() int64 {
	if p := r.take(8); p != nil {
		return int64(binary.BigEndian.Uint64(p))
	}
	return 0
}

func (r *reader) uuid() (u UUID) {
	if p := r.take(16); p != nil {
		copy(u[:], p)
	}
	return u
}

func (r *reader) bool() bool {
	p := r.take(1)
	if p == nil {
		return false
	}
	if p[0] > 1 {
		r.err = fmt.Errorf("%w: bool byte %d", ErrCorrupt, p[0])
		return false
	}
	return p[0] == 1
}

func (r *reader) string() string {
	n := int(r.uint16())
	return string(r.take(n))
}

// count reads an element count and bounds it by the bytes left, given the
// smallest encoding of one element.
func (r *reader) count(minElem int) int {
	n := r.int32()
	if r.err != nil {
		return 0
	}
	if n < 0 || int64(n)*int64(minElem) > int64(len(r.b)) {
		r.err = fmt.Errorf("%w: count %d with %d bytes left", ErrCorrupt, n, len(r.b))
		return 0
	}
	return int(n)
}

func (r *reader) int32s() []int32 {
	n := r.count(4)
	if n == 0 {
		return nil
	}
	v := make([]int32, n)
	for i := range v {
		v[i] = r.int32()
	}
	return v
}

func (r *reader) nullableInt32s() []int32 {
	if r.err == nil && len(r.b) >= 4 && int32(binary.BigEndian.Uint32(r.b)) == -1 {
		r.b = r.b[4:]
		return nil
	}
	v := r.int32s()
	if v == nil && r.err == nil {
		v = []int32{}
	}
	return v
}
