package dump

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice/sluice/mmapindex"
	"github.com/sluice/sluice/segment"
	"github.com/sluice/sluice/segment/segmenttest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const ts0 = 1_700_000_000_000

// writeTestSegment writes a segment at base offset 100 with an index entry
// per batch (last offset, start position) and a time index, as the
// partition does, and returns the .log path.
func writeTestSegment(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	stem := filepath.Join(dir, "00000000000000000100")
	log, err := segment.Open(stem + ".log")
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	idx, err := mmapindex.OpenOffsetIndex(stem+".index", 100, 1024)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	tidx, err := mmapindex.OpenTimeIndex(stem+".timeindex", 100, 1024)
	if err != nil {
		t.Fatal(err)
	}
	defer tidx.Close()
	for _, b := range testBatches() {
		batch := b.Encode()
		pos, err := log.Append([][]byte{batch})
		if err != nil {
			t.Fatal(err)
		}
		h, _ := segment.ParseHeader(batch)
		if err := idx.Append(h.LastOffset(), uint32(pos)); err != nil {
			t.Fatal(err)
		}
		if err := tidx.Append(h.MaxTimestamp, h.LastOffset()); err != nil {
			t.Fatal(err)
		}
	}
	return stem + ".log"
}

func testBatches() []segmenttest.Batch {
	plain := segmenttest.NewBatch(100, 3, ts0, 5)
	gz := segmenttest.NewBatch(103, 2, ts0+10, 4)
	gz.Codec = segmenttest.Gzip
	idem := segmenttest.Batch{
		BaseOffset: 105, LeaderEpoch: 3, BaseTimestamp: ts0 + 20,
		ProducerID: 42, ProducerEpoch: 1, BaseSequence: 7, Attributes: segment.AttrTransactional,
		Records: []segmenttest.Record{
			{Key: nil, Value: []byte("no key")},
			{TimestampDelta: 5, Key: []byte("k"), Value: nil, Headers: []segmenttest.Header{{Key: "trace", Value: []byte("1")}, {Key: "h2"}}},
			{TimestampDelta: 9, Key: []byte{0xff, 0x00}, Value: []byte("binary key")},
		},
	}
	zs := segmenttest.NewBatch(108, 1, ts0+30, 8)
	zs.Codec = segmenttest.Zstd
	return []segmenttest.Batch{plain, gz, idem, zs}
}

func TestDumpGolden(t *testing.T) {
	logPath := writeTestSegment(t)
	stem := strings.TrimSuffix(logPath, ".log")
	f := func(name string, opts Options, edit func(stem string), wantProblems bool, paths ...string) {
		t.Helper()
		if edit != nil {
			edit(stem)
		}
		var out bytes.Buffer
		err := Files(&out, opts, paths...)
		if wantProblems != errors.Is(err, ErrProblems) {
			t.Fatalf("%s: Files = %v, want problems %t", name, err, wantProblems)
		}
		got := strings.ReplaceAll(out.String(), filepath.Dir(logPath), "DIR")
		golden := filepath.Join("testdata", name+".golden")
		if *update {
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Fatalf("%s: output differs from %s:\n%s", name, golden, got)
		}
	}
	f("log", Options{}, nil, false, logPath)
	f("log-print-data", Options{PrintData: true}, nil, false, logPath)
	f("indexes-verified", Options{VerifyIndex: true}, nil, false, stem+".index", stem+".timeindex")
	f("index-mismatch", Options{VerifyIndex: true}, func(stem string) {
		data, _ := os.ReadFile(stem + ".index")
		data[3]--             // the first entry's offset: one below its batch's last
		data[len(data)-1] = 1 // the last entry's position: no batch there
		os.WriteFile(stem+".index", data, 0o644)
	}, true, stem+".index")
	f("log-corrupt", Options{PrintData: true}, func(stem string) {
		data, _ := os.ReadFile(logPath)
		second := segmenttest.NewBatch(100, 3, ts0, 5).Encode()
		data[len(second)+segment.HeaderSize+2] ^= 0x55 // inside the gzip batch
		data = append(data, second[:30]...)            // a torn tail
		os.WriteFile(logPath, data, 0o644)
	}, true, logPath)
	f("bad-names", Options{}, nil, true, filepath.Join(filepath.Dir(logPath), "x.log"), stem+".txt")
}

// TestDumpTransactions: markers print as Kafka's endTxnMarker lines and a
// .txnindex as its entries (a torn tail is a problem).
func TestDumpTransactions(t *testing.T) {
	dir := t.TempDir()
	stem := filepath.Join(dir, "00000000000000000000")
	log, err := segment.Open(stem + ".log")
	if err != nil {
		t.Fatal(err)
	}
	txn := segmenttest.NewBatch(0, 2, ts0, 3)
	txn.ProducerID, txn.ProducerEpoch, txn.BaseSequence, txn.Attributes = 7, 2, 0, segment.AttrTransactional
	commit := segment.EncodeMarker(7, 2, true, 5, ts0+1)
	segment.SetBaseOffset(commit, 2)
	abort := segment.EncodeMarker(7, 2, false, 5, ts0+2)
	segment.SetBaseOffset(abort, 3)
	if _, err := log.Append([][]byte{txn.Encode(), commit, abort}); err != nil {
		t.Fatal(err)
	}
	log.Close()
	entry := []byte{0, 0}
	for _, v := range []int64{7, 3, 3, 4} {
		entry = binary.BigEndian.AppendUint64(entry, uint64(v))
	}
	os.WriteFile(stem+".txnindex", append(entry, 0, 0, 1), 0o644)
	var out bytes.Buffer
	err = Files(&out, Options{PrintData: true}, stem+".log", stem+".txnindex")
	if !errors.Is(err, ErrProblems) {
		t.Fatalf("Files = %v, want the torn entry reported", err)
	}
	got := strings.ReplaceAll(out.String(), dir, "DIR")
	for _, want := range []string{
		"baseOffset: 2 lastOffset: 2 count: 1 baseSequence: -1 lastSequence: -1 producerId: 7 producerEpoch: 2 partitionLeaderEpoch: 0 isTransactional: true isControl: true",
		"| offset: 2 CreateTime: 1700000000001 keySize: 4 valueSize: 6 sequence: -1 headerKeys: [] endTxnMarker: COMMIT coordinatorEpoch: 5\n",
		"| offset: 3 CreateTime: 1700000000002 keySize: 4 valueSize: 6 sequence: -1 headerKeys: [] endTxnMarker: ABORT coordinatorEpoch: 5\n",
		"Dumping DIR/00000000000000000000.txnindex\nversion: 0 producerId: 7 firstOffset: 3 lastOffset: 3 lastStableOffset: 4\n",
		"ERROR: DIR/00000000000000000000.txnindex: position 34: 3 bytes of a torn entry\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("dump lacks %q:\n%s", want, got)
		}
	}
}
