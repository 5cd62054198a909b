package partition

import (
	"runtime"
	"time"
)

// File descriptors of inactive segments.
//
// The active segment of every log keeps its .log open (the appender writes
// it) and its two indexes mapped read-write (their files closed once
// mapped, package mmapindex): 1 descriptor. An
// inactive segment holds none while idle: its indexes, opened on first use,
// are mapped read-only with their files closed at once (package mmapindex),
// and its .log is opened on first use and parked again (segment.File.Park)
// by the idle sweep, which also unmaps its indexes. The sweep runs every
// segmentSweepInterval and parks every inactive segment that no reader has
// pinned and that was not pinned since the previous sweep; when more than
// maxOpenSegmentFiles inactive .log files are still open it parks the
// unpinned ones whatever their last use. A pinned segment (a reader's
// reference, a Fetch region waiting for sendfile) is never parked: the
// descriptor a region carries stays valid until the region is released.
//
// Parking takes the segment's reference count from 1 (the log's own
// reference) to parkingRefs with a compare-and-swap; acquire and Release
// wait while it is negative, so no reader can pin the segment while its
// file is being closed. A segment whose files are about to be renamed
// (deletion, the cleaner's swap) is marked noPark first and its file
// reopened, since a parked file is reopened by its path.
//
// A segment that rolled gives its descriptors back as soon as the flush
// after the roll made it durable: sync closes its indexes and the flush's
// release parks its .log if no reader holds it.

const (
	parkingRefs          = -1 << 30
	segmentSweepInterval = 2 * time.Second
	maxOpenSegmentFiles  = 1000
)

// holdFileOpen reopens the segment's file if it is parked and keeps it open
// from now on (its files are about to be renamed or it is leaving the
// list).
func (s *logSegment) holdFileOpen() error {
	s.noPark.Store(true)
	s.acquire() // waits out a park in progress
	defer s.Release()
	_, err := s.log.Handle()
	return err
}

// parkIfIdle closes an inactive segment's .log and unmaps its indexes when
// no reader holds it and (unless force) nothing pinned it since the last
// sweep. It reports whether it closed an open .log.
func (s *logSegment) parkIfIdle(force bool) bool {
	if s.used.Swap(false) && !force {
		return false
	}
	if !s.refs.CompareAndSwap(1, parkingRefs) {
		return false // pinned by a reader, or no longer the log's
	}
	defer s.refs.Store(1)
	if s.noPark.Load() {
		return false
	}
	wasOpen := s.log.IsOpen()
	if err := s.log.Park(); err != nil {
		return false // a close error on a read-only use: nothing to lose
	}
	s.closeIndexes()
	return wasOpen
}

// closeIndexes unmaps an inactive segment's indexes (reopened on next use).
func (s *logSegment) closeIndexes() {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.closeIndexesSyncLocked()
}

// closeIndexesSyncLocked is closeIndexes with syncMu held.
func (s *logSegment) closeIndexesSyncLocked() {
	s.idx.Lock()
	defer s.idx.Unlock()
	if s.idx.offsets == nil || s.idx.maxBytes > 0 {
		return
	}
	s.idx.offsets.Close()
	s.idx.times.Close()
	s.idx.offsets, s.idx.times = nil, nil
}

// parkIdleSegments parks the log's idle inactive segments; it returns how
// many .log files it closed and how many inactive ones stay open.
func (l *log) parkIdleSegments(force bool) (parked, open int) {
	l.mu.RLock()
	if l.mu.closed || len(l.mu.segments) < 2 {
		l.mu.RUnlock()
		return 0, 0
	}
	inactive := append([]*logSegment(nil), l.mu.segments[:len(l.mu.segments)-1]...)
	l.mu.RUnlock()
	for _, s := range inactive {
		if s.parkIfIdle(force) {
			parked++
		}
		if s.log.IsOpen() {
			open++
		}
	}
	return parked, open
}

// sweepSegments parks idle inactive segments of every log, then, while
// more than maxOpen stay open, every unpinned one. It returns the .log
// files closed and those left open.
func (s *store) sweepSegments(maxOpen int) (parked, open int) {
	logs := s.logs()
	for _, l := range logs {
		p, o := l.parkIdleSegments(false)
		parked, open = parked+p, open+o
	}
	if open <= maxOpen {
		return parked, open
	}
	open = 0
	for _, l := range logs {
		p, o := l.parkIdleSegments(true)
		parked, open = parked+p, open+o
	}
	return parked, open
}

// startSegmentSweep runs sweepSegments every segmentSweepInterval until the
// store stops.
func (s *store) startSegmentSweep() {
	if s.cfg.noSegmentSweep {
		return
	}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		t := time.NewTicker(segmentSweepInterval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.sweepSegments(maxOpenSegmentFiles)
			}
		}
	}()
}

// waitRefs spins while a park is in progress (refs < 0).
func waitRefs() { runtime.Gosched() }
