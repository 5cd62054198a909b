package broker

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/sluice/sluice/controller"
	"github.com/sluice/sluice/metadata"
)

// snapshot10000 is a metadata snapshot of three brokers (1, 2, 3) and 100
// topics of 100 partitions, RF=3, every replica set holding broker 1 and
// the leaders spread over the three: broker 1 hosts all 10,000
// partitions, leads a third and follows the others.
func snapshot10000(tb testing.TB) []byte { return snapshotOf(tb, 100, 0) }

// snapshotOf is snapshot10000 with topics topics of 100 partitions, at
// leader epoch epoch.
func snapshotOf(tb testing.TB, topics int, epoch int32) []byte {
	tb.Helper()
	var recs []metadata.Record
	for id := int32(1); id <= 3; id++ {
		recs = append(recs, metadata.RegisterBroker{BrokerID: id, BrokerEpoch: 1, Incarnation: metadata.UUID{byte(id)},
			Endpoints: []metadata.Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 1}}, Fenced: true})
	}
	for ti := range topics {
		id := metadata.UUID{byte(ti >> 8), byte(ti), 0x5b}
		name := fmt.Sprintf("snap-%03d", ti)
		recs = append(recs, metadata.Topic{Name: name, ID: id})
		for p := range int32(100) {
			r := []int32{p%3 + 1, (p+1)%3 + 1, (p+2)%3 + 1}
			recs = append(recs, metadata.Partition{TopicID: id, Partition: p, Replicas: r, ISR: r, Leader: r[0], LeaderEpoch: epoch})
		}
	}
	im, err := metadata.Empty.Apply(recs)
	if err != nil {
		tb.Fatal(err)
	}
	return im.AppendSnapshot(nil)
}

// BenchmarkRestoreSnapshot10000: a broker hosting 10,000 partitions
// applies a full metadata snapshot, as a broker restarting or catching up
// through raft's InstallSnapshot does: FSM.Restore (decode, build the
// image), then the reconcile pass over every topic (the local logs: real
// directories under a real data directory) and the replica manager's sync
// (leaderships and followings). Reported per op:
//
//	restore-ms    FSM.Restore
//	reconcile-ms  the reconcile pass
//	sync-ms       replicaManager.sync
//
// "new-logs": the logs do not exist yet (a broker catching up: every log
// is created, every leadership begins); "restart": see below.
//
//	go test ./broker -run '^$' -bench RestoreSnapshot10000 -benchtime 3x
func BenchmarkRestoreSnapshot10000(b *testing.B) {
	snap := snapshot10000(b)
	b.Logf("snapshot: %d bytes", len(snap))
	b.Run("new-logs", func(b *testing.B) {
		var restore, reconcile, sync time.Duration
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			ts := startServer(b, "", withController(1, []controller.Voter{{ID: 1, Addr: freeControllerAddr(b)}}))
			waitRegistered(b, ts.Broker())
			b.StartTimer()
			r, s, y := applySnapshot(b, ts.Broker(), snap)
			restore, reconcile, sync = restore+r, reconcile+s, sync+y
			b.StopTimer()
			ts.stop(b)
			b.StartTimer()
		}
		reportPhases(b, restore, reconcile, sync)
	})
	// restart: a one-node quorum whose own metadata log holds 100 topics
	// of 100 partitions (RF=1: its only broker), snapshotted; each op
	// restarts the node on that directory. first-pass-ms is from the start
	// to the end of the reconciler's first pass (the store's open, raft
	// restoring its snapshot, the pass and the sync); the three phases are
	// then measured again on the running broker, its own image's snapshot
	// restored into a new FSM.
	b.Run("restart", func(b *testing.B) {
		dir := b.TempDir()
		opt := withController(1, []controller.Voter{{ID: 1, Addr: freeControllerAddr(b)}})
		ts := startServer(b, dir, opt)
		br := ts.Broker()
		waitRegistered(b, br)
		for ti := range 100 {
			if _, err := br.cl.ctl.CreateTopic(fmt.Sprintf("snap-%03d", ti), 100, 1, nil); err != nil {
				b.Fatal(err)
			}
		}
		waitFor(b, "10,000 local logs", 60*time.Second, func() bool { return len(br.store.Logs()) >= 10000 })
		if err := br.cl.ctl.Snapshot(); err != nil {
			b.Fatal(err)
		}
		ts.stop(b)
		var open, first, restore, reconcile, sync time.Duration
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			began := time.Now()
			ts = startServer(b, dir, opt)
			open += time.Since(began)
			br = ts.Broker()
			select {
			case <-br.cl.rec.ready:
			case <-time.After(60 * time.Second):
				b.Fatal("no first reconcile pass within 60s")
			}
			first += time.Since(began)
			b.StartTimer()
			r, s, y := applySnapshot(b, br, br.cl.ctl.Image().AppendSnapshot(nil))
			restore, reconcile, sync = restore+r, reconcile+s, sync+y
			b.StopTimer()
			ts.stop(b)
			b.StartTimer()
		}
		reportPhases(b, restore, reconcile, sync)
		b.ReportMetric(float64(open.Milliseconds())/float64(b.N), "open-ms")
		b.ReportMetric(float64(first.Milliseconds())/float64(b.N), "first-pass-ms")
	})
}

func reportPhases(b *testing.B, restore, reconcile, sync time.Duration) {
	n := float64(b.N)
	b.ReportMetric(float64(restore.Microseconds())/1000/n, "restore-ms")
	b.ReportMetric(float64(reconcile.Microseconds())/1000/n, "reconcile-ms")
	b.ReportMetric(float64(sync.Microseconds())/1000/n, "sync-ms")
}

func waitRegistered(b testing.TB, br *Broker) {
	select {
	case <-br.Registered():
	case <-time.After(30 * time.Second):
		b.Fatal("not registered within 30s")
	}
}

// applySnapshot restores snap into a new FSM and reconciles br with a
// reconciler of its own (the broker's, following its own one-node quorum,
// stays idle: that quorum's image does not change meanwhile).
func applySnapshot(b *testing.B, br *Broker, snap []byte) (restore, reconcile, sync time.Duration) {
	b.Helper()
	return applySnapshotOf(b, br, snap, 10000)
}

// applySnapshotOf is applySnapshot of a snapshot of want partitions.
func applySnapshotOf(b testing.TB, br *Broker, snap []byte, want int) (restore, reconcile, sync time.Duration) {
	b.Helper()
	began := time.Now()
	fsm := controller.NewFSM()
	if err := fsm.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		b.Fatal(err)
	}
	im := fsm.Image()
	restored := time.Now()
	r := newReconciler(br)
	r.pass(im)
	passed := time.Now()
	br.cl.repl.sync(im)
	synced := time.Now()
	if n := len(br.store.Logs()); n < want {
		b.Fatalf("%d local logs after the pass, want %d", n, want)
	}
	return restored.Sub(began), passed.Sub(restored), synced.Sub(passed)
}
