package partition

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/segment"
)

// Idempotent producers: per producer id, the epoch and the last
// maxBatchesPerProducer batches (first/last sequence and offsets), as
// Kafka's ProducerStateManager keeps them. A retry of one of those batches is
// a duplicate and gets its original offsets; anything but the next sequence
// is OUT_OF_ORDER_SEQUENCE_NUMBER; an older epoch is fenced.
const maxBatchesPerProducer = 5

type batchMeta struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
}

// producerEntry is one producer's state. Only the last batch survives a
// restart through a snapshot (Kafka's format has room for no more), so a
// retry of an older one of the five is then refused as out of order, as by
// Kafka; the batches appended after the snapshot are replayed from the log.
type producerEntry struct {
	epoch   int16
	batches []batchMeta // oldest first, at most maxBatchesPerProducer
	// timestamp is the max timestamp of the producer's last batch (Kafka's
	// lastTimestamp; -1 when unknown).
	timestamp int64
	// coordinatorEpoch is the epoch of the producer's last marker (-1:
	// none) and txnFirstOffset the first offset of its open transaction
	// (-1: none open); see txn.go.
	coordinatorEpoch int32
	txnFirstOffset   int64
}

func newProducerEntry(epoch int16) *producerEntry {
	return &producerEntry{epoch: epoch, timestamp: -1, coordinatorEpoch: -1, txnFirstOffset: -1}
}

func (e *producerEntry) last() (batchMeta, bool) {
	if len(e.batches) == 0 {
		return batchMeta{}, false
	}
	return e.batches[len(e.batches)-1], true
}

// nextSeq is the sequence after s, wrapping at MaxInt32 as Kafka does.
func nextSeq(s int32, n int32) int32 {
	if s > int32(^uint32(0)>>1)-n {
		return n - (int32(^uint32(0)>>1) - s) - 1
	}
	return s + n
}

// seqCheck is the outcome of checking one batch against producer state.
type seqCheck int

const (
	seqNew seqCheck = iota
	seqDuplicate
)

// check validates h against the state of its producer. It returns the
// duplicate's metadata for a retried batch.
func (e *producerEntry) check(h segment.Header) (seqCheck, batchMeta, error) {
	if e == nil {
		// Unknown producer: Kafka accepts any first sequence.
		return seqNew, batchMeta{}, nil
	}
	if h.BaseSequence < 0 && h.ProducerEpoch >= e.epoch {
		// NO_SEQUENCE: a coordinator's own write (the group coordinator's
		// transactional offsets, Kafka's origin COORDINATOR): only the
		// epoch is checked.
		return seqNew, batchMeta{}, nil
	}
	switch {
	case h.ProducerEpoch < e.epoch:
		return 0, batchMeta{}, fmt.Errorf("%w: producer %d epoch %d is older than %d", ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, e.epoch)
	case h.ProducerEpoch > e.epoch:
		if h.BaseSequence != 0 {
			return 0, batchMeta{}, fmt.Errorf("%w: producer %d new epoch %d must start at sequence 0, got %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
		return seqNew, batchMeta{}, nil
	}
	lastSeq := nextSeq(h.BaseSequence, h.LastOffsetDelta)
	for _, b := range e.batches {
		if b.firstSeq == h.BaseSequence && b.lastSeq == lastSeq {
			return seqDuplicate, b, nil
		}
	}
	last, ok := e.last()
	if ok && h.BaseSequence != nextSeq(last.lastSeq, 1) {
		return 0, batchMeta{}, fmt.Errorf("%w: producer %d expected sequence %d, got %d", ErrOutOfOrderSequence, h.ProducerID, nextSeq(last.lastSeq, 1), h.BaseSequence)
	}
	return seqNew, batchMeta{}, nil
}

// update records an appended batch (its BaseOffset already assigned).
func updateProducers(m map[int64]*producerEntry, h segment.Header) {
	if h.ProducerID < 0 {
		return
	}
	e := m[h.ProducerID]
	switch {
	case e == nil:
		e = newProducerEntry(h.ProducerEpoch)
		m[h.ProducerID] = e
	case h.ProducerEpoch > e.epoch:
		// A new epoch forgets the batches, not the transaction fields
		// (Kafka's maybeUpdateProducerEpoch).
		e = &producerEntry{epoch: h.ProducerEpoch, coordinatorEpoch: e.coordinatorEpoch, txnFirstOffset: e.txnFirstOffset}
		m[h.ProducerID] = e
	}
	e.timestamp = h.MaxTimestamp
	if h.BaseSequence < 0 {
		return
	}
	b := batchMeta{
		firstSeq:    h.BaseSequence,
		lastSeq:     nextSeq(h.BaseSequence, h.LastOffsetDelta),
		firstOffset: h.BaseOffset,
		lastOffset:  h.LastOffset(),
	}
	if len(e.batches) == maxBatchesPerProducer {
		copy(e.batches, e.batches[1:])
		e.batches = e.batches[:maxBatchesPerProducer-1]
	}
	e.batches = append(e.batches, b)
}

func cloneEntry(e *producerEntry) *producerEntry {
	if e == nil {
		return nil
	}
	c := *e
	c.batches = make([]batchMeta, len(e.batches), maxBatchesPerProducer)
	copy(c.batches, e.batches)
	return &c
}

// listSnapshots returns the offsets of the snapshot files in dir, ascending.
func listSnapshots(dir string) ([]int64, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*"+snapshotSuffix))
	if err != nil {
		return nil, err
	}
	var offs []int64
	for _, n := range names {
		off, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(n), snapshotSuffix), 10, 64)
		if err == nil {
			offs = append(offs, off)
		}
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
	return offs, nil
}

// writeSnapshot writes the state as of offset, durably (temporary file,
// fsync, rename, directory fsync): the one written at a clean shutdown is
// what the next start trusts. A torn one fails its checksum and is skipped.
func writeSnapshot(fsys vfs.FS, dir string, offset int64, m map[int64]*producerEntry) error {
	return writeSnapshotBytes(fsys, dir, offset, encodeSnapshot(m))
}

func writeSnapshotBytes(fsys vfs.FS, dir string, offset int64, b []byte) error {
	p := fileName(dir, offset, snapshotSuffix)
	if err := writeFileAtomic(fsys, p, b); err != nil {
		return fmt.Errorf("cannot write producer snapshot: %w", err)
	}
	return nil
}

// loadLatestSnapshot returns the newest valid snapshot at or below limit
// and atMost (a recovery replays from below what it rebuilds), and its
// offset; (empty, -1) when there is none. Snapshots above limit (left by a
// log that was truncated) are deleted; later lists those above atMost and
// at or below limit, newest first. When the newest is in
// Sluice's old format, it and every older old-format snapshot are rewritten
// in Kafka's (each keeping only every producer's last batch on disk; the
// state returned keeps all of them).
func loadLatestSnapshot(fsys vfs.FS, dir string, limit, atMost int64) (m map[int64]*producerEntry, off int64, later []int64, err error) {
	offs, err := listSnapshots(dir)
	if err != nil {
		return nil, -1, nil, err
	}
	for i := len(offs) - 1; i >= 0; i-- {
		p := fileName(dir, offs[i], snapshotSuffix)
		if offs[i] > limit {
			fsys.Remove(p)
			continue
		}
		if offs[i] > atMost {
			later = append(later, offs[i])
			continue
		}
		m, old, err := readSnapshot(fsys, p)
		if err != nil {
			if errors.Is(err, segment.ErrCorrupt) {
				continue // skipped: the state is rebuilt from an older one and the log
			}
			return nil, -1, nil, err
		}
		if old {
			if err := convertOldSnapshots(fsys, dir, offs[:i+1], m); err != nil {
				return nil, -1, nil, err
			}
		}
		return m, offs[i], later, nil
	}
	return make(map[int64]*producerEntry), -1, later, nil
}

// readSnapshot reads and decodes one snapshot file; old reports Sluice's
// old format.
func readSnapshot(fsys vfs.FS, p string) (m map[int64]*producerEntry, old bool, err error) {
	b, err := vfs.ReadFile(fsys, p)
	if err != nil {
		return nil, false, fmt.Errorf("cannot read producer snapshot %q: %w", p, err)
	}
	m, old, err = decodeSnapshot(b)
	if err != nil {
		return nil, false, fmt.Errorf("producer snapshot %q: %w", p, err)
	}
	return m, old, nil
}

// convertOldSnapshots rewrites in Kafka's format the snapshot at the last
// of offs, whose state is newest, and every other one of offs that is in
// the old format. Corrupt ones are left as they are.
func convertOldSnapshots(fsys vfs.FS, dir string, offs []int64, newest map[int64]*producerEntry) error {
	for i, off := range offs {
		m := newest
		if i < len(offs)-1 {
			var old bool
			var err error
			m, old, err = readSnapshot(fsys, fileName(dir, off, snapshotSuffix))
			if errors.Is(err, segment.ErrCorrupt) || (err == nil && !old) {
				continue
			}
			if err != nil {
				return err
			}
		}
		if err := writeSnapshot(fsys, dir, off, m); err != nil {
			return fmt.Errorf("cannot convert the old-format producer snapshot at %d: %w", off, err)
		}
	}
	return nil
}

// pruneSnapshots deletes snapshots below keepFrom except the newest of
// them, which recovery may still start from.
func pruneSnapshots(fsys vfs.FS, dir string, keepFrom int64) {
	offs, err := listSnapshots(dir)
	if err != nil {
		return
	}
	for i, off := range offs {
		if off < keepFrom && i+1 < len(offs) && offs[i+1] <= keepFrom {
			fsys.Remove(fileName(dir, off, snapshotSuffix))
		}
	}
}
