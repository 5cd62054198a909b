package partition

// Transactions in the log cleaner, as Kafka's CleanedTransactionMetadata:
// the cleaner reads batches in offset order and tracks, per producer, the
// aborted transaction it is inside (from the aborted index) and whether the
// committed transaction it is inside kept a batch.
//
//   - A batch of an aborted transaction is dropped, whatever its keys, and
//     never enters the key map (so it cannot hide an older committed
//     record of its key).
//   - A marker never enters the key map (its key is not a record key). An
//     ABORT marker whose transaction still had batches in this cleaning
//     stays, and its .txnindex entry moves into the cleaned segment that
//     holds it; otherwise (a later cleaning: the data is gone) it may go,
//     and so may a COMMIT marker whose transaction kept no batch. A marker
//     that may go is removed once below the tombstone horizon
//     (delete.retention.ms), as a tombstone is.
//   - The cleaner stops at the last stable offset: open transactions are
//     never cleaned.

import (
	"sort"

	"github.com/sluice/sluice/segment"
)

// txnCleaning is the transaction state of one pass over the log.
type txnCleaning struct {
	pending   []abortedTxn // by first offset, not yet reached
	aborted   map[int64]*abortedRun
	committed map[int64]bool // producer → its committed transaction kept a batch
}

type abortedRun struct {
	entry    abortedTxn
	observed bool // a batch of it was seen (and dropped) in this pass
}

// newTxnCleaning is the state of a pass starting at from: the aborted
// transactions whose marker is at or after from and that began before end.
func newTxnCleaning(segs []*logSegment, from, end int64) (*txnCleaning, error) {
	t := &txnCleaning{aborted: map[int64]*abortedRun{}, committed: map[int64]bool{}}
	for _, s := range segs {
		es, err := s.abortedEntries()
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			if e.lastOffset >= from && e.firstOffset < end {
				t.pending = append(t.pending, e)
			}
		}
	}
	sort.SliceStable(t.pending, func(i, j int) bool { return t.pending[i].firstOffset < t.pending[j].firstOffset })
	return t, nil
}

// reach starts the aborted transactions that began at or before last.
func (t *txnCleaning) reach(last int64) {
	for len(t.pending) > 0 && t.pending[0].firstOffset <= last {
		e := t.pending[0]
		t.aborted[e.producerID] = &abortedRun{entry: e}
		t.pending = t.pending[1:]
	}
}

// onData reports whether the data batch h belongs to an aborted
// transaction (and is to be dropped).
func (t *txnCleaning) onData(h segment.Header) bool {
	t.reach(h.LastOffset())
	if h.Attributes&segment.AttrTransactional == 0 || h.ProducerID < 0 {
		return false
	}
	if a := t.aborted[h.ProducerID]; a != nil {
		a.observed = true
		return true
	}
	t.committed[h.ProducerID] = true
	return false
}

// onMarker reports whether the marker h may be removed and, for an ABORT
// marker that stays for its data, the .txnindex entry that moves with it.
func (t *txnCleaning) onMarker(h segment.Header, m segment.Marker) (removable bool, entry *abortedTxn) {
	t.reach(h.LastOffset())
	switch m.Type {
	case segment.ControlAbort:
		a := t.aborted[h.ProducerID]
		delete(t.aborted, h.ProducerID)
		if a != nil && a.observed {
			return false, &a.entry
		}
		return true, nil
	case segment.ControlCommit:
		kept := t.committed[h.ProducerID]
		delete(t.committed, h.ProducerID)
		return !kept, nil
	}
	return false, nil
}
