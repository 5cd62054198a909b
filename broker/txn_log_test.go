package broker

import (
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// allowTxn is a TxnVerifier that lets every transactional write in (the
// coordinator's partition check is not this test's subject) and records
// what it was asked.
type allowTxn struct {
	mu    sync.Mutex
	calls []string
}

func (a *allowTxn) VerifyTxnProduce(id, topic string, p int32, pid int64, epoch int16) int16 {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, id)
	return 0
}

// txnProduce sends one Produce carrying batch with TransactionalID id
// (nil: none) and returns the partition's error code and base offset.
func txnProduce(t *testing.T, rc *rawConn, id *string, batch []byte) (int16, int64) {
	t.Helper()
	req := produceReq(9, -1, "tx", 0, batch)
	req.TransactionID = id
	resp := rc.roundTrip(req).(*kmsg.ProduceResponse)
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.BaseOffset
}

// consumeValues reads n records of topic tx from the start with isolation
// and returns their values.
func consumeValues(t *testing.T, addr string, iso kgo.IsolationLevel, n int) []string {
	t.Helper()
	cl := newKgo(t, addr, kgo.ConsumeTopics("tx"), kgo.FetchIsolationLevel(iso),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []string
	for _, r := range consumeN(testCtx(t), t, cl, n) {
		out = append(out, string(r.Value))
	}
	return out
}

// TestFetchReadCommitted: transactional batches produced with kmsg and
// markers written through Broker.WriteTxnMarker; franz-go with
// ReadCommitted sees committed and plain records only, and nothing past
// the last stable offset (an open transaction), while ReadUncommitted sees
// everything; ListOffsets LATEST with read_committed is the LSO.
func TestFetchReadCommitted(t *testing.T) {
	ts := startServer(t, "")
	ts.createTopic(t, "tx", 1, nil)
	b := ts.Broker()
	v := &allowTxn{}
	b.SetTxnVerifier(v)
	rc := dialRaw(t, ts.addr)
	id := "app-1"
	txn := func(pid int64, seq int32, vals ...string) {
		t.Helper()
		var bs [][]byte
		for _, s := range vals {
			bs = append(bs, []byte(s))
		}
		code, _ := txnProduce(t, rc, &id, makeBatch(batchOpts{producerID: pid, producerEpoch: 0, sequence: seq, transactional: true}, bs...))
		if code != 0 {
			t.Fatalf("transactional produce of %v: %v", vals, kerr.ErrorForCode(code))
		}
	}
	plain := func(val string) {
		t.Helper()
		if code, _ := txnProduce(t, rc, nil, makeBatch(noProducer, []byte(val))); code != 0 {
			t.Fatalf("plain produce: %v", kerr.ErrorForCode(code))
		}
	}
	marker := func(pid int64, commit bool) {
		t.Helper()
		if _, code := b.WriteTxnMarker("tx", 0, pid, 0, commit, 0); code != 0 {
			t.Fatalf("marker: %v", kerr.ErrorForCode(code))
		}
	}
	txn(1000, 0, "a0", "a1") // 0-1
	plain("p0")              // 2
	txn(2000, 0, "b0")       // 3
	marker(1000, true)       // 4
	txn(2000, 1, "b1")       // 5
	marker(2000, false)      // 6
	txn(1000, 2, "a2")       // 7, left open
	plain("p1")              // 8

	// A plain batch from a producer inside its transaction, a
	// transactional batch without a TransactionalID: Kafka's refusals.
	if code, _ := txnProduce(t, rc, &id, makeBatch(batchOpts{producerID: 1000, sequence: 3}, []byte("x"))); code != kerr.InvalidTxnState.Code {
		t.Fatalf("plain batch inside a transaction: %v", kerr.ErrorForCode(code))
	}
	if code, _ := txnProduce(t, rc, nil, makeBatch(batchOpts{producerID: 3000, transactional: true}, []byte("x"))); code != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Fatalf("transactional batch without an id: %v", kerr.ErrorForCode(code))
	}
	if l := ts.Store().Get("tx", 0); l.LastStableOffset() != 7 || l.HighWatermark() != 9 {
		t.Fatalf("LSO %d HW %d, want 7 and 9", l.LastStableOffset(), l.HighWatermark())
	}
	if got := latestOffset(t, rc, 1); got != 7 {
		t.Fatalf("ListOffsets LATEST read_committed = %d, want the LSO 7", got)
	}
	if got := latestOffset(t, rc, 0); got != 9 {
		t.Fatalf("ListOffsets LATEST read_uncommitted = %d, want the HW 9", got)
	}
	if got := strings.Join(consumeValues(t, ts.addr, kgo.ReadUncommitted(), 7), " "); got != "a0 a1 p0 b0 b1 a2 p1" {
		t.Fatalf("read_uncommitted: %s", got)
	}
	if got := strings.Join(consumeValues(t, ts.addr, kgo.ReadCommitted(), 3), " "); got != "a0 a1 p0" {
		t.Fatalf("read_committed below the open transaction: %s", got)
	}
	marker(1000, true)
	// Everything: a wrongly delivered aborted record would come before a2.
	if got := strings.Join(consumeValues(t, ts.addr, kgo.ReadCommitted(), 5), " "); got != "a0 a1 p0 a2 p1" {
		t.Fatalf("read_committed: %s", got)
	}
	if len(v.calls) == 0 || v.calls[0] != id {
		t.Fatalf("verifier calls %v", v.calls)
	}
}

// latestOffset answers ListOffsets LATEST for tx-0 with isolation.
func latestOffset(t *testing.T, rc *rawConn, isolation int8) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 5
	req.IsolationLevel = isolation
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "tx"
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := rc.roundTrip(req).(*kmsg.ListOffsetsResponse)
	return resp.Topics[0].Partitions[0].Offset
}

// TestTxnProduceWithoutCoordinator: with no TxnVerifier a transactional
// batch gets INVALID_TXN_STATE.
func TestTxnProduceWithoutCoordinator(t *testing.T) {
	ts := startServer(t, "")
	ts.createTopic(t, "tx", 1, nil)
	rc := dialRaw(t, ts.addr)
	id := "app-1"
	code, _ := txnProduce(t, rc, &id, makeBatch(batchOpts{producerID: 1, transactional: true}, []byte("x")))
	if code != kerr.InvalidTxnState.Code {
		t.Fatalf("got %v", kerr.ErrorForCode(code))
	}
}
