package mmapindex

import (
	"encoding/binary"

	"github.com/sluice/sluice/internal/vfs"
)

type offsetIndex struct{ mapped }

func openOffsetIndex(fsys vfs.FS, path string, baseOffset int64, maxBytes int, missing int) (*OffsetIndex, error) {
	x := &OffsetIndex{}
	if err := x.open(fsys, path, baseOffset, OffsetEntrySize, maxBytes, offsetContinues, missing); err != nil {
		return nil, err
	}
	return x, nil
}

// offsetContinues: offsets strictly increase, positions do not decrease.
func offsetContinues(m []byte, i int) bool {
	prevOff, prevPos := offsetEntryAt(m, i-1)
	off, pos := offsetEntryAt(m, i)
	return off > prevOff && pos >= prevPos
}

func offsetEntryAt(m []byte, i int) (rel, pos uint32) {
	e := m[i*OffsetEntrySize:]
	return binary.BigEndian.Uint32(e), binary.BigEndian.Uint32(e[4:])
}

func (x *offsetIndex) append(offset int64, pos uint32) error {
	if err := x.checkRoom(); err != nil {
		return err
	}
	rel, err := x.relative(offset)
	if err != nil {
		return err
	}
	n := x.entries()
	if n > 0 {
		lastRel, lastPos := offsetEntryAt(x.m, n-1)
		if rel <= lastRel || pos < lastPos {
			return x.orderError(offset, pos, n-1)
		}
	}
	e := x.slot(n)
	binary.BigEndian.PutUint32(e, rel)
	binary.BigEndian.PutUint32(e[4:], pos)
	x.publish(n)
	return nil
}

func (x *offsetIndex) lookup(target int64) (int64, uint32) {
	rel, ok := x.clampRelative(target)
	if !ok {
		return x.base, 0
	}
	i := x.count(func(i int) bool { r, _ := offsetEntryAt(x.m, i); return r <= rel })
	if i == 0 {
		return x.base, 0
	}
	return x.entry(i - 1)
}

func (x *offsetIndex) lookupPosition(pos uint32) (int64, uint32) {
	i := x.count(func(i int) bool { _, p := offsetEntryAt(x.m, i); return p <= pos })
	if i == 0 {
		return x.base, 0
	}
	return x.entry(i - 1)
}

func (x *offsetIndex) entry(i int) (int64, uint32) {
	if i < 0 || i >= x.entries() {
		panic("BUG: mmapindex: offset index entry out of range")
	}
	rel, pos := offsetEntryAt(x.m, i)
	return x.base + int64(rel), pos
}

func (x *offsetIndex) truncateTo(offset int64) {
	x.truncateToRelative(offset, x.relAt)
}

func (x *offsetIndex) relAt(i int) uint32 { r, _ := offsetEntryAt(x.m, i); return r }

func (x *offsetIndex) orderError(offset int64, pos uint32, last int) error {
	lastOff, lastPos := x.entry(last)
	return &orderError{path: x.path, offset: offset, pos: int64(pos), lastOffset: lastOff, lastPos: int64(lastPos)}
}

func (x *offsetIndex) ceiling(target int64) (int64, uint32, bool) {
	if x.entries() == 0 {
		return 0, 0, false
	}
	if target < x.base {
		off, pos := x.entry(0)
		return off, pos, true
	}
	rel, ok := x.clampRelative(target)
	if !ok {
		return 0, 0, false
	}
	i := x.count(func(i int) bool { return x.relAt(i) < rel })
	if i == x.entries() {
		return 0, 0, false
	}
	off, pos := x.entry(i)
	return off, pos, true
}
