package partition

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/sluice/sluice/segment"
)

// appendReq is one Append call waiting for, or being served by, the writer.
type appendReq struct {
	records  []byte
	control  bool // AppendMarker's: control batches allowed
	follower bool // AppendAsFollower's: the leader's offsets and epochs kept
	// epoch is AppendAsLeader's leader epoch, checked against the log's
	// latest when the writer assigns offsets; -1 unchecked.
	epoch int32
	// pre is what was checked of records' batches as they arrived
	// (segment.Prechecks); nil: nothing.
	pre     segment.Prechecks
	batches []batchRef
	res     AppendResult
	err     error
	done    chan struct{}
	// group, if set, is told too once done is (SubmitTo).
	group *SubmitGroup
	// pending is what submitTo hands out for this request, so that a
	// submitted append costs no allocation of its own: it lives as long
	// as the request, which goes back to reqPool only in its Wait.
	pending PendingAppend
	// log is the log a SubmitForWait went to: its Wait takes the
	// writer's part when the log owes one. Nil otherwise.
	log *log
}

// batchRef is one batch of a request: its bytes and header.
type batchRef struct {
	b []byte
	h segment.Header
	// marker is a control batch's decoded record; aborted the entry an
	// ABORT marker adds to the segment's .txnindex once written.
	marker  *segment.Marker
	aborted *abortedTxn
}

var reqPool = sync.Pool{New: func() any {
	return &appendReq{done: make(chan struct{}, 1), batches: make([]batchRef, 0, 4), epoch: -1}
}}

// append validates records, queues them, and either waits for the writer
// or becomes it (group commit: one writer at a time writes every append
// queued meanwhile with one pwritev, and under FlushAlways one fsync).
func (l *log) append(records []byte) (AppendResult, error) { return l.appendWith(records, false) }

// appendWith is append; control allows control batches (markers).
func (l *log) appendWith(records []byte, control bool) (AppendResult, error) {
	return l.appendIn(records, control, -1, nil)
}

// appendIn is appendWith made under leader epoch (-1: unchecked).
func (l *log) appendIn(records []byte, control bool, epoch int32, pre segment.Prechecks) (AppendResult, error) {
	req := reqPool.Get().(*appendReq)
	defer putReq(req)
	req.control, req.epoch, req.pre = control, epoch, pre
	if err := l.validate(req, records); err != nil {
		return AppendResult{}, err
	}
	return l.enqueue(req)
}

// putReq returns a request whose result was read to the pool.
func putReq(req *appendReq) {
	req.records, req.batches, req.err, req.control, req.follower, req.epoch, req.pre = nil, req.batches[:0], nil, false, false, -1, nil
	req.group, req.log = nil, nil
	req.res = AppendResult{}
	reqPool.Put(req)
}

// submit validates records and queues them for the writer without
// waiting, made under leader epoch (-1: unchecked, as appendIn): appends
// submitted to a log are written in submit order. When no writer runs,
// one is started on a goroutine (the caller goes on).
func (l *log) submit(records []byte, epoch int32, pre segment.Prechecks) *PendingAppend {
	return l.submitTo(nil, nil, records, epoch, pre)
}

// submitTo is submit; with a pool, the pool's workers write (WritePool);
// with a group, the group counts the append until it is done.
func (l *log) submitTo(pool *WritePool, g *SubmitGroup, records []byte, epoch int32, pre segment.Prechecks) *PendingAppend {
	return l.submitIn(pool, g, false, records, epoch, pre)
}

// submitIn is submitTo; forWait (pool and g nil): when no writer runs,
// none is started, and the log owes one (SubmitForWait).
func (l *log) submitIn(pool *WritePool, g *SubmitGroup, forWait bool, records []byte, epoch int32, pre segment.Prechecks) *PendingAppend {
	req := reqPool.Get().(*appendReq)
	req.epoch, req.pre = epoch, pre
	if forWait {
		req.log = l // read by Wait only, in the caller's goroutine
	}
	if err := l.validate(req, records); err != nil {
		putReq(req)
		return &PendingAppend{err: err}
	}
	l.mu.Lock()
	if err := l.appendableLocked(); err != nil {
		l.mu.Unlock()
		putReq(req)
		return &PendingAppend{err: err}
	}
	if g != nil {
		req.group = g
		g.wg.Add(1)
	}
	l.mu.queue = append(l.mu.queue, req)
	switch {
	case !l.mu.writing && forWait:
		l.mu.writing, l.mu.owed = true, true
	case !l.mu.writing, l.mu.owed && !forWait:
		// An owed log too: it stays owed only while every append queued
		// on it has a waiter that can take the writer's part, and this
		// one may be waited for by a group, or by a goroutine held up
		// behind the owing append's waiter.
		l.mu.writing, l.mu.owed = true, false
		l.startWriterLocked(pool)
	}
	l.mu.Unlock()
	req.pending = PendingAppend{req: req} // the writer never reads it
	return &req.pending
}

// enqueue hands a validated request to the writer, or becomes it.
func (l *log) enqueue(req *appendReq) (AppendResult, error) {
	l.mu.Lock()
	if err := l.appendableLocked(); err != nil {
		l.mu.Unlock()
		return AppendResult{}, err
	}
	l.mu.queue = append(l.mu.queue, req)
	if l.mu.writing && !l.mu.owed {
		l.mu.Unlock()
		<-req.done
		return req.res, req.err
	}
	l.mu.writing, l.mu.owed = true, false // or the writer owed: taken here
	l.mu.Unlock()
	l.writeQueued()
	<-req.done
	return req.res, req.err
}

// writeOwed takes the writer's part when l owes one (SubmitForWait):
// one round of what is queued, in the caller's goroutine, and then a
// writer goroutine for whatever queued meanwhile, as submit starts one.
// The caller's own append is in that round unless a writer already took
// it. Only one round: the caller is a connection's completer, whose next
// answers should not wait on other connections' appends.
func (l *log) writeOwed() {
	l.mu.Lock()
	if !l.mu.owed {
		l.mu.Unlock()
		return
	}
	l.mu.owed = false
	l.mu.Unlock()
	l.writeOneRound(nil)
}

// startWriterLocked starts the writer of l, which has appends queued and
// l.mu.writing just set: pool's workers (WritePool), or, pool nil, a
// goroutine of its own. l.mu held.
func (l *log) startWriterLocked(pool *WritePool) {
	if pool != nil {
		pool.list(l)
		return
	}
	go l.writeQueued()
}

func (l *log) appendableLocked() error {
	if l.mu.closed {
		return ErrClosed
	}
	return l.offlineLocked()
}

// validate splits and checks the batches before anything touches disk.
func (l *log) validate(req *appendReq, records []byte) error {
	cfg := l.cfg.Load()
	maxBytes, compact := int64(cfg.MaxMessageBytes), cfg.Compact()
	req.records = records
	err := segment.SplitPrechecked(records, req.pre, func(b []byte, h segment.Header) error {
		if h.Size() > maxBytes {
			return fmt.Errorf("%w: batch of %d bytes, max.message.bytes is %d", ErrMessageTooLarge, h.Size(), maxBytes)
		}
		var mk *segment.Marker
		if h.Attributes&segment.AttrControl != 0 {
			if !req.control {
				return fmt.Errorf("%w: control batches come only from the transaction coordinator", ErrInvalidRecord)
			}
			m, err := segment.ParseMarker(b)
			if err != nil {
				return err
			}
			mk = &m
		}
		if h.Attributes&segment.AttrTransactional != 0 && h.ProducerID < 0 {
			return fmt.Errorf("%w: transactional batch without a producer id", ErrInvalidRecord)
		}
		if compact {
			if err := checkKeys(b, h); err != nil {
				return err
			}
		}
		req.batches = append(req.batches, batchRef{b: b, h: h, marker: mk})
		return nil
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrMessageTooLarge), errors.Is(err, ErrInvalidRecord), errors.Is(err, ErrCorruptMessage):
		return err
	case errors.Is(err, segment.ErrTimestamp):
		return fmt.Errorf("%w: %v", ErrInvalidTimestamp, err)
	}
	// %v: a client's bad batch must not match ErrCorruption (data on disk).
	return fmt.Errorf("%w: %v", ErrCorruptMessage, err)
}

// checkKeys refuses a batch with a record without a key (a compacted log
// keeps the latest record per key: a keyless one has no place). b was
// validated (h is its header): its CRC is not checked again; compressed
// batches are decompressed to see their keys.
func checkKeys(b []byte, h segment.Header) error {
	keyless, err := segment.FirstKeyless(b, h)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCorruptMessage, err)
	}
	if keyless >= 0 {
		return fmt.Errorf("%w: compacted topic cannot accept a record without a key (offset delta %d of its batch)",
			ErrInvalidRecord, keyless)
	}
	return nil
}

// writeQueued is the writer: it takes rounds of queued appends until the
// queue is empty, then steps down.
func (l *log) writeQueued() {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	for {
		l.mu.Lock()
		if len(l.mu.queue) == 0 {
			l.mu.writing = false
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		l.takeRound()
	}
}

// writeOneRound is a WritePool worker's turn at l: one round of what is
// queued, then l is listed again at the end if more queued meanwhile
// (pool nil, writeOwed's: a writer goroutine takes it).
func (l *log) writeOneRound(pool *WritePool) {
	l.wmu.Lock()
	l.takeRound()
	l.wmu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.mu.queue) == 0 {
		l.mu.writing = false
		return
	}
	l.startWriterLocked(pool)
}

// takeRound writes one round of the queued appends (or fails them when
// the log cannot be appended to) and signals their waiters. wmu held;
// the caller is the writer (l.mu.writing).
func (l *log) takeRound() {
	l.mu.Lock()
	l.w.pending, l.mu.queue = l.mu.queue, l.w.pending[:0]
	err := l.appendableLocked()
	l.mu.Unlock()
	if err == nil {
		l.writeRound()
	} else {
		for _, r := range l.w.pending {
			r.err = err
		}
	}
	for i, r := range l.w.pending {
		g := r.group // r is the waiter's once done is sent
		r.done <- struct{}{}
		if g != nil {
			g.wg.Done()
		}
		l.w.pending[i] = nil
	}
}

// round is the state of one writer round.
type round struct {
	startOffset int64         // log end before the round
	startSeg    *logSegment   // active segment before the round
	startPos    int64         // its size before the round
	next        int64         // next offset to assign
	seg         *logSegment   // segment being written
	created     []*logSegment // segments rolled during the round
	saved       map[int64]*producerEntry
	txnChanged  bool // a transaction began or ended: the LSO moves
	// replicated: the log is in replicated mode (fixed for the round, as
	// SetReplicated takes wmu); ends are the batch ends written, completed
	// the transactions the round's markers decided.
	replicated bool
	ends       []batchEnd
	completed  []completedTxn
	// epochs are leader-epoch entries the round starts (a follower's
	// batches may carry newer epochs); lastEpoch the latest so far.
	epochs    []epochEntry
	lastEpoch int32
	noEpochs  bool // the log has no epoch entry yet
	// startSeg's timestamp state before the round, restored on abort.
	maxTS, maxTSOffset int64
	bytesSinceIndex    int
}

// writeRound assigns offsets to l.w.pending and writes them. Either the
// whole round becomes visible or, on a write error, none of it does.
func (l *log) writeRound() {
	l.mu.RLock()
	a := l.active()
	rd := round{startOffset: l.mu.leo, startSeg: a, startPos: a.log.Size(), next: l.mu.leo, seg: a,
		maxTS: a.maxTS.Load(), maxTSOffset: a.maxTSOffset.Load(), bytesSinceIndex: a.bytesSinceIndex,
		replicated: l.mu.replicated}
	rd.lastEpoch, rd.noEpochs = l.mu.epochs.latest(), len(l.mu.epochs.entries) == 0
	rd.ends = l.w.ends[:0]
	l.mu.RUnlock()
	cfg := l.cfg.Load() // read-only: setConfig stores a new Config
	now := l.now()
	l.w.bufs, l.w.written = l.w.bufs[:0], l.w.written[:0]
	// The active segment's indexes are open from its first append on
	// (Absent, without files, until its first entry: createSegmentLazy).
	var err error
	if _, ierr := a.indexes(); ierr != nil {
		err = fmt.Errorf("%w: %w", ErrStorage, ierr)
	}
	for _, r := range l.w.pending {
		if err != nil {
			break
		}
		if r.follower {
			err = l.assignFollower(&rd, r, now, cfg)
		} else {
			err = l.assign(&rd, r, now, cfg)
		}
		if err != nil {
			break
		}
	}
	if err == nil && rd.next > rd.startOffset {
		err = l.syncEpochs()
	}
	if err == nil {
		err = l.writeBufs(&rd, cfg)
	}
	if err == nil && cfg.Flush == FlushAlways {
		err = l.syncRound(&rd)
	}
	var epochs *epochCache
	if err == nil {
		epochs, err = l.writeEpochFor(&rd)
	}
	if err != nil {
		l.abortRound(&rd, err)
		return
	}
	unstable := int64(-2) // unchanged
	if rd.txnChanged {
		l.pmu.Lock()
		unstable = l.open.first(l.producers)
		l.pmu.Unlock()
	}
	l.publishRound(&rd, epochs, cfg, unstable)
	l.w.ends = rd.ends[:0]
	if rd.next != rd.startOffset {
		if fn := l.appendHook.Load(); fn != nil {
			(*fn)()
		}
	}
}

// writeEpochFor writes the leader-epoch checkpoint when the round starts a
// new epoch, before the round is published and without holding mu (the
// writer's wmu keeps the cache from changing meanwhile). The write is not
// fsync'd (writeLazy): the log's next flush does that, and until then a
// crash loses nothing recovery cannot re-learn from the batches.
// It returns the cache to install, nil when unchanged.
func (l *log) writeEpochFor(rd *round) (*epochCache, error) {
	if rd.next == rd.startOffset || len(rd.epochs) == 0 {
		return nil, nil
	}
	l.mu.RLock()
	next := l.mu.epochs.clone()
	l.mu.RUnlock()
	changed := false
	for _, e := range rd.epochs {
		changed = next.assign(e.epoch, e.startOffset) || changed
	}
	if !changed {
		return nil, nil
	}
	if err := next.writeLazy(); err != nil {
		return nil, fmt.Errorf("%w: cannot write the leader epoch checkpoint of %s-%d: %w", ErrStorage, l.topic, l.partition, err)
	}
	return next, nil
}

// syncEpochs writes the leader-epoch checkpoint when the cache holds an
// epoch the file does not (AssignLeaderEpoch deferred it): called by a
// round with records, before their bytes are written, as Kafka writes an
// epoch's entry before the epoch's first record. Not fsync'd (writeLazy,
// see writeEpochFor). wmu held; mu is not held across the write.
func (l *log) syncEpochs() error {
	l.mu.RLock()
	var next *epochCache
	if l.mu.epochs.unsynced {
		next = l.mu.epochs.clone()
	}
	l.mu.RUnlock()
	if next == nil {
		return nil
	}
	if err := next.writeLazy(); err != nil {
		return fmt.Errorf("%w: cannot write the leader epoch checkpoint of %s-%d: %w", ErrStorage, l.topic, l.partition, err)
	}
	l.mu.Lock()
	l.mu.epochs = next
	l.changes.Add(1)
	l.mu.Unlock()
	return nil
}

// assign checks one request's leader epoch (AppendAsLeader) and producer
// sequences, rolls if it does not fit, stamps offsets, the log's latest
// epoch (a follower's batches earlier in the round may have begun a newer
// one) and append time, and queues its bytes.
func (l *log) assign(rd *round, r *appendReq, now time.Time, cfg *Config) error {
	epoch := rd.lastEpoch
	if r.epoch >= 0 && r.epoch != epoch {
		r.err = fmt.Errorf("%w: %s-%d: the append was made in leader epoch %d, the log is at epoch %d",
			ErrNotLeaderEpoch, l.topic, l.partition, r.epoch, epoch)
		return nil
	}
	if dup, err := l.checkProducer(rd, r); dup || err != nil {
		r.err = err
		return nil
	}
	if err := l.maybeRoll(rd, r, now, cfg); err != nil {
		return err
	}
	r.res = AppendResult{BaseOffset: rd.next, LogAppendTime: -1}
	rd.noteEpoch(epoch, rd.next)
	for i := range r.batches {
		br := &r.batches[i]
		segment.SetBaseOffset(br.b, rd.next)
		segment.SetLeaderEpoch(br.b, epoch)
		br.h.BaseOffset, br.h.PartitionLeaderEpoch = rd.next, epoch
		if cfg.LogAppendTime {
			ts := now.UnixMilli()
			segment.SetLogAppendTime(br.b, ts)
			br.h.MaxTimestamp, br.h.Attributes = ts, br.h.Attributes|segment.AttrTimestampType
			r.res.LogAppendTime = ts
		}
		rd.next = br.h.LastOffset() + 1
		l.queueBatch(rd, br)
	}
	r.res.LastOffset = rd.next - 1
	return nil
}

// queueBatch applies a stamped batch to the producer state and queues its
// bytes for the round's pwritev.
func (l *log) queueBatch(rd *round, br *batchRef) {
	var t completedTxn
	var done bool
	l.pmu.Lock()
	br.aborted, t, done = l.applyCompletedLocked(br.h, br.marker)
	l.pmu.Unlock()
	if br.h.Attributes&(segment.AttrTransactional|segment.AttrControl) != 0 {
		rd.txnChanged = true
	}
	if done && rd.replicated {
		rd.completed = append(rd.completed, t)
	}
	l.w.written = append(l.w.written, *br)
	l.w.bufs = append(l.w.bufs, br.b)
}

// noteEpoch records that epoch starts at offset when it is newer than any
// the log or the round knows (Kafka's maybeAssignEpochStartOffset).
func (rd *round) noteEpoch(epoch int32, offset int64) {
	if epoch > rd.lastEpoch || (rd.noEpochs && len(rd.epochs) == 0) {
		rd.epochs = append(rd.epochs, epochEntry{epoch, offset})
		rd.lastEpoch = max(rd.lastEpoch, epoch)
	}
}

// checkProducer applies the idempotence rules to r's batches. A duplicate
// gets its original offsets. The entries it may change are saved first so
// an aborted round can restore them.
func (l *log) checkProducer(rd *round, r *appendReq) (dup bool, err error) {
	h := r.batches[0].h
	if h.ProducerID < 0 {
		return false, nil
	}
	for _, br := range r.batches[1:] {
		if br.h.ProducerID != h.ProducerID || br.h.ProducerEpoch != h.ProducerEpoch {
			return false, fmt.Errorf("%w: batches of one request from different producers", ErrInvalidRecord)
		}
	}
	l.pmu.Lock()
	defer l.pmu.Unlock()
	e := l.producers[h.ProducerID]
	if rd.saved == nil {
		rd.saved = make(map[int64]*producerEntry)
	}
	if _, ok := rd.saved[h.ProducerID]; !ok {
		rd.saved[h.ProducerID] = cloneEntry(e)
	}
	if mk := r.batches[0].marker; mk != nil {
		return false, e.checkMarker(h, *mk)
	}
	kind, meta, err := e.check(h)
	if err != nil {
		return false, err
	}
	if kind == seqNew {
		if err := e.checkTxn(h); err != nil {
			return false, err
		}
	}
	if kind == seqDuplicate {
		if n := len(r.batches); n > 1 {
			if k, m2, _ := e.check(r.batches[n-1].h); k == seqDuplicate {
				meta.lastOffset = m2.lastOffset
			}
		}
		r.res = AppendResult{BaseOffset: meta.firstOffset, LastOffset: meta.lastOffset, LogAppendTime: -1, Duplicate: true}
		return true, nil
	}
	return false, nil
}

// maybeRoll starts a new segment when r's batches would not fit the active
// one (segment.bytes, a full index, relative offsets beyond uint32) or the
// active one is older than segment.ms. A request never spans segments.
func (l *log) maybeRoll(rd *round, r *appendReq, now time.Time, cfg *Config) error {
	var size int64
	for _, br := range r.batches {
		size += br.h.Size()
	}
	last := rd.next + int64(r.batches[len(r.batches)-1].h.LastOffsetDelta)
	for _, br := range r.batches[:len(r.batches)-1] {
		last += int64(br.h.LastOffsetDelta) + 1
	}
	if r.follower { // the leader's offsets, gaps (compaction) included
		last = r.batches[len(r.batches)-1].h.LastOffset()
	}
	cur := rd.seg.log.Size() + pendingBytes(l.w.bufs)
	switch {
	case cur == 0:
		return nil
	case cur+size > cfg.SegmentBytes,
		last-rd.seg.base > math.MaxUint32,
		rd.seg.indexFull(),
		l.rollDue(cfg, rd.seg, now):
		return l.roll(rd, cfg, now)
	}
	return nil
}

// pendingBytes is what this round queued for rd.seg but has not written.
func pendingBytes(bufs [][]byte) int64 {
	var n int64
	for _, b := range bufs {
		n += int64(len(b))
	}
	return n
}

// roll writes what is queued for the current segment, seals it and starts
// a new one at rd.next. The new segment joins the list now but stays
// invisible to readers until the round publishes its high watermark.
func (l *log) roll(rd *round, cfg *Config, now time.Time) error {
	if err := l.writeBufs(rd, cfg); err != nil {
		return err
	}
	s, err := createSegment(l.fs, l.dir, rd.next, cfg.SegmentIndexBytes, now)
	if err != nil {
		return fmt.Errorf("%w: cannot roll %s-%d at offset %d: %w", ErrStorage, l.topic, l.partition, rd.next, err)
	}
	l.mu.Lock()
	l.mu.segments = append(l.mu.segments, s)
	l.mu.Unlock()
	rd.created = append(rd.created, s)
	old := rd.seg
	rd.seg = s
	if err := old.seal(); err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	l.pmu.Lock()
	snap := encodeSnapshot(l.producers)
	l.pmu.Unlock()
	// Retention cannot drop old before the round publishes, so the
	// reference is safe to take without mu.
	old.acquire()
	l.bg.Add(1)
	go l.flushRolled(old, rd.next, snap)
	return nil
}

// flushRolled fsyncs a segment that rolled, writes the producer snapshot at
// the new segment's base and fsyncs the leader-epoch checkpoint if an
// append wrote it since its last fsync, then advances the recovery point
// past the segment, off the append path (Kafka schedules the same flush).
func (l *log) flushRolled(old *logSegment, next int64, snap []byte) {
	defer l.bg.Done()
	defer old.Release()
	if err := l.observeSync(old.sync); err != nil {
		l.setOffline(fmt.Errorf("cannot flush rolled segment %d: %w", old.base, err))
		return
	}
	if err := writeSnapshotBytes(l.fs, l.dir, next, snap); err != nil {
		l.setOffline(err)
		return
	}
	if err := l.epochFile().flush(); err != nil {
		l.setOffline(fmt.Errorf("cannot flush the leader epoch checkpoint: %w", err))
		return
	}
	l.mu.Lock()
	if next <= l.mu.leo && l.mu.werr == nil {
		l.mu.recoveryPoint = max(l.mu.recoveryPoint, next)
	}
	l.mu.Unlock()
}

// writeBufs writes the queued batches to rd.seg with one pwritev, then
// indexes them.
func (l *log) writeBufs(rd *round, cfg *Config) error {
	if len(l.w.bufs) == 0 {
		return nil
	}
	pos, err := rd.seg.log.Append(l.w.bufs)
	if err != nil {
		return fmt.Errorf("%w: cannot append to %s-%d: %w", ErrStorage, l.topic, l.partition, err)
	}
	if l.observer != nil {
		l.observer.Appended(l.topic, l.partition, len(l.w.written), pendingBytes(l.w.bufs))
	}
	for _, br := range l.w.written {
		if err := rd.seg.noteBatch(br.h, pos, cfg.IndexIntervalBytes); err != nil {
			return fmt.Errorf("%w: %w", ErrStorage, err)
		}
		if rd.replicated {
			rd.ends = append(rd.ends, batchEnd{next: br.h.LastOffset() + 1, seg: rd.seg, pos: pos + br.h.Size()})
		}
		if br.aborted != nil {
			if err := rd.seg.appendAborted(*br.aborted); err != nil {
				return fmt.Errorf("%w: %w", ErrStorage, err)
			}
		}
		pos += br.h.Size()
	}
	l.w.bufs, l.w.written = l.w.bufs[:0], l.w.written[:0]
	return nil
}

// testHookBeforeSync, when set (tests only), runs before a round's fsync.
var testHookBeforeSync func()

// syncRound fsyncs the .log files the round wrote to (one fsync for every
// append in the round). Indexes are not synced: recovery rebuilds them.
func (l *log) syncRound(rd *round) error {
	l.syncs.Add(1)
	if testHookBeforeSync != nil {
		testHookBeforeSync()
	}
	// Pin what the round fsyncs: a rolled segment's flush or the idle sweep
	// may otherwise park (close) its file mid-fsync (segcache.go). The
	// round's segments cannot be dropped before it publishes.
	rd.startSeg.acquire()
	defer rd.startSeg.Release()
	for _, s := range rd.created {
		s.acquire()
		defer s.Release()
	}
	if err := l.observeSync(rd.startSeg.log.Sync); err != nil {
		return fmt.Errorf("%w: cannot fsync %s-%d: %w", ErrStorage, l.topic, l.partition, err)
	}
	for _, s := range rd.created {
		if err := l.observeSync(s.log.Sync); err != nil {
			return fmt.Errorf("%w: cannot fsync %s-%d: %w", ErrStorage, l.topic, l.partition, err)
		}
	}
	return nil
}

// publishRound makes the round visible: log end, high watermark, waiters,
// and the leader epochs written by writeEpochFor (if not nil). No I/O.
func (l *log) publishRound(rd *round, epochs *epochCache, cfg *Config, unstable int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if rd.next == rd.startOffset {
		return
	}
	if unstable != -2 {
		l.mu.firstUnstable = unstable
	}
	if epochs != nil {
		l.mu.epochs = epochs // notifyLocked below counts the change
	}
	a := l.active()
	l.setLEOLocked(rd.next, a, a.log.Size())
	if rd.replicated {
		l.mu.ends = thinEnds(append(l.mu.ends, rd.ends...))
		l.mu.unrepl = append(l.mu.unrepl, rd.completed...)
	}
	if cfg.Flush == FlushAlways && l.mu.werr == nil {
		// The round's bytes are fsync'd, an epoch entry written lazily
		// may not be: the recovery point stays at its start until the
		// log's next flush, so recovery re-learns it from the batches.
		l.mu.syncedEnd = rd.next
		if rp := min(rd.next, l.mu.epochs.file.dirtyFrom.Load()); rp > l.mu.recoveryPoint {
			l.mu.recoveryPoint = rp
		}
	}
	l.notifyLocked()
}

// abortRound undoes a round that failed to write: every request in it gets
// err, segments it rolled are removed, the segment it started in is cut
// back, and producer state is restored. The log then keeps err and refuses
// appends until reopened (the sticky-error rule: after a failed write or
// fsync the page cache cannot be trusted; recovery at the next open checks
// what reached the disk).
func (l *log) abortRound(rd *round, err error) {
	l.setOffline(err)
	for _, r := range l.w.pending {
		if r.err == nil && !r.res.Duplicate {
			r.err, r.res = err, AppendResult{}
		}
	}
	l.logger.Error("append failed; rolling the log back", "offset", rd.startOffset, "err", err)
	l.mu.Lock()
	var derrs []error
	for _, s := range rd.created {
		l.mu.segments = l.mu.segments[:len(l.mu.segments)-1]
		derrs = append(derrs, s.markDeleted())
	}
	l.mu.Unlock()
	s := rd.startSeg
	var uerr error
	if len(rd.created) > 0 {
		// It was sealed by the roll: writable again before it is cut back.
		uerr = s.reopenWritable(l.config().SegmentIndexBytes)
	}
	if uerr == nil {
		uerr = s.truncate(rd.startPos, rd.startOffset)
	}
	s.maxTS.Store(rd.maxTS)
	s.maxTSOffset.Store(rd.maxTSOffset)
	s.bytesSinceIndex = rd.bytesSinceIndex
	if uerr = errors.Join(append(derrs, uerr)...); uerr != nil {
		l.logger.Error("cannot undo a failed append; recovery will at the next open", "err", uerr)
	}
	l.pmu.Lock()
	for id, e := range rd.saved {
		if e == nil {
			delete(l.producers, id)
		} else {
			l.producers[id] = e
		}
		l.open.note(l.producers, id)
	}
	l.pmu.Unlock()
	l.w.bufs, l.w.written = l.w.bufs[:0], l.w.written[:0]
}
