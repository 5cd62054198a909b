package broker

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluice/sluice/controller"
	"github.com/sluice/sluice/txn"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// startCombinedNode starts a one-node cluster (broker and controller)
// and waits for the broker's registration.
func startCombinedNode(t *testing.T) *testServer {
	t.Helper()
	voters := []controller.Voter{{ID: 1, Addr: freeControllerAddr(t)}}
	ts := startServer(t, "", withController(1, voters))
	select {
	case <-ts.Broker().Registered():
	case <-time.After(15 * time.Second):
		t.Fatal("the broker did not register within 15 s")
	}
	return ts
}

// The first ListGroups of a combined node creates __consumer_offsets
// through the controller and waits for this broker's reconciler to apply
// it; the reconciler takes the coordinator's lock after its pass, so the
// creation must not hold that lock (it did: the request, and every
// metadata change on the broker, stalled for clusterWait, 10 s).
func TestFirstGroupRequestDoesNotStallTheReconciler(t *testing.T) {
	ts := startCombinedNode(t)
	// Metadata changes meanwhile, so that the reconciler runs its
	// after-pass step while the request opens the coordinator.
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := ts.ctl.CreateTopic(fmt.Sprintf("busy-%d", i), 1, 1, nil); err != nil {
				t.Errorf("create busy-%d: %v", i, err)
				return
			}
		}
	}()
	defer func() { close(stop); <-done }()
	rc := dialRaw(t, ts.addr)
	defer rc.c.Close()
	began := time.Now()
	for {
		resp := rc.roundTrip(kmsg.NewPtrListGroupsRequest()).(*kmsg.ListGroupsResponse)
		took := time.Since(began)
		// A generous bound: it takes milliseconds; the stall took clusterWait.
		if took > clusterWait/2 {
			t.Fatalf("ListGroups answered error %d after %v (clusterWait %v): the coordinator's opening stalled on the reconciler",
				resp.ErrorCode, took, clusterWait)
		}
		if resp.ErrorCode == 0 {
			t.Logf("ListGroups served %v after the first", took)
			return
		}
		if resp.ErrorCode != kerr.CoordinatorLoadInProgress.Code {
			t.Fatalf("ListGroups: error %d", resp.ErrorCode)
		}
		time.Sleep(10 * time.Millisecond) // retriable: polling interval, bounded above
	}
}

// A coordinator's topic that the controller already has, but this
// broker has not applied yet (another broker of a starting cluster
// created it first), is awaited: it was an error, answered as
// COORDINATOR_NOT_AVAILABLE and logged at ERROR level by every broker
// that lost the race. The topic store's write lock stands in for a
// reconciler that has not reached the topic yet.
func TestCoordinatorTopicCreatedElsewhereIsAwaited(t *testing.T) {
	ts := startCombinedNode(t)
	b := ts.Broker()
	b.topics.writeMu.Lock() // the reconciler cannot publish the topic
	held := true
	defer func() {
		if held {
			b.topics.writeMu.Unlock()
		}
	}()
	if _, err := ts.ctl.CreateTopic(txn.TopicName, 2, 1, nil); err != nil {
		t.Fatalf("create %s through the controller: %v", txn.TopicName, err)
	}
	type result struct {
		t   *topic
		err error
	}
	got := make(chan result, 1)
	go func() {
		tp, err := b.txnStateTopic(txn.Config{})
		got <- result{tp, err}
	}()
	select {
	case r := <-got:
		t.Fatalf("the topic was answered (%v, %v) before this broker applied it", r.t, r.err)
	case <-time.After(300 * time.Millisecond):
	}
	b.topics.writeMu.Unlock()
	held = false
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatalf("after the reconciler applied it: %v", r.err)
		}
		if r.t == nil || r.t.meta == nil || len(r.t.partitions) != 2 {
			t.Fatalf("got %+v, want the controller's topic with 2 partitions", r.t)
		}
	case <-time.After(clusterWait + 5*time.Second):
		t.Fatal("no answer after the reconciler was let go")
	}
}
