package partition

import "github.com/sluice/sluice/segment"

// AppendIsCheap reports whether an append of size bytes would now, as
// far as the log can tell without its writer's lock, cost only CPU and
// one pwritev to the page cache: the log is open and online, does not
// fsync each append (FlushAlways), its active segment has its .log
// and both indexes open, each taking its next entries without creating
// its file (an index entry is then a store to a mapping or memory), no
// leader-epoch checkpoint is due, and the append fits the segment without
// a roll. A caller that must not block on other I/O (a network event
// loop, netio's inline path) appends only then. The answer is a hint:
// another writer may roll or take the log between it and the append,
// which then does that work as any append would.
func (l *Log) AppendIsCheap(size int) bool {
	cfg := l.config()
	if cfg.Flush == FlushAlways {
		return false
	}
	l.mu.RLock()
	if l.mu.closed || l.mu.werr != nil || len(l.mu.segments) == 0 || l.mu.epochs.unsynced {
		l.mu.RUnlock()
		return false
	}
	a := l.active()
	l.mu.RUnlock()
	cur := a.log.Size()
	if cur == 0 || cur+int64(size) > cfg.SegmentBytes ||
		l.now().Sub(a.created).Milliseconds() > compactionRollMs(cfg, l.jitterSeed(a.base)) {
		return false
	}
	a.idx.Lock()
	defer a.idx.Unlock()
	oi, ti := a.idx.offsets, a.idx.times
	// An entry every index.interval.bytes at most, one per batch.
	entries := 1 + size/max(cfg.IndexIntervalBytes, 1)
	return oi != nil && ti != nil && oi.AppendsInPlace(entries) && ti.AppendsInPlace(entries) &&
		!oi.IsFull() && !ti.IsFull()
}

// WriterBusy reports whether a writer is at work on the log (or will be:
// a Stager that became its writer and has not flushed yet): an Append now
// would wait for that writer's round.
func (l *Log) WriterBusy() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.writing
}

// Stager writes the appends one goroutine staged on many logs together
// (a network event loop that served many connections' produces in one
// batch of events): StageOn queues an append without writing it, and
// Flush writes every log the Stager became the writer of, each with one
// round (one pwritev) for all that is queued on it, from whoever queued
// it. A Stager is used by one goroutine at a time.
type Stager struct {
	logs []*log
}

// StageOn validates records and queues them on l, as SubmitTo does; when
// no writer is at work on l, s becomes its writer and the append is
// written at s's next Flush, which the caller must call soon (other
// appenders to l wait for it). Otherwise the writer at work writes it.
// Wait or Ready on the result tells when it is written.
func (l *Log) StageOn(s *Stager, records []byte, leaderEpoch int32, pre segment.Prechecks) PendingAppend {
	req := reqPool.Get().(*appendReq)
	req.epoch, req.pre = leaderEpoch, pre
	if err := l.validate(req, records); err != nil {
		putReq(req)
		return PendingAppend{err: err}
	}
	l.mu.Lock()
	if err := l.appendableLocked(); err != nil {
		l.mu.Unlock()
		putReq(req)
		return PendingAppend{err: err}
	}
	l.mu.queue = append(l.mu.queue, req)
	if !l.mu.writing {
		l.mu.writing = true
		s.logs = append(s.logs, &l.log)
	}
	l.mu.Unlock()
	return PendingAppend{req: req}
}

// Flush writes every log s is the writer of: what is queued on each,
// until its queue is empty (writeQueued), then s is no longer its writer.
func (s *Stager) Flush() {
	for i, l := range s.logs {
		l.writeQueued()
		s.logs[i] = nil
	}
	s.logs = s.logs[:0]
}

// Logs is the number of logs s is the writer of (waiting for Flush).
func (s *Stager) Logs() int { return len(s.logs) }

// Ready reports whether Wait would return at once.
func (p *PendingAppend) Ready() bool { return p.req == nil || len(p.req.done) > 0 }
