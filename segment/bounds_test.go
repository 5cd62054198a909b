package segment

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/sluice/sluice/segment/segmenttest"
)

// TestCountsBoundedByBytes: a record count or header count that the bytes
// cannot hold is rejected as corrupt before any loop runs on it (a valid
// CRC does not make a claimed 2^31-1 records plausible).
func TestCountsBoundedByBytes(t *testing.T) {
	f := func(name string, b []byte, want error) {
		t.Helper()
		segmenttest.FixCRC(b)
		if _, err := Validate(b); !errors.Is(err, ErrCorrupt) || !errors.Is(err, want) {
			t.Fatalf("%s: Validate = %v, want %v", name, err, want)
		}
		if err := Records(b, func(Record) bool { return true }); !errors.Is(err, want) {
			t.Fatalf("%s: Records = %v, want %v", name, err, want)
		}
	}
	huge := segmenttest.NewBatch(0, 1, 1, 4).Encode()
	binary.BigEndian.PutUint32(huge[offNumRecords:], math.MaxInt32)
	binary.BigEndian.PutUint32(huge[offLastOffsetDelta:], math.MaxInt32-1)
	f("records", huge, errRecordsShort)

	// Two records claimed by one record's bytes.
	two := segmenttest.NewBatch(0, 1, 1, 4).Encode()
	binary.BigEndian.PutUint32(two[offNumRecords:], 2)
	binary.BigEndian.PutUint32(two[offLastOffsetDelta:], 1)
	f("two records in one's bytes", two, errRecordsShort)

	// One record whose header count (the last byte before the end of its
	// body) claims more headers than bytes follow.
	rec := segmenttest.NewBatch(0, 1, 1, 4)
	rec.Records[0].Headers = []segmenttest.Header{{Key: "k", Value: []byte("v")}}
	hb := rec.Encode()
	// The body ends with: header count 1 (zigzag 2), key len 1 "k", value len 1 "v".
	countAt := len(hb) - 5
	if hb[countAt] != 2 {
		t.Fatalf("header count byte %d, want 2", hb[countAt])
	}
	hb[countAt] = 6 // 3 headers in 4 bytes
	f("headers", hb, errRecordHeaders)
}
