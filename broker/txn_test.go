package broker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/txn"
)

// testTxnConfig keeps __transaction_state small and timeouts checked often.
func testTxnConfig() txn.Config {
	cfg := txn.DefaultConfig()
	cfg.Partitions = 3
	cfg.AbortInterval = 50 * time.Millisecond
	return cfg
}

// startTxnServer starts a broker with testTxnConfig and small internal
// topics.
func startTxnServer(t *testing.T, dir string, opts ...func(*ServerConfig)) *testServer {
	t.Helper()
	opts = append([]func(*ServerConfig){func(c *ServerConfig) {
		c.Broker.Txn = testTxnConfig()
		c.Broker.Groups = testGroupConfig()
		c.Broker.Groups.Partitions = 3
	}}, opts...)
	ts := startServer(t, dir, opts...)
	t.Cleanup(func() { stopGroupServer(t, ts) })
	return ts
}

func initPID(t *testing.T, rc *rawConn, id string, version int16) *kmsg.InitProducerIDResponse {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = version
	req.TransactionalID = &id
	req.TransactionTimeoutMillis = 60000
	req.ProducerID, req.ProducerEpoch = -1, -1
	return rc.roundTrip(req).(*kmsg.InitProducerIDResponse)
}

func addPartitions(t *testing.T, rc *rawConn, id string, pid int64, epoch int16, topic string, parts ...int32) *kmsg.AddPartitionsToTxnResponse {
	t.Helper()
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 3
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
	rt := kmsg.NewAddPartitionsToTxnRequestTopic()
	rt.Topic, rt.Partitions = topic, parts
	req.Topics = append(req.Topics, rt)
	return rc.roundTrip(req).(*kmsg.AddPartitionsToTxnResponse)
}

func endTxn(t *testing.T, rc *rawConn, id string, pid int64, epoch int16, commit bool) int16 {
	t.Helper()
	req := kmsg.NewPtrEndTxnRequest()
	req.Version = 3
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
	return rc.roundTrip(req).(*kmsg.EndTxnResponse).ErrorCode
}

func describeTxn(t *testing.T, rc *rawConn, id string) kmsg.DescribeTransactionsResponseTransactionState {
	t.Helper()
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = []string{id}
	return rc.roundTrip(req).(*kmsg.DescribeTransactionsResponse).TransactionStates[0]
}

// TestTxnProtocol drives the coordinator's APIs with raw requests:
// FindCoordinator(TRANSACTION), InitProducerId, AddPartitionsToTxn (and
// its errors), EndTxn writing a marker into the partition, Describe and
// ListTransactions, DescribeProducers.
func TestTxnProtocol(t *testing.T) {
	ts := startTxnServer(t, "")
	ts.createTopic(t, "out", 2, nil)
	rc := dialRaw(t, ts.addr)

	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.Version, fc.CoordinatorType, fc.CoordinatorKeys = 4, 1, []string{"tx-a"}
	c := rc.roundTrip(fc).(*kmsg.FindCoordinatorResponse).Coordinators[0]
	if c.ErrorCode != 0 || c.NodeID != ts.Broker().NodeID() || c.Port != ts.Broker().advertisedPort() {
		t.Fatalf("FindCoordinator: %+v", c)
	}
	if ts.Broker().topics.get(txn.TopicName) == nil {
		t.Fatal("__transaction_state not created")
	}

	ip := initPID(t, rc, "tx-a", 4)
	if ip.ErrorCode != 0 || ip.ProducerID < 0 || ip.ProducerEpoch != 0 {
		t.Fatalf("InitProducerId: %+v", ip)
	}
	pid, epoch := ip.ProducerID, ip.ProducerEpoch

	ar := addPartitions(t, rc, "tx-a", pid, epoch, "nope", 0)
	if code := ar.Topics[0].Partitions[0].ErrorCode; code != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: %v", kerr.ErrorForCode(code))
	}
	ar = addPartitions(t, rc, "tx-a", pid, epoch+1, "out", 0)
	if code := ar.Topics[0].Partitions[0].ErrorCode; code != kerr.ProducerFenced.Code {
		t.Fatalf("wrong epoch v3: %v, want PRODUCER_FENCED", kerr.ErrorForCode(code))
	}
	ar = addPartitions(t, rc, "tx-a", pid, epoch, "out", 0, 1)
	for _, p := range ar.Topics[0].Partitions {
		if p.ErrorCode != 0 {
			t.Fatalf("AddPartitionsToTxn: %v", kerr.ErrorForCode(p.ErrorCode))
		}
	}
	d := describeTxn(t, rc, "tx-a")
	if d.ErrorCode != 0 || d.State != "Ongoing" || len(d.Topics) != 1 || len(d.Topics[0].Partitions) != 2 || d.StartTimestamp < 0 {
		t.Fatalf("DescribeTransactions: %+v", d)
	}
	lt := kmsg.NewPtrListTransactionsRequest()
	lt.StateFilters = []string{"Ongoing", "Bogus"}
	lr := rc.roundTrip(lt).(*kmsg.ListTransactionsResponse)
	if len(lr.TransactionStates) != 1 || lr.TransactionStates[0].TransactionalID != "tx-a" ||
		len(lr.UnknownStateFilters) != 1 {
		t.Fatalf("ListTransactions: %+v", lr)
	}

	leo := ts.Broker().topics.get("out").partition(0).LogEndOffset()
	if code := endTxn(t, rc, "tx-a", pid, epoch, true); code != 0 {
		t.Fatalf("EndTxn: %v", kerr.ErrorForCode(code))
	}
	for p := range int32(2) {
		if got := ts.Broker().topics.get("out").partition(p).LogEndOffset(); got != leo+1 {
			t.Fatalf("partition %d LEO %d after the commit marker, want %d", p, got, leo+1)
		}
	}
	if d := describeTxn(t, rc, "tx-a"); d.State != "CompleteCommit" || len(d.Topics) != 0 {
		t.Fatalf("after EndTxn: %+v", d)
	}
	if code := endTxn(t, rc, "tx-a", pid, epoch, false); code != kerr.InvalidTxnState.Code {
		t.Fatalf("abort after commit: %v", kerr.ErrorForCode(code))
	}
	dp := kmsg.NewPtrDescribeProducersRequest()
	dpt := kmsg.NewDescribeProducersRequestTopic()
	dpt.Topic, dpt.Partitions = "out", []int32{0, 9}
	dp.Topics = append(dp.Topics, dpt)
	pr := rc.roundTrip(dp).(*kmsg.DescribeProducersResponse).Topics[0].Partitions
	if len(pr) != 2 || pr[1].ErrorCode != kerr.UnknownTopicOrPartition.Code || len(pr[0].ActiveProducers) != 1 ||
		pr[0].ActiveProducers[0].ProducerID != pid || pr[0].ActiveProducers[0].CurrentTxnStartOffset != -1 {
		t.Fatalf("DescribeProducers: %+v", pr)
	}

	if d := describeTxn(t, rc, "unknown"); d.ErrorCode != kerr.TransactionalIDNotFound.Code {
		t.Fatalf("unknown id: %+v", d)
	}
	bad := kmsg.NewPtrInitProducerIDRequest()
	bad.TransactionalID = kmsgString("tx-b")
	bad.TransactionTimeoutMillis = int32((16 * time.Minute).Milliseconds())
	if code := rc.roundTrip(bad).(*kmsg.InitProducerIDResponse).ErrorCode; code != kerr.InvalidTransactionTimeout.Code {
		t.Fatalf("timeout above the max: %v", kerr.ErrorForCode(code))
	}
}

func kmsgString(s string) *string { return &s }

// TestTxnFencingAndRestart: a second InitProducerId for the id aborts the
// first instance's ongoing transaction and fences it (PRODUCER_FENCED on
// v4+, INVALID_PRODUCER_EPOCH on older EndTxn); the state survives a
// restart.
func TestTxnFencingAndRestart(t *testing.T) {
	dir := t.TempDir()
	ts := startTxnServer(t, dir)
	ts.createTopic(t, "out", 1, nil)
	rc := dialRaw(t, ts.addr)
	ip := initPID(t, rc, "tx", 4)
	if ar := addPartitions(t, rc, "tx", ip.ProducerID, ip.ProducerEpoch, "out", 0); ar.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatal("AddPartitionsToTxn failed")
	}
	ip2 := initPID(t, rc, "tx", 4)
	if ip2.ErrorCode != 0 || ip2.ProducerID != ip.ProducerID || ip2.ProducerEpoch != ip.ProducerEpoch+2 {
		t.Fatalf("second instance: %+v", ip2)
	}
	if l := ts.Broker().topics.get("out").partition(0).LogEndOffset(); l != 1 {
		t.Fatalf("LEO %d, want 1 (the abort marker)", l)
	}
	if code := endTxn(t, rc, "tx", ip.ProducerID, ip.ProducerEpoch, true); code != kerr.ProducerFenced.Code {
		t.Fatalf("fenced EndTxn v3: %v", kerr.ErrorForCode(code))
	}
	old := kmsg.NewPtrEndTxnRequest()
	old.Version = 1
	old.TransactionalID, old.ProducerID, old.ProducerEpoch, old.Commit = "tx", ip.ProducerID, ip.ProducerEpoch, true
	if code := rc.roundTrip(old).(*kmsg.EndTxnResponse).ErrorCode; code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("fenced EndTxn v1: %v", kerr.ErrorForCode(code))
	}
	stopGroupServer(t, ts)
	ts = startTxnServer(t, dir)
	rc = dialRaw(t, ts.addr)
	d := describeTxn(t, rc, "tx")
	if d.ErrorCode != 0 || d.State != "Empty" || d.ProducerID != ip.ProducerID || d.ProducerEpoch != ip2.ProducerEpoch {
		t.Fatalf("after restart: %+v", d)
	}
	if ip3 := initPID(t, rc, "tx", 4); ip3.ProducerEpoch != ip2.ProducerEpoch+1 {
		t.Fatalf("after restart InitProducerId: %+v", ip3)
	}
}

// TestTxnTimeoutAbortsHanging: a transaction left open past its timeout is
// aborted by the coordinator (marker written, epoch bumped).
func TestTxnTimeoutAbortsHanging(t *testing.T) {
	ts := startTxnServer(t, "")
	ts.createTopic(t, "out", 1, nil)
	rc := dialRaw(t, ts.addr)
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = 4
	req.TransactionalID = kmsgString("hang")
	req.TransactionTimeoutMillis = 200
	req.ProducerID, req.ProducerEpoch = -1, -1
	ip := rc.roundTrip(req).(*kmsg.InitProducerIDResponse)
	if ar := addPartitions(t, rc, "hang", ip.ProducerID, ip.ProducerEpoch, "out", 0); ar.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatal("AddPartitionsToTxn failed")
	}
	waitFor(t, "the hanging transaction's abort", 10*time.Second, func() bool {
		return describeTxn(t, rc, "hang").State == "CompleteAbort"
	})
	if d := describeTxn(t, rc, "hang"); d.ProducerEpoch != ip.ProducerEpoch+1 {
		t.Fatalf("epoch %d, want %d", d.ProducerEpoch, ip.ProducerEpoch+1)
	}
	if l := ts.Broker().topics.get("out").partition(0).LogEndOffset(); l != 1 {
		t.Fatalf("LEO %d, want 1 (the abort marker)", l)
	}
}
