package partition

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sluice/sluice/segment/segmenttest"
)

// goldenProducers is the state behind goldenSnapshot.
func goldenProducers() map[int64]*producerEntry {
	return map[int64]*producerEntry{
		// An epoch bump with no batch yet.
		7: {epoch: 2, timestamp: 1_700_000_000_500, coordinatorEpoch: -1, txnFirstOffset: -1},
		// Sequences MaxInt32-1 … 2 (wrapping) at offsets 200…204.
		9: {epoch: 0, batches: []batchMeta{{math.MaxInt32 - 1, 2, 200, 204}}, timestamp: 1_700_000_001_000,
			coordinatorEpoch: -1, txnFirstOffset: -1},
		// Sequences 10…14 at offsets 100…104.
		11: {epoch: 3, batches: []batchMeta{{10, 14, 100, 104}}, timestamp: 1_700_000_000_000, coordinatorEpoch: -1,
			txnFirstOffset: -1},
	}
}

// goldenSnapshot is goldenProducers laid out field by field from Kafka's
// ProducerSnapshot schema. Apache Kafka 4.1.1's
// ProducerStateManager.takeSnapshot wrote exactly these bytes for the same
// three ProducerStateEntry values (its HashMap iterates ids 7, 9, 11 in
// this order), CRC included.
var goldenSnapshot = strings.Join([]string{
	"0001",     // version 1
	"f21cfb87", // CRC-32C of the rest
	"00000003", // 3 entries
	// producerId 7, epoch 2, lastSequence -1, lastOffset -1, offsetDelta 0,
	// timestamp 1700000000500, coordinatorEpoch -1, currentTxnFirstOffset -1
	"0000000000000007", "0002", "ffffffff", "ffffffffffffffff", "00000000", "0000018bcfe569f4", "ffffffff", "ffffffffffffffff",
	// producerId 9, epoch 0, lastSequence 2, lastOffset 204, offsetDelta 4,
	// timestamp 1700000001000, -1, -1
	"0000000000000009", "0000", "00000002", "00000000000000cc", "00000004", "0000018bcfe56be8", "ffffffff", "ffffffffffffffff",
	// producerId 11, epoch 3, lastSequence 14, lastOffset 104, offsetDelta 4,
	// timestamp 1700000000000, -1, -1
	"000000000000000b", "0003", "0000000e", "0000000000000068", "00000004", "0000018bcfe56800", "ffffffff", "ffffffffffffffff",
}, "")

// kafkaOrderSnapshot is what Kafka 4.1.1 wrote for the same entries with
// ids 7, 1000 and 42 instead of 7, 11 and 9: in its HashMap's order, not
// ascending.
const kafkaOrderSnapshot = "0001bc9d7d08000000030000000000000007" +
	"0002ffffffffffffffffffffffff000000000000018bcfe569f4ffffffffffffffffffffffff" +
	"00000000000003e800030000000e0000000000000068000000040000018bcfe56800ffffffffffffffffffffffff" +
	"000000000000002a00000000000200000000000000cc000000040000018bcfe56be8ffffffffffffffffffffffff"

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProducerSnapshotGolden(t *testing.T) {
	golden := mustHex(t, goldenSnapshot)
	if enc := encodeSnapshot(goldenProducers()); !bytes.Equal(enc, golden) {
		t.Fatalf("encoded:\n%x\nwant Kafka's:\n%x", enc, golden)
	}
	got, old, err := decodeSnapshot(golden)
	if err != nil || old || !producersEqual(got, goldenProducers()) {
		t.Fatalf("decoded (%v, old %v):\n%+v", err, old, got)
	}
	// Kafka's own hash-map order decodes too.
	got, old, err = decodeSnapshot(mustHex(t, kafkaOrderSnapshot))
	want := goldenProducers()
	want[1000], want[42] = want[11], want[9]
	delete(want, 11)
	delete(want, 9)
	if err != nil || old || !producersEqual(got, want) {
		t.Fatalf("Kafka-ordered snapshot decoded (%v, old %v):\n%+v", err, old, got)
	}
}

// TestProducerSnapshotRejects: damage that Kafka's reader refuses (or that
// Kafka never writes) is corruption.
func TestProducerSnapshotRejects(t *testing.T) {
	golden := mustHex(t, goldenSnapshot)
	f := func(name string, b []byte) {
		t.Helper()
		if _, _, err := decodeSnapshot(b); !errors.Is(err, ErrCorruption) {
			t.Fatalf("%s: error %v, want a corruption", name, err)
		}
	}
	recrc := func(b []byte) []byte {
		binary.BigEndian.PutUint32(b[2:], crc32.Checksum(b[6:], castagnoli))
		return b
	}
	edit := func(fn func(b []byte) []byte) []byte { return fn(bytes.Clone(golden)) }
	f("empty", nil)
	f("header only", golden[:6])
	f("torn", golden[:len(golden)-1])
	f("bad crc", edit(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }))
	f("version 2", edit(func(b []byte) []byte { b[1] = 2; return recrc(b) }))
	f("version 0", edit(func(b []byte) []byte { b[1] = 0; return recrc(b) }))
	f("count too high", edit(func(b []byte) []byte { b[9] = 4; return recrc(b) }))
	f("count too low", edit(func(b []byte) []byte { b[9] = 2; return recrc(b) }))
	f("negative count", edit(func(b []byte) []byte { b[6] = 0xff; return recrc(b) }))
	f("trailing byte", edit(func(b []byte) []byte { return recrc(append(b, 0)) }))
	f("repeated id", edit(func(b []byte) []byte { b[10+46+7] = 7; return recrc(b) }))
	f("negative delta", edit(func(b []byte) []byte { b[10+46+22] = 0xff; return recrc(b) }))
	f("negative sequence", edit(func(b []byte) []byte { b[10+46+10] = 0xff; return recrc(b) }))
	f("delta below offset 0", edit(func(b []byte) []byte { b[10+46+25] = 205; return recrc(b) }))
}

func wantErrCorrupt(t *testing.T, b []byte) {
	t.Helper()
	_, _, err := decodeSnapshot(b)
	wantErr(t, err, ErrCorruption)
}

// TestProducerSnapshotOldFormat: a snapshot in Sluice's old format (five
// batches a producer) still decodes, with its every batch.
func TestProducerSnapshotOldFormat(t *testing.T) {
	m := sampleProducers()
	for _, e := range m { // the old format had no such fields
		e.timestamp, e.coordinatorEpoch, e.txnFirstOffset = -1, -1, -1
	}
	old := encodeOldSnapshot(m)
	got, isOld, err := decodeSnapshot(old)
	if err != nil || !isOld || !producersEqual(got, m) {
		t.Fatalf("old format decoded (%v, old %v):\n%+v\nwant\n%+v", err, isOld, got, m)
	}
	// Neither format is taken for the other.
	if isKafkaSnapshot(old) {
		t.Fatal("old format taken for Kafka's")
	}
	if _, err := decodeOldSnapshot(encodeSnapshot(m)); err == nil {
		t.Fatal("Kafka's format taken for the old one")
	}
	bad := bytes.Clone(old)
	bad[len(bad)-1] ^= 1
	wantErrCorrupt(t, bad)
}

// producerBatch is a batch of n records from producer 7 at sequence seq.
func producerBatch(seq int32, epoch int16, n int) []byte {
	b := segmenttest.NewBatch(0, n, 1_700_000_000_000+int64(seq), 10)
	b.ProducerID, b.ProducerEpoch, b.BaseSequence = 7, epoch, seq
	return b.Encode()
}

// TestProducerSnapshotRestartKeepsLastBatch: across a clean restart (state
// from the snapshot alone) a retry of the producer's last batch is still a
// duplicate with its first offsets and the next sequence is accepted; a
// retry of an older batch, remembered before the restart, is out of
// order after it, as in Kafka. The file is in Kafka's format.
func TestProducerSnapshotRestartKeepsLastBatch(t *testing.T) {
	l, dir := newTestLog(t, testConfig(), nil)
	mustAppend(t, l, producerBatch(0, 0, 3))
	mustAppend(t, l, producerBatch(3, 0, 3))
	r3 := mustAppend(t, l, producerBatch(6, 0, 3))
	if dup, err := l.Append(producerBatch(0, 0, 3)); err != nil || !dup.Duplicate || dup.BaseOffset != 0 {
		t.Fatalf("retry of the first batch before the restart: %+v %v", dup, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fileName(dir, 9, snapshotSuffix))
	if err != nil {
		t.Fatal(err)
	}
	if !isKafkaSnapshot(b) || len(b) != snapshotHeaderSize+snapshotEntrySize {
		t.Fatalf("snapshot at 9 is not Kafka's format with one entry: %x", b)
	}
	l = openTest(t, dir, testConfig(), true, 9, nil)
	defer l.Close()
	dup, err := l.Append(producerBatch(6, 0, 3))
	if err != nil || !dup.Duplicate || dup.BaseOffset != r3.BaseOffset || dup.LastOffset != r3.LastOffset {
		t.Fatalf("retry of the last batch after the restart: %+v %v, want %+v", dup, err, r3)
	}
	_, err = l.Append(producerBatch(0, 0, 3))
	wantErr(t, err, ErrOutOfOrderSequence)
	if r := mustAppend(t, l, producerBatch(9, 0, 1)); r.BaseOffset != 9 || r.Duplicate {
		t.Fatalf("next sequence after the restart: %+v", r)
	}
}

// TestProducerSnapshotOldFormatConverted: a partition that the previous
// release left (old-format snapshots) opens with the full state of its
// newest snapshot, then every old-format snapshot is in Kafka's format.
func TestProducerSnapshotOldFormatConverted(t *testing.T) {
	l, dir := newTestLog(t, testConfig(), nil)
	for seq := int32(0); seq < 15; seq += 3 {
		mustAppend(t, l, producerBatch(seq, 0, 3))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// What the old release wrote: five batches at 15, three at 9.
	batches := []batchMeta{{0, 2, 0, 2}, {3, 5, 3, 5}, {6, 8, 6, 8}, {9, 11, 9, 11}, {12, 14, 12, 14}}
	snap := func(n int) map[int64]*producerEntry {
		e := newProducerEntry(0)
		e.batches = batches[:n]
		return map[int64]*producerEntry{7: e}
	}
	write := func(off int64, b []byte) {
		if err := os.WriteFile(fileName(dir, off, snapshotSuffix), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(15, encodeOldSnapshot(snap(5)))
	write(9, encodeOldSnapshot(snap(3)))
	write(4, []byte("torn"))

	l = openTest(t, dir, testConfig(), true, 15, nil)
	// The old format kept five batches: a retry of the first is a duplicate.
	if dup, err := l.Append(producerBatch(0, 0, 3)); err != nil || !dup.Duplicate || dup.BaseOffset != 0 {
		t.Fatalf("retry of the first batch after opening an old-format snapshot: %+v %v", dup, err)
	}
	for off, want := range map[int64]map[int64]*producerEntry{15: snap(5), 9: snap(3)} {
		b, err := os.ReadFile(fileName(dir, off, snapshotSuffix))
		if err != nil {
			t.Fatal(err)
		}
		got, old, err := decodeSnapshot(b)
		if err != nil || old || !producersEqual(got, lastBatchOnly(want)) {
			t.Fatalf("snapshot at %d after opening (%v, old %v): %+v", off, err, old, got)
		}
	}
	if b, _ := os.ReadFile(fileName(dir, 4, snapshotSuffix)); string(b) != "torn" {
		t.Fatalf("a corrupt snapshot was rewritten: %q", b)
	}
	os.Remove(fileName(dir, 4, snapshotSuffix)) // not one verifyDir knows
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	if len(names) != 0 {
		t.Fatalf("temporary files left: %v", names)
	}
}

// encodeOldSnapshot writes the old format, as the release before Kafka's
// format wrote it: the files that a data directory from it holds.
func encodeOldSnapshot(m map[int64]*producerEntry) []byte {
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	b := make([]byte, 8)
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
