package partition

// Replication seams: the high watermark apart from the log end offset, the
// follower's append origin and read, leader epochs as calls. See doc.go
// ("Replicated mode").

import (
	"errors"
	"fmt"
	"time"

	"github.com/sluice/sluice/segment"
)

// ErrUnexpectedAppendOffset is a follower append whose first batch starts
// below the log end offset, or whose batches' offsets do not increase
// (Kafka's UnexpectedAppendOffsetException / OffsetsOutOfOrderException):
// the follower's fetch position and its log disagree.
var ErrUnexpectedAppendOffset = errors.New("partition: unexpected append offset")

// batchEnd is a published batch's end above the high watermark: the offset
// after it and where it ends, so that the high watermark moves there
// without reading the log.
type batchEnd struct {
	next int64
	seg  *logSegment
	pos  int64
}

// maxEnds bounds the batch ends kept above the high watermark (32 bytes
// each): past it every other one is dropped, so a high watermark that
// stops moving while the log end runs on costs at most ~2 MiB. The high
// watermark's position is then the end of the last kept batch below it:
// consumers see less until it moves on (at the log end it is exact), never
// more.
const maxEnds = 1 << 16

// thinEnds halves ends when it reached maxEnds, keeping the last one.
func thinEnds(ends []batchEnd) []batchEnd {
	if len(ends) < maxEnds {
		return ends
	}
	n := 0
	for i := 1 - len(ends)%2; i < len(ends); i += 2 {
		ends[n] = ends[i]
		n++
	}
	return ends[:n]
}

// SetReplicated switches replicated mode. Off (the default, one replica):
// an append moves the log end offset and the high watermark together. On:
// appends move only the log end offset, and the high watermark moves
// through UpdateHighWatermark (and down only through TruncateTo). The first
// switch on of a log opened by the store starts its high watermark at the
// value of the replication-offset-checkpoint (0 when it has no entry, as
// Kafka), clamped to [LogStartOffset, LogEndOffset], unless the log
// appended as a single replica since it opened (its data is then
// committed). Switching off moves the high watermark to the log end offset.
func (l *Log) SetReplicated(on bool) error { return l.setReplicated(on) }

// Replicated reports whether the log is in replicated mode.
func (l *Log) Replicated() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.replicated
}

// AwaitHighWatermark waits until the high watermark passes offset (the
// record at offset is committed: every ISR member has it) and reports
// whether it did within timeout. On a log not in replicated mode the high
// watermark moves with every append, so it returns true at once. The
// internal topics' coordinators wait with it as Kafka's append with
// acks=all does.
func (l *Log) AwaitHighWatermark(offset int64, timeout time.Duration) bool {
	var timer *time.Timer
	for {
		ch := l.Wait() // before looking: no wake-up missed
		if l.HighWatermark() > offset {
			if timer != nil {
				timer.Stop()
			}
			return true
		}
		if timer == nil {
			timer = time.NewTimer(timeout)
		}
		select {
		case <-ch:
		case <-timer.C:
			return false
		}
	}
}

// OnAppend sets fn to be called after every append round that adds
// records, before the round's Append calls return: on the appending
// goroutine, holding the writer's lock but none of the log's state locks,
// so fn may read the log and move its high watermark (UpdateHighWatermark)
// but must not append, truncate or switch replicated mode. nil clears it.
// A partition leader moves its high watermark from it, as Kafka's
// maybeIncrementLeaderHW after an append: with the ISR the leader alone,
// no follower's fetch would move it.
func (l *Log) OnAppend(fn func()) {
	if fn == nil {
		l.appendHook.Store(nil)
		return
	}
	l.appendHook.Store(&fn)
}

// UpdateHighWatermark moves the high watermark of a replicated log up to hw
// clamped to [LogStartOffset, LogEndOffset] and reports whether it moved;
// it never moves down (TruncateTo does). It wakes the waiters of Wait. On a
// log not in replicated mode the high watermark is the log end offset
// already: it does nothing. No I/O.
func (l *Log) UpdateHighWatermark(hw int64) (moved bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.mu.replicated || l.mu.closed {
		return false
	}
	hw = min(max(hw, l.mu.logStart), l.mu.leo)
	if hw <= l.mu.hw {
		return false
	}
	l.advanceHWLocked(hw)
	l.notifyLocked()
	return true
}

// advanceHWLocked moves the high watermark up to hw (<= leo): its position
// is the end of the last published batch wholly below it.
func (l *log) advanceHWLocked(hw int64) {
	l.mu.hw = hw
	if hw == l.mu.leo {
		l.mu.hwSeg, l.mu.hwPos = l.mu.leoSeg, l.mu.leoPos
		l.mu.ends = l.mu.ends[:0]
	} else {
		n := 0
		for n < len(l.mu.ends) && l.mu.ends[n].next <= hw {
			n++
		}
		if n > 0 {
			b := l.mu.ends[n-1]
			l.mu.hwSeg, l.mu.hwPos = b.seg, b.pos
			l.mu.ends = l.mu.ends[:copy(l.mu.ends, l.mu.ends[n:])]
		}
	}
	l.normalizeHWLocked()
	kept := l.mu.unrepl[:0]
	for _, t := range l.mu.unrepl {
		if t.lastOffset >= hw {
			kept = append(kept, t)
		}
	}
	l.mu.unrepl = kept
}

// normalizeHWLocked moves a high watermark at the very end of a rolled
// segment to the start of the next one, so that retention, which deletes
// a segment once the next one starts at or below the high watermark, never
// drops the segment the high watermark points into.
func (l *log) normalizeHWLocked() {
	segs := l.mu.segments
	for i := len(segs) - 2; i >= 0; i-- {
		if segs[i] != l.mu.hwSeg {
			continue
		}
		if l.mu.hwPos == segs[i].log.Size() && segs[i+1].base <= l.mu.hw {
			l.mu.hwSeg, l.mu.hwPos = segs[i+1], 0
		}
		return
	}
}

func (l *log) setReplicated(on bool) error {
	l.swapMu.Lock() // no retention or cleaner swap while the positions are found
	defer l.swapMu.Unlock()
	l.wmu.Lock() // no append round in progress
	defer l.wmu.Unlock()
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	if on == l.mu.replicated {
		l.mu.Unlock()
		return nil
	}
	if !on {
		l.mu.replicated = false
		l.setEnd(l.mu.leo, l.mu.leoSeg, l.mu.leoPos)
		l.mu.unrepl = nil
		l.notifyLocked()
		l.mu.Unlock()
		return nil
	}
	ckpt := l.mu.ckptHW
	l.mu.ckptHW = -1
	hw := l.mu.hw
	if ckpt >= 0 {
		hw = min(max(ckpt, l.mu.logStart), l.mu.leo)
	}
	l.mu.Unlock()
	ends, err := l.batchEndsAbove(hw)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.replicated = true
	if hw < l.mu.hw {
		l.mu.hw, l.mu.hwSeg, l.mu.hwPos = hw, ends.seg, ends.pos
		l.mu.ends = ends.ends
		l.normalizeHWLocked()
		l.notifyLocked()
	}
	return nil
}

// hwEnds is the position of a high watermark and the batch ends above it.
type hwEnds struct {
	seg  *logSegment
	pos  int64
	ends []batchEnd
}

// batchEndsAbove finds the position of the batch holding offset hw (the
// end of the data wholly below it) and every batch end after it, up to the
// log end. Called with wmu and swapMu held (the segments and the log end
// do not change) and mu not held: it reads batch headers.
func (l *log) batchEndsAbove(hw int64) (hwEnds, error) {
	l.mu.RLock()
	segs := append([]*logSegment(nil), l.mu.segments...)
	leo, leoSeg, leoPos := l.mu.leo, l.mu.leoSeg, l.mu.leoPos
	l.mu.RUnlock()
	out := hwEnds{seg: leoSeg, pos: leoPos}
	if hw >= leo {
		return out, nil
	}
	found := false
	for i, s := range segs {
		if i+1 < len(segs) && segs[i+1].base <= hw {
			continue
		}
		limit := limitOf(s, bound{leoSeg, leoPos})
		from := int64(0)
		if !found {
			var err error
			if _, from, err = s.lookup(hw); err != nil {
				return out, fmt.Errorf("%w: %w", ErrStorage, err)
			}
		}
		err := walkHeaders(s.log, from, limit, func(h segment.Header, p int64) bool {
			switch {
			case h.LastOffset() < hw:
			case !found:
				found, out.seg, out.pos = true, s, p
				fallthrough
			default:
				out.ends = append(out.ends, batchEnd{next: h.LastOffset() + 1, seg: s, pos: p + h.Size()})
			}
			return true
		})
		if err != nil {
			return out, fmt.Errorf("%w: cannot read %q: %w", ErrStorage, s.log.Path(), err)
		}
		if !found { // hw in a gap after s's last batch: it ends there
			out.seg, out.pos = s, limit
		}
	}
	return out, nil
}

// ReadReplica is Read for a follower's fetch (Fetch with a replica id):
// whole batches from the one holding offset, up to maxBytes but always at
// least one, bounded by the log end offset instead of the high watermark,
// as file regions for sendfile. offset == LogEndOffset yields no regions;
// offset < LogStartOffset or > LogEndOffset: ErrOffsetOutOfRange.
func (l *Log) ReadReplica(offset, maxBytes int64) (ReadResult, error) {
	return l.readUpTo(offset, maxBytes, true, false, true)
}

// ScanToEnd reads the log from its start to its log end offset in chunks
// of whole batches (up to 1 MiB each, at least one batch) and calls fn with
// each chunk and the offset it was read at; fn returns the offset after
// the chunk's last batch and whether to go on. It reads above the high
// watermark, as Kafka's coordinators load their partitions (LOG_END
// isolation): a new leader's high watermark lags its log end until the
// followers fetch again, and the records above it were answered by the
// old leader all the same.
func (l *Log) ScanToEnd(fn func(chunk []byte, at int64) (next int64, more bool, err error)) error {
	off, end := l.LogStartOffset(), l.LogEndOffset()
	for off < end {
		buf, err := l.readChunk(off)
		if err != nil || len(buf) == 0 {
			return err
		}
		next, more, err := fn(buf, off)
		if err != nil || !more || next <= off {
			return err
		}
		off = next
	}
	return nil
}

// readChunk copies the whole batches from offset (up to 1 MiB, at least
// one batch, up to the log end) out of the log's file regions.
func (l *Log) readChunk(offset int64) ([]byte, error) {
	rr, err := l.ReadReplica(offset, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("partition: cannot read %s-%d at %d: %w", l.topic, l.partition, offset, err)
	}
	defer func() {
		for _, r := range rr.Regions {
			r.Release()
		}
	}()
	buf := make([]byte, 0, rr.Bytes)
	for _, r := range rr.Regions {
		start := len(buf)
		buf = buf[:start+int(r.Len)]
		if _, err := r.File.ReadAt(buf[start:], r.Off); err != nil {
			return nil, fmt.Errorf("partition: cannot read %s-%d at %d: %w", l.topic, l.partition, offset, err)
		}
	}
	return buf, nil
}

// AppendAsFollower appends batches fetched from the leader (the replica
// append origin): each batch keeps its base offset, partition leader epoch,
// producer id, epoch and sequences and timestamps as the leader wrote them;
// no offset is assigned, no producer sequence checked, no timestamp
// rewritten, max.message.bytes is not applied (Kafka's ignoreRecordSize).
// Each batch's framing and CRC are still checked: a bad one fails the whole
// call with an error wrapping ErrCorruption, and nothing is appended. The
// first batch must start at or after LogEndOffset and the batches' offsets
// must increase, else ErrUnexpectedAppendOffset. A base offset above
// LogEndOffset is accepted, as by Kafka: a compacted leader's log has gaps.
// The producer and transaction state, the aborted-transaction index, the
// leader-epoch cache (a batch with a newer partition leader epoch starts
// that epoch at its base offset), the indexes and segment rolls follow the
// batches as for Append. Only the log end offset moves in replicated mode.
// An empty records set appends nothing.
func (l *Log) AppendAsFollower(records []byte) (AppendResult, error) {
	if len(records) == 0 {
		leo := l.LogEndOffset()
		return AppendResult{BaseOffset: leo, LastOffset: leo - 1, LogAppendTime: -1}, nil
	}
	req := reqPool.Get().(*appendReq)
	defer func() {
		req.records, req.batches, req.err, req.control, req.follower, req.epoch = nil, req.batches[:0], nil, false, false, -1
		reqPool.Put(req)
	}()
	req.control, req.follower = true, true
	if err := l.validateFollower(req, records); err != nil {
		return AppendResult{}, err
	}
	return l.enqueue(req)
}

// validateFollower splits the leader's batches, checking framing, CRCs and
// increasing offsets.
func (l *log) validateFollower(req *appendReq, records []byte) error {
	req.records = records
	prev := int64(-1)
	err := segment.Split(records, func(b []byte, h segment.Header) error {
		if h.BaseOffset <= prev {
			return fmt.Errorf("%w: batch at offset %d follows one ending at %d", ErrUnexpectedAppendOffset, h.BaseOffset, prev)
		}
		prev = h.LastOffset()
		var mk *segment.Marker
		if h.Attributes&segment.AttrControl != 0 {
			m, err := segment.ParseMarker(b)
			if err != nil {
				return fmt.Errorf("%w: control batch at offset %d: %w", ErrCorruption, h.BaseOffset, err)
			}
			mk = &m
		}
		req.batches = append(req.batches, batchRef{b: b, h: h, marker: mk})
		return nil
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnexpectedAppendOffset), errors.Is(err, ErrCorruption):
		return fmt.Errorf("follower append to %s-%d: %w", l.topic, l.partition, err)
	}
	return fmt.Errorf("%w: follower append to %s-%d: %w", ErrCorruption, l.topic, l.partition, err)
}

// assignFollower queues a follower request's batches as they are: it checks
// the first offset against the log end, saves the producer entries the
// batches change (an aborted round restores them), rolls as Append does,
// and notes newer leader epochs.
func (l *log) assignFollower(rd *round, r *appendReq, now time.Time, cfg *Config) error {
	first := r.batches[0].h.BaseOffset
	if first < rd.next {
		r.err = fmt.Errorf("%w: %s-%d: first batch at offset %d is below the log end offset %d",
			ErrUnexpectedAppendOffset, l.topic, l.partition, first, rd.next)
		return nil
	}
	l.saveProducers(rd, r)
	rd.next = first
	if err := l.maybeRoll(rd, r, now, cfg); err != nil {
		return err
	}
	r.res = AppendResult{BaseOffset: first, LogAppendTime: -1}
	for i := range r.batches {
		br := &r.batches[i]
		rd.noteEpoch(br.h.PartitionLeaderEpoch, br.h.BaseOffset)
		rd.next = br.h.LastOffset() + 1
		l.queueBatch(rd, br)
	}
	r.res.LastOffset = rd.next - 1
	return nil
}

// saveProducers keeps a copy of every producer entry r's batches touch,
// before the round changes it.
func (l *log) saveProducers(rd *round, r *appendReq) {
	l.pmu.Lock()
	defer l.pmu.Unlock()
	for _, br := range r.batches {
		id := br.h.ProducerID
		if id < 0 {
			continue
		}
		if rd.saved == nil {
			rd.saved = make(map[int64]*producerEntry)
		}
		if _, ok := rd.saved[id]; !ok {
			rd.saved[id] = cloneEntry(l.producers[id])
		}
	}
}
