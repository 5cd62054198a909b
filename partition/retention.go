package partition

import (
	"fmt"
	"time"
)

// applyRetention deletes whole segments from the oldest, never the active
// one, while they are past retention.ms or the log is over retention.bytes.
func (l *log) applyRetention(now time.Time) (int, error) {
	cfg := l.config()
	if !cfg.Delete() {
		return 0, nil // cleanup.policy=compact: the cleaner bounds the log
	}
	deleted := 0
	for {
		ok, err := l.deleteOldestIf(func(s *logSegment, total int64) (bool, error) {
			if cfg.RetentionBytes >= 0 && total-s.log.Size() >= cfg.RetentionBytes {
				return true, nil
			}
			if cfg.RetentionMs < 0 {
				return false, nil
			}
			ts, err := s.largestTimestamp()
			return err == nil && now.UnixMilli()-ts > cfg.RetentionMs, err
		})
		if err != nil || !ok {
			return deleted, err
		}
		deleted++
	}
}

// deleteOldestIf deletes the oldest segment when it is not the active one
// and pred (given the log's total size) says so; the log start offset moves
// to the next segment's base.
func (l *log) deleteOldestIf(pred func(s *logSegment, total int64) (bool, error)) (bool, error) {
	l.swapMu.Lock() // never while the cleaner swaps segments
	defer l.swapMu.Unlock()
	l.mu.RLock()
	if l.mu.closed || len(l.mu.segments) < 2 {
		l.mu.RUnlock()
		return false, nil
	}
	oldest, next := l.mu.segments[0], l.mu.segments[1]
	var total int64
	for _, s := range l.mu.segments {
		total += s.log.Size()
	}
	// Never delete past the high watermark (a segment readers cannot see yet).
	visible := next.base <= l.mu.hw
	l.mu.RUnlock()
	if !visible {
		return false, nil
	}
	ok, err := pred(oldest, total)
	if err != nil || !ok {
		return false, err
	}
	return true, l.dropOldest(oldest)
}

// dropOldest removes s, the oldest segment, from the list and marks it
// deleted; readers holding regions of it finish first.
func (l *log) dropOldest(s *logSegment) error {
	l.mu.Lock()
	if len(l.mu.segments) < 2 || l.mu.segments[0] != s {
		l.mu.Unlock()
		return nil
	}
	l.mu.segments = l.mu.segments[1:]
	l.mu.logStart = max(l.mu.logStart, l.mu.segments[0].base)
	l.changes.Add(1)
	l.mu.Unlock()
	l.logger.Info("deleting segment", "base_offset", s.base, "bytes", s.log.Size())
	if err := s.markDeleted(); err != nil {
		err = fmt.Errorf("%w: %w", ErrStorage, err)
		l.setOffline(err) // the list and the files disagree until reopened
		return err
	}
	pruneSnapshots(l.fs, l.dir, s.base)
	if l.onLogStart != nil {
		l.onLogStart()
	}
	return nil
}

// deleteRecordsBefore moves the log start offset (DeleteRecords) and drops
// the segments wholly below it.
func (l *log) deleteRecordsBefore(offset int64) (int64, error) {
	l.mu.Lock()
	if offset == -1 {
		offset = l.mu.hw
	}
	if offset < 0 || offset > l.mu.hw {
		hw := l.mu.hw
		l.mu.Unlock()
		return 0, fmt.Errorf("%w: %d is beyond the high watermark %d", ErrOffsetOutOfRange, offset, hw)
	}
	moved := offset > l.mu.logStart
	l.mu.logStart = max(l.mu.logStart, offset)
	l.changes.Add(1)
	start := l.mu.logStart
	l.mu.Unlock()
	for {
		ok, err := l.deleteOldestIf(func(s *logSegment, _ int64) (bool, error) {
			return l.nextBase(s) <= start, nil
		})
		if err != nil {
			return start, err
		}
		if !ok {
			break
		}
	}
	if moved && l.onLogStart != nil {
		l.onLogStart()
	}
	return start, nil
}

func (l *log) nextBase(s *logSegment) int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.nextBaseLocked(s)
}
