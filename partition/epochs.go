package partition

// Leader epochs as calls (becoming leader) and the follower's divergence
// rule (KIP-101, KIP-279).

import "fmt"

// EpochEntry is one leader-epoch-checkpoint entry: the leader epoch and
// the first offset written in it.
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

// LeaderEpochs returns a copy of the leader-epoch cache, oldest first.
func (l *Log) LeaderEpochs() []EpochEntry {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]EpochEntry, len(l.mu.epochs.entries))
	for i, e := range l.mu.epochs.entries {
		out[i] = EpochEntry{e.epoch, e.startOffset}
	}
	return out
}

// LastLeaderEpoch is the newest entry's epoch, -1 when the cache is
// empty: the last of LeaderEpochs without copying them, which a follower
// asks of every partition in every Fetch it sends.
func (l *Log) LastLeaderEpoch() int32 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if n := len(l.mu.epochs.entries); n > 0 {
		return l.mu.epochs.entries[n-1].epoch
	}
	return -1
}

// AssignLeaderEpoch records that epoch starts at startOffset (called on
// becoming leader, with the log end offset); the log's appends then stamp
// epoch on their batches. An epoch starting at the log end covers no
// record yet: its leader-epoch-checkpoint entry is recorded by the first
// append round that has records, before their bytes are written
// (syncEpochs), and written to the file by the log's next flush, not
// here, so
// becoming the leader of many partitions at once (a broker restarting or
// catching up from a snapshot) costs no I/O. A crash before that round
// loses an epoch entry no record depends on: the log then ends at the
// entry's start offset and the broker is given a newer epoch when it leads
// again; a crash after it loses at most entries that recovery re-learns
// from the batches (doc.go). Kafka's LeaderEpochFileCache.assign writes
// and fsyncs the file at once; the difference is never visible to a
// replica. An epoch starting below the log end is
// written before returning. As Kafka's LeaderEpochFileCache.assign, entries
// the new one contradicts (epoch >= it, or a start offset >= startOffset)
// are dropped first; assigning the latest epoch again does nothing (it
// has begun). An epoch older than the latest is ErrFencedLeaderEpoch (a stale
// leadership), a start offset beyond the log end ErrOffsetOutOfRange.
func (l *Log) AssignLeaderEpoch(epoch int32, startOffset int64) error {
	l.wmu.Lock() // no append round edits the cache meanwhile
	defer l.wmu.Unlock()
	l.mu.RLock()
	leo, closed := l.mu.leo, l.mu.closed
	next := l.mu.epochs.clone()
	l.mu.RUnlock()
	switch {
	case closed:
		return ErrClosed
	case epoch < 0:
		return fmt.Errorf("%w: leader epoch %d", ErrInvalidConfig, epoch)
	case len(next.entries) > 0 && epoch < next.latest():
		return fmt.Errorf("%w: epoch %d of %s-%d is older than the latest %d", ErrFencedLeaderEpoch,
			epoch, l.topic, l.partition, next.latest())
	case startOffset < 0 || startOffset > leo:
		return fmt.Errorf("%w: epoch %d of %s-%d cannot start at %d, the log ends at %d", ErrOffsetOutOfRange,
			epoch, l.topic, l.partition, startOffset, leo)
	}
	if n := len(next.entries); n > 0 && next.entries[n-1].epoch == epoch {
		return nil // this epoch has begun already
	}
	if !next.assignAt(epoch, startOffset) {
		return nil
	}
	if startOffset == leo {
		next.unsynced = true
	} else if err := next.write(); err != nil {
		return fmt.Errorf("%w: cannot write the leader epoch checkpoint of %s-%d: %w", ErrStorage, l.topic, l.partition, err)
	}
	l.mu.Lock()
	l.mu.epochs = next
	l.changes.Add(1)
	l.mu.Unlock()
	return nil
}

// Truncation is what a follower does with the leader's OffsetForLeaderEpoch
// answer (or a Fetch response's DivergingEpoch): truncate its log to
// Offset; when Done is false, ask the leader again for NextEpoch and apply
// TruncationOffset to that answer (KIP-279's loop).
type Truncation struct {
	Offset    int64
	Done      bool
	NextEpoch int32
}

// TruncationOffset is Kafka's follower rule (AbstractFetcherThread's
// getOffsetTruncationState, KIP-101 and KIP-279) as a pure function. The
// leader answered (leaderEpoch, leaderEndOffset) for the follower's last
// fetched epoch; the follower has the leader-epoch entries epochs (oldest
// first), log end offset leo and high watermark hw:
//   - the leader knows no such epoch (end offset -1): truncate to hw;
//   - an old leader answered no epoch (-1): min(leaderEndOffset, leo);
//   - the follower's own end for leaderEpoch, found as the leader finds
//     its own (the largest epoch <= leaderEpoch), is undefined: the
//     follower tracked no epoch then, min(leaderEndOffset, leo);
//   - it belongs to a smaller epoch than leaderEpoch (the follower never saw
//     leaderEpoch): truncate to min(that end, leo) and ask again for that
//     epoch (Done false);
//   - else the logs agree up to min(leaderEndOffset, follower's end, leo).
func TruncationOffset(leaderEpoch int32, leaderEndOffset int64, epochs []EpochEntry, leo, hw int64) Truncation {
	switch {
	case leaderEndOffset < 0:
		return Truncation{Offset: min(hw, leo), Done: true}
	case leaderEpoch < 0:
		return Truncation{Offset: min(leaderEndOffset, leo), Done: true}
	}
	c := &epochCache{entries: make([]epochEntry, len(epochs))}
	for i, e := range epochs {
		c.entries[i] = epochEntry{e.Epoch, e.StartOffset}
	}
	end, epoch := c.endOffsetFor(leaderEpoch, leo)
	switch {
	case end < 0:
		return Truncation{Offset: min(leaderEndOffset, leo), Done: true}
	case epoch != leaderEpoch:
		return Truncation{Offset: min(end, leo), NextEpoch: epoch}
	}
	return Truncation{Offset: min(leaderEndOffset, end, leo), Done: true}
}

// TruncationFor is TruncationOffset with this log's epochs, log end offset
// and high watermark.
func (l *Log) TruncationFor(leaderEpoch int32, leaderEndOffset int64) Truncation {
	l.mu.RLock()
	epochs := make([]EpochEntry, len(l.mu.epochs.entries))
	for i, e := range l.mu.epochs.entries {
		epochs[i] = EpochEntry{e.epoch, e.startOffset}
	}
	leo, hw := l.mu.leo, l.mu.hw
	l.mu.RUnlock()
	return TruncationOffset(leaderEpoch, leaderEndOffset, epochs, leo, hw)
}
