package partition

// Truncation of a replica's log (a follower diverging from its leader,
// KIP-101/KIP-279), and Kafka's truncateFullyAndStartAt.

import (
	"errors"
	"fmt"

	"github.com/sluice/sluice/segment"
)

// TruncateTo removes everything at and above offset: later segments are
// deleted, the one holding offset cut before the batch that holds it (so
// the log end offset becomes offset, or that batch's base when offset lies
// inside a batch), their index, time-index and aborted-transaction entries
// dropped; the producer and transaction state are rebuilt from the
// remaining log (the newest producer snapshot at or below the new end,
// replayed), leader-epoch entries starting at or after the new end dropped
// (and the checkpoint written), the high watermark lowered to the new end
// if above. offset >= LogEndOffset does nothing. offset < LogStartOffset,
// or at or below the first segment's base, truncates fully and starts the
// log again at offset (TruncateFullyAndStartAt).
//
// Crash safety: the files change from the end backwards (segments deleted
// last first, then the cut, then the epoch checkpoint), and the recovery
// point is lowered first, so a kill -9 at any step leaves a log that opens
// as a prefix of the one before. Regions handed out before the call that
// reach past the cut read short (only followers read above the high
// watermark, and a follower truncates before it fetches again).
func (l *Log) TruncateTo(offset int64) error { return l.truncateTo(offset) }

// TruncateFullyAndStartAt deletes every segment, the producer state and the
// leader epochs, and starts the log empty at offset (log start, log end and
// high watermark all at offset): a follower whose fetch position fell below
// the leader's log start (Kafka's truncateFullyAndStartAt). A kill -9 in
// the middle leaves an empty log.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("%w: cannot start %s-%d at offset %d", ErrOffsetOutOfRange, l.topic, l.partition, offset)
	}
	return l.exclusive(func() error { return l.truncateFullyLocked(offset) })
}

// exclusive runs fn with the cleaner, the segment surgery and the writer
// locked out and the flushes of rolled segments finished.
func (l *log) exclusive(fn func() error) error {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	l.swapMu.Lock()
	defer l.swapMu.Unlock()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.bg.Wait() // no rolled segment's flush writes a snapshot meanwhile
	l.mu.RLock()
	err := l.appendableLocked()
	l.mu.RUnlock()
	if err != nil {
		return err
	}
	if err := fn(); err != nil {
		if !errors.Is(err, ErrStorage) {
			err = fmt.Errorf("%w: %w", ErrStorage, err)
		}
		l.setOffline(err)
		return err
	}
	return nil
}

func (l *log) truncateTo(offset int64) error {
	return l.exclusive(func() error {
		l.mu.RLock()
		leo, start, first := l.mu.leo, l.mu.logStart, l.mu.segments[0].base
		l.mu.RUnlock()
		switch {
		case offset >= leo:
			// Nothing to cut, but a leader epoch begun at the log end and
			// never written to (this broker led, appended nothing, lost
			// the leadership) must go: kept, it stays this follower's
			// last epoch and the leader answers the same divergence at
			// every fetch (Kafka's truncateTo does the same).
			return l.truncateEpochs(leo)
		case offset < start || offset <= first:
			return l.truncateFullyLocked(max(offset, 0))
		}
		return l.truncateTailLocked(offset)
	})
}

// truncateTailLocked cuts the log at offset (first segment base < offset <
// log end). Called with wmu, swapMu and cleanMu held.
func (l *log) truncateTailLocked(offset int64) error {
	l.mu.RLock()
	segs := append([]*logSegment(nil), l.mu.segments...)
	l.mu.RUnlock()
	i := len(segs) - 1
	for segs[i].base >= offset {
		i--
	}
	s := segs[i]
	v := readView{seg: s, limit: s.log.Size()}
	cut, h, err := l.findBatch(v, offset)
	if err != nil {
		return err
	}
	end := offset
	if cut < 0 {
		cut = s.log.Size() // offset lies after s's last batch
	} else {
		end = min(offset, h.BaseOffset)
	}
	l.dropAboveLocked(segs[:i+1], s, cut, end)
	for j := len(segs) - 1; j > i; j-- { // the files, from the end backwards
		if err := segs[j].markDeleted(); err != nil {
			return err
		}
	}
	if err := l.cutSegment(s, cut, end, i < len(segs)-1); err != nil {
		return err
	}
	if err := l.truncateEpochs(end); err != nil {
		return err
	}
	if err := l.rebuildProducers(end); err != nil {
		return err
	}
	l.logger.Info("truncated the log", "offset", end, "segments_deleted", len(segs)-1-i)
	return nil
}

// dropAboveLocked publishes the truncation in memory before the files
// change: the segment list, log end, high watermark (lowered to the end if
// above), recovery point, the batch ends and unreplicated transactions at
// or above end. Readers see the shorter log from here on.
func (l *log) dropAboveLocked(keep []*logSegment, s *logSegment, cut, end int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.segments = keep
	l.mu.cuts++
	l.mu.leo, l.mu.leoSeg, l.mu.leoPos = end, s, cut
	if l.mu.hw >= end {
		l.mu.hw, l.mu.hwSeg, l.mu.hwPos = end, s, cut
	}
	n := 0
	for n < len(l.mu.ends) && l.mu.ends[n].next <= end {
		n++
	}
	l.mu.ends = l.mu.ends[:n]
	kept := l.mu.unrepl[:0]
	for _, t := range l.mu.unrepl {
		if t.lastOffset < end {
			kept = append(kept, t)
		}
	}
	l.mu.unrepl = kept
	l.mu.recoveryPoint = min(l.mu.recoveryPoint, end)
	l.mu.syncedEnd = min(l.mu.syncedEnd, end)
	l.cleaner.Lock()
	if l.cleaner.firstDirty > end {
		l.cleaner.firstDirty = end
	}
	l.cleaner.Unlock()
	l.notifyLocked()
}

// cutSegment truncates s at pos (offsets from end on go) and makes it the
// writable active segment again if it had been sealed by a roll; its
// largest timestamp is found again from the batches left.
func (l *log) cutSegment(s *logSegment, pos, end int64, wasSealed bool) error {
	if wasSealed {
		s.parkAfterFlush.Store(false)
		if err := s.reopenWritable(l.config().SegmentIndexBytes); err != nil {
			return err
		}
	}
	if err := s.truncate(pos, end); err != nil {
		return err
	}
	maxTS, maxOff, err := maxTimestampBelow(s.log, pos)
	if err != nil {
		return fmt.Errorf("cannot read %q after truncating it: %w", s.log.Path(), err)
	}
	s.maxTS.Store(maxTS)
	s.maxTSOffset.Store(maxOff)
	s.bytesSinceIndex = 0
	return nil
}

// truncateEpochs drops the leader epochs starting at or after end and
// writes the checkpoint when they change.
func (l *log) truncateEpochs(end int64) error {
	l.mu.RLock()
	next := l.mu.epochs.clone()
	l.mu.RUnlock()
	if !next.truncateFromEnd(end) {
		return nil
	}
	if err := next.write(); err != nil {
		return fmt.Errorf("cannot write the leader epoch checkpoint: %w", err)
	}
	l.mu.Lock()
	l.mu.epochs = next
	l.mu.Unlock()
	return nil
}

// rebuildProducers rebuilds the producer and transaction state of the log
// ending at end: the newest snapshot at or below it (later ones are
// deleted), then the batches after it. The state is built aside and
// swapped in: no lock is held while reading.
func (l *log) rebuildProducers(end int64) error {
	m, snapOff, _, err := loadLatestSnapshot(l.fs, l.dir, end, end)
	if err != nil {
		return err
	}
	l.mu.RLock()
	segs := append([]*logSegment(nil), l.mu.segments...)
	from := max(snapOff, l.mu.logStart)
	l.mu.RUnlock()
	for k, s := range segs {
		next := end
		if k+1 < len(segs) {
			next = segs[k+1].base
		}
		if next <= from || from >= end {
			continue
		}
		if err := replayInto(m, s, from, end); err != nil {
			return fmt.Errorf("cannot rebuild producer state from %q: %w", s.log.Path(), err)
		}
	}
	open := newOpenTxns(m)
	l.pmu.Lock()
	l.producers, l.open = m, open
	first := open.first(m)
	l.pmu.Unlock()
	l.mu.Lock()
	l.mu.firstUnstable = first
	l.mu.Unlock()
	return nil
}

// replayInto applies s's batches with offsets in [from, end) to m.
func replayInto(m map[int64]*producerEntry, s *logSegment, from, end int64) error {
	_, pos, err := s.lookup(from)
	if err != nil {
		return err
	}
	var ferr error
	err = s.log.ScanFrom(pos, func(h segment.Header, p int64) bool {
		if h.BaseOffset >= end {
			return false
		}
		if h.LastOffset() < from {
			return true
		}
		var mk *segment.Marker
		if h.Attributes&segment.AttrControl != 0 {
			if mk, ferr = readMarker(s, h, p); ferr != nil {
				return false
			}
		}
		applyBatch(m, h, mk)
		return true
	})
	return errors.Join(err, ferr)
}

// truncateFullyLocked deletes every segment, snapshot and epoch and starts
// an empty log at offset. Called with wmu, swapMu and cleanMu held.
func (l *log) truncateFullyLocked(offset int64) error {
	l.mu.RLock()
	old, file := l.mu.segments, l.mu.epochs.file
	l.mu.RUnlock()
	if err := l.pdir.Make(); err != nil {
		return err
	}
	// Renamed first (a new segment may take the name of an old one), the
	// old segments stay in the list, readable, until the new one replaces
	// them.
	for j := len(old) - 1; j >= 0; j-- {
		if err := old[j].renameForDeletion(); err != nil {
			return err
		}
	}
	if offs, err := listSnapshots(l.dir); err == nil {
		for _, off := range offs {
			l.fs.Remove(fileName(l.dir, off, snapshotSuffix))
		}
	}
	s, err := createSegment(l.fs, l.dir, offset, l.config().SegmentIndexBytes, l.now())
	if err != nil {
		return err
	}
	epochs := &epochCache{file: file} // one epochFile per log: its mu orders writes and fsyncs
	if err := epochs.write(); err != nil {
		return fmt.Errorf("cannot write the leader epoch checkpoint: %w", err)
	}
	m := make(map[int64]*producerEntry)
	l.pmu.Lock()
	l.producers, l.open = m, newOpenTxns(m)
	l.pmu.Unlock()
	l.mu.Lock()
	l.mu.segments = []*logSegment{s}
	l.setEnd(offset, s, 0)
	l.mu.logStart, l.mu.recoveryPoint, l.mu.syncedEnd = offset, offset, offset
	l.mu.unrepl, l.mu.firstUnstable = nil, -1
	l.mu.epochs = epochs
	l.notifyLocked()
	l.mu.Unlock()
	for _, o := range old {
		o.dropDeleted()
	}
	l.cleaner.Lock()
	l.cleaner.firstDirty = -1
	l.cleaner.Unlock()
	l.logger.Info("truncated the log fully", "start_offset", offset, "segments_deleted", len(old))
	if l.onLogStart != nil {
		l.onLogStart()
	}
	return nil
}
