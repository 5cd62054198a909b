package partition

import "sync"

// Read hints: where the readers at the end of the log will start next.
//
// A consumer at the log's end fetches from the high watermark its last
// fetch returned; a follower from the log end offset. Found through the
// sparse index, such an offset costs a header walk from the index entry
// below it (a pread or two per partition and fetch: most of a tailing
// Fetch's work at 1,000 partitions). But the read that returned data up
// to that bound knew where the next batch will start: at the bound's
// position in its segment. So each read that ends at its bound leaves a
// hint (offset, segment, position), and the next read from that offset
// starts there when the rest of the segment up to its bound fits in the
// read (no header needed: the bound is a batch end).
//
// A hint is only ever trusted for the same segment object (a cleaned or
// recreated segment is a new one) and the same truncation count: a
// truncation inside a segment (followers) may put a different batch at
// the hinted offset later, so dropAboveLocked counts it in l.mu.cuts.
// readHints hints are kept per log, replaced in turn: one per consumer
// group or follower reading at the end, for a few of them.
const readHints = 4

type readHint struct {
	seg    *logSegment // nil: empty
	offset int64
	pos    int64
	cuts   uint64
}

type readHintSet struct {
	mu   sync.Mutex
	h    [readHints]readHint
	next int
}

// find returns the position of the batch starting at offset in seg, if a
// hint of the same truncation count knows it.
func (s *readHintSet) find(seg *logSegment, offset int64, cuts uint64) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.h {
		if h.seg == seg && h.offset == offset && h.cuts == cuts {
			return h.pos, true
		}
	}
	return 0, false
}

// note records that the batch starting at offset will be at pos in seg.
func (s *readHintSet) note(seg *logSegment, offset, pos int64, cuts uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, h := range s.h {
		if h.seg == seg && h.offset == offset {
			s.h[i].pos, s.h[i].cuts = pos, cuts
			return
		}
	}
	s.h[s.next] = readHint{seg: seg, offset: offset, pos: pos, cuts: cuts}
	s.next = (s.next + 1) % readHints
}
