package segment

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/pierrec/lz4/v4"

	"github.com/sluice/sluice/segment/segmenttest"
)

// TestEncodeBatchRoundTrip encodes records with every codec and reads them
// back with Records: same offsets, timestamps, keys, values, nulls and
// headers; the header fields of the spec are kept.
func TestEncodeBatchRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	recs := randomRecords(rng, 100, 40)
	f := func(codec int, xerial, appendTime bool) {
		t.Helper()
		spec := BatchSpec{PartitionLeaderEpoch: 7, Attributes: int16(codec), ProducerID: 42,
			ProducerEpoch: 3, BaseSequence: 11, Xerial: xerial}
		if appendTime {
			spec.Attributes |= AttrTimestampType
			spec.BaseTimestamp, spec.MaxTimestamp = 500, 9000
		}
		b, err := EncodeBatch(spec, recs)
		if err != nil {
			t.Fatalf("codec %d: %v", codec, err)
		}
		h, err := Validate(b)
		if err != nil {
			t.Fatalf("codec %d: Validate: %v", codec, err)
		}
		if h.BaseOffset != 100 || h.NumRecords != 40 || h.ProducerID != 42 || h.ProducerEpoch != 3 ||
			h.BaseSequence != 11 || h.PartitionLeaderEpoch != 7 || h.Compression() != codec {
			t.Fatalf("codec %d: header %+v", codec, h)
		}
		if codec == CodecSnappy && IsXerial(b) != xerial {
			t.Fatalf("xerial %v: IsXerial says %v", xerial, IsXerial(b))
		}
		i := 0
		err = Records(b, func(r Record) bool {
			checkRecord(t, r, recs[i], appendTime)
			i++
			return true
		})
		if err != nil || i != len(recs) {
			t.Fatalf("codec %d: Records: %v after %d", codec, err, i)
		}
	}
	for codec := CodecNone; codec <= CodecZstd; codec++ {
		f(codec, false, false)
		f(codec, false, true)
	}
	f(CodecSnappy, true, false)
}

func checkRecord(t *testing.T, got, want Record, appendTime bool) {
	t.Helper()
	wantTS := want.Timestamp
	if appendTime {
		wantTS = 9000
	}
	if got.Offset != want.Offset || got.Timestamp != wantTS || got.KeyNull != want.KeyNull ||
		got.ValueNull != want.ValueNull || !bytes.Equal(got.Key, want.Key) || !bytes.Equal(got.Value, want.Value) {
		t.Fatalf("record %d: got %+v, want %+v", want.Offset, got, want)
	}
	if len(got.Headers) != len(want.Headers) {
		t.Fatalf("record %d: %d headers, want %d", want.Offset, len(got.Headers), len(want.Headers))
	}
	for j, h := range got.Headers {
		w := want.Headers[j]
		if h.Key != w.Key || !bytes.Equal(h.Value, w.Value) || (h.Value == nil) != (w.Value == nil) {
			t.Fatalf("record %d header %d: %+v, want %+v", want.Offset, j, h, w)
		}
	}
}

func randomRecords(rng *rand.Rand, base int64, n int) []Record {
	var out []Record
	for i := range n {
		r := Record{Offset: base + int64(i), Timestamp: 1000 + rng.Int64N(100) - 50,
			Key: fmt.Appendf(nil, "key-%d", rng.IntN(10)), Value: bytes.Repeat([]byte{byte(i)}, rng.IntN(300))}
		switch rng.IntN(5) {
		case 0:
			r.Value, r.ValueNull = nil, true
		case 1:
			r.Key, r.KeyNull = nil, true
		}
		for j := range rng.IntN(3) {
			h := RecordHeader{Key: fmt.Sprintf("h%d", j), Value: []byte("v")}
			if j == 1 {
				h.Value = nil
			}
			r.Headers = append(r.Headers, h)
		}
		out = append(out, r)
	}
	return out
}

func TestEncodeBatchRefusesGaps(t *testing.T) {
	_, err := EncodeBatch(BatchSpec{}, []Record{{Offset: 1}, {Offset: 3}})
	if err == nil {
		t.Fatal("EncodeBatch accepted non-contiguous offsets")
	}
	if _, err := EncodeBatch(BatchSpec{}, nil); err == nil {
		t.Fatal("EncodeBatch accepted no records")
	}
}

// TestCompressMatchesDecompress: what Compress writes, decompress reads,
// for bytes a producer made too (segmenttest's xerial frames).
func TestCompressMatchesDecompress(t *testing.T) {
	src := bytes.Repeat([]byte("sluice compaction "), 5000)
	for codec := CodecGzip; codec <= CodecZstd; codec++ {
		for _, xerial := range []bool{false, true} {
			c, err := Compress(nil, codec, xerial, src)
			if err != nil {
				t.Fatal(err)
			}
			d, err := decompress(codec, c)
			if err != nil || !bytes.Equal(d, src) {
				t.Fatalf("codec %d xerial %v: %v", codec, xerial, err)
			}
		}
	}
	b := segmenttest.NewBatch(0, 3, 1, 10)
	b.Codec, b.Xerial = segmenttest.Snappy, true
	if !IsXerial(b.Encode()) {
		t.Fatal("IsXerial missed a xerial batch")
	}
}

// TestCompressLevelMatchesDecompress: every level Kafka's topic configs
// accept compresses to something the decoder reads back; a gzip level out
// of range is refused.
func TestCompressLevelMatchesDecompress(t *testing.T) {
	src := bytes.Repeat([]byte("sluice levels "), 5000)
	f := func(codec, level int) {
		t.Helper()
		c, err := CompressLevel(nil, codec, level, false, src)
		if err != nil {
			t.Fatalf("codec %d level %d: %v", codec, level, err)
		}
		d, err := decompress(codec, c)
		if err != nil || !bytes.Equal(d, src) {
			t.Fatalf("codec %d level %d: round trip: %v", codec, level, err)
		}
	}
	for _, l := range []int{-1, 1, 5, 9} {
		f(CodecGzip, l)
	}
	for _, l := range []int{1, 2, 3, 9, 12, 17} {
		f(CodecLZ4, l)
	}
	for _, l := range []int{-5, 1, 3, 9, 22} {
		f(CodecZstd, l)
	}
	f(CodecSnappy, 4) // no levels: ignored
	if _, err := CompressLevel(nil, CodecGzip, 10, false, src); !errors.Is(err, ErrEncode) {
		t.Fatalf("gzip level 10: %v, want ErrEncode", err)
	}
	if lz4Level(3) != lz4.Level1 || lz4Level(11) != lz4.Level9 || lz4Level(17) != lz4.Level9 || lz4Level(1) != lz4.Fast {
		t.Fatal("lz4 level mapping")
	}
}
