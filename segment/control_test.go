package segment

import (
	"errors"
	"testing"
)

// TestMarkerRoundTrip: EncodeMarker's batch is valid and ParseMarker gives
// back its type and coordinator epoch.
func TestMarkerRoundTrip(t *testing.T) {
	f := func(commit bool, epoch int32) {
		t.Helper()
		b := EncodeMarker(9, 3, commit, epoch, 1234)
		h, err := Validate(b)
		if err != nil || h.Attributes != AttrControl|AttrTransactional || h.BaseSequence != -1 || h.NumRecords != 1 ||
			h.MaxTimestamp != 1234 || h.ProducerID != 9 || h.ProducerEpoch != 3 {
			t.Fatalf("marker batch %+v: %v", h, err)
		}
		m, err := ParseMarker(b)
		if err != nil || m.Commit() != commit || m.CoordinatorEpoch != epoch {
			t.Fatalf("ParseMarker = %+v, %v", m, err)
		}
	}
	f(true, 0)
	f(false, 7)
	f(true, -1)
	if _, err := ParseMarker(testBatch(0, 1)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a data batch parsed as a marker: %v", err)
	}
}

// FuzzParseControlRecord: any key and value either parse or fail with
// ErrCorrupt, and a parsed ABORT/COMMIT re-encodes to the same marker.
func FuzzParseControlRecord(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1}, []byte{0, 0, 0, 0, 0, 5})
	f.Add([]byte{0, 0, 0, 0}, []byte{0, 0})
	f.Add([]byte{0, 0, 0, 2}, []byte{})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		m, err := ParseControlRecord(key, value)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if m.Type != ControlAbort && m.Type != ControlCommit {
			return
		}
		back, err := ParseMarker(EncodeMarker(1, 1, m.Commit(), m.CoordinatorEpoch, 1))
		if err != nil || back != m {
			t.Fatalf("%+v re-encoded parses as %+v, %v", m, back, err)
		}
	})
}
