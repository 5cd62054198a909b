package partition

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"maps"
	"math"
	"slices"
	"testing"

	"github.com/sluice/sluice/segment"
)

// Fuzzers for the partition's own state files: producer snapshots
// (<offset>.snapshot) and Kafka's text checkpoints
// (recovery-point-offset-checkpoint, log-start-offset-checkpoint and
// cleaner-offset-checkpoint share the offset format; leader-epoch-checkpoint
// has its own). Each decoder either rejects its input with an error that
// wraps segment.ErrCorrupt or returns state that encodes back to an
// equivalent file; none panics or works more than linearly.

func sampleProducers() map[int64]*producerEntry {
	return map[int64]*producerEntry{
		-5: newProducerEntry(0),
		1:  {epoch: 3, batches: []batchMeta{{0, 4, 100, 104}}, timestamp: 1_700_000_000_000, coordinatorEpoch: -1, txnFirstOffset: -1},
		7: {epoch: math.MaxInt16, batches: []batchMeta{
			{10, 19, 0, 9}, {20, 29, 10, 19}, {30, 39, 20, 29}, {40, 49, 30, 39}, {math.MaxInt32 - 1, 3, 40, 45},
		}, timestamp: -1, coordinatorEpoch: 5, txnFirstOffset: 40},
	}
}

// lastBatchOnly is m as a snapshot in Kafka's format keeps it: each
// producer's last batch only.
func lastBatchOnly(m map[int64]*producerEntry) map[int64]*producerEntry {
	out := make(map[int64]*producerEntry, len(m))
	for id, e := range m {
		c := cloneEntry(e)
		if n := len(c.batches); n > 1 {
			c.batches = append(c.batches[:0], c.batches[n-1])
		}
		out[id] = c
	}
	return out
}

func entryEqual(a, b *producerEntry) bool {
	return a.epoch == b.epoch && a.timestamp == b.timestamp && a.coordinatorEpoch == b.coordinatorEpoch &&
		a.txnFirstOffset == b.txnFirstOffset && slices.Equal(a.batches, b.batches)
}

func producersEqual(a, b map[int64]*producerEntry) bool { return maps.EqualFunc(a, b, entryEqual) }

// kafkaWithCRC makes a snapshot in Kafka's format of body (the count and
// the entries), and oldWithCRC one in Sluice's old format, so that fuzzing
// reaches the structure behind the CRC.
func kafkaWithCRC(body []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, snapshotVersion)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(body, castagnoli))
	return append(b, body...)
}

func oldWithCRC(body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, crc32.Checksum(body, castagnoli))
	return append(b, body...)
}

// FuzzProducerSnapshot: a snapshot decodes only if its checksum holds (in
// either format), else the error wraps ErrCorrupt. A Kafka-format snapshot
// decodes to exactly its entries, each read field by field here as
// Kafka's readSnapshot does; encoding the state gives a file that decodes
// to the same state, equal to the input when the input is canonical (ids
// ascending, an entry without a batch written as Kafka writes it). An
// old-format snapshot decodes only if it is exactly what the old encoder
// wrote for its state.
func FuzzProducerSnapshot(f *testing.F) {
	valid := encodeSnapshot(sampleProducers())
	old := encodeOldSnapshot(sampleProducers())
	f.Add(valid[6:], byte(1))
	f.Add(valid, byte(0))
	f.Add(old[4:], byte(2))
	f.Add(old, byte(0))
	f.Add(encodeSnapshot(map[int64]*producerEntry{})[6:], byte(1))
	f.Add(valid[6:len(valid)-1], byte(1))                     // torn
	f.Add(append(valid[6:len(valid):len(valid)], 0), byte(1)) // trailing byte
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff}, byte(1))            // a huge count and no entries
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, byte(1))            // a negative count
	f.Add(append(valid[6:10:10], valid[10:56]...), byte(1))   // count 3, one entry
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 6}, byte(2))
	f.Fuzz(func(t *testing.T, data []byte, mode byte) {
		switch mode % 3 {
		case 1:
			data = kafkaWithCRC(data)
		case 2:
			data = oldWithCRC(data)
		}
		m, isOld, err := decodeSnapshot(data)
		if err != nil {
			if !errors.Is(err, segment.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		for id, e := range m {
			if e == nil || len(e.batches) > maxBatchesPerProducer {
				t.Fatalf("producer %d: entry %+v", id, e)
			}
		}
		enc := encodeSnapshot(m)
		if again, isOld2, err := decodeSnapshot(enc); err != nil || isOld2 || !producersEqual(again, lastBatchOnly(m)) {
			t.Fatalf("re-encoded state decodes differently (%v, old %v):\n%+v\n%+v", err, isOld2, m, again)
		}
		if isOld {
			if crc32.Checksum(data[4:], castagnoli) != binary.BigEndian.Uint32(data) {
				t.Fatal("an old-format snapshot with a bad checksum was accepted")
			}
			if enc := encodeOldSnapshot(m); !bytes.Equal(enc, data) {
				t.Fatalf("old-format state encodes differently:\n%x\n%x", data, enc)
			}
			return
		}
		if !isKafkaSnapshot(data) {
			t.Fatal("a snapshot with a bad version or checksum was accepted")
		}
		checkKafkaEntries(t, data, m)
		if canonicalKafkaSnapshot(data) && !bytes.Equal(enc, data) {
			t.Fatalf("canonical snapshot encodes differently:\n%x\n%x", data, enc)
		}
	})
}

// kafkaEntry is one entry as Kafka's schema names its fields.
type kafkaEntry struct {
	producerID            int64
	epoch                 int16
	lastSequence          int32
	lastOffset            int64
	offsetDelta           int32
	timestamp             int64
	coordinatorEpoch      int32
	currentTxnFirstOffset int64
}

func kafkaEntries(data []byte) []kafkaEntry {
	var out []kafkaEntry
	r := bytes.NewReader(data[10:])
	for r.Len() > 0 {
		var e kafkaEntry
		for _, p := range []any{&e.producerID, &e.epoch, &e.lastSequence, &e.lastOffset, &e.offsetDelta, &e.timestamp,
			&e.coordinatorEpoch, &e.currentTxnFirstOffset} {
			if err := binary.Read(r, binary.BigEndian, p); err != nil {
				panic(err)
			}
		}
		out = append(out, e)
	}
	return out
}

// checkKafkaEntries checks m against data's entries, field by field.
func checkKafkaEntries(t *testing.T, data []byte, m map[int64]*producerEntry) {
	t.Helper()
	es := kafkaEntries(data)
	if len(es) != len(m) || int(binary.BigEndian.Uint32(data[6:])) != len(es) {
		t.Fatalf("%d entries in the file, %d decoded", len(es), len(m))
	}
	for _, k := range es {
		e := m[k.producerID]
		if e == nil || e.epoch != k.epoch || e.timestamp != k.timestamp || e.coordinatorEpoch != k.coordinatorEpoch ||
			e.txnFirstOffset != k.currentTxnFirstOffset {
			t.Fatalf("entry %+v decoded as %+v", k, e)
		}
		if k.lastOffset < 0 {
			if len(e.batches) != 0 {
				t.Fatalf("entry %+v has no batch, decoded %+v", k, e.batches)
			}
			continue
		}
		firstSeq := int64(k.lastSequence) - int64(k.offsetDelta)
		if firstSeq < 0 { // Kafka's decrementSequence wraps at MaxInt32
			firstSeq += math.MaxInt32 + 1
		}
		want := batchMeta{firstSeq: int32(firstSeq), lastSeq: k.lastSequence,
			firstOffset: k.lastOffset - int64(k.offsetDelta), lastOffset: k.lastOffset}
		if !slices.Equal(e.batches, []batchMeta{want}) {
			t.Fatalf("entry %+v decoded batches %+v, want %+v", k, e.batches, want)
		}
	}
}

// canonicalKafkaSnapshot: ids ascending, and entries without a batch
// written as Kafka writes them (lastSequence -1, offsetDelta 0).
func canonicalKafkaSnapshot(data []byte) bool {
	es := kafkaEntries(data)
	for i, e := range es {
		if i > 0 && e.producerID <= es[i-1].producerID {
			return false
		}
		if e.lastOffset < 0 && (e.lastOffset != -1 || e.lastSequence != -1 || e.offsetDelta != 0) {
			return false
		}
	}
	return true
}

// TestProducerSnapshotRoundTrip: decode(encode(m)) is m with each
// producer's last batch.
func TestProducerSnapshotRoundTrip(t *testing.T) {
	f := func(m map[int64]*producerEntry) {
		t.Helper()
		got, old, err := decodeSnapshot(encodeSnapshot(m))
		if err != nil || old {
			t.Fatal(err, old)
		}
		if want := lastBatchOnly(m); !producersEqual(got, want) {
			t.Fatalf("round trip:\n%+v\n%+v", want, got)
		}
	}
	f(map[int64]*producerEntry{})
	f(sampleProducers())
	f(map[int64]*producerEntry{
		math.MinInt64: newProducerEntry(-1),
		math.MaxInt64: {epoch: 1, batches: []batchMeta{{0, 0, 0, 0}}, timestamp: math.MinInt64, coordinatorEpoch: math.MaxInt32,
			txnFirstOffset: math.MaxInt64},
		3: {epoch: 2, batches: []batchMeta{{math.MaxInt32, 6, math.MaxInt64 - 7, math.MaxInt64}}, timestamp: 1},
	})
}

var checkpointSeeds = []string{
	"0\n0\n",
	"0\n2\nt 0 10\nt 1 20\n",
	"0\n3\n__consumer_offsets 49 9223372036854775807\na.b-c_d 2147483647 -1\nx -2147483648 0\n",
	"0\r\n1\r\n\r\nt 0 5\r\n",
	"  0 \n\n 1\n  t   0   5  \n\n",
	"0\n2\nt 0 1\nt 0 2\n", // a duplicate: the last wins
	"0\n1\n",               // count above the entries
	"0\n99999999999999999999999\nt 0 1\n",
	"0\n-1\n",
	"1\n0\n",
	"0\n1\nt 0\n",
	"0\n1\nt 0 1 2\n",
	"0\n1\nt x 1\n",
	"0\n1\nt 0 1e3\n",
	"0\n1\nt 2147483648 1\n",
	"",
	"0",
	"\xff\xfe\n0\n",
	"0\n1\n\xff 0 1\n",
	"0\n2\n5 100\n7 200\n",
}

// FuzzOffsetCheckpoint: an offset checkpoint (recovery points, log start
// offsets, cleaner points) either fails as corrupt or gives entries that
// encode to a file that parses to the same entries, and that file is a fixed
// point of parse and encode.
func FuzzOffsetCheckpoint(f *testing.F) {
	for _, s := range checkpointSeeds {
		f.Add([]byte(s))
	}
	f.Add(encodeOffsetCheckpoint(map[topicPartition]int64{{"t", 0}: 1, {"t", 1}: 2, {"u", 0}: -1}))
	parse := func(data []byte) (map[topicPartition]int64, int, error) {
		out := map[topicPartition]int64{}
		lines := 0
		err := parseCheckpoint(data, 3, func(f []string) error {
			lines++
			return offsetEntry(out)(f)
		})
		return out, lines, err
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, lines, err := parse(data)
		if err != nil {
			if !errors.Is(err, segment.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if len(got) > lines {
			t.Fatalf("%d entries from %d lines", len(got), lines)
		}
		enc := encodeOffsetCheckpoint(got)
		again, _, err := parse(enc)
		if err != nil {
			t.Fatalf("re-encoded checkpoint does not parse: %v\n%q", err, enc)
		}
		if !maps.Equal(got, again) {
			t.Fatalf("round trip:\n%v\n%v", got, again)
		}
		if enc2 := encodeOffsetCheckpoint(again); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not a fixed point:\n%q\n%q", enc, enc2)
		}
	})
}

// FuzzEpochCheckpoint: the same for leader-epoch-checkpoint, whose entries
// keep their order.
func FuzzEpochCheckpoint(f *testing.F) {
	for _, s := range checkpointSeeds {
		f.Add([]byte(s))
	}
	f.Add(encodeEpochs([]epochEntry{{0, 0}, {3, 100}, {math.MaxInt32, math.MaxInt64}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &epochCache{}
		if err := parseCheckpoint(data, 2, c.addEntry); err != nil {
			if !errors.Is(err, segment.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		enc := encodeEpochs(c.entries)
		again := &epochCache{}
		if err := parseCheckpoint(enc, 2, again.addEntry); err != nil {
			t.Fatalf("re-encoded checkpoint does not parse: %v\n%q", err, enc)
		}
		if !slices.Equal(c.entries, again.entries) {
			t.Fatalf("round trip:\n%v\n%v", c.entries, again.entries)
		}
	})
}
