package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKillTrialsLoseNothingAcknowledged is issue 10's crash acceptance:
// kill -9 trials under acks=all load lose nothing acknowledged and every
// restart succeeds. Each trial starts sluiced on the same data directory
// (start fails the test if it does not come up), produces with franz-go
// (acks=all, idempotent, several requests in flight) until a random number
// of records is acknowledged, and kills it mid-stream. At the end every
// acknowledged record must be read back. 100 trials (about 5 s; 20 with
// -short).
func TestKillTrialsLoseNothingAcknowledged(t *testing.T) {
	trials := 100
	if testing.Short() {
		trials = 20
	}
	killTrials(t, trials)
}

// TestKillTrialsFsyncAlwaysPipelined is the same under --fsync always,
// where a produce is acknowledged once fsync'd and a connection's
// produces are pipelined (netio.Pending: later requests appended while
// earlier ones wait for their fsync; franz-go keeps five in flight):
// nothing acknowledged is lost to kill -9. 30 trials (10 with -short).
func TestKillTrialsFsyncAlwaysPipelined(t *testing.T) {
	trials := 30
	if testing.Short() {
		trials = 10
	}
	killTrials(t, trials, "--fsync", "always")
}

// TestKillTrialsFsyncAlwaysRolling is the same with 2 KiB segments: under
// fsync=always each segment's .log carries zeros written ahead of its last
// batch (segment package doc, "Zeros written ahead") until it rolls, when
// they are cut; kills land before, during and after rolls, and the
// restarts must find every acknowledged record, whichever segment it is
// in. 20 trials (8 with -short).
func TestKillTrialsFsyncAlwaysRolling(t *testing.T) {
	trials := 20
	if testing.Short() {
		trials = 8
	}
	killTrials(t, trials, "--fsync", "always", "--segment-bytes", "2048")
}

// killTrials runs the kill -9 trials with sluiced started with extra.
func killTrials(t *testing.T, trials int, extra ...string) {
	const topic = "crashy"
	dataDir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 10))
	acked := map[string]bool{}
	began := time.Now()
	for trial := range trials {
		d := start(t, dataDir, extra...)
		if trial == 0 {
			createTopic(t, d.Addr, topic, 3)
		}
		target := 50 + rng.IntN(400)
		got := produceUntilKilled(t, d, topic, trial, target)
		for _, v := range got {
			acked[v] = true
		}
	}
	t.Logf("%d kill -9 trials in %v, %d records acknowledged", trials, time.Since(began).Round(time.Millisecond), len(acked))

	d := start(t, dataDir, extra...)
	seen := map[string]bool{}
	for _, r := range consumeAll(t, d.Addr, topic) {
		seen[string(r.Value)] = true
	}
	lost := 0
	for v := range acked {
		if !seen[v] {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged record %q lost", v)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged records lost", lost, len(acked))
	}
	d.Stop()
}

// produceUntilKilled produces values "t<trial>-<i>" to topic with acks=all
// until target are acknowledged, kills the daemon (SIGKILL) at that moment
// with requests in flight, and returns the acknowledged values.
func produceUntilKilled(t *testing.T, d *daemon, topic string, trial, target int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(d.Addr), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond),
		kgo.MaxBufferedRecords(256), kgo.RecordRetries(1), kgo.RetryTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	var mu sync.Mutex
	var got []string
	reached := make(chan struct{})
	var once sync.Once
	for i := 0; ctx.Err() == nil; i++ {
		select {
		case <-reached:
			d.Kill()
			cancel()
			cl.Close() // fails what is still buffered: not acknowledged
			mu.Lock()
			defer mu.Unlock()
			return append([]string(nil), got...)
		default:
		}
		v := fmt.Sprintf("t%d-%d", trial, i)
		cl.Produce(ctx, &kgo.Record{Value: []byte(v)}, func(r *kgo.Record, err error) {
			if err != nil {
				return
			}
			mu.Lock()
			got = append(got, v)
			if len(got) >= target {
				once.Do(func() { close(reached) })
			}
			mu.Unlock()
		})
	}
	t.Fatalf("trial %d: %d of %d records acknowledged within %v", trial, len(got), target, ioTimeout)
	return nil
}

// consumeAll reads topic from the start up to its end offsets (read once
// before), returning everything read.
func consumeAll(t *testing.T, addr, topic string) []*kgo.Record {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil || ends.Error() != nil {
		t.Fatalf("list end offsets: %v %v", err, ends.Error())
	}
	left := map[int32]int64{} // partition → end offset not yet reached
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	var out []*kgo.Record
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d records, partitions %v not read to their end before %v", len(out), left, ioTimeout)
		}
		if err := fs.Err(); err != nil {
			t.Fatalf("fetch: %v", err)
		}
		for _, r := range fs.Records() {
			out = append(out, r)
			if end, ok := left[r.Partition]; ok && r.Offset >= end-1 {
				delete(left, r.Partition)
			}
		}
	}
	return out
}
