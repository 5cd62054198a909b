package mmapindex

import (
	"encoding/binary"

	"github.com/sluice/sluice/internal/vfs"
)

type timeIndex struct{ mapped }

func openTimeIndex(fsys vfs.FS, path string, baseOffset int64, maxBytes int, missing int) (*TimeIndex, error) {
	x := &TimeIndex{}
	if err := x.open(fsys, path, baseOffset, TimeEntrySize, maxBytes, timeContinues, missing); err != nil {
		return nil, err
	}
	return x, nil
}

// timeContinues: offsets strictly increase, timestamps do not decrease.
func timeContinues(m []byte, i int) bool {
	prevTS, prevOff := timeEntryAt(m, i-1)
	ts, off := timeEntryAt(m, i)
	return off > prevOff && ts >= prevTS
}

func timeEntryAt(m []byte, i int) (ts int64, rel uint32) {
	e := m[i*TimeEntrySize:]
	return int64(binary.BigEndian.Uint64(e)), binary.BigEndian.Uint32(e[8:])
}

func (x *timeIndex) append(timestamp int64, offset int64) error {
	lastTS, _ := x.last()
	if timestamp <= lastTS {
		return nil // Kafka's maybeAppend: only a new maximum is indexed
	}
	if err := x.checkRoom(); err != nil {
		return err
	}
	rel, err := x.relative(offset)
	if err != nil {
		return err
	}
	n := x.entries()
	if n > 0 {
		if _, lastRel := timeEntryAt(x.m, n-1); rel <= lastRel {
			lastTS, lastOff := x.entry(n - 1)
			return &orderError{path: x.path, offset: offset, pos: timestamp, lastOffset: lastOff, lastPos: lastTS, time: true}
		}
	}
	e := x.slot(n)
	binary.BigEndian.PutUint64(e, uint64(timestamp))
	binary.BigEndian.PutUint32(e[8:], rel)
	x.publish(n)
	return nil
}

func (x *timeIndex) lookup(ts int64) (int64, int64) {
	i := x.count(func(i int) bool { t, _ := timeEntryAt(x.m, i); return t <= ts })
	if i == 0 {
		return -1, x.base
	}
	return x.entry(i - 1)
}

func (x *timeIndex) last() (int64, int64) {
	n := x.entries()
	if n == 0 {
		return -1, x.base
	}
	return x.entry(n - 1)
}

func (x *timeIndex) entry(i int) (int64, int64) {
	if i < 0 || i >= x.entries() {
		panic("BUG: mmapindex: time index entry out of range")
	}
	ts, rel := timeEntryAt(x.m, i)
	return ts, x.base + int64(rel)
}

func (x *timeIndex) truncateTo(offset int64) {
	x.truncateToRelative(offset, func(i int) uint32 { _, r := timeEntryAt(x.m, i); return r })
}
