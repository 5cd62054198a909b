package broker

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/controller"
	"github.com/sluice/sluice/metadata"
	"github.com/sluice/sluice/partition"
)

// twoBrokers starts a combined node (broker 1, the controller) and
// registers a second broker, 7, by hand: a replica that fetches only when
// the test says so.
func twoBrokers(t *testing.T) (*testServer, *rawConn) {
	t.Helper()
	ts, rc := combinedNode(t)
	registerByHand(t, rc, 7)
	return ts, rc
}

// combinedNode starts a combined node (broker 1, the only controller
// voter: nobody dials it) with opts, waits until its broker registered,
// and returns it with a raw connection to it.
func combinedNode(t *testing.T, opts ...func(*ServerConfig)) (*testServer, *rawConn) {
	t.Helper()
	voters := []controller.Voter{{ID: 1, Addr: "127.0.0.1:0"}} // one voter: nobody dials it
	ts := startServer(t, "", append([]func(*ServerConfig){withController(1, voters)}, opts...)...)
	select {
	case <-ts.Broker().Registered():
	case <-time.After(15 * time.Second):
		t.Fatal("the broker did not register within 15 s")
	}
	rc := dialRaw(t, ts.addr)
	t.Cleanup(func() { rc.c.Close() })
	return ts, rc
}

// registerByHand registers broker id over rc (a listener nobody dials)
// and heartbeats it once, so that it is unfenced.
func registerByHand(t *testing.T, rc *rawConn, id int32) {
	t.Helper()
	reg := kmsg.NewPtrBrokerRegistrationRequest()
	reg.BrokerID, reg.ClusterID, reg.IncarnationID = id, "sluice-test-cluster", [16]byte{byte(id)}
	l := kmsg.NewBrokerRegistrationRequestListener()
	l.Name, l.Host, l.Port = "PLAINTEXT", "127.0.0.1", 9
	reg.Listeners = append(reg.Listeners, l)
	rr := rc.roundTrip(reg).(*kmsg.BrokerRegistrationResponse)
	hb := kmsg.NewPtrBrokerHeartbeatRequest()
	hb.BrokerID, hb.BrokerEpoch = id, rr.BrokerEpoch
	if r := rc.roundTrip(hb).(*kmsg.BrokerHeartbeatResponse); rr.ErrorCode != 0 || r.ErrorCode != 0 || r.IsFenced {
		t.Fatalf("broker %d: registration %d, heartbeat %+v", id, rr.ErrorCode, r)
	}
}

// awaitISRAlone waits until broker 1 leads partition p of topic name with
// an ISR of itself alone, and returns the partition's log and leader state.
func awaitISRAlone(t *testing.T, ts *testServer, name string, p int32) (*partition.Log, *leaderState) {
	t.Helper()
	var l *partition.Log
	var st *leaderState
	waitFor(t, "the leader's ISR to be itself", 10*time.Second, func() bool {
		tp := ts.Broker().topics.get(name)
		if tp == nil || tp.partition(p) == nil {
			return false
		}
		l = tp.partition(p)
		if st = ts.Broker().cl.repl.leader(l); st == nil {
			return false
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		return slices.Equal(st.mu.isr, []int32{1})
	})
	return l, st
}

// AlterPartition (API 56) on the active controller's broker: the
// partition leader's ISR change is committed; stale epochs, a sender that
// does not lead, unknown topics and ineligible replicas get Kafka's codes.
func TestAlterPartitionErrors(t *testing.T) {
	ts, rc := twoBrokers(t)
	id, err := ts.ctl.CreateTopic("ap", 1, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	ti, _ := ts.ctl.Image().TopicByID(id)
	p := ti.Partitions[0]
	im := ts.ctl.Image()
	leader, other := p.Leader, p.Replicas[0]
	if other == leader {
		other = p.Replicas[1]
	}
	lb, _ := im.Broker(leader)
	ob, _ := im.Broker(other)

	type req struct {
		version        int16
		broker         int32
		brokerEpoch    int64
		topicID        [16]byte
		topic          string
		leaderEpoch    int32
		partitionEpoch int32
		isr            []int32
		isrEpochs      []int64
	}
	send := func(r req) (int16, kmsg.AlterPartitionResponseTopicPartition) {
		t.Helper()
		ar := kmsg.NewPtrAlterPartitionRequest()
		ar.Version, ar.BrokerID, ar.BrokerEpoch = r.version, r.broker, r.brokerEpoch
		rt := kmsg.NewAlterPartitionRequestTopic()
		rt.Topic, rt.TopicID = r.topic, r.topicID
		rp := kmsg.NewAlterPartitionRequestTopicPartition()
		rp.LeaderEpoch, rp.PartitionEpoch, rp.NewISR = r.leaderEpoch, r.partitionEpoch, r.isr
		for i, b := range r.isr {
			m := kmsg.NewAlterPartitionRequestTopicPartitionNewEpochISR()
			m.BrokerID = b
			if i < len(r.isrEpochs) {
				m.BrokerEpoch = r.isrEpochs[i]
			}
			rp.NewEpochISR = append(rp.NewEpochISR, m)
		}
		rt.Partitions = append(rt.Partitions, rp)
		ar.Topics = append(ar.Topics, rt)
		resp := rc.roundTrip(ar).(*kmsg.AlterPartitionResponse)
		if resp.ErrorCode != 0 {
			return resp.ErrorCode, kmsg.AlterPartitionResponseTopicPartition{}
		}
		return 0, resp.Topics[0].Partitions[0]
	}
	ok := req{version: 3, broker: leader, brokerEpoch: lb.Epoch, topicID: id, topic: "ap",
		leaderEpoch: p.LeaderEpoch, partitionEpoch: p.PartitionEpoch, isr: []int32{leader}}
	for _, c := range []struct {
		what string
		edit func(*req)
		want int16
	}{
		{"stale broker epoch", func(r *req) { r.brokerEpoch++ }, kerr.StaleBrokerEpoch.Code},
		{"unknown topic id", func(r *req) { r.topicID = [16]byte{9} }, kerr.UnknownTopicID.Code},
		{"unknown topic name (v0)", func(r *req) { r.version, r.topic = 0, "nope" }, kerr.UnknownTopicOrPartition.Code},
		{"older leader epoch", func(r *req) { r.leaderEpoch-- }, kerr.FencedLeaderEpoch.Code},
		{"not the leader", func(r *req) { r.broker, r.brokerEpoch = other, ob.Epoch }, kerr.InvalidRequest.Code},
		{"stale partition epoch", func(r *req) { r.partitionEpoch-- }, kerr.InvalidUpdateVersion.Code},
		{"non-replica in the ISR", func(r *req) { r.isr = []int32{leader, 5} }, kerr.IneligibleReplica.Code},
		{"stale broker epoch in the ISR (v3)", func(r *req) {
			r.isr, r.isrEpochs = []int32{leader, other}, []int64{lb.Epoch, ob.Epoch + 1}
		}, kerr.IneligibleReplica.Code},
	} {
		r := ok
		r.isr = slices.Clone(ok.isr)
		c.edit(&r)
		if code, sp := send(r); code != c.want && sp.ErrorCode != c.want {
			t.Errorf("%s: top-level %v, partition %v; want %v", c.what, kerr.ErrorForCode(code), kerr.ErrorForCode(sp.ErrorCode), kerr.ErrorForCode(c.want))
		}
	}
	code, sp := send(ok)
	if code != 0 || sp.ErrorCode != 0 || !slices.Equal(sp.ISR, []int32{leader}) || sp.LeaderID != leader ||
		sp.LeaderEpoch != p.LeaderEpoch || sp.PartitionEpoch != p.PartitionEpoch+1 {
		t.Fatalf("shrink to the leader: %v %+v", kerr.ErrorForCode(code), sp)
	}
	ti, _ = ts.ctl.Image().TopicByID(id)
	if got := ti.Partitions[0]; !slices.Equal(got.ISR, []int32{leader}) || got.PartitionEpoch != p.PartitionEpoch+1 {
		t.Fatalf("image after the shrink: %+v", got)
	}
	// The same change again is stale now.
	if code, sp := send(ok); code != 0 || sp.ErrorCode != kerr.InvalidUpdateVersion.Code {
		t.Fatalf("repeated change: %v %v, want INVALID_UPDATE_VERSION", code, sp.ErrorCode)
	}
}

// replicaFetch sends a Fetch v17 as replica 7 for topic id's partition p.
func replicaFetch(t *testing.T, rc *rawConn, replica int32, id [16]byte, p int32, offset int64, currentEpoch, lastEpoch int32) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes, req.SessionEpoch = 17, -1, 1<<20, -1
	req.ReplicaState.ID, req.ReplicaState.Epoch = replica, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.TopicID = id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, offset, 1<<20
	rp.CurrentLeaderEpoch, rp.LastFetchedEpoch = currentEpoch, lastEpoch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := rc.roundTrip(req).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch response %+v", resp)
	}
	return resp.Topics[0].Partitions[0]
}

// The leader's side of replication, with the test as the follower
// (replica 7): acks=all waits for the follower's fetch (and times out
// without it), a follower reads above the high watermark and its fetch
// offset moves it, DivergingEpoch answers a LastFetchedEpoch the leader's
// log disagrees with, and stale epochs and non-replicas are refused.
func TestLeaderServesFollowerFetch(t *testing.T) {
	ts, rc := twoBrokers(t)
	id, p, epoch := createLedByOne(t, ts, "lf", 2, 2, map[string]string{"min.insync.replicas": "2"})
	awaitLeading(t, ts, "lf", p)

	// acks=all: the follower has not fetched, so the HW stays at 0.
	batch := makeBatch(noProducer, []byte("a"), []byte("b"), []byte("c"))
	req := produceReq(9, -1, "lf", p, batch)
	req.TimeoutMillis = 200
	if got := produceOne(t, rc, req); got.ErrorCode != kerr.RequestTimedOut.Code {
		t.Fatalf("acks=all without the follower: %v, want REQUEST_TIMED_OUT", kerr.ErrorForCode(got.ErrorCode))
	}
	// The follower reads the records above the HW; a consumer does not.
	fp := replicaFetch(t, rc, 7, id, p, 0, epoch, -1)
	if fp.ErrorCode != 0 || fp.HighWatermark != 0 || len(fp.RecordBatches) != len(batch) {
		t.Fatalf("follower fetch at 0: %v hw %d, %d bytes of records, want %d", kerr.ErrorForCode(fp.ErrorCode), fp.HighWatermark, len(fp.RecordBatches), len(batch))
	}
	// Its records left by sendfile, counted as replicated bytes (a
	// consumer's fetch is not: it reads below the HW, nothing here).
	for deadline := time.Now().Add(10 * time.Second); ts.NetStats().ReplicaSendfileBytes < uint64(len(batch)); {
		if time.Now().After(deadline) {
			t.Fatalf("replica bytes by sendfile: %+v, want %d", ts.NetStats(), len(batch))
		}
		time.Sleep(5 * time.Millisecond) // polling the counter, bounded
	}
	if st := ts.NetStats(); st.ReplicaSendfileBytes != uint64(len(batch)) || st.ReplicaCopiedBytes != 0 {
		t.Fatalf("replica bytes: sendfile %d, copied %d; want %d by sendfile", st.ReplicaSendfileBytes, st.ReplicaCopiedBytes, len(batch))
	}
	// Its next fetch, at 3, is its LEO: the HW moves to 3.
	fp = replicaFetch(t, rc, 7, id, p, 3, epoch, epoch)
	if fp.ErrorCode != 0 || fp.DivergingEpoch.EndOffset != -1 {
		t.Fatalf("follower fetch at 3: %v, diverging %+v", kerr.ErrorForCode(fp.ErrorCode), fp.DivergingEpoch)
	}
	if hw := ts.Broker().topics.get("lf").partition(p).HighWatermark(); hw != 3 {
		t.Fatalf("leader HW %d after the follower fetched at 3, want 3", hw)
	}
	// A LastFetchedEpoch whose end on the leader is below the fetch offset.
	fp = replicaFetch(t, rc, 7, id, p, 10, epoch, epoch)
	if fp.ErrorCode != 0 || fp.DivergingEpoch.Epoch != epoch || fp.DivergingEpoch.EndOffset != 3 || len(fp.RecordBatches) != 0 {
		t.Fatalf("diverged follower: %v, diverging %+v, %d bytes", kerr.ErrorForCode(fp.ErrorCode), fp.DivergingEpoch, len(fp.RecordBatches))
	}
	// A future leader epoch (the leader's epoch is 0 here: -1 would mean
	// unchecked), and a broker that is no replica.
	if fp := replicaFetch(t, rc, 7, id, p, 3, epoch+1, epoch); fp.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Fatalf("future epoch: %v", kerr.ErrorForCode(fp.ErrorCode))
	}
	if fp := replicaFetch(t, rc, 8, id, p, 3, epoch, epoch); fp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("non-replica: %v", kerr.ErrorForCode(fp.ErrorCode))
	}
	// acks=all completes once the follower fetched past the batch.
	rc2 := dialRaw(t, ts.addr)
	defer rc2.c.Close()
	req = produceReq(9, -1, "lf", p, makeBatch(noProducer, []byte("d")))
	req.TimeoutMillis = 10000
	corr := rc2.send(req) // answered once the follower fetched past it
	for deadline := time.Now().Add(10 * time.Second); ; {
		if ts.Broker().topics.get("lf").partition(p).LogEndOffset() == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the acks=all batch was not appended")
		}
		time.Sleep(5 * time.Millisecond) // polling the log end, bounded
	}
	replicaFetch(t, rc, 7, id, p, 4, epoch, epoch)
	if got := rc2.read(req, corr).(*kmsg.ProduceResponse).Topics[0].Partitions[0]; got.ErrorCode != 0 || got.BaseOffset != 3 {
		t.Fatalf("acks=all after the follower's fetch: %v at %d", kerr.ErrorForCode(got.ErrorCode), got.BaseOffset)
	}
	// The follower leaves the ISR (the controller fences it): the ISR is
	// below min.insync.replicas=2, so acks=all is refused before the append.
	if err := ts.ctl.FenceBroker(7); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if !ts.Broker().cl.repl.minInsync(ts.Broker().cl.repl.leader(ts.Broker().topics.get("lf").partition(p))) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the leader did not see the ISR shrink")
		}
		time.Sleep(5 * time.Millisecond) // polling the leader's state, bounded
	}
	if got := produceOne(t, rc, produceReq(9, -1, "lf", p, makeBatch(noProducer, []byte("e")))); got.ErrorCode != kerr.NotEnoughReplicas.Code {
		t.Fatalf("acks=all with the ISR below min.insync.replicas: %v", kerr.ErrorForCode(got.ErrorCode))
	}
	if got := produceOne(t, rc, produceReq(9, 1, "lf", p, makeBatch(noProducer, []byte("e")))); got.ErrorCode != 0 {
		t.Fatalf("acks=1 with the ISR below min.insync.replicas: %v", kerr.ErrorForCode(got.ErrorCode))
	}
}

// A leader whose ISR is itself alone (its follower fenced, the topic's
// min.insync.replicas 1) commits its own appends at once, as Kafka's
// maybeIncrementLeaderHW after an append: acks=all completes, and after
// an acks=1 produce consumers see the records (the HW is the LEO). Before,
// the HW waited for the next metadata change, so acks=all timed out until
// one came.
func TestLeaderAloneInISRMovesHW(t *testing.T) {
	ts, rc := twoBrokers(t)
	_, p, _ := createLedByOne(t, ts, "alone", 2, 2, nil)
	if err := ts.ctl.FenceBroker(7); err != nil {
		t.Fatal(err)
	}
	l, _ := awaitISRAlone(t, ts, "alone", p)
	req := produceReq(9, -1, "alone", p, makeBatch(noProducer, []byte("a"), []byte("b")))
	req.TimeoutMillis = 5000
	if got := produceOne(t, rc, req); got.ErrorCode != 0 || got.BaseOffset != 0 {
		t.Fatalf("acks=all with the leader alone in the ISR: %v at %d", kerr.ErrorForCode(got.ErrorCode), got.BaseOffset)
	}
	if got := produceOne(t, rc, produceReq(9, 1, "alone", p, makeBatch(noProducer, []byte("c")))); got.ErrorCode != 0 {
		t.Fatalf("acks=1: %v", kerr.ErrorForCode(got.ErrorCode))
	}
	if hw, leo := l.HighWatermark(), l.LogEndOffset(); hw != 3 || leo != 3 {
		t.Fatalf("after acks=1 with the leader alone in the ISR: HW %d, LEO %d, want 3 and 3", hw, leo)
	}
}

// The high watermark never passes a member of the maximal ISR (KIP-497:
// the ISR and the followers an in-flight expand adds). A follower's fetch
// that reaches the HW joins; an append that moves the HW at the same time
// must be ordered with that check, as Kafka orders them under the
// partition's ISR lock: either the follower joins before and holds the HW,
// or it sees the HW moved and does not join. The test hook runs the
// follower's fetch between the append's HW computation and its move.
func TestHWNeverPassesJoiningFollower(t *testing.T) {
	ts, rc := twoBrokers(t)
	_, p, _ := createLedByOne(t, ts, "join", 2, 2, nil)
	// Broker 7 leaves the ISR (fenced), then comes back unfenced: a
	// replica out of the ISR that may join it.
	if err := ts.ctl.FenceBroker(7); err != nil {
		t.Fatal(err)
	}
	b7, _ := ts.ctl.Image().Broker(7)
	if err := ts.ctl.Heartbeat(7, b7.Epoch); err != nil {
		t.Fatal(err)
	}
	rm := ts.Broker().cl.repl
	_, st := awaitISRAlone(t, ts, "join", p)
	if got := produceOne(t, rc, produceReq(9, 1, "join", p, makeBatch(noProducer, []byte("a")))); got.ErrorCode != 0 {
		t.Fatalf("acks=1: %v", kerr.ErrorForCode(got.ErrorCode))
	}
	// The next append computes HW 2; before it moves the HW, broker 7
	// fetches at 1, the HW until then.
	var once sync.Once
	fetched := make(chan struct{})
	hook := func() {
		if st.log.LogEndOffset() != 2 {
			return
		}
		once.Do(func() {
			go func() {
				defer close(fetched)
				rm.followerFetched(st, 7, 1)
			}()
			select {
			case <-fetched:
			case <-time.After(300 * time.Millisecond): // ordered after the move: it cannot finish meanwhile
			}
		})
	}
	rm.hwComputed.Store(&hook)
	defer rm.hwComputed.Store(nil)
	if got := produceOne(t, rc, produceReq(9, 1, "join", p, makeBatch(noProducer, []byte("b")))); got.ErrorCode != 0 {
		t.Fatalf("acks=1: %v", kerr.ErrorForCode(got.ErrorCode))
	}
	select {
	case <-fetched:
	case <-time.After(10 * time.Second):
		t.Fatal("the follower's fetch did not return")
	}
	hw := st.log.HighWatermark()
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, r := range slices.Concat(st.mu.isr, st.mu.joining) {
		if f := st.mu.followers[r]; r != 1 && (f == nil || f.leo < hw) {
			t.Fatalf("HW %d passes broker %d (ISR %v, joining %v) at %+v", hw, r, st.mu.isr, st.mu.joining, f)
		}
	}
}

// TestISRChangesCoalesce: the ISR changes leaders ask for while an
// AlterPartition is in flight go to the controller together, in the next
// request, and each gets its own answer.
func TestISRChangesCoalesce(t *testing.T) {
	ts, _ := twoBrokers(t)
	if _, err := ts.ctl.CreateTopic("co", 8, 2, nil); err != nil {
		t.Fatal(err)
	}
	rm := ts.Broker().cl.repl
	var sts []*leaderState
	waitFor(t, "broker 1 to lead its partitions of co", 10*time.Second, func() bool {
		tp := ts.Broker().topics.get("co")
		if tp == nil {
			return false
		}
		ti, _ := ts.ctl.Image().Topic("co")
		sts = sts[:0]
		for _, p := range ti.Partitions {
			if p.Leader != 1 {
				continue
			}
			l := tp.partition(p.Partition)
			st := rm.leader(l)
			if l == nil || st == nil {
				return false
			}
			sts = append(sts, st)
		}
		return len(sts) >= 3
	})
	var sizes []int
	entered, release := make(chan struct{}), make(chan struct{})
	hook := func(n int) {
		sizes = append(sizes, n) // one sender at a time
		if len(sizes) == 1 {
			close(entered)
			<-release // the first request waits until the others queued
		}
	}
	isrSendHook.Store(&hook)
	defer isrSendHook.Store(nil)
	type answer struct {
		p   metadata.Partition
		err error
	}
	answers := make([]answer, len(sts))
	var wg sync.WaitGroup
	ask := func(i int) {
		st := sts[i]
		st.mu.Lock()
		pe := st.mu.partitionEpoch
		st.mu.Unlock()
		p, err := rm.sendAlterPartition(st, pe, []int32{1})
		answers[i] = answer{p, err}
	}
	wg.Go(func() { ask(0) })
	<-entered
	for i := 1; i < len(sts); i++ {
		wg.Go(func() { ask(i) })
	}
	waitFor(t, "the other changes to queue", 10*time.Second, func() bool { return rm.isrSend.queued() == len(sts)-1 })
	close(release)
	wg.Wait()
	if len(sizes) != 2 || sizes[0] != 1 || sizes[1] != len(sts)-1 {
		t.Fatalf("requests of %v changes, want [1 %d]", sizes, len(sts)-1)
	}
	for i, a := range answers {
		if a.err != nil || !slices.Equal(a.p.ISR, []int32{1}) || a.p.Partition != sts[i].partition {
			t.Fatalf("change %d (partition %d): %+v, %v", i, sts[i].partition, a.p, a.err)
		}
	}
}
