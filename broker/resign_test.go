package broker

import (
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/internal/vfs/errorfs"
)

// TestControlledShutdownResignsFirst: a broker's controlled shutdown
// returns once its own metadata has it fenced and its leaderships moved,
// so a Produce reaching it before the listener drains is answered
// NOT_LEADER_OR_FOLLOWER naming the new leader (KIP-951), as Kafka's
// broker answers during its controlled shutdown, instead of being
// appended to a leadership the controller already moved.
func TestControlledShutdownResignsFirst(t *testing.T) {
	ts, rc := twoBrokers(t)
	_, p, epoch := createLedByOne(t, ts, "resign", 2, 2, nil)
	log := awaitLeading(t, ts, "resign", p)
	ts.Broker().cl.stop() // Shutdown's first step; its own call later is a no-op
	if st := ts.Broker().cl.repl.leader(log); st != nil {
		t.Fatal("still leading the partition after the controlled shutdown")
	}
	sp := produceOne(t, rc, produceReq(11, 1, "resign", p, makeBatch(noProducer, []byte("late"))))
	if sp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce after the controlled shutdown: %v, want NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(sp.ErrorCode))
	}
	if sp.CurrentLeader.LeaderID != 7 || sp.CurrentLeader.LeaderEpoch <= epoch {
		t.Fatalf("current leader %+v, want broker 7 at an epoch above %d", sp.CurrentLeader, epoch)
	}
}

// TestResignMidAppendAnswersTheAppend: a controlled shutdown that ends
// this broker's leadership of a one-replica partition while an acks=all
// produce to it is being written answers that produce with its offsets.
// The records are in the log and committed (a one-replica log's high
// watermark is its end), so an error would be a lie an idempotent
// producer acts on: it retries a batch the log already holds, and after
// the restart (whose producer snapshot keeps only each producer's last
// batch, Kafka's format) the retry of an older batch is
// OUT_OF_ORDER_SEQUENCE_NUMBER and franz-go writes it a second time under
// a bumped epoch (e2e TestRestartMidStream, CI, 2026-12-04). Kafka
// appends and moves a lone leader's high watermark under the partition's
// leadership lock, so its answer cannot fall between the two.
func TestResignMidAppendAnswersTheAppend(t *testing.T) {
	var stall atomic.Pointer[string] // a partition directory whose next .log write waits
	entered, release := make(chan struct{}), make(chan struct{})
	fsys := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		p := stall.Load()
		if p == nil || op.Kind != errorfs.OpWrite || filepath.Dir(op.Path) != *p || filepath.Ext(op.Path) != ".log" {
			return nil
		}
		if stall.CompareAndSwap(p, nil) {
			close(entered)
			<-release
		}
		return nil
	}))
	ts, rc := combinedNode(t, func(c *ServerConfig) { c.Store.FS = fsys })
	_, p, _ := createLedByOne(t, ts, "resign-mid", 1, 1, nil)
	log := awaitLeading(t, ts, "resign-mid", p)
	dir := filepath.Clean(log.Dir())
	stall.Store(&dir)
	batch := makeBatch(noProducer, []byte("mid"))
	req := produceReq(11, -1, "resign-mid", p, batch)
	corr := rc.send(req)
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the produce did not reach its write within 10 s")
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		ts.Broker().cl.stop() // Shutdown's first step: the controller fences us, we resign
	}()
	waitFor(t, "the leadership to end", 10*time.Second, func() bool { return ts.Broker().cl.repl.leader(log) == nil })
	close(release)
	resp := rc.read(req, corr).(*kmsg.ProduceResponse)
	<-stopped
	sp := resp.Topics[0].Partitions[0]
	if leo := log.LogEndOffset(); leo != 1 {
		t.Fatalf("log end offset %d after the produce, want 1 (the record written)", leo)
	}
	if sp.ErrorCode != 0 || sp.BaseOffset != 0 {
		t.Fatalf("produce written at offset 0 answered error %v, base offset %d: want its offset",
			kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
	}
}

// TestAcksAllAfterResignIsNotAnsweredByAFollowersHW: an acks=all produce
// still waiting for its replicas when this broker's leadership ends is
// answered NOT_LEADER_OR_FOLLOWER even if, by the time it looks, the
// log's high watermark has passed its offset. That HW is no longer the
// leader's: the broker may follow the new leader already, which had not
// replicated the produce's record, so the log cut it and took the new
// leader's records at its offset, and their HW. Only a HW read while the
// leadership was held says the produce's own record is committed.
func TestAcksAllAfterResignIsNotAnsweredByAFollowersHW(t *testing.T) {
	ts, rc := twoBrokers(t)
	_, p, _ := createLedByOne(t, ts, "overwritten", 2, 2, nil)
	log := awaitLeading(t, ts, "overwritten", p)
	var once sync.Once
	simulated := make(chan struct{})
	hook := func() {
		if ts.Broker().cl.repl.leader(log) != nil {
			return // still leading: the produce waits for broker 7, which never fetches
		}
		once.Do(func() {
			defer close(simulated)
			// What following the new leader does meanwhile: the record
			// it lacks is cut, its own record takes the offset, and its
			// HW passes it.
			if err := log.TruncateTo(0); err != nil {
				t.Error(err)
			}
			if _, err := log.AppendAsFollower(makeBatch(noProducer, []byte("theirs"))); err != nil {
				t.Error(err)
			}
			log.UpdateHighWatermark(1)
		})
	}
	produceAwaitLooks.Store(&hook)
	defer produceAwaitLooks.Store(nil)
	req := produceReq(11, -1, "overwritten", p, makeBatch(noProducer, []byte("ours")))
	corr := rc.send(req)
	waitFor(t, "the produce's record in the log", 10*time.Second, func() bool { return log.LogEndOffset() == 1 })
	ts.Broker().cl.stop() // the controller fences us and moves the leadership to broker 7
	sp := rc.read(req, corr).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	select {
	case <-simulated:
	default:
		t.Fatal("the produce was answered before the leadership ended")
	}
	if sp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("a produce whose record was replaced answered %v at base offset %d; want NOT_LEADER_OR_FOLLOWER",
			kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
	}
}
