package segment

import (
	"bytes"
	"os"
	"testing"

	"github.com/sluice/sluice/segment/segmenttest"
)

func FuzzValidate(f *testing.F) {
	f.Add(testBatch(0, 1))
	f.Add(testBatch(5, 7))
	for codec := segmenttest.Gzip; codec <= segmenttest.Zstd; codec++ {
		b := segmenttest.NewBatch(3, 4, 1, 20)
		b.Codec = codec
		f.Add(b.Encode())
	}
	f.Add(mixedBatch())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		checkValidateProperties(t, b)
		if len(b) >= HeaderSize { // let the fuzzer past the CRC
			b = bytes.Clone(b)
			segmenttest.FixCRC(b)
			checkValidateProperties(t, b)
		}
	})
}

func checkValidateProperties(t *testing.T, b []byte) {
	{
		h, err := Validate(b)
		if err != nil {
			return
		}
		ph, perr := ParseHeader(b)
		if perr != nil || ph != h {
			t.Fatalf("Validate accepted %+v but ParseHeader says %+v, %v", h, ph, perr)
		}
		if h.Size() != int64(len(b)) {
			t.Fatalf("accepted batch of %d bytes with Size %d", len(b), h.Size())
		}
		set := append(bytes.Clone(b), b...)
		var got []Header
		if err := Split(set, func(batch []byte, h Header) error { got = append(got, h); return nil }); err != nil || len(got) != 2 || got[0] != h || got[1] != h {
			t.Fatalf("Split of two accepted batches = %v, %+v", err, got)
		}
		n := int32(0)
		err = Records(b, func(r Record) bool { n++; return true })
		if h.Compression() == CodecNone && (err != nil || n != h.NumRecords) {
			t.Fatalf("Records on an accepted uncompressed batch = %v after %d of %d", err, n, h.NumRecords)
		}
		want := int32(-1)
		werr := Records(b, func(r Record) bool {
			if r.KeyNull {
				want = int32(r.Offset - h.BaseOffset)
			}
			return !r.KeyNull
		})
		if got, err := FirstKeyless(b, h); got != want || (err == nil) != (werr == nil) {
			t.Fatalf("FirstKeyless = %d, %v; Records' first null key %d, %v", got, err, want, werr)
		}
	}
}

func FuzzScan(f *testing.F) {
	f.Add(uint8(2), []byte{})
	f.Add(uint8(1), testBatch(9, 2))
	f.Add(uint8(3), make([]byte, 100))
	f.Add(uint8(0), testBatch(0, 1)[:40])
	f.Fuzz(func(t *testing.T, n uint8, tail []byte) {
		batches := someBatches(int(n % 6))
		seg, _ := writeSegment(t, batches...)
		prefix := seg.Size()
		if _, err := seg.Append([][]byte{tail}); err != nil {
			t.Fatal(err)
		}
		var positions []int64
		validEnd, err := seg.Recover(0, func(h Header, pos int64) { positions = append(positions, pos) })
		if validEnd < prefix || validEnd > seg.Size() {
			t.Fatalf("validEnd %d outside [%d, %d] (%v)", validEnd, prefix, seg.Size(), err)
		}
		if (err == nil) != (validEnd == seg.Size()) {
			t.Fatalf("validEnd %d of %d with err %v", validEnd, seg.Size(), err)
		}
		// ScanFrom (headers only) sees at least the batches Recover accepted.
		var scanned []int64
		seg.ScanFrom(0, func(h Header, pos int64) bool { scanned = append(scanned, pos); return true })
		if len(scanned) < len(positions) || !equal(scanned[:len(positions)], positions) {
			t.Fatalf("ScanFrom %v, Recover %v", scanned, positions)
		}
		// Re-validating the valid prefix from the bytes gives the same batches.
		data, _ := os.ReadFile(seg.Path())
		var again []int64
		if validEnd > 0 {
			at := int64(0)
			if err := Split(data[:validEnd], func(b []byte, h Header) error {
				again = append(again, at)
				at += h.Size()
				return nil
			}); err != nil {
				t.Fatalf("Split of the recovered prefix: %v", err)
			}
		}
		if !equal(again, positions) {
			t.Fatalf("Split %v, Recover %v", again, positions)
		}
	})
}

// FuzzRecordsValid: the produce path's tight pass accepts exactly the
// records walkRecords accepts (Validate trusts the first and asks the
// second only for the reason of a rejection).
func FuzzRecordsValid(f *testing.F) {
	for _, b := range [][]byte{testBatch(0, 1), testBatch(5, 7), segmenttest.NewBatch(0, 30, 1, 200).Encode(), mixedBatch()} {
		h, _ := ParseHeader(b)
		f.Add(b[HeaderSize:], h.NumRecords)
		f.Add(b[HeaderSize:len(b)-1], h.NumRecords)
		f.Add(b[HeaderSize:], h.NumRecords+1)
	}
	f.Add([]byte{}, int32(0))
	f.Fuzz(func(t *testing.T, data []byte, n int32) {
		fast, err := recordsValid(data, n), walkRecords(data, n, nil)
		if fast != (err == nil) {
			t.Fatalf("recordsValid = %v, walkRecords = %v (n %d, % x)", fast, err, n, data)
		}
	})
}

// mixedBatch has the fields varint12 leaves to varintLong (a timestamp
// delta and a value length of 3+ bytes), null keys and values, and headers.
func mixedBatch() []byte {
	b := segmenttest.NewBatch(0, 3, 1, 10)
	b.Records[0].TimestampDelta = 1 << 40
	b.Records[0].Key = nil
	b.Records[1].Value = make([]byte, 20000)
	b.Records[1].Headers = []segmenttest.Header{{Key: "h", Value: []byte("v")}, {Key: "", Value: nil}}
	b.Records[2].Value = nil
	return b.Encode()
}
