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
		-5: {epoch: 0},
		1:  {epoch: 3, batches: []batchMeta{{0, 4, 100, 104}}},
		7: {epoch: math.MaxInt16, batches: []batchMeta{
			{10, 19, 0, 9}, {20, 29, 10, 19}, {30, 39, 20, 29}, {40, 49, 30, 39}, {math.MaxInt32 - 1, 3, 40, 45},
		}},
	}
}

// snapshotWithCRC prefixes body with its checksum, so that fuzzing reaches
// the structure behind the CRC.
func snapshotWithCRC(body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, crc32.Checksum(body, castagnoli))
	return append(b, body...)
}

// FuzzProducerSnapshot: a snapshot decodes only if it is exactly what
// encodeSnapshot writes for the state it decodes to (canonical: ids
// ascending, at most five batches each, no trailing bytes), else the error
// is a corruption; a wrong checksum is always rejected.
func FuzzProducerSnapshot(f *testing.F) {
	valid := encodeSnapshot(sampleProducers())
	f.Add(valid[4:], true)
	f.Add(valid, false)
	f.Add(encodeSnapshot(map[int64]*producerEntry{})[4:], true)
	f.Add(valid[4:len(valid)-1], true)                     // torn
	f.Add(append(valid[4:len(valid):len(valid)], 0), true) // trailing byte
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, true)            // a count of 2^32-1 and no entries
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 6}, true)
	f.Fuzz(func(t *testing.T, data []byte, fixCRC bool) {
		if fixCRC {
			data = snapshotWithCRC(data)
		}
		m, err := decodeSnapshot(data)
		if err != nil {
			if !errors.Is(err, segment.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if len(data) < 4 || crc32.Checksum(data[4:], castagnoli) != binary.BigEndian.Uint32(data) {
			t.Fatal("a bad checksum was accepted")
		}
		for id, e := range m {
			if e == nil || len(e.batches) > maxBatchesPerProducer {
				t.Fatalf("producer %d: entry %+v", id, e)
			}
		}
		if enc := encodeSnapshot(m); !bytes.Equal(enc, data) {
			t.Fatalf("decoded state encodes differently:\n%x\n%x", data, enc)
		}
	})
}

// TestProducerSnapshotRoundTrip: decode(encode(m)) is m.
func TestProducerSnapshotRoundTrip(t *testing.T) {
	f := func(m map[int64]*producerEntry) {
		t.Helper()
		got, err := decodeSnapshot(encodeSnapshot(m))
		if err != nil {
			t.Fatal(err)
		}
		if !maps.EqualFunc(got, m, func(a, b *producerEntry) bool {
			return a.epoch == b.epoch && slices.Equal(a.batches, b.batches)
		}) {
			t.Fatalf("round trip:\n%+v\n%+v", m, got)
		}
	}
	f(map[int64]*producerEntry{})
	f(sampleProducers())
	f(map[int64]*producerEntry{math.MinInt64: {epoch: -1}, math.MaxInt64: {epoch: 1, batches: []batchMeta{{-1, -1, -1, -1}}}})
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
	f.Add((&epochCache{entries: []epochEntry{{0, 0}, {3, 100}, {math.MaxInt32, math.MaxInt64}}}).encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &epochCache{}
		if err := parseCheckpoint(data, 2, c.addEntry); err != nil {
			if !errors.Is(err, segment.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		enc := c.encode()
		again := &epochCache{}
		if err := parseCheckpoint(enc, 2, again.addEntry); err != nil {
			t.Fatalf("re-encoded checkpoint does not parse: %v\n%q", err, enc)
		}
		if !slices.Equal(c.entries, again.entries) {
			t.Fatalf("round trip:\n%v\n%v", c.entries, again.entries)
		}
	})
}
