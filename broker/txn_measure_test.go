package broker

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice/sluice/sendfile"
)

// TestMeasureReadCommitted is a one-off measurement, run by hand:
//
//	SLUICE_MEASURE_TXN=1 go test ./broker -run TestMeasureReadCommitted -v -count=1
//
// It writes 64 MiB of 1 KiB records in transactions of 10 batches of 16
// records (one in five aborted) plus markers, then consumes the partition
// from the start with franz-go, read_uncommitted then read_committed, and
// logs each one's MB/s (bytes of the log read) and the share of bytes the
// broker sent by sendfile during the read_committed run.
func TestMeasureReadCommitted(t *testing.T) {
	if os.Getenv("SLUICE_MEASURE_TXN") == "" {
		t.Skip("set SLUICE_MEASURE_TXN=1 to measure")
	}
	ts := startServer(t, "")
	ts.createTopic(t, "tx", 1, nil)
	b := ts.Broker()
	b.SetTxnVerifier(&allowTxn{})
	rc := dialRaw(t, ts.addr)
	id := "measure"
	val := bytes.Repeat([]byte("x"), 1024)
	vals := make([][]byte, 16)
	for i := range vals {
		vals[i] = val
	}
	const txns = 420 // 420 × 10 × 16 KiB ≈ 66 MiB
	seq, committed, all := int32(0), 0, 0
	for i := range txns {
		for range 10 {
			code, _ := txnProduce(t, rc, &id, makeBatch(batchOpts{producerID: 1, sequence: seq, transactional: true}, vals...))
			if code != 0 {
				t.Fatalf("produce: %d", code)
			}
			seq += 16
			all += 16
		}
		commit := i%5 != 4
		if commit {
			committed += 160
		}
		if _, code := b.WriteTxnMarker("tx", 0, 1, 0, commit, 0); code != 0 {
			t.Fatalf("marker: %d", code)
		}
	}
	size := ts.Store().Get("tx", 0).Size()
	measure := func(name string, iso kgo.IsolationLevel, n int) {
		cl := newKgo(t, ts.addr, kgo.ConsumeTopics("tx"), kgo.FetchIsolationLevel(iso),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(16<<20), kgo.FetchMaxPartitionBytes(8<<20))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		before := sendfile.Stats()
		start := time.Now()
		got := 0
		for got < n {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("%s: %d of %d records", name, got, n)
			}
			got += fs.NumRecords()
		}
		d := time.Since(start)
		after := sendfile.Stats()
		sf, cp := after.SendfileBytes-before.SendfileBytes, after.CopiedBytes-before.CopiedBytes
		t.Logf("%s: %d records, %.1f MB of log in %v: %.1f MB/s; sendfile %d bytes, copied %d (%.1f%% by sendfile)",
			name, got, float64(size)/1e6, d.Round(time.Millisecond), float64(size)/1e6/d.Seconds(), sf, cp, 100*float64(sf)/float64(max(sf+cp, 1)))
		cl.Close()
	}
	for range 3 {
		measure("read_uncommitted", kgo.ReadUncommitted(), all)
		measure("read_committed", kgo.ReadCommitted(), committed)
	}
}
