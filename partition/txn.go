package partition

// Transactions on the partition log: ongoing transactions in the producer
// state, markers, the last stable offset (see doc.go, "Transactions").

import (
	"fmt"

	"github.com/sluice/sluice/segment"
)

// completedTxn is a transaction ended by a marker: its producer, the offset
// of its first batch (the marker's own when it wrote nothing here) and the
// marker's offset.
type completedTxn struct {
	producerID              int64
	firstOffset, lastOffset int64
	aborted                 bool
}

// checkTxn applies Kafka's transaction rules to a data batch of a known
// producer (ProducerAppendInfo): a non-transactional batch while the
// producer's transaction is open is INVALID_TXN_STATE.
func (e *producerEntry) checkTxn(h segment.Header) error {
	if e == nil || h.Attributes&segment.AttrTransactional != 0 {
		return nil
	}
	if e.txnFirstOffset >= 0 {
		return fmt.Errorf("%w: non-transactional batch from producer %d while its transaction from offset %d is open",
			ErrInvalidTxnState, h.ProducerID, e.txnFirstOffset)
	}
	return nil
}

// checkMarker applies Kafka's rules to a marker (appendEndTxnMarker): an
// older producer epoch is fenced, and so is an older coordinator epoch.
func (e *producerEntry) checkMarker(h segment.Header, m segment.Marker) error {
	if e == nil {
		return nil
	}
	if h.ProducerEpoch < e.epoch {
		return fmt.Errorf("%w: marker for producer %d epoch %d is older than %d", ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, e.epoch)
	}
	if e.coordinatorEpoch > m.CoordinatorEpoch {
		return fmt.Errorf("%w: marker for producer %d from coordinator epoch %d, %d already seen",
			ErrTransactionCoordinatorFenced, h.ProducerID, m.CoordinatorEpoch, e.coordinatorEpoch)
	}
	return nil
}

// applyBatch records an appended batch in m: updateProducers, plus the
// start of a transaction (a transactional data batch when none is open) or
// its end (a marker, returned as completed).
func applyBatch(m map[int64]*producerEntry, h segment.Header, mk *segment.Marker) (completedTxn, bool) {
	if h.ProducerID < 0 {
		return completedTxn{}, false
	}
	updateProducers(m, h)
	e := m[h.ProducerID]
	if h.Attributes&segment.AttrControl == 0 {
		if h.Attributes&segment.AttrTransactional != 0 && e.txnFirstOffset < 0 {
			e.txnFirstOffset = h.BaseOffset
		}
		return completedTxn{}, false
	}
	if mk == nil || (mk.Type != segment.ControlAbort && mk.Type != segment.ControlCommit) {
		return completedTxn{}, false
	}
	first := e.txnFirstOffset
	if first < 0 {
		first = h.BaseOffset
	}
	e.txnFirstOffset, e.coordinatorEpoch = -1, mk.CoordinatorEpoch
	return completedTxn{producerID: h.ProducerID, firstOffset: first, lastOffset: h.BaseOffset, aborted: mk.Type == segment.ControlAbort}, true
}

// openTxns is the set of producers with an open transaction (guarded by
// pmu with the producer state), so that the first unstable offset is found
// among them rather than among every idempotent producer.
type openTxns map[int64]struct{}

// newOpenTxns is the set of m's producers with an open transaction.
func newOpenTxns(m map[int64]*producerEntry) openTxns {
	o := openTxns{}
	for id := range m {
		o.note(m, id)
	}
	return o
}

// note updates pid's membership from its entry in m.
func (o openTxns) note(m map[int64]*producerEntry, pid int64) {
	if e := m[pid]; e != nil && e.txnFirstOffset >= 0 {
		o[pid] = struct{}{}
	} else {
		delete(o, pid)
	}
}

// first is the first offset of the oldest open transaction, -1 when none
// is open.
func (o openTxns) first(m map[int64]*producerEntry) int64 {
	first := int64(-1)
	for id := range o {
		if f := m[id].txnFirstOffset; first < 0 || f < first {
			first = f
		}
	}
	return first
}

// applyLocked is applyBatch on the log's producer state (pmu held, or at
// load): it keeps the open set and returns, for an ABORT marker, the
// aborted-index entry to write.
func (l *log) applyLocked(h segment.Header, mk *segment.Marker) *abortedTxn {
	a, _, _ := l.applyCompletedLocked(h, mk)
	return a
}

// applyCompletedLocked is applyLocked that also returns the transaction a
// marker completed (ok), for the replicated log's unreplicated set.
func (l *log) applyCompletedLocked(h segment.Header, mk *segment.Marker) (*abortedTxn, completedTxn, bool) {
	t, ok := applyBatch(l.producers, h, mk)
	l.open.note(l.producers, h.ProducerID)
	if !ok || !t.aborted {
		return nil, t, ok
	}
	a := abortedEntry(l.open.first(l.producers), t)
	return &a, t, ok
}

// abortedEntry is the aborted-index entry for t, completed while the
// oldest open transaction began at firstUnstable (-1: none): its last
// stable offset is that, or the offset after the marker (Kafka's
// lastStableOffset(completedTxn)).
func abortedEntry(firstUnstable int64, t completedTxn) abortedTxn {
	lso := firstUnstable
	if lso < 0 {
		lso = t.lastOffset + 1
	}
	return abortedTxn{producerID: t.producerID, firstOffset: t.firstOffset, lastOffset: t.lastOffset, lastStableOffset: lso}
}

// AppendMarker writes a transaction marker (a control batch: one COMMIT or
// ABORT control record carrying coordinatorEpoch, as Kafka writes it) for
// the producer's transaction and closes it: the last stable offset moves
// past it, and an ABORT adds the transaction to the aborted index. It
// returns the marker's offset. A producer epoch older than the producer's
// is ErrInvalidProducerEpoch; a coordinator epoch older than the last
// marker's is ErrTransactionCoordinatorFenced. A marker for a producer with
// no open transaction here is written all the same (Kafka does too).
func (l *Log) AppendMarker(producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32) (int64, error) {
	if producerID < 0 {
		return -1, fmt.Errorf("%w: marker for producer id %d", ErrInvalidRecord, producerID)
	}
	b := segment.EncodeMarker(producerID, producerEpoch, commit, coordinatorEpoch, l.now().UnixMilli())
	res, err := l.appendWith(b, true)
	if err != nil {
		return -1, err
	}
	return res.BaseOffset, nil
}

// LastStableOffset is the offset below which every transaction is decided
// (read_committed consumers read up to it): the first offset of the oldest
// open transaction, or the high watermark when it is lower or none is open.
func (l *Log) LastStableOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.lsoLocked()
}

func (l *log) lsoLocked() int64 {
	f := l.mu.firstUnstable
	for _, t := range l.mu.unrepl { // decided, but the marker is not below the HW yet
		if f < 0 || t.firstOffset < f {
			f = t.firstOffset
		}
	}
	if f >= 0 && f < l.mu.hw {
		return max(f, l.mu.logStart) // records below the log start are gone (Kafka's rule)
	}
	return l.mu.hw
}
