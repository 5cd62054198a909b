package partition

import (
	"fmt"
)

// The sticky-error rule (nats' mb.werr; the "fsyncgate" lesson). Once a
// write or an fsync of a log's files has failed, what the page cache holds
// for them cannot be trusted: Linux may have dropped the dirty pages and
// report success to the next fsync. So the first such error is kept in
// mu.werr and the log goes offline: every later Append, Read and Flush
// returns it (wrapping ErrStorage and the original error), the recovery
// point never moves again, and Close reports it so the store writes no
// clean-shutdown marker. Reopening the log (a restart) recovers it from
// its last recovery point, validating every batch. Other logs are not
// affected.

// setOffline keeps err as the log's sticky error (the first one wins) and
// logs it once.
func (l *log) setOffline(err error) {
	l.mu.Lock()
	first := l.mu.werr == nil
	if first {
		l.mu.werr = err
		l.changes.Add(1)
	}
	l.mu.Unlock()
	if first {
		l.logger.Error("log is offline after a storage error; it refuses appends and reads until reopened", "err", err)
	}
}

// offlineLocked returns the error every caller gets while the log is
// offline, nil otherwise. Callers hold mu (read or write).
func (l *log) offlineLocked() error {
	if l.mu.werr == nil {
		return nil
	}
	return fmt.Errorf("%w: %s-%d is offline after a storage error (reopen to recover): %w",
		ErrStorage, l.topic, l.partition, l.mu.werr)
}

// failedLogs are the open logs that a storage error took offline.
func (s *store) failedLogs() []*Log {
	var out []*Log
	for _, l := range s.logs() {
		if l.offline() != nil {
			out = append(out, l)
		}
	}
	return out
}

// offline is offlineLocked taking the lock.
func (l *log) offline() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.offlineLocked()
}
