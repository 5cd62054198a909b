package partition

import (
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/sluice/sluice/segment"
	"github.com/sluice/sluice/sendfile"
)

// readView is a segment pinned for reading with the limit readers may see
// in it (its size at the high watermark, or at the log end for a replica).
type readView struct {
	seg   *logSegment
	limit int64
}

// bound is where a read stops: the high watermark's segment and position
// (consumers) or the log end's (followers, ReadReplica).
type bound struct {
	seg *logSegment
	pos int64
}

func (l *log) hwBoundLocked() bound  { return bound{l.mu.hwSeg, l.mu.hwPos} }
func (l *log) leoBoundLocked() bound { return bound{l.mu.leoSeg, l.mu.leoPos} }

// pin finds the segment holding offset (binary search on base offsets) and
// takes a reference on it. ok is false when offset is at the bound. Called
// with mu held.
func (l *log) pinLocked(offset int64, b bound) (readView, bool) {
	segs := l.mu.segments
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > offset }) - 1
	if i < 0 {
		i = 0
	}
	for ; i < len(segs); i++ {
		s := segs[i]
		lim := limitOf(s, b)
		if lim == 0 && s.base >= b.seg.base {
			return readView{}, false
		}
		if i+1 < len(segs) && segs[i+1].base <= offset {
			continue
		}
		s.acquire()
		return readView{s, lim}, true
	}
	return readView{}, false
}

// limitOf is how much of s a read stopping at b may see.
func limitOf(s *logSegment, b bound) int64 {
	switch {
	case s == b.seg:
		return b.pos
	case s.base < b.seg.base:
		return s.log.Size()
	}
	return 0
}

// readMissHook, when set (tests), is called when a read found no batch at
// its offset in the segment it pinned, before it moves to the next one.
var readMissHook func()

func (l *log) read(offset, maxBytes int64, minOneBatch bool) (ReadResult, error) {
	return l.readIsolated(offset, maxBytes, minOneBatch, false)
}

// readIsolated is read; committed reads only below the last stable offset
// and collects the aborted transactions of the range read.
func (l *log) readIsolated(offset, maxBytes int64, minOneBatch, committed bool) (ReadResult, error) {
	return l.readUpTo(offset, maxBytes, minOneBatch, committed, false)
}

// readUpTo is the read path: consumers stop at the high watermark
// (committed ones at the last stable offset), a replica (follower fetch)
// at the log end offset.
func (l *log) readUpTo(offset, maxBytes int64, minOneBatch, committed, replica bool) (ReadResult, error) {
	l.mu.RLock()
	res := ReadResult{
		HighWatermark:    l.mu.hw,
		LastStableOffset: l.lsoLocked(),
		LogStartOffset:   l.mu.logStart,
		LogEndOffset:     l.mu.leo,
	}
	end, b := res.HighWatermark, l.hwBoundLocked()
	boundOffset, cuts := end, l.mu.cuts
	switch {
	case replica:
		end, b = res.LogEndOffset, l.leoBoundLocked()
		boundOffset = end
	case committed:
		end = res.LastStableOffset
	}
	if l.mu.closed {
		l.mu.RUnlock()
		return res, ErrClosed
	}
	if err := l.offlineLocked(); err != nil {
		l.mu.RUnlock()
		return res, err
	}
	if offset < l.mu.logStart || offset > l.mu.leo {
		l.mu.RUnlock()
		return res, fmt.Errorf("%w: %d is outside [%d, %d] of %s-%d", ErrOffsetOutOfRange,
			offset, res.LogStartOffset, res.LogEndOffset, l.topic, l.partition)
	}
	for offset < end {
		v, ok := l.pinLocked(offset, b)
		if !ok {
			break
		}
		next := l.nextBaseLocked(v.seg)
		l.mu.RUnlock()
		if end < next {
			// The LSO (a batch start) lies in this segment: read below it.
			if err := l.limitTo(&v, end); err != nil {
				v.seg.Release()
				return res, err
			}
		}
		reg, found, err := l.readSegment(v, offset, maxBytes, minOneBatch, cuts)
		if err == nil && found && v.seg == b.seg && reg.Off+reg.Len == b.pos {
			// Read up to the bound: the next read from the bound's
			// offset starts at its position.
			l.hints.note(v.seg, boundOffset, b.pos, cuts)
		}
		if err == nil && found && committed {
			res.AbortedTransactions, err = l.abortedFor(v.seg, offset, reg, min(next, end))
		}
		if err != nil || found {
			if found {
				res.Regions, res.Bytes = append(res.Regions, reg), reg.Len
			}
			return res, err
		}
		// offset lies past the last batch of that segment: go on at the
		// next base seen when pinning it. The cleaner may have swapped the
		// segment out meanwhile (it is then no longer in the list, and its
		// next base unknown); its cleaned replacement holds no batch in
		// [offset, next) either, as cleaning only removes batches.
		if readMissHook != nil {
			readMissHook()
		}
		l.mu.RLock()
		offset = max(offset, next)
	}
	l.mu.RUnlock()
	return res, nil
}

// limitTo lowers v's limit to the position of the batch starting at
// offset (the last stable offset), if v holds it.
func (l *log) limitTo(v *readView, offset int64) error {
	pos, _, err := l.findBatch(*v, offset)
	if err != nil {
		return err
	}
	if pos >= 0 {
		v.limit = pos
	}
	return nil
}

// abortedFor collects the aborted transactions that may hold records of
// reg, read from offset in seg: Kafka's collectAbortedTransactions from
// offset up to an upper bound (the offset of the first index entry at or
// after the region's end, or bound), across seg and the segments after it
// (an aborted transaction's marker may be far ahead) until an entry's last
// stable offset reaches the bound.
func (l *log) abortedFor(seg *logSegment, offset int64, reg sendfile.Region, bound int64) ([]AbortedTxn, error) {
	upper, err := seg.offsetAtOrAfter(reg.Off+reg.Len, bound)
	if err != nil {
		return nil, err
	}
	l.mu.RLock()
	var segs []*logSegment
	all := l.mu.segments
	for i, s := range all {
		if i+1 < len(all) && all[i+1].base <= seg.base {
			continue // wholly below seg
		}
		s.acquire()
		segs = append(segs, s)
	}
	l.mu.RUnlock()
	defer releaseAll(segs)
	var out []AbortedTxn
	for _, s := range segs {
		more := false
		if out, more, err = s.collectAborted(out, offset, upper); err != nil || !more {
			return out, err
		}
	}
	return out, nil
}

// readSegment finds the batch holding offset in v and returns the region of
// whole batches from it up to maxBytes. It keeps v's reference in the region
// or releases it. cuts is l.mu.cuts when v was pinned (read hints).
func (l *log) readSegment(v readView, offset, maxBytes int64, minOneBatch bool, cuts uint64) (sendfile.Region, bool, error) {
	if pos, ok := l.hints.find(v.seg, offset, cuts); ok && pos < v.limit && v.limit-pos <= maxBytes {
		// A reader at the log's end: its batches run from the hinted
		// start to the limit (a batch end), and all of them fit.
		return l.regionOf(v, pos, v.limit)
	}
	start, first, err := l.findBatch(v, offset)
	if err != nil || start < 0 {
		v.seg.Release()
		return sendfile.Region{}, false, err
	}
	end := start
	if first.Size() <= maxBytes {
		// More whole batches may fit; the first alone needs no scan.
		if end, err = l.batchBoundary(v, start+first.Size(), start+maxBytes); err != nil {
			v.seg.Release()
			return sendfile.Region{}, false, err
		}
	} else if minOneBatch {
		end = start + first.Size()
	}
	if end == start {
		v.seg.Release()
		return sendfile.Region{}, false, nil
	}
	return l.regionOf(v, start, end)
}

// regionOf is [start, end) of v's segment as a region holding v's
// reference (released on error).
func (l *log) regionOf(v readView, start, end int64) (sendfile.Region, bool, error) {
	f, err := v.seg.log.Handle()
	if err != nil {
		v.seg.Release()
		return sendfile.Region{}, false, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	return sendfile.Region{File: f, Off: start, Len: end - start, Ref: v.seg}, true, nil
}

// findBatch returns the position and header of the first batch in v whose
// last offset is >= offset, or -1 when there is none below the limit. The
// index's ceiling entry (a batch start holding its last offset) answers
// with one header read when that batch holds offset, the common case for
// batches larger than index.interval.bytes; otherwise the header walk
// starts at the floor entry.
func (l *log) findBatch(v readView, offset int64) (int64, segment.Header, error) {
	if last, pos, ok, err := v.seg.ceiling(offset); err != nil {
		return -1, segment.Header{}, err
	} else if ok && pos < v.limit {
		h, err := v.seg.log.ReadHeaderAt(pos)
		if err == nil && h.LastOffset() == last && h.BaseOffset <= offset && pos+h.Size() <= v.limit {
			return pos, h, nil
		}
	}
	_, from, err := v.seg.lookup(offset)
	if err != nil {
		return -1, segment.Header{}, err
	}
	pos, found := int64(-1), segment.Header{}
	err = walkHeaders(v.seg.log, from, v.limit, func(h segment.Header, p int64) bool {
		if h.LastOffset() >= offset {
			pos, found = p, h
			return false
		}
		return true
	})
	if err != nil {
		return -1, segment.Header{}, fmt.Errorf("%w: cannot read %q: %w", ErrStorage, v.seg.log.Path(), err)
	}
	return pos, found, nil
}

// walkHeaders reads windows of walkFirst bytes (a large batch's header, or
// a few small ones), then walkWindow once batches prove small.
const (
	walkFirst  = 256
	walkWindow = 4096
)

var walkBufs = sync.Pool{New: func() any { return new([walkWindow]byte) }}

// walkHeaders calls fn for each batch header from pos (a batch start) whose
// batch ends at or before limit, until fn returns false. It preads small
// windows, so a lookup costs a syscall or two rather than a large read (the
// read path's scans are short: the index put pos near the target).
func walkHeaders(f io.ReaderAt, pos, limit int64, fn func(h segment.Header, pos int64) bool) error {
	buf := walkBufs.Get().(*[walkWindow]byte)
	defer walkBufs.Put(buf)
	var win []byte
	winStart, want := int64(0), int64(walkFirst)
	for pos+segment.HeaderSize <= limit {
		if pos < winStart || pos+segment.HeaderSize > winStart+int64(len(win)) {
			n := int(min(want, limit-pos))
			if _, err := f.ReadAt(buf[:n], pos); err != nil {
				return fmt.Errorf("cannot read batch header at %d: %w", pos, err)
			}
			win, winStart = buf[:n], pos
		}
		h, err := segment.ParseHeader(win[pos-winStart:])
		if err != nil {
			return fmt.Errorf("batch header at %d: %w", pos, err)
		}
		if pos+h.Size() > limit || !fn(h, pos) {
			return nil
		}
		pos += h.Size()
		if h.Size() < walkWindow/4 {
			want = walkWindow
		}
	}
	return nil
}

// batchBoundary returns the largest batch end in [from, target], capped at
// the view's limit; from is a batch boundary.
func (l *log) batchBoundary(v readView, from, target int64) (int64, error) {
	if target >= v.limit {
		return v.limit, nil
	}
	indexed, err := v.seg.lookupPosition(target)
	if err != nil {
		return 0, err
	}
	end := max(indexed, from)
	err = walkHeaders(v.seg.log, end, target, func(h segment.Header, p int64) bool {
		end = p + h.Size()
		return true
	})
	if err != nil {
		return 0, fmt.Errorf("%w: cannot read %q: %w", ErrStorage, v.seg.log.Path(), err)
	}
	return end, nil
}

// offsetForTimestamp finds the first record with timestamp >= ts: the first
// segment whose largest timestamp reaches ts, its time index, its offset
// index, a scan of batch headers, then the records of the batch found.
func (l *log) offsetForTimestamp(ts int64) (int64, int64, bool, error) {
	segs, hw := l.pinAll()
	defer releaseAll(segs)
	for _, s := range segs {
		if s.base >= hw {
			break
		}
		largest, err := s.largestTimestamp()
		if err != nil {
			return 0, 0, false, err
		}
		if largest < ts {
			continue
		}
		start, err := s.lookupTime(ts)
		if err != nil {
			return 0, 0, false, err
		}
		off, rts, ok, err := l.scanForTimestamp(start, hw, func(h segment.Header) bool { return h.MaxTimestamp >= ts },
			func(r segment.Record) bool { return r.Timestamp >= ts })
		if err != nil || ok {
			return off, rts, ok, err
		}
	}
	return -1, -1, false, nil
}

// maxTimestamp finds the record with the largest timestamp (the first one
// that has it).
func (l *log) maxTimestamp() (int64, int64, bool, error) {
	best, bestOff, hw, err := l.largestTimestamp()
	if err != nil {
		return 0, 0, false, err
	}
	if bestOff < 0 {
		return -1, -1, false, nil
	}
	return l.scanForTimestamp(bestOff, hw, func(h segment.Header) bool { return h.LastOffset() >= bestOff },
		func(r segment.Record) bool { return r.Timestamp >= best })
}

// largestTimestamp is the largest batch timestamp below the high
// watermark and the last offset of the batch that has it.
func (l *log) largestTimestamp() (best, bestOff, hw int64, err error) {
	segs, hw := l.pinAll()
	defer releaseAll(segs)
	best, bestOff = -1, -1
	for _, s := range segs {
		if s.base >= hw {
			break
		}
		if _, err := s.indexes(); err != nil {
			return 0, 0, 0, err
		}
		if ts := s.maxTS.Load(); ts > best {
			best, bestOff = ts, s.maxTSOffset.Load()
		}
	}
	return best, bestOff, hw, nil
}

// scanForTimestamp reads from the batch holding offset start, finds the
// first batch matching batchOK, then its first record matching recordOK
// (a compressed batch whose records cannot be read answers with its base
// offset and largest timestamp).
func (l *log) scanForTimestamp(start, hw int64, batchOK func(segment.Header) bool,
	recordOK func(segment.Record) bool) (int64, int64, bool, error) {
	for start < hw {
		res, err := l.read(start, 1, true)
		if err != nil {
			return 0, 0, false, err
		}
		if len(res.Regions) == 0 {
			return -1, -1, false, nil
		}
		reg := res.Regions[0]
		buf := make([]byte, reg.Len)
		_, err = reg.File.ReadAt(buf, reg.Off)
		reg.Release()
		if err != nil {
			return 0, 0, false, fmt.Errorf("%w: %w", ErrStorage, err)
		}
		h, err := segment.ParseHeader(buf)
		if err != nil {
			return 0, 0, false, fmt.Errorf("%w: %w", ErrStorage, err)
		}
		if batchOK(h) {
			return firstRecord(buf, h, recordOK)
		}
		start = h.LastOffset() + 1
	}
	return -1, -1, false, nil
}

func firstRecord(batch []byte, h segment.Header, ok func(segment.Record) bool) (int64, int64, bool, error) {
	if h.Attributes&segment.AttrTimestampType != 0 {
		return h.BaseOffset, h.MaxTimestamp, true, nil
	}
	off, ts := int64(-1), int64(-1)
	err := segment.Records(batch, func(r segment.Record) bool {
		if ok(r) {
			off, ts = r.Offset, r.Timestamp
			return false
		}
		return true
	})
	if err != nil || off < 0 {
		return h.BaseOffset, h.MaxTimestamp, true, nil
	}
	return off, ts, true, nil
}

// pinAll takes a reference on every segment (so that neither retention nor
// the cleaner closes one under the caller) and returns them with the high
// watermark. Release them with releaseAll.
func (l *log) pinAll() ([]*logSegment, int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	segs := append([]*logSegment(nil), l.mu.segments...)
	for _, s := range segs {
		s.acquire()
	}
	return segs, l.mu.hw
}

func releaseAll(segs []*logSegment) {
	for _, s := range segs {
		s.Release()
	}
}
