package broker

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// holdAt sets a hook that, at step of topic, signals reached (once) and
// waits for release (bounded, so a broken test cannot hang).
func holdAt(reg *topics, topic, step string, reached, release chan struct{}) {
	var once sync.Once
	reg.setAfterStep(func(tp, s string) error {
		if tp == topic && s == step {
			once.Do(func() { close(reached) })
			select {
			case <-release:
			case <-time.After(60 * time.Second):
			}
		}
		return nil
	})
}

func createErr(r kadm.CreateTopicResponse, err error) error {
	if err != nil {
		return err
	}
	return r.Err
}

// listed returns the partition count of every topic a Metadata request
// lists (sent raw: kgo answers metadata requests from a cache).
func listed(t *testing.T, rc *rawConn) map[string]int {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = nil // all
	resp := rc.roundTrip(req).(*kmsg.MetadataResponse)
	out := map[string]int{}
	for _, mt := range resp.Topics {
		if mt.Topic != nil && mt.ErrorCode == 0 {
			out[*mt.Topic] = len(mt.Partitions)
		}
	}
	return out
}

// gate is a release channel closed once, at the latest at the test's end
// (so a failed test does not leave a hook waiting).
func gate(t *testing.T) (ch chan struct{}, open func()) {
	ch = make(chan struct{})
	var once sync.Once
	open = func() { once.Do(func() { close(ch) }) }
	t.Cleanup(open)
	return ch, open
}

// TestSmallCreateBesideBigCreate: a 1-partition create from another client,
// and a produce to it, complete while a 1,000-partition create is held half
// way (after its 500th partition), so nothing serialises them; the big
// topic is not listed until whole.
func TestSmallCreateBesideBigCreate(t *testing.T) {
	ts := startServer(t, "")
	reg := ts.Broker().topics
	mid := make(chan struct{})
	release, open := gate(t)
	holdAt(reg, "big", "partition 500 created", mid, release)
	ctx := testCtx(t)
	bigAdm, adm := adminClient(t, ts), adminClient(t, ts) // two connections
	rc := dialRaw(t, ts.addr)

	bigStart := time.Now()
	bigErr := make(chan error, 1)
	go func() { bigErr <- createErr(bigAdm.CreateTopic(ctx, 1000, 1, nil, "big")) }()
	select {
	case <-mid:
	case <-ctx.Done():
		t.Fatal("the big create never reached partition 500")
	}
	start := time.Now()
	if err := createErr(adm.CreateTopic(ctx, 1, 1, nil, "small")); err != nil {
		t.Fatalf("small create beside a big one: %v", err)
	}
	small := time.Since(start)
	pcl := newKgo(t, ts.addr)
	if err := pcl.ProduceSync(ctx, &kgo.Record{Topic: "small", Value: []byte("beside")}).FirstErr(); err != nil {
		t.Fatalf("produce beside a big create: %v", err)
	}
	tds := listed(t, rc)
	if _, ok := tds["big"]; ok || tds["small"] != 1 {
		t.Fatalf("while big is half created, Metadata lists %v; want small and not big", tds)
	}
	select {
	case err := <-bigErr:
		t.Fatalf("the big create answered while held: %v", err)
	default:
	}
	open()
	if err := <-bigErr; err != nil {
		t.Fatalf("big create: %v", err)
	}
	t.Logf("1-partition create answered in %v beside a 1,000-partition create (held); big answered in %v",
		small, time.Since(bigStart))
	if got := listed(t, rc)["big"]; got != 1000 {
		t.Fatalf("big has %d partitions, want 1000", got)
	}
}

// TestAdminTimeoutMs: CreateTopics, CreatePartitions and DeleteTopics with
// timeout_ms 1 on an operation held before its first file step answer
// REQUEST_TIMED_OUT; the work goes on (a create of the name meanwhile is
// TOPIC_ALREADY_EXISTS, a delete during an addition
// REASSIGNMENT_IN_PROGRESS) and Metadata shows the outcome when done.
func TestAdminTimeoutMs(t *testing.T) {
	ts := startServer(t, "")
	reg := ts.Broker().topics
	ctx := testCtx(t)
	cl, adm := newKgo(t, ts.addr), adminClient(t, ts)
	rc := dialRaw(t, ts.addr)

	reached := make(chan struct{})
	release, open := gate(t)
	holdAt(reg, "slow", "op-written", reached, release)
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 1
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "slow", 1000, 1
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if c := resp.Topics[0].ErrorCode; c != kerr.RequestTimedOut.Code {
		t.Fatalf("create with timeout_ms 1: error %v, want REQUEST_TIMED_OUT", kerr.ErrorForCode(c))
	}
	<-reached
	if err := createErr(adm.CreateTopic(ctx, 1, 1, nil, "slow")); err != kerr.TopicAlreadyExists {
		t.Fatalf("create of a name being created: %v, want TOPIC_ALREADY_EXISTS", err)
	}
	open()
	waitFor(t, "the timed-out topic to appear whole", 30*time.Second, func() bool {
		return listed(t, rc)["slow"] == 1000
	})

	reached = make(chan struct{})
	release, open = gate(t)
	holdAt(reg, "slow", "op-written", reached, release)
	preq := kmsg.NewPtrCreatePartitionsRequest()
	preq.TimeoutMillis = 1
	pt := kmsg.NewCreatePartitionsRequestTopic()
	pt.Topic, pt.Count = "slow", 1010
	preq.Topics = append(preq.Topics, pt)
	presp, err := preq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if c := presp.Topics[0].ErrorCode; c != kerr.RequestTimedOut.Code {
		t.Fatalf("create partitions with timeout_ms 1: error %v, want REQUEST_TIMED_OUT", kerr.ErrorForCode(c))
	}
	<-reached
	if n := listed(t, rc)["slow"]; n != 1000 {
		t.Fatalf("while partitions are being added, Metadata lists %d, want the 1000 there were", n)
	}
	drs, err := adm.DeleteTopics(ctx, "slow")
	if err != nil {
		t.Fatal(err)
	}
	if err := drs["slow"].Err; err != kerr.ReassignmentInProgress {
		t.Fatalf("delete during an addition: %v, want REASSIGNMENT_IN_PROGRESS", err)
	}
	open()
	waitFor(t, "the timed-out partitions to appear", 30*time.Second, func() bool {
		return listed(t, rc)["slow"] == 1010
	})

	reached = make(chan struct{})
	release, open = gate(t)
	holdAt(reg, "slow", "op-written", reached, release)
	dreq := kmsg.NewPtrDeleteTopicsRequest()
	dreq.TimeoutMillis = 1
	dreq.TopicNames = []string{"slow"}
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.Topic = kmsg.StringPtr("slow")
	dreq.Topics = append(dreq.Topics, dt)
	dresp, err := dreq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if c := dresp.Topics[0].ErrorCode; c != kerr.RequestTimedOut.Code {
		t.Fatalf("delete with timeout_ms 1: error %v, want REQUEST_TIMED_OUT", kerr.ErrorForCode(c))
	}
	<-reached
	if _, ok := listed(t, rc)["slow"]; ok {
		t.Fatal("Metadata lists a topic whose deletion was answered")
	}
	r, err := adm.CreateTopic(ctx, 1, 1, nil, "slow")
	if err == nil {
		err = r.Err
	}
	if err != kerr.TopicAlreadyExists || !strings.Contains(r.ErrMessage, "marked for deletion") {
		t.Fatalf("create of a name being deleted: %v %q, want TOPIC_ALREADY_EXISTS, marked for deletion", err, r.ErrMessage)
	}
	open()
	waitFor(t, "the name to be free again", 30*time.Second, func() bool {
		return createErr(adm.CreateTopic(ctx, 1, 1, nil, "slow")) == nil
	})
}

// TestDeleteTopicsHiddenAtOnce: while a DeleteTopics of 200 topics is
// still removing files, Metadata lists none of them; once it answers,
// none either, and a name can be created again.
func TestDeleteTopicsHiddenAtOnce(t *testing.T) {
	ts := startServer(t, "")
	reg := ts.Broker().topics
	ctx := testCtx(t)
	delAdm, adm := adminClient(t, ts), adminClient(t, ts)
	rc := dialRaw(t, ts.addr)
	names := make([]string, 200)
	for i := range names {
		names[i] = fmt.Sprintf("gone%03d", i)
	}
	rs, err := adm.CreateTopics(ctx, 1, 1, nil, names...)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Error(); err != nil {
		t.Fatal(err)
	}
	var hooked atomic.Bool
	reached := make(chan struct{})
	release, open := gate(t)
	reg.setAfterStep(func(_, step string) error {
		if step == "op-written" && hooked.CompareAndSwap(false, true) {
			close(reached)
			<-release
		}
		return nil
	})
	delErr := make(chan error, 1)
	go func() {
		drs, err := delAdm.DeleteTopics(ctx, names...)
		if err == nil {
			err = drs.Error()
		}
		delErr <- err
	}()
	<-reached // one deletion is held before its first file step
	visible := func(stage string) {
		tds := listed(t, rc)
		for _, n := range names {
			if _, ok := tds[n]; ok {
				t.Fatalf("%s: Metadata still lists %s", stage, n)
			}
		}
	}
	visible("during the deletion")
	open()
	if err := <-delErr; err != nil {
		t.Fatalf("DeleteTopics: %v", err)
	}
	visible("after DeleteTopics answered")
	if err := createErr(adm.CreateTopic(ctx, 2, 1, nil, names[0])); err != nil {
		t.Fatalf("re-create after delete: %v", err)
	}
}
