package partition

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
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

type producerEntry struct {
	epoch   int16
	batches []batchMeta // oldest first, at most maxBatchesPerProducer
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
	if e == nil || h.ProducerEpoch > e.epoch {
		e = &producerEntry{epoch: h.ProducerEpoch}
		m[h.ProducerID] = e
	}
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
	c := &producerEntry{epoch: e.epoch, batches: make([]batchMeta, len(e.batches), maxBatchesPerProducer)}
	copy(c.batches, e.batches)
	return c
}

// Producer snapshot file: `<offset>.snapshot`, the state as of that offset
// (everything below it applied).
//
//	| crc32c u32 | count u32 | entries … |
//	entry: | producerId i64 | epoch i16 | n u8 | n × (firstSeq i32, lastSeq i32, firstOffset i64, lastOffset i64) |
//
// The CRC covers everything after it; ids are ascending and nothing follows
// the last entry. A bad snapshot is ignored (the state is rebuilt from an
// older one and the log instead).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func encodeSnapshot(m map[int64]*producerEntry) []byte {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	b := make([]byte, 8, 8+len(m)*(11+maxBatchesPerProducer*24))
	binary.BigEndian.PutUint32(b[4:], uint32(len(ids)))
	for _, id := range ids {
		e := m[id]
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
		b = append(b, byte(len(e.batches)))
		for _, bm := range e.batches {
			b = binary.BigEndian.AppendUint32(b, uint32(bm.firstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(bm.lastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(bm.firstOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(bm.lastOffset))
		}
	}
	binary.BigEndian.PutUint32(b, crc32.Checksum(b[4:], castagnoli))
	return b
}

func decodeSnapshot(b []byte) (map[int64]*producerEntry, error) {
	if len(b) < 8 || crc32.Checksum(b[4:], castagnoli) != binary.BigEndian.Uint32(b) {
		return nil, fmt.Errorf("%w: producer snapshot checksum", segment.ErrCorrupt)
	}
	n := int(binary.BigEndian.Uint32(b[4:]))
	b = b[8:]
	if n > len(b)/11 { // an entry takes at least 11 bytes
		return nil, fmt.Errorf("%w: producer snapshot count %d overruns %d bytes", segment.ErrCorrupt, n, len(b))
	}
	m := make(map[int64]*producerEntry, n)
	prev := int64(math.MinInt64)
	for i := 0; i < n; i++ {
		if len(b) < 11 {
			return nil, fmt.Errorf("%w: producer snapshot truncated", segment.ErrCorrupt)
		}
		id := int64(binary.BigEndian.Uint64(b))
		if i > 0 && id <= prev { // encodeSnapshot writes ids ascending
			return nil, fmt.Errorf("%w: producer snapshot ids out of order", segment.ErrCorrupt)
		}
		prev = id
		e := &producerEntry{epoch: int16(binary.BigEndian.Uint16(b[8:]))}
		k := int(b[10])
		b = b[11:]
		if k > maxBatchesPerProducer || len(b) < k*24 {
			return nil, fmt.Errorf("%w: producer snapshot entry", segment.ErrCorrupt)
		}
		for j := 0; j < k; j++ {
			e.batches = append(e.batches, batchMeta{
				firstSeq:    int32(binary.BigEndian.Uint32(b)),
				lastSeq:     int32(binary.BigEndian.Uint32(b[4:])),
				firstOffset: int64(binary.BigEndian.Uint64(b[8:])),
				lastOffset:  int64(binary.BigEndian.Uint64(b[16:])),
			})
			b = b[24:]
		}
		m[id] = e
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the producer snapshot's entries", segment.ErrCorrupt, len(b))
	}
	return m, nil
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

// loadLatestSnapshot returns the newest valid snapshot at or below limit,
// and its offset; (empty, -1) when there is none. Snapshots above limit
// (left by a log that was truncated) are deleted.
func loadLatestSnapshot(fsys vfs.FS, dir string, limit int64) (map[int64]*producerEntry, int64, error) {
	offs, err := listSnapshots(dir)
	if err != nil {
		return nil, -1, err
	}
	for i := len(offs) - 1; i >= 0; i-- {
		p := fileName(dir, offs[i], snapshotSuffix)
		if offs[i] > limit {
			fsys.Remove(p)
			continue
		}
		b, err := vfs.ReadFile(fsys, p)
		if err != nil {
			return nil, -1, fmt.Errorf("cannot read producer snapshot %q: %w", p, err)
		}
		if m, err := decodeSnapshot(b); err == nil {
			return m, offs[i], nil
		}
	}
	return make(map[int64]*producerEntry), -1, nil
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
