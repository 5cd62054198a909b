package broker

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/sluice/sluice/group"
)

// keyCounter counts the requests a kgo client writes, by API key.
type keyCounter struct {
	mu sync.Mutex
	n  map[int16]int
}

func (k *keyCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err != nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.n == nil {
		k.n = map[int16]int{}
	}
	k.n[key]++
}

func (k *keyCounter) count(key kmsg.Key) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.n[int16(key)]
}

// runTxns runs n transactions of per records over topic's partitions on
// cl (every third aborted) and returns the committed values. After each,
// check(i) runs.
func runTxns(t *testing.T, cl *kgo.Client, topic string, n, per int, check func(i int)) []string {
	t.Helper()
	ctx := testCtx(t)
	// franz-go decides on transactions v2 at BeginTransaction from the
	// versions it has learned: connect first (else it opts in only after
	// its first EndTxn).
	if err := cl.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	var committed []string
	for i := range n {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		commit := i%3 != 1
		var vals []string
		for j := range per {
			v := fmt.Sprintf("%s-%d-%d-%v", topic, i, j, commit)
			vals = append(vals, v)
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("txn %d: produce: %v", i, err)
			}
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("txn %d: end (commit %v): %v", i, commit, err)
		}
		if commit {
			committed = append(committed, vals...)
		}
		check(i)
	}
	return committed
}

// readCommittedValues reads topic from the start with read_committed until the
// last stable offset of every partition and returns the values, sorted.
func readCommittedValues(t *testing.T, addr, topic string, want int) []string {
	t.Helper()
	cl := newKgo(t, addr, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for _, r := range consumeN(testCtx(t), t, cl, want) {
		got = append(got, string(r.Value))
	}
	slices.Sort(got)
	return got
}

// TestTxnV2FranzGo: franz-go sees transaction.version 2 and runs
// transactions v2: no AddPartitionsToTxn is sent (Produce v12 adds the
// partitions), and the coordinator bumps the epoch at every commit and
// abort (EndTxn v5). read_committed shows exactly the committed records.
func TestTxnV2FranzGo(t *testing.T) {
	ts := startTxnServer(t, "")
	ts.createTopic(t, "v2", 3, nil)
	var keys keyCounter
	cl := newKgo(t, ts.addr, kgo.TransactionalID("v2"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.WithHooks(&keys))
	rc := dialRaw(t, ts.addr)
	const txns, per = 6, 7
	committed := runTxns(t, cl, "v2", txns, per, func(i int) {
		if d := describeTxn(t, rc, "v2"); d.ProducerEpoch != int16(i+1) {
			t.Fatalf("after transaction %d: producer epoch %d, want %d (a bump per EndTxn v5)", i, d.ProducerEpoch, i+1)
		}
	})
	if n := keys.count(kmsg.AddPartitionsToTxn); n != 0 {
		t.Fatalf("%d AddPartitionsToTxn requests sent; transactions v2 sends none", n)
	}
	if n := keys.count(kmsg.EndTxn); n != txns {
		t.Fatalf("%d EndTxn requests, want %d", n, txns)
	}
	slices.Sort(committed)
	if got := readCommittedValues(t, ts.addr, "v2", len(committed)); !slices.Equal(got, committed) {
		t.Fatalf("read_committed: %d records %v\nwant %d %v", len(got), got, len(committed), committed)
	}
}

// TestTxnV2OldClients: a franz-go client capped at EndTxn v4 keeps
// transactions v1 on a v2 broker (AddPartitionsToTxn, no epoch bump), and
// so does every client when transaction.version is 1.
func TestTxnV2OldClients(t *testing.T) {
	pinned := kversion.Stable()
	pinned.SetMaxKeyVersion(int16(kmsg.EndTxn), 4)
	for _, tc := range []struct {
		name    string
		level   int16
		opts    []kgo.Opt
		feature int16
	}{
		{"EndTxnV4", 2, []kgo.Opt{kgo.MaxVersions(pinned)}, 2},
		{"transaction.version=1", 1, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startTxnServer(t, "", func(c *ServerConfig) { c.Broker.Txn.Version = tc.level })
			ts.createTopic(t, "v1", 3, nil)
			rc := dialRaw(t, ts.addr)
			if got := finalizedTxnVersion(t, rc); got != tc.feature {
				t.Fatalf("finalized transaction.version %d, want %d", got, tc.feature)
			}
			var keys keyCounter
			opts := append([]kgo.Opt{kgo.TransactionalID("v1"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.WithHooks(&keys)}, tc.opts...)
			cl := newKgo(t, ts.addr, opts...)
			committed := runTxns(t, cl, "v1", 4, 5, func(i int) {
				if d := describeTxn(t, rc, "v1"); d.ProducerEpoch != 0 {
					t.Fatalf("after transaction %d: producer epoch %d, want 0 (v1: no bump)", i, d.ProducerEpoch)
				}
			})
			if keys.count(kmsg.AddPartitionsToTxn) == 0 {
				t.Fatal("no AddPartitionsToTxn sent: the client ran transactions v2")
			}
			slices.Sort(committed)
			if got := readCommittedValues(t, ts.addr, "v1", len(committed)); !slices.Equal(got, committed) {
				t.Fatalf("read_committed: %v\nwant %v", got, committed)
			}
		})
	}
}

func finalizedTxnVersion(t *testing.T, rc *rawConn) int16 {
	t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1"
	resp := rc.roundTrip(req).(*kmsg.ApiVersionsResponse)
	if resp.FinalizedFeaturesEpoch < 0 {
		t.Fatalf("FinalizedFeaturesEpoch %d", resp.FinalizedFeaturesEpoch)
	}
	for _, f := range resp.FinalizedFeatures {
		if f.Name == "transaction.version" {
			return f.MaxVersionLevel
		}
	}
	t.Fatalf("no transaction.version in %+v", resp.FinalizedFeatures)
	return -1
}

// TestTxnV2Fencing: a second franz-go producer with the same id fences
// the first in the middle of its v2 transaction; the first's commit fails
// and its record is never visible; the second commits.
func TestTxnV2Fencing(t *testing.T) {
	ts := startTxnServer(t, "")
	ts.createTopic(t, "fence", 2, nil)
	ctx := testCtx(t)
	a := newKgo(t, ts.addr, kgo.TransactionalID("fence"), kgo.DefaultProduceTopic("fence"))
	if err := a.Ping(ctx); err != nil { // learn transaction.version before BeginTransaction
		t.Fatal(err)
	}
	// a runs one full transaction first, so that its epoch was bumped.
	for _, v := range []string{"a-1", "a-fenced"} {
		if err := a.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := a.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if v == "a-1" {
			if err := a.EndTransaction(ctx, kgo.TryCommit); err != nil {
				t.Fatal(err)
			}
		}
	}
	b := newKgo(t, ts.addr, kgo.TransactionalID("fence"), kgo.DefaultProduceTopic("fence"))
	if err := b.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := b.ProduceSync(ctx, kgo.StringRecord("b-1")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := b.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if err := a.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("the fenced producer committed")
	}
	if got := readCommittedValues(t, ts.addr, "fence", 2); !slices.Equal(got, []string{"a-1", "b-1"}) {
		t.Fatalf("read_committed %v, want [a-1 b-1]", got)
	}
}

// TestTxnV2Protocol drives transactions v2 with raw requests: ApiVersions
// advertises transaction.version 2; Produce v12 adds its partition
// without AddPartitionsToTxn (v11 still gets TRANSACTION_ABORTABLE);
// TxnOffsetCommit v5 adds the group without AddOffsetsToTxn; EndTxn v5
// answers the bumped epoch, fencing the old one on Produce, and the next
// transaction starts at sequence 0 with it; EndTxn v3 still does not bump.
func TestTxnV2Protocol(t *testing.T) {
	ts := startTxnServer(t, "")
	ts.createTopic(t, "out", 2, nil)
	rc := dialRaw(t, ts.addr)
	if got := finalizedTxnVersion(t, rc); got != 2 {
		t.Fatalf("finalized transaction.version %d, want 2", got)
	}
	ip := initPID(t, rc, "raw", 5)
	pid, e0 := ip.ProducerID, ip.ProducerEpoch
	id := "raw"
	produce := func(version int16, p int32, epoch int16, seq int32) int16 {
		t.Helper()
		req := produceReq(version, -1, "out", p, makeBatch(batchOpts{producerID: pid, producerEpoch: epoch, sequence: seq, transactional: true}, []byte("x")))
		req.TransactionID = &id
		return rc.roundTrip(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
	}
	if code := produce(12, 0, e0, 0); code != 0 {
		t.Fatalf("Produce v12: %v", kerr.ErrorForCode(code))
	}
	if code := produce(11, 1, e0, 0); code != kerr.TransactionAbortable.Code {
		t.Fatalf("Produce v11 to a partition not added: %v, want TRANSACTION_ABORTABLE", kerr.ErrorForCode(code))
	}
	oc := kmsg.NewPtrTxnOffsetCommitRequest()
	oc.Version = 5
	oc.TransactionalID, oc.Group, oc.ProducerID, oc.ProducerEpoch, oc.Generation = id, "g", pid, e0, -1
	ot := kmsg.NewTxnOffsetCommitRequestTopic()
	ot.Topic = "out"
	op := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	op.Partition, op.Offset, op.LeaderEpoch = 1, 42, -1
	ot.Partitions = append(ot.Partitions, op)
	oc.Topics = append(oc.Topics, ot)
	if code := rc.roundTrip(oc).(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("TxnOffsetCommit v5: %v", kerr.ErrorForCode(code))
	}
	d := describeTxn(t, rc, id)
	var added []string
	for _, tp := range d.Topics {
		for _, p := range tp.Partitions {
			added = append(added, fmt.Sprintf("%s-%d", tp.Topic, p))
		}
	}
	slices.Sort(added)
	offsetsTP := fmt.Sprintf("%s-%d", group.TopicName, group.PartitionFor("g", ts.Broker().coordinatorOr().Partitions()))
	if d.State != "Ongoing" || !slices.Equal(added, []string{offsetsTP, "out-0"}) {
		t.Fatalf("after the implicit adds: %s %v, want Ongoing [%s out-0]", d.State, added, offsetsTP)
	}

	leo := ts.Broker().topics.get("out").partition(0).LogEndOffset()
	end := func(version int16, epoch int16, commit bool) *kmsg.EndTxnResponse {
		req := kmsg.NewPtrEndTxnRequest()
		req.Version = version
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
		return rc.roundTrip(req).(*kmsg.EndTxnResponse)
	}
	if r := end(5, e0, true); r.ErrorCode != 0 || r.ProducerID != pid || r.ProducerEpoch != e0+1 {
		t.Fatalf("EndTxn v5: %v %d/%d, want %d/%d", kerr.ErrorForCode(r.ErrorCode), r.ProducerID, r.ProducerEpoch, pid, e0+1)
	}
	if got := ts.Broker().topics.get("out").partition(0).LogEndOffset(); got != leo+1 {
		t.Fatalf("LEO %d after the commit marker, want %d", got, leo+1)
	}
	if r := end(5, e0, true); r.ErrorCode != 0 || r.ProducerEpoch != e0+1 {
		t.Fatalf("EndTxn v5 retry: %v epoch %d", kerr.ErrorForCode(r.ErrorCode), r.ProducerEpoch)
	}
	if code := produce(12, 1, e0, 1); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("Produce v12 at the old epoch: %v, want INVALID_PRODUCER_EPOCH", kerr.ErrorForCode(code))
	}
	// The marker carried e0+1: the next transaction starts at sequence 0.
	if code := produce(12, 0, e0+1, 0); code != 0 {
		t.Fatalf("Produce v12 at the bumped epoch: %v", kerr.ErrorForCode(code))
	}
	if r := end(5, e0+1, false); r.ErrorCode != 0 || r.ProducerEpoch != e0+2 {
		t.Fatalf("EndTxn v5 abort: %v epoch %d", kerr.ErrorForCode(r.ErrorCode), r.ProducerEpoch)
	}
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Version = 1
	of.Group = "g"
	oft := kmsg.NewOffsetFetchRequestTopic()
	oft.Topic, oft.Partitions = "out", []int32{1}
	of.Topics = append(of.Topics, oft)
	if got := rc.roundTrip(of).(*kmsg.OffsetFetchResponse).Topics[0].Partitions[0].Offset; got != 42 {
		t.Fatalf("group offset %d after the commit, want 42", got)
	}
	// An old client's transaction on the same id: no bump.
	ar := addPartitions(t, rc, id, pid, e0+2, "out", 1)
	if code := ar.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("AddPartitionsToTxn v3: %v", kerr.ErrorForCode(code))
	}
	if code := endTxn(t, rc, id, pid, e0+2, true); code != 0 {
		t.Fatalf("EndTxn v3: %v", kerr.ErrorForCode(code))
	}
	if d := describeTxn(t, rc, id); d.ProducerEpoch != e0+2 || d.State != "CompleteCommit" {
		t.Fatalf("after EndTxn v3: %s epoch %d, want CompleteCommit %d", d.State, d.ProducerEpoch, e0+2)
	}
}
