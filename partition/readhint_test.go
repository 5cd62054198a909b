package partition

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/sluice/sluice/segment"
)

// readAt reads from offset (a consumer's Read, or a follower's
// ReadReplica) and returns the batches' bytes.
func readAt(t *testing.T, l *Log, offset int64, replica bool) [][]byte {
	t.Helper()
	var res ReadResult
	var err error
	if replica {
		res, err = l.ReadReplica(offset, 1<<20)
	} else {
		res, err = l.Read(offset, 1<<20, true)
	}
	if err != nil {
		t.Fatalf("read at %d: %v", offset, err)
	}
	return regionBytes(t, res.Regions)
}

// readToEnd reads from offset to the bound, segment by segment, as a
// fetcher does, and returns the batches and the offset after them.
func readToEnd(t *testing.T, l *Log, offset, bound int64, replica bool) ([][]byte, int64) {
	t.Helper()
	var out [][]byte
	for offset < bound {
		got := readAt(t, l, offset, replica)
		if len(got) == 0 {
			t.Fatalf("read at %d below %d returned nothing", offset, bound)
		}
		for _, b := range got {
			h, _ := segment.ParseHeader(b)
			offset = h.LastOffset() + 1
		}
		out = append(out, got...)
	}
	return out, offset
}

// A consumer at the log's end reads each new batch from where its last
// read stopped (the hint), across rolls, and gets exactly the batches a
// read without hints gets: the same bytes from the same offset.
func TestReadHintFollowsTheEnd(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 2000 // rolls every few batches
	cfg.IndexIntervalBytes = 100
	l, _ := newTestLog(t, cfg, newClock())
	rng := rand.New(rand.NewPCG(1, 2))
	ts := int64(1_700_000_000_000)
	var all [][]byte
	next, hinted := int64(0), 0
	for i := 0; i < 200; i++ {
		n := 1 + rng.IntN(5)
		for range 1 + rng.IntN(3) { // one to three batches between reads
			b := batch(n, rng.IntN(120), ts+int64(i))
			mustAppend(t, l, b)
			all = append(all, b)
		}
		if l.hints.anyAt(next) {
			hinted++
		}
		got, end := readToEnd(t, l, next, l.HighWatermark(), false)
		l.hints = readHintSet{} // the same reads without hints
		want, _ := readToEnd(t, l, next, l.HighWatermark(), false)
		if !bytes.Equal(bytes.Join(got, nil), bytes.Join(want, nil)) {
			t.Fatalf("reads %d from %d: %d batches with hints, %d without", i, next, len(got), len(want))
		}
		next = end // the reads without hints noted them again
	}
	if hinted < 150 {
		t.Fatalf("only %d of 200 reads at the end found a hint", hinted)
	}
	if got := bytes.Join(readAt(t, l, 0, false), nil); !bytes.HasPrefix(bytes.Join(all, nil), got) {
		t.Fatal("a read from 0 differs from what was appended")
	}
}

// A follower truncated below where its last read stopped, inside the
// same segment, then fetching different batches, has the hinted offset
// inside another batch at another position: the hint is not trusted
// after the truncation.
func TestReadHintNotTrustedAfterTruncation(t *testing.T) {
	all := leaderHistory(t) // 20 offsets in batches of 1 to 4 records
	dir := filepath.Join(t.TempDir(), "f-0")
	o := openOptions{topic: "t", partition: 0, cfg: testConfig(), recoveryPoint: 0, logStart: -1, clean: true,
		logger: quietLogger(), now: newClock().now}
	f, err := openLog(dir, o) // one segment: the truncation keeps it
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.SetReplicated(true); err != nil {
		t.Fatal(err)
	}
	for _, b := range all[:4] { // offsets 0-9
		if _, err := f.AppendAsFollower(b); err != nil {
			t.Fatal(err)
		}
	}
	end := f.LogEndOffset()
	readToEnd(t, f, 3, end, true) // up to the log end: a hint for end
	if !f.hints.anyAt(end) {
		t.Fatalf("no hint at the log end %d after a read to it", end)
	}
	if err := f.TruncateTo(5); err != nil {
		t.Fatal(err)
	}
	// One batch of many records from 5 on: end is now inside it, and
	// the batch holding it starts where offset 5 was.
	h, _ := segment.ParseHeader(all[4])
	b := append([]byte(nil), batch(int(end-5+3), 50, h.MaxTimestamp)...)
	binary.BigEndian.PutUint64(b, 5) // baseOffset, outside the CRC
	if _, err := f.AppendAsFollower(b); err != nil {
		t.Fatal(err)
	}
	got := readAt(t, f, end, true)
	if len(got) != 1 || !bytes.Equal(got[0][16:], b[16:]) {
		t.Fatalf("read at %d after the truncation: %d batches, want the one batch from 5", end, len(got))
	}
	if gh, _ := segment.ParseHeader(got[0]); gh.BaseOffset != 5 {
		t.Fatalf("read at %d after the truncation: batch from %d, want 5", end, gh.BaseOffset)
	}
}

// anyAt reports whether a hint for offset is held (tests).
func (s *readHintSet) anyAt(offset int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.h {
		if h.seg != nil && h.offset == offset {
			return true
		}
	}
	return false
}
