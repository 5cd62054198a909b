package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// storageKV is record i of the storage acceptance test: key "key-%06d"
// and a ~1 KB printable value derived from i.
func storageKV(i int) (key, value string) {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	r := rand.New(rand.NewPCG(uint64(i), 7))
	v := make([]byte, 1000)
	for j := range v {
		v[j] = alphabet[r.IntN(len(alphabet))]
	}
	return fmt.Sprintf("key-%06d", i), fmt.Sprintf("value-%06d-%s", i, v)
}

// TestStorageAcceptance is the storage engine issue's "How it will be
// checked": 20,000 keyed ~1 KB records from kcat into 1 MiB segments, a
// clean stop, the data directory verified by an independent reader, then
// 1,000 more acknowledged records, kill -9, a torn tail of random bytes,
// a restart that repairs it, and every acknowledged record read back by
// kcat exactly and in order.
func TestStorageAcceptance(t *testing.T) {
	kcat := requireKcat(t)
	const topic, first, more = "storage", 20000, 1000
	dataDir := t.TempDir()
	partDir := filepath.Join(dataDir, topic+"-0")

	// 1. kcat produces 20,000 keyed records, the first half in its default
	// ~1 MB batches (one per segment), the second in batches of 3 records
	// (~3 KB, so the sparse index skips some); SIGTERM exits 0.
	d := start(t, dataDir, "--segment-bytes", "1048576")
	kcatProduceStorage(t, kcat, d.Addr, topic, 0, first/2)
	kcatProduceStorage(t, kcat, d.Addr, topic, first/2, first, "-X", "batch.num.messages=3")
	d.Stop()
	if _, err := os.Stat(filepath.Join(dataDir, ".kafka_cleanshutdown")); err != nil {
		t.Errorf("no clean-shutdown marker after SIGTERM: %v", err)
	}

	// 2. The independent reader checks the directory.
	dump := verifyPartitionDir(t, partDir)
	t.Logf("%d segments, %d batches, %d records", len(dump.Segments), dump.Batches, len(dump.Records))
	if len(dump.Segments) < 12 {
		t.Errorf("%d segments of at most 1 MiB for ~20 MB of records, want at least 12", len(dump.Segments))
	}
	requireStorageRecords(t, "on disk after kcat", dump.Records, first)
	checkDump(t, partDir, dump.Segments)
	if t.Failed() {
		t.FailNow()
	}

	// 3. Restart, 1,000 more with acks=all, kill -9, torn tail.
	d = start(t, dataDir, "--segment-bytes", "1048576")
	cl := newClient(t, d.Addr, kgo.ProducerBatchCompression(kgo.NoCompression()))
	recs := make([]*kgo.Record, 0, more)
	for i := first; i < first+more; i++ {
		k, v := storageKV(i)
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(k), Value: []byte(v)})
	}
	acked := produceSync(t, cl, recs...)
	if last := acked[len(acked)-1].Offset; last != first+more-1 {
		t.Fatalf("last acknowledged offset %d, want %d", last, first+more-1)
	}
	cl.Close()
	d.Kill()
	tornLog := newestLog(t, partDir)
	sizeBefore := fileSize(t, tornLog)
	appendRandom(t, tornLog, 3000)

	// 4. Restart repairs the tail; kcat reads every acknowledged record.
	d = start(t, dataDir, "--segment-bytes", "1048576")
	out := runTool(t, 2*time.Minute, nil, kcat, "-C", "-b", d.Addr, "-t", topic, "-o", "beginning", "-e", "-q",
		"-f", "%o %k %s\n")
	requireKcatLines(t, lines(out), first+more)
	d.Stop()
	after := verifyPartitionDir(t, partDir)
	requireStorageRecords(t, "on disk after recovery", after.Records, first+more)
	if got := fileSize(t, tornLog); got != sizeBefore {
		t.Errorf("%s: %d bytes after recovery, want %d (the 3,000 random bytes cut off)", tornLog, got, sizeBefore)
	}
}

// kcatProduceStorage writes storageKV(from..to-1) to a file and produces
// it with `kcat -P -K: -l file` (acks=all, no compression).
func kcatProduceStorage(t *testing.T, kcat, addr, topic string, from, to int, extra ...string) {
	t.Helper()
	var in bytes.Buffer
	for i := from; i < to; i++ {
		k, v := storageKV(i)
		fmt.Fprintf(&in, "%s:%s\n", k, v)
	}
	input := filepath.Join(t.TempDir(), "records.txt")
	if err := os.WriteFile(input, in.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-P", "-b", addr, "-t", topic, "-K:", "-l", input,
		"-X", "acks=all", "-X", "compression.codec=none"}, extra...)
	runTool(t, 2*time.Minute, nil, kcat, args...)
}

// requireStorageRecords checks recs are exactly storageKV(0..n-1) at
// offsets 0..n-1.
func requireStorageRecords(t *testing.T, where string, recs []record, n int) {
	t.Helper()
	if len(recs) != n {
		t.Errorf("%s: %d records, want %d", where, len(recs), n)
		return
	}
	for i, r := range recs {
		k, v := storageKV(i)
		if r.Offset != int64(i) || string(r.Key) != k || string(r.Value) != v {
			t.Errorf("%s: record %d is offset %d key %q value %.20q…, want offset %d key %q value %.20q…",
				where, i, r.Offset, r.Key, r.Value, i, k, v)
			return
		}
	}
}

// requireKcatLines checks kcat's "%o %k %s" lines against storageKV.
func requireKcatLines(t *testing.T, got []string, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("kcat read %d records, want %d", len(got), n)
	}
	for i, line := range got {
		k, v := storageKV(i)
		if want := fmt.Sprintf("%d %s %s", i, k, v); line != want {
			t.Fatalf("kcat record %d:\n got %.60q…\nwant %.60q…", i, line, want)
		}
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// appendRandom appends n random bytes to path (a torn, garbage tail).
func appendRandom(t *testing.T, path string, n int) {
	t.Helper()
	junk := make([]byte, n)
	r := rand.New(rand.NewPCG(42, 42))
	for i := range junk {
		junk[i] = byte(r.UintN(256))
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(junk); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkDump runs `sluice dump` on the first segment and `--verify-index`
// on its index: both exit 0, name batches, and report no mismatch.
func checkDump(t *testing.T, partDir string, bases []int64) {
	t.Helper()
	if len(bases) < 2 {
		t.Errorf("sluice dump: want a rolled segment to dump, have %d", len(bases))
		return
	}
	base := filepath.Join(partDir, fmt.Sprintf("%020d", bases[1]))
	f := func(args []string, want ...string) {
		t.Helper()
		out, err := exec.Command(sluiceBin, append([]string{"dump"}, args...)...).CombinedOutput()
		if err != nil {
			t.Errorf("sluice dump %v: %v\n%s", args, err, tail(string(out), 2000))
			return
		}
		for _, w := range want {
			if !strings.Contains(string(out), w) {
				t.Errorf("sluice dump %v: output lacks %q:\n%s", args, w, tail(string(out), 2000))
			}
		}
		if strings.Contains(string(out), "isvalid: false") || strings.Contains(string(out), "ERROR") {
			t.Errorf("sluice dump %v reports a problem:\n%s", args, tail(string(out), 2000))
		}
	}
	f([]string{base + ".log"}, fmt.Sprintf("baseOffset: %d ", bases[1]), "isvalid: true", "magic: 2")
	f([]string{"--print-data", base + ".log"}, fmt.Sprintf("| offset: %d ", bases[1]), "key: key-")
	f([]string{"--verify-index", base + ".index"}, "offset: ", " 0 mismatches")
}
