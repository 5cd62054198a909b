package partition

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"
)

// The store's log cleaner: log.cleaner.threads goroutines that each pick
// the dirtiest compacted log, clean it, and sleep log.cleaner.backoff.ms
// when none is due; and the cleaner-offset-checkpoint file.

const (
	cleanerCheckpointFile = "cleaner-offset-checkpoint"
	defaultCleanerThreads = 1
	defaultDedupeBuffer   = 128 << 20
	defaultCleanerBackoff = 15 * time.Second
)

// cleanerState is the store's cleaner bookkeeping.
type cleanerState struct {
	mu    sync.Mutex
	stats CleanerStats
	ckMu  sync.Mutex // serialises writes of cleaner-offset-checkpoint
}

// cleanerDefaults fills the cleaner's zero settings.
func cleanerDefaults(cfg *StoreConfig) {
	if cfg.CleanerThreads == 0 {
		cfg.CleanerThreads = defaultCleanerThreads
	}
	if cfg.CleanerDedupeBufferSize <= 0 {
		cfg.CleanerDedupeBufferSize = defaultDedupeBuffer
	}
	if cfg.CleanerBackoff <= 0 {
		cfg.CleanerBackoff = defaultCleanerBackoff
	}
}

// startCleaners starts the cleaner threads (none when disabled).
func (s *store) startCleaners() {
	for i := 0; i < s.cfg.CleanerThreads; i++ {
		s.done.Add(1)
		go s.cleanerLoop(s.newCleaner())
	}
}

func (s *store) newCleaner() *cleaner {
	threads := int64(max(s.cfg.CleanerThreads, 1))
	return newCleaner(s.cfg.CleanerDedupeBufferSize/threads, s.stop, s.cfg.Now)
}

// cleanerLoop cleans while logs are due, then waits for the backoff.
func (s *store) cleanerLoop(c *cleaner) {
	defer s.done.Done()
	t := time.NewTimer(s.cfg.CleanerBackoff)
	defer t.Stop()
	for {
		for s.cleanFilthiest(c) {
			if c.stopped() {
				return
			}
		}
		t.Reset(s.cfg.CleanerBackoff)
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

// cleanFilthiest cleans the compacted log with the highest dirty ratio
// among those due and not being cleaned; false when none is due.
func (s *store) cleanFilthiest(c *cleaner) bool {
	l := s.filthiest()
	if l == nil {
		return false
	}
	if !l.cleanMu.TryLock() {
		return false
	}
	st, err := c.clean(l, false)
	l.cleanMu.Unlock()
	s.noteCleaning(l, st, err)
	return err == nil && st.Cleanings > 0
}

// filthiest returns the due log with the highest dirty ratio (a log due by
// max.compaction.lag.ms counts as ratio 1). Idle active segments of
// compacted logs roll here.
func (s *store) filthiest() *Log {
	now := s.cfg.Now()
	var best *Log
	bestRatio := -1.0
	for _, l := range s.logs() {
		cfg := l.config()
		if !cfg.Compact() || l.offline() != nil {
			continue // an offline log waits for a restart
		}
		if err := l.rollIfIdle(now); err != nil {
			s.logger.Warn("cannot roll an idle compacted log", "topic", l.topic, "partition", l.partition, "err", err)
		}
		p, err := l.planCleaning(now, cfg)
		if err != nil || p == nil {
			continue
		}
		r := p.ratio()
		if r < cfg.MinCleanableDirtyRatio {
			r = 1 // due by max.compaction.lag.ms, if at all
		}
		if p.due(cfg, now) && r > bestRatio {
			best, bestRatio = l, r
		}
		p.release()
	}
	return best
}

// cleanNow is Store.Clean: one forced cleaning, waiting for a cleaning of
// the same log under way.
func (s *store) cleanNow(l *Log) (CleanerStats, error) {
	l.cleanMu.Lock()
	st, err := s.newCleaner().clean(l, true)
	l.cleanMu.Unlock()
	s.noteCleaning(l, st, err)
	return st, err
}

// noteCleaning adds a cleaning's figures, logs a failure and checkpoints.
func (s *store) noteCleaning(l *Log, st CleanerStats, err error) {
	if err != nil && !errors.Is(err, errCleanerStopped) && !errors.Is(err, ErrClosed) &&
		!errors.Is(err, errInjectedCrash) && !errors.Is(err, ErrPolicyViolation) {
		st.Errors = 1
		s.logger.Error("log cleaning failed", "topic", l.topic, "partition", l.partition, "err", err)
	}
	s.cl.mu.Lock()
	add(&s.cl.stats, st)
	s.cl.mu.Unlock()
	if err == nil && st.Cleanings > 0 {
		if err := s.writeCleanerCheckpoint(); err != nil {
			s.logger.Error("cannot write the cleaner checkpoint", "err", err)
		}
	}
}

func add(t *CleanerStats, st CleanerStats) {
	t.Cleanings += st.Cleanings
	t.BytesRead += st.BytesRead
	t.BytesWritten += st.BytesWritten
	t.RecordsRead += st.RecordsRead
	t.RecordsRemoved += st.RecordsRemoved
	t.Duration += st.Duration
	t.Errors += st.Errors
	if st.Cleanings > 0 {
		t.LastDuration = st.LastDuration
	}
}

func (s *store) cleanerStats() CleanerStats {
	s.cl.mu.Lock()
	defer s.cl.mu.Unlock()
	return s.cl.stats
}

// writeCleanerCheckpoint writes every cleaned log's first dirty offset.
func (s *store) writeCleanerCheckpoint() error {
	s.cl.ckMu.Lock()
	defer s.cl.ckMu.Unlock()
	points := make(map[topicPartition]int64)
	for _, l := range s.logs() {
		if fd := l.cleanerCheckpoint(); fd >= 0 {
			points[topicPartition{l.topic, l.partition}] = fd
		}
	}
	if err := writeOffsetCheckpoint(s.fs, filepath.Join(s.cfg.Dir, cleanerCheckpointFile), points); err != nil {
		return fmt.Errorf("cannot write %s: %w", cleanerCheckpointFile, err)
	}
	return nil
}

// readCleanerCheckpoint reads the checkpoint; an unreadable one is
// ignored (every compacted log is then cleaned from its start again).
func (s *store) readCleanerCheckpoint() map[topicPartition]int64 {
	points, err := readOffsetCheckpoint(s.fs, filepath.Join(s.cfg.Dir, cleanerCheckpointFile))
	if err != nil {
		s.logger.Warn("ignoring unreadable cleaner checkpoint", "err", err)
		return map[topicPartition]int64{}
	}
	return points
}
