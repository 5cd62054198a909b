package partition

import (
	"crypto/md5"
	"encoding/binary"
	"math/bits"
)

// offsetMap is the cleaner's key → latest offset map (Kafka's
// SkimpyOffsetMap): open addressing with linear probing over fixed 24-byte
// slots, the key's MD5 (16 bytes) and the offset + 1 (0 marks a free slot).
// Its memory is exactly 24 bytes a slot, allocated once per cleaner thread
// and reused; it accepts new keys until loadFactor of the slots are used.
// Two keys with the same MD5 count as one (the older record of one could be
// dropped): at 128 bits, not a practical concern.
type offsetMap struct {
	slots []mapSlot
	limit int // most keys accepted: loadFactor × len(slots)
	used  int
}

type mapSlot struct {
	hash [16]byte
	off1 int64 // offset + 1; 0: free
}

const (
	slotBytes     = 24
	mapLoadFactor = 0.9
)

// newOffsetMap returns a map of the given slot count (at least 2, so that
// a free slot always ends a probe).
func newOffsetMap(slots int) *offsetMap {
	slots = max(slots, 2)
	return &offsetMap{slots: make([]mapSlot, slots), limit: max(int(float64(slots)*mapLoadFactor), 1)}
}

// reset empties the map, keeping its memory.
func (m *offsetMap) reset() {
	clear(m.slots)
	m.used = 0
}

func hashKey(key []byte) [16]byte { return md5.Sum(key) }

// slot returns the index of h's slot, or of the free slot where it goes.
func (m *offsetMap) slot(h *[16]byte) int {
	// Lemire's multiply-high maps the 64-bit hash onto [0, len) without a
	// division; MD5 bits are uniform.
	i, _ := bits.Mul64(binary.LittleEndian.Uint64(h[:8]), uint64(len(m.slots)))
	for n := int(i); ; n++ {
		if n == len(m.slots) {
			n = 0
		}
		s := &m.slots[n]
		if s.off1 == 0 || s.hash == *h {
			return n
		}
	}
}

// put records off as h's latest offset. It returns false, changing
// nothing, when h is new and the map holds its limit of keys.
func (m *offsetMap) put(h [16]byte, off int64) bool {
	n := m.slot(&h)
	s := &m.slots[n]
	if s.off1 == 0 {
		if m.used >= m.limit {
			return false
		}
		m.used++
		s.hash = h
	}
	s.off1 = off + 1
	return true
}

// get returns h's offset, or false.
func (m *offsetMap) get(h [16]byte) (int64, bool) {
	s := &m.slots[m.slot(&h)]
	return s.off1 - 1, s.off1 != 0
}
