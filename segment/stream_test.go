package segment

import (
	"bytes"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/sluice/sluice/segment/segmenttest"
)

// streamResult feeds b to a BatchStream in pieces of at most piece bytes
// (0: one byte, then growing) and returns its size and result.
func streamResult(b []byte, piece int, rng *rand.Rand) (int, StreamResult, bool) {
	var s BatchStream
	size := 0
	for n := 0; n < len(b); {
		step := piece
		if rng != nil {
			step = 1 + rng.IntN(piece)
		}
		n = min(len(b), n+step)
		size = s.Feed(b[:n])
		if size < 0 || s.Done() {
			break
		}
	}
	return size, s.Result(), s.Done()
}

// wantStream is what a BatchStream must find for the whole batch b (b at
// least as long as its header says): Validate's CRC and records walk.
func wantStream(b []byte, h Header) StreamResult {
	data := b[HeaderSize:h.Size()]
	return StreamResult{
		CRC:          crc32.Checksum(b[offAttributes:h.Size()], castagnoli),
		RecordsValid: h.Compression() == CodecNone && recordsValid(data, h.NumRecords),
	}
}

// checkStream asserts the property of BatchStream for any bytes b fed in
// pieces: it gives the header's size (or -1 where ParseHeader fails), and
// once the whole batch was fed, Validate's CRC and walk result.
func checkStream(t *testing.T, b []byte, piece int, rng *rand.Rand) {
	t.Helper()
	size, r, done := streamResult(b, piece, rng)
	h, err := ParseHeader(b)
	switch {
	case len(b) < HeaderSize:
		if size != 0 || done {
			t.Fatalf("%d bytes, under a header: size %d, done %v", len(b), size, done)
		}
	case err != nil:
		if size != -1 || done {
			t.Fatalf("bad header (%v): size %d, done %v", err, size, done)
		}
	case h.Size() > int64(len(b)):
		if size != int(h.Size()) || done {
			t.Fatalf("batch of %d bytes cut at %d: size %d, done %v", h.Size(), len(b), size, done)
		}
	default:
		if size != int(h.Size()) || !done {
			t.Fatalf("whole batch of %d bytes: size %d, done %v", h.Size(), size, done)
		}
		if want := wantStream(b, h); r != want {
			t.Fatalf("stream found %+v, want %+v", r, want)
		}
	}
}

func TestBatchStreamMatchesValidate(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	batches := [][]byte{testBatch(0, 1), testBatch(5, 7), mixedBatch(), segmenttest.NewBatch(0, 300, 1, 100).Encode()}
	for codec := segmenttest.Gzip; codec <= segmenttest.Zstd; codec++ {
		b := segmenttest.NewBatch(3, 4, 1, 20)
		b.Codec = codec
		batches = append(batches, b.Encode())
	}
	// Bad records: a record length past the batch, one byte short, a
	// count one too many (the walk fails and Validate is left to say why).
	bad := testBatch(0, 3)
	bad[HeaderSize] = 0x7e
	short := testBatch(0, 3)
	short = short[:len(short)-1]
	binaryPutLength(short)
	count := testBatch(0, 3)
	count[offNumRecords+3]++
	batches = append(batches, bad, short, count)
	for i, b := range batches {
		for _, piece := range []int{1, 2, 7, 61, 64, 1000, len(b)} {
			checkStream(t, b, piece, nil)
			checkStream(t, b, piece, rng)
			checkStream(t, append(bytes.Clone(b), 1, 2, 3), piece, rng) // bytes after the batch are not its
		}
		if r := wantStream(b, mustHeader(t, b)); i < 4 && !r.RecordsValid {
			t.Fatalf("batch %d: records of a valid batch not found valid", i)
		}
	}
	if r := wantStream(bad, mustHeader(t, bad)); r.RecordsValid {
		t.Fatal("bad records found valid")
	}
	checkStream(t, testBatch(0, 2)[:HeaderSize-1], 5, nil)
	notMagic := testBatch(0, 2)
	notMagic[offMagic] = 1
	checkStream(t, notMagic, 5, nil)
}

func mustHeader(t *testing.T, b []byte) Header {
	t.Helper()
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// binaryPutLength sets b's batchLength to its length (CRC fixed).
func binaryPutLength(b []byte) {
	l := uint32(len(b) - LogOverhead)
	b[offLength], b[offLength+1], b[offLength+2], b[offLength+3] = byte(l>>24), byte(l>>16), byte(l>>8), byte(l)
	segmenttest.FixCRC(b)
}

// FuzzBatchStream: fed in pieces of any size, a BatchStream finds the CRC
// and the records walk Validate would, for any bytes.
func FuzzBatchStream(f *testing.F) {
	for _, b := range [][]byte{testBatch(0, 1), testBatch(5, 7), mixedBatch(), segmenttest.NewBatch(0, 30, 1, 200).Encode()} {
		f.Add(b, uint16(1), uint64(0))
		f.Add(b[:len(b)-1], uint16(100), uint64(1))
	}
	f.Add([]byte{}, uint16(3), uint64(2))
	f.Fuzz(func(t *testing.T, b []byte, piece uint16, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, 0))
		p := max(int(piece), 1)
		checkStream(t, b, p, rng)
		if len(b) >= HeaderSize { // let the fuzzer past the CRC
			b = bytes.Clone(b)
			segmenttest.FixCRC(b)
			checkStream(t, b, p, rng)
		}
	})
}

// fixedChecks is a Prechecks that gives r for the batch at one address.
type fixedChecks struct {
	at []byte
	r  StreamResult
}

func (c fixedChecks) Precheck(b []byte) (StreamResult, bool) {
	if len(b) == len(c.at) && &b[0] == &c.at[0] {
		return c.r, true
	}
	return StreamResult{}, false
}

// A precheck result only accepts: a CRC that does not match the header's
// is computed again (a corrupt batch is still ErrBadCRC; a good one still
// accepted), a walk that did not pass is redone (its error named).
func TestSplitPrechecked(t *testing.T) {
	good := testBatch(0, 3)
	h := mustHeader(t, good)
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-1] ^= 1
	badRecords := testBatch(0, 3)
	badRecords[HeaderSize] = 0x7e
	segmenttest.FixCRC(badRecords)
	split := func(b []byte, r StreamResult) error {
		return SplitPrechecked(b, fixedChecks{b, r}, func([]byte, Header) error { return nil })
	}
	f := func(what string, b []byte, r StreamResult, want error) {
		t.Helper()
		err := split(b, r)
		plain := Split(b, func([]byte, Header) error { return nil })
		if !errors.Is(err, want) && !(want == nil && err == nil) {
			t.Fatalf("%s: %v, want %v", what, err, want)
		}
		if (err == nil) != (plain == nil) || err != nil && err.Error() != plain.Error() {
			t.Fatalf("%s: prechecked %v, plain %v", what, err, plain)
		}
	}
	f("good, found", good, StreamResult{CRC: h.CRC, RecordsValid: true}, nil)
	f("good, wrong CRC found", good, StreamResult{CRC: h.CRC + 1, RecordsValid: true}, nil)
	f("good, walk not passed", good, StreamResult{CRC: h.CRC}, nil)
	f("bad CRC, found", badCRC, wantStream(badCRC, h), ErrBadCRC)
	f("bad CRC, wrong CRC found", badCRC, StreamResult{CRC: 7}, ErrBadCRC)
	f("bad records, found", badRecords, wantStream(badRecords, mustHeader(t, badRecords)), ErrCorrupt)
	// Second batch of two corrupt: its offset in the set is named.
	two := append(bytes.Clone(good), badCRC...)
	err := SplitPrechecked(two, fixedChecks{two[len(good):], wantStream(badCRC, h)}, func([]byte, Header) error { return nil })
	if !errors.Is(err, ErrBadCRC) || err.Error() != Split(two, func([]byte, Header) error { return nil }).Error() {
		t.Fatalf("second batch corrupt: %v", err)
	}
}

// BenchmarkBatchStream is the CRC and walk of a 1 MiB batch of 1 KiB or
// 100 B records, fed in 64 or 256 KiB pieces (netio's scanChunk) or at
// once, beside Validate of the same batch (one pass, in cache).
func BenchmarkBatchStream(b *testing.B) {
	for _, size := range []int{100, 1024} {
		batch := segmenttest.NewBatch(0, 1<<20/(size+10), 1, size).Encode()
		b.Run("records="+strconv.Itoa(size)+"B/validate", func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			for b.Loop() {
				if _, err := Validate(batch); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, piece := range []int{64 << 10, 256 << 10, len(batch)} {
			benchStream(b, batch, size, piece)
		}
	}
}

func benchStream(b *testing.B, batch []byte, size, piece int) {
	b.Run("records="+strconv.Itoa(size)+"B/piece="+strconv.Itoa(piece), func(b *testing.B) {
		b.SetBytes(int64(len(batch)))
		b.ReportAllocs()
		for b.Loop() {
			var s BatchStream
			for n := 0; n < len(batch); {
				n = min(len(batch), n+piece)
				s.Feed(batch[:n])
			}
			if !s.Done() || !s.Result().RecordsValid {
				b.Fatal("not checked")
			}
		}
	})
}
