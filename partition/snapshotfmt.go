package partition

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"sort"

	"github.com/sluice/sluice/segment"
)

// Producer snapshot files (`<offset>.snapshot`): Kafka's format, version 1
// (ProducerStateManager.writeSnapshot/readSnapshot; the generated
// ProducerSnapshot message of Kafka 4.x, not flexible), big-endian:
//
//	| version i16 = 1 | crc u32 | count i32 | count × entry |
//	entry (46 bytes):
//	| producerId i64 | epoch i16 | lastSequence i32 | lastOffset i64 | offsetDelta i32 |
//	| timestamp i64 | coordinatorEpoch i32 | currentTxnFirstOffset i64 |
//
// The CRC-32C covers everything after it (the count and the entries). An
// entry describes the producer's last batch only: its first sequence is
// lastSequence - offsetDelta (wrapping below 0 to MaxInt32, Kafka's
// decrementSequence) and its first offset lastOffset - offsetDelta. An
// entry with no batch (an epoch bump alone) has lastOffset -1, lastSequence
// -1 and offsetDelta 0. timestamp is the last batch's max timestamp (Kafka
// expires a producer producer.id.expiration.ms after it), coordinatorEpoch
// the last marker's (-1 before any) and currentTxnFirstOffset the first
// offset of the open transaction (-1 when none is open). Sluice writes the
// entries by ascending producer id; Kafka writes them in hash-map order,
// and Sluice reads either.
//
// The format of Sluice releases before this one is still read (see
// decodeOldSnapshot) and converted when the partition opens.
const (
	snapshotVersion    = 1
	snapshotHeaderSize = 2 + 4 + 4
	snapshotEntrySize  = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeSnapshot writes m in Kafka's format. Only each producer's last
// batch is kept.
func encodeSnapshot(m map[int64]*producerEntry) []byte {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	b := make([]byte, snapshotHeaderSize, snapshotHeaderSize+len(ids)*snapshotEntrySize)
	binary.BigEndian.PutUint16(b, snapshotVersion)
	binary.BigEndian.PutUint32(b[6:], uint32(len(ids)))
	for _, id := range ids {
		b = appendSnapshotEntry(b, id, m[id])
	}
	binary.BigEndian.PutUint32(b[2:], crc32.Checksum(b[6:], castagnoli))
	return b
}

func appendSnapshotEntry(b []byte, id int64, e *producerEntry) []byte {
	lastSeq, lastOffset, delta := int32(-1), int64(-1), int32(0)
	if last, ok := e.last(); ok {
		lastSeq, lastOffset = last.lastSeq, last.lastOffset
		delta = int32(last.lastOffset - last.firstOffset)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(id))
	b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
	b = binary.BigEndian.AppendUint32(b, uint32(lastSeq))
	b = binary.BigEndian.AppendUint64(b, uint64(lastOffset))
	b = binary.BigEndian.AppendUint32(b, uint32(delta))
	b = binary.BigEndian.AppendUint64(b, uint64(e.timestamp))
	b = binary.BigEndian.AppendUint32(b, uint32(e.coordinatorEpoch))
	return binary.BigEndian.AppendUint64(b, uint64(e.txnFirstOffset))
}

// isKafkaSnapshot tells the formats apart by the header: version 1 and a
// CRC that matches. An old-format file starts with its own CRC, so it
// passes only when both CRCs collide.
func isKafkaSnapshot(b []byte) bool {
	return len(b) >= snapshotHeaderSize && binary.BigEndian.Uint16(b) == snapshotVersion &&
		crc32.Checksum(b[6:], castagnoli) == binary.BigEndian.Uint32(b[2:])
}

// decodeSnapshot reads a snapshot in Kafka's format or, failing that, in
// Sluice's old one (old reports which). Every error wraps
// segment.ErrCorrupt.
func decodeSnapshot(b []byte) (m map[int64]*producerEntry, old bool, err error) {
	if isKafkaSnapshot(b) {
		m, err := decodeKafkaSnapshot(b)
		return m, false, err
	}
	if m, err := decodeOldSnapshot(b); err == nil {
		return m, true, nil
	}
	if len(b) >= 2 && binary.BigEndian.Uint16(b) != snapshotVersion {
		return nil, false, fmt.Errorf("%w: producer snapshot: unknown version %d", segment.ErrCorrupt, int16(binary.BigEndian.Uint16(b)))
	}
	return nil, false, fmt.Errorf("%w: producer snapshot checksum", segment.ErrCorrupt)
}

// decodeKafkaSnapshot reads b, whose header isKafkaSnapshot checked. Like
// Kafka it takes entries in any order; unlike Kafka it refuses what Kafka
// never writes: a repeated producer id, bytes after the entries, and a
// batch with a negative sequence or offset delta, or one reaching below
// offset 0.
func decodeKafkaSnapshot(b []byte) (map[int64]*producerEntry, error) {
	n := int64(int32(binary.BigEndian.Uint32(b[6:])))
	b = b[snapshotHeaderSize:]
	if n < 0 || n*snapshotEntrySize != int64(len(b)) {
		return nil, fmt.Errorf("%w: producer snapshot count %d does not match its %d bytes of entries", segment.ErrCorrupt, n, len(b))
	}
	m := make(map[int64]*producerEntry, n)
	for ; len(b) > 0; b = b[snapshotEntrySize:] {
		id, e, err := decodeSnapshotEntry(b[:snapshotEntrySize])
		if err != nil {
			return nil, err
		}
		if m[id] != nil {
			return nil, fmt.Errorf("%w: producer snapshot repeats producer %d", segment.ErrCorrupt, id)
		}
		m[id] = e
	}
	return m, nil
}

func decodeSnapshotEntry(b []byte) (int64, *producerEntry, error) {
	id := int64(binary.BigEndian.Uint64(b))
	e := &producerEntry{
		epoch:            int16(binary.BigEndian.Uint16(b[8:])),
		timestamp:        int64(binary.BigEndian.Uint64(b[26:])),
		coordinatorEpoch: int32(binary.BigEndian.Uint32(b[34:])),
		txnFirstOffset:   int64(binary.BigEndian.Uint64(b[38:])),
	}
	lastSeq := int32(binary.BigEndian.Uint32(b[10:]))
	lastOffset := int64(binary.BigEndian.Uint64(b[14:]))
	delta := int32(binary.BigEndian.Uint32(b[22:]))
	if lastOffset < 0 { // no batch: Kafka ignores lastSequence and offsetDelta
		return id, e, nil
	}
	if lastSeq < 0 || delta < 0 || int64(delta) > lastOffset {
		return 0, nil, fmt.Errorf("%w: producer snapshot: producer %d last sequence %d, last offset %d, offset delta %d",
			segment.ErrCorrupt, id, lastSeq, lastOffset, delta)
	}
	e.batches = append(make([]batchMeta, 0, maxBatchesPerProducer), batchMeta{
		firstSeq:    prevSeq(lastSeq, delta),
		lastSeq:     lastSeq,
		firstOffset: lastOffset - int64(delta),
		lastOffset:  lastOffset,
	})
	return id, e, nil
}

// valid tells whether b is a batch that updateProducers can record:
// sequences and offsets not negative, as many sequences as offsets, and an
// offset delta that fits Kafka's int32.
func (b batchMeta) valid() bool {
	d := b.lastOffset - b.firstOffset
	return b.firstSeq >= 0 && b.lastSeq >= 0 && b.firstOffset >= 0 && d >= 0 && d <= math.MaxInt32 &&
		nextSeq(b.firstSeq, int32(d)) == b.lastSeq
}

// prevSeq is the sequence n before s, wrapping below 0 to MaxInt32 (Kafka's
// DefaultRecordBatch.decrementSequence); nextSeq undoes it.
func prevSeq(s, n int32) int32 {
	if s < n {
		return math.MaxInt32 - (n - s) + 1
	}
	return s - n
}

// decodeOldSnapshot reads the format of Sluice releases before Kafka's was
// adopted, kept so that their data directories open (the snapshot is then
// rewritten in Kafka's format):
//
//	| crc32c u32 | count u32 | entries … |
//	entry: | producerId i64 | epoch i16 | n u8 | n × (firstSeq i32, lastSeq i32, firstOffset i64, lastOffset i64) |
//
// The CRC covers everything after it; ids are ascending, at most
// maxBatchesPerProducer batches each (valid ones), nothing after the last
// entry. It had no timestamps: they read as -1 (unknown).
func decodeOldSnapshot(b []byte) (map[int64]*producerEntry, error) {
	if len(b) < 8 || crc32.Checksum(b[4:], castagnoli) != binary.BigEndian.Uint32(b) {
		return nil, fmt.Errorf("%w: old-format producer snapshot checksum", segment.ErrCorrupt)
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
		if i > 0 && id <= prev {
			return nil, fmt.Errorf("%w: producer snapshot ids out of order", segment.ErrCorrupt)
		}
		prev = id
		e := newProducerEntry(int16(binary.BigEndian.Uint16(b[8:])))
		k := int(b[10])
		b = b[11:]
		if k > maxBatchesPerProducer || len(b) < k*24 {
			return nil, fmt.Errorf("%w: producer snapshot entry", segment.ErrCorrupt)
		}
		for j := 0; j < k; j++ {
			bm := batchMeta{
				firstSeq:    int32(binary.BigEndian.Uint32(b)),
				lastSeq:     int32(binary.BigEndian.Uint32(b[4:])),
				firstOffset: int64(binary.BigEndian.Uint64(b[8:])),
				lastOffset:  int64(binary.BigEndian.Uint64(b[16:])),
			}
			if !bm.valid() {
				return nil, fmt.Errorf("%w: producer snapshot: producer %d batch %+v", segment.ErrCorrupt, id, bm)
			}
			e.batches = append(e.batches, bm)
			b = b[24:]
		}
		m[id] = e
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the producer snapshot's entries", segment.ErrCorrupt, len(b))
	}
	return m, nil
}
