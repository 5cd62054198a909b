package partition

import (
	"errors"
	"fmt"
	"sort"

	"github.com/sluice/sluice/segment"
)

// Offline partitions.
//
// One bad partition must never keep the store down. A partition directory
// that cannot be opened (corruption below its recovery point, a corrupt
// batch with valid data after it, an I/O error while recovering) is taken
// offline: the store opens every other partition, logs an ERROR naming the
// directory and the cause (the file, position and offset for corruption),
// and keeps the offline partition's checkpoint entries as they were, so a
// later start finds the same damage rather than a silently shortened log.
// While a partition is offline the store writes no clean-shutdown marker:
// the next start recovers (and re-checks) it again. `sluice repair`
// (Repair) truncates it to its last valid batch.

// ErrOffline marks a partition the store could not open; the broker answers
// KAFKA_STORAGE_ERROR (56) for it.
var ErrOffline = fmt.Errorf("%w: partition offline", ErrStorage)

// OfflineLog is a partition directory the store could not open.
type OfflineLog struct {
	Topic     string
	Partition int32
	TopicID   [16]byte // from partition.metadata; zero when unreadable
	Dir       string
	Err       error // why it could not be opened

	recoveryPoint int64 // checkpointed values, kept as they were; -1: none
	logStart      int64
}

// Offline returns the partitions the store could not open, sorted by topic
// then partition.
func (s *Store) Offline() []OfflineLog { return s.offlineLogs() }

// OfflineCount counts the partitions offline for either reason: those the
// store could not open (Offline) and those that failed a write or fsync
// since (OfflineLogs). For metrics and health checks.
func (s *Store) OfflineCount() int { return s.offlineCount() + len(s.failedLogs()) }

func (s *store) offlineCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.offline)
}

func (s *store) offlineLogs() []OfflineLog {
	s.mu.Lock()
	out := make([]OfflineLog, 0, len(s.mu.offline))
	for _, o := range s.mu.offline {
		out = append(out, *o)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// takeOffline records a partition that failed to open. Called while
// loading, before the store is shared.
func (s *store) takeOffline(tp topicPartition, id [16]byte, dir string, rp, ls int64, err error) {
	kind := "I/O error"
	if errors.Is(err, segment.ErrCorrupt) || errors.Is(err, segment.ErrTorn) {
		kind = "corruption"
	}
	s.logger.Error("partition offline: cannot open its log; every other partition stays online; "+
		"run `sluice repair` to truncate it to its last valid batch",
		"partition", tp.String(), "dir", dir, "cause", kind, "err", err)
	s.mu.Lock()
	s.mu.offline[tp] = &OfflineLog{Topic: tp.topic, Partition: tp.partition, TopicID: id, Dir: dir,
		Err: err, recoveryPoint: rp, logStart: ls}
	s.mu.Unlock()
}

// offlineCheckpoints adds the offline partitions' kept entries.
func (s *store) offlineCheckpoints(rps, starts map[topicPartition]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tp, o := range s.mu.offline {
		if o.recoveryPoint >= 0 {
			rps[tp] = o.recoveryPoint
		}
		if o.logStart >= 0 {
			starts[tp] = o.logStart
		}
	}
}
