package partition

// The replication-offset-checkpoint: each log's high watermark, so that a
// replicated log restarts from it rather than from its log end offset.

import (
	"fmt"
	"path/filepath"
)

// CheckpointHighWatermarks writes Kafka's replication-offset-checkpoint in
// the data directory (a "0" version line, a count line, then "topic
// partition highWatermark" per log; temporary file, fsync, rename,
// directory fsync). The broker calls it every
// replica.high.watermark.checkpoint.interval.ms (Kafka: 5000) and the
// store on Close. A replicated log's entry is its high watermark; a log
// not (yet) switched to replicated mode keeps the value read at open until
// it appends as a single replica, then writes its high watermark (= its
// log end). Partitions that could not be opened keep the entry read at
// open.
func (s *Store) CheckpointHighWatermarks() error { return s.checkpointHighWatermarks() }

func (s *store) checkpointHighWatermarks() error {
	s.hwMu.Lock()
	defer s.hwMu.Unlock()
	hws := make(map[topicPartition]int64)
	s.mu.Lock()
	for tp := range s.mu.offline {
		if hw, ok := s.openHWs[tp]; ok {
			hws[tp] = hw
		}
	}
	s.mu.Unlock()
	for _, l := range s.logs() {
		hws[topicPartition{l.topic, l.partition}] = l.checkpointHW()
	}
	if err := writeOffsetCheckpoint(s.fs, filepath.Join(s.cfg.Dir, replicationOffsetFile), hws); err != nil {
		return fmt.Errorf("%w: cannot write the replication-offset checkpoint: %w", ErrStorage, err)
	}
	return nil
}

// checkpointHW is the log's replication-offset-checkpoint entry.
func (l *log) checkpointHW() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if !l.mu.replicated && l.mu.ckptHW >= 0 {
		return min(l.mu.ckptHW, l.mu.leo)
	}
	return l.mu.hw
}
