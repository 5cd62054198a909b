package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// partitionReplicas asks addr for topic-p's replicas and leader, and the
// cluster's controller.
func partitionReplicas(addr, topic string, p int32) (replicas []int32, leader, controller int32, err error) {
	resp, err := topicMetadata(addr, topic)
	if err != nil {
		return nil, -1, -1, err
	}
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || int(p) >= len(resp.Topics[0].Partitions) {
		return nil, -1, -1, fmt.Errorf("metadata for %s: %+v", topic, resp.Topics)
	}
	mp := resp.Topics[0].Partitions[p]
	return mp.Replicas, mp.Leader, resp.ControllerID, nil
}

// waitReplicas polls addr until topic-0's replicas are want, led by one of
// them.
func waitReplicas(t *testing.T, addr, topic string, want []int32, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rs, leader, _, err := partitionReplicas(addr, topic, 0)
		if err == nil && slices.Equal(rs, want) && slices.Contains(want, leader) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s-0 at %s after %v: replicas %v leader %d (%v), want %v", topic, addr, timeout, rs, leader, err, want)
		}
		time.Sleep(20 * time.Millisecond) // polling Metadata, bounded by the deadline
	}
}

// hasPartitionDir reports whether dir holds topic-p's directory, or one
// being deleted.
func hasPartitionDir(t *testing.T, dir, topic string, p int32) bool {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("%s-%d", topic, p)
	for _, e := range ents {
		if e.Name() == name || strings.HasPrefix(e.Name(), name+".") {
			return true
		}
	}
	return false
}

// waitPartitionDir polls until node's directory of topic-0 exists (want)
// or is gone.
func (c *replCluster) waitPartitionDir(node int32, topic string, want bool, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for hasPartitionDir(c.t, c.dirs[node-1], topic, 0) != want {
		if time.Now().After(deadline) {
			c.t.Fatalf("node %d's %s-0 directory present=%v after %v, want %v", node, topic, !want, timeout, want)
		}
		time.Sleep(20 * time.Millisecond) // polling the directory, bounded by the deadline
	}
}

// loader produces unique values to one topic with an idempotent acks=all
// franz-go client until stopped, and keeps what was acknowledged.
type loader struct {
	mu   sync.Mutex
	acks []acked
	err  error
	stop chan struct{}
	done chan struct{}
}

func startLoad(ctx context.Context, cl *kgo.Client, topic string) *loader {
	ld := &loader{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(ld.done)
		for i := 0; ; i++ {
			select {
			case <-ld.stop:
				return
			default:
			}
			v := fmt.Sprintf("%s-%06d", topic, i)
			r, err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).First()
			ld.mu.Lock()
			if err != nil {
				ld.err = errors.Join(ld.err, err)
			} else {
				ld.acks = append(ld.acks, acked{v, r.Offset})
			}
			ld.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return ld
}

func (ld *loader) count() int {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return len(ld.acks)
}

// waitCount polls until n more records than at the call were acknowledged.
func (ld *loader) waitCount(t *testing.T, n int) {
	t.Helper()
	want := ld.count() + n
	for deadline := time.Now().Add(20 * time.Second); ld.count() < want; {
		select {
		case <-ld.done:
			t.Fatalf("load ended with %d acknowledgements: %v", ld.count(), ld.err)
		case <-time.After(5 * time.Millisecond): // polling the ack count
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d acknowledgements, want %d", ld.count(), want)
		}
	}
}

func (ld *loader) finish(t *testing.T) []acked {
	t.Helper()
	close(ld.stop)
	<-ld.done
	if ld.err != nil {
		t.Fatalf("acks=all produce failed: %v", ld.err)
	}
	return ld.acks
}

// other returns the node ids 1-3 not in ids, ascending.
func other(ids ...int32) []int32 {
	var out []int32
	for id := int32(1); id <= 3; id++ {
		if !slices.Contains(ids, id) {
			out = append(out, id)
		}
	}
	return out
}

// Reassignment under load (KIP-455) on three sluiced processes: an RF=1
// partition moves to another broker, then an RF=2 one from {a, b} to
// {b, c}, each while an idempotent acks=all franz-go producer writes to
// it. Every acknowledged record is read back exactly once at its offset,
// the removed replicas' partition directories go and the added ones hold
// the data.
func TestReassignUnderLoad(t *testing.T) {
	c := startReplCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addrs...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0), kgo.RecordRetries(1000), kgo.RetryTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	move := func(topic string, rf int16, target func(from []int32) []int32) {
		t.Helper()
		if res, err := adm.CreateTopic(ctx, 1, rf, nil, topic); err != nil || res.Err != nil {
			t.Fatalf("create %s: %v %v", topic, err, res.Err)
		}
		var from []int32
		deadline := time.Now().Add(10 * time.Second)
		for {
			rs, leader, _, err := partitionReplicas(c.addrs[0], topic, 0)
			if err == nil && len(rs) == int(rf) && leader > 0 {
				from = rs
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: replicas %v leader %d (%v)", topic, rs, leader, err)
			}
			time.Sleep(20 * time.Millisecond) // polling Metadata, bounded by the deadline
		}
		to := target(from)
		ld := startLoad(ctx, cl, topic)
		ld.waitCount(t, 200)
		var req kadm.AlterPartitionAssignmentsReq
		req.Assign(topic, 0, to)
		res, err := adm.AlterPartitionAssignments(ctx, req)
		if err != nil || res.Error() != nil {
			t.Fatalf("reassign %s %v -> %v: %v %v", topic, from, to, err, res.Error())
		}
		began := time.Now()
		waitReplicas(t, c.addrs[0], topic, to, 20*time.Second)
		t.Logf("%s: %v -> %v in %v under load", topic, from, to, time.Since(began))
		ld.waitCount(t, 200) // the producer carries on at the new leader
		acks := ld.finish(t)
		checkAcked(t, ctx, c.addrs, topic, acks)
		for _, id := range from {
			if !slices.Contains(to, id) {
				c.waitPartitionDir(id, topic, false, 10*time.Second)
			}
		}
		for _, id := range to {
			c.waitPartitionDir(id, topic, true, time.Second)
		}
		if pend, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: {}}}); err != nil || len(pend.Sorted()) != 0 {
			t.Fatalf("still pending after the move: %v %v", pend.Sorted(), err)
		}
	}
	move("mv1", 1, func(from []int32) []int32 { return other(from...)[:1] })
	move("mv2", 2, func(from []int32) []int32 { return append([]int32{from[1]}, other(from...)...) })
}

// The pending state and the refusals: a reassignment to a broker that is
// stopped (SIGSTOP) stays pending, ListPartitionReassignments shows it
// (replicas the union, adding and removing) and Metadata shows the union;
// a cancel restores the original replicas, and the stopped broker, once
// resumed, drops the log it had begun. Then Kafka's errors through kadm.
func TestReassignPendingCancelAndErrors(t *testing.T) {
	c := startReplCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic = "pend"
	ctlID := int32(-1)
	for deadline := time.Now().Add(10 * time.Second); ctlID < 1; {
		mreq := kmsg.NewPtrMetadataRequest()
		mreq.Version = 12
		r, err := request(c.addrs[0], mreq)
		if err == nil {
			ctlID = r.(*kmsg.MetadataResponse).ControllerID
		}
		if time.Now().After(deadline) {
			t.Fatalf("no controller known: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling Metadata, bounded by the deadline
	}
	// The stopped node is neither the controller nor the partition's
	// replica; the clients talk to the other two.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addrs[ctlID-1]))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if res, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	waitPartition(t, c.addrs[ctlID-1], topic, 0, 10*time.Second, func(l int32, _ []int32) bool { return l > 0 })
	from, _, _, err := partitionReplicas(c.addrs[ctlID-1], topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	stopped := other(ctlID, from[0])
	if len(stopped) == 0 {
		// The controller holds the replica: move it elsewhere first.
		stopped = other(ctlID)[1:]
		var req kadm.AlterPartitionAssignmentsReq
		req.Assign(topic, 0, other(ctlID)[:1])
		if res, err := adm.AlterPartitionAssignments(ctx, req); err != nil || res.Error() != nil {
			t.Fatalf("reassign: %v %v", err, res.Error())
		}
		from = other(ctlID)[:1]
		waitReplicas(t, c.addrs[ctlID-1], topic, from, 20*time.Second)
	}
	victim := stopped[0]
	p := c.nodes[victim-1]
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer p.cmd.Process.Signal(syscall.SIGCONT)

	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, 0, []int32{victim})
	if res, err := adm.AlterPartitionAssignments(ctx, req); err != nil || res.Error() != nil {
		t.Fatalf("reassign to the stopped node %d: %v %v", victim, err, res.Error())
	}
	pend, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	got := pend.Sorted()
	want := []int32{victim, from[0]}
	if len(got) != 1 || !slices.Equal(got[0].Replicas, want) || !slices.Equal(got[0].AddingReplicas, []int32{victim}) ||
		!slices.Equal(got[0].RemovingReplicas, from) {
		t.Fatalf("pending %+v, want replicas %v adding [%d] removing %v", got, want, victim, from)
	}
	if rs, leader, _, err := partitionReplicas(c.addrs[ctlID-1], topic, 0); err != nil || !slices.Equal(rs, want) || leader != from[0] {
		t.Fatalf("Metadata while pending: replicas %v leader %d (%v), want the union %v led by %d", rs, leader, err, want, from[0])
	}

	var cancelReq kadm.AlterPartitionAssignmentsReq
	cancelReq.CancelAssign(topic, 0)
	if res, err := adm.AlterPartitionAssignments(ctx, cancelReq); err != nil || res.Error() != nil {
		t.Fatalf("cancel: %v %v", err, res.Error())
	}
	waitReplicas(t, c.addrs[ctlID-1], topic, from, 10*time.Second)
	if pend, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: {}}}); err != nil || len(pend.Sorted()) != 0 {
		t.Fatalf("pending after the cancel: %+v %v", pend.Sorted(), err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	c.waitPartitionDir(victim, topic, false, 15*time.Second)

	// Kafka's refusals.
	f := func(replicas []int32, partition int32, topicName string, want error) {
		t.Helper()
		var req kadm.AlterPartitionAssignmentsReq
		req.Assign(topicName, partition, replicas)
		actx := ctx
		if errors.Is(want, kerr.InvalidReplicationFactor) {
			actx = kadm.ForbidAlterRf(ctx) // v1's AllowReplicationFactorChange false (KIP-860)
		}
		res, err := adm.AlterPartitionAssignments(actx, req)
		if err != nil {
			t.Fatal(err)
		}
		if got := res[topicName][partition].Err; !errors.Is(got, want) {
			t.Fatalf("%s-%d -> %v: %v, want %v", topicName, partition, replicas, got, want)
		}
	}
	f([]int32{9}, 0, topic, kerr.InvalidReplicaAssignment)
	f([]int32{1, 1}, 0, topic, kerr.InvalidReplicaAssignment)
	f([]int32{}, 0, topic, kerr.InvalidReplicaAssignment)
	f(nil, 0, topic, kerr.NoReassignmentInProgress)
	f([]int32{1}, 5, topic, kerr.UnknownTopicOrPartition)
	f([]int32{1}, 0, "no-such-topic", kerr.UnknownTopicOrPartition)
	f([]int32{1, 2}, 0, topic, kerr.InvalidReplicationFactor)
}

// sluiceCLI builds the sluice command once, next to the sluiced binary.
var sluiceCLI = sync.OnceValues(func() (string, error) {
	path := filepath.Join(filepath.Dir(binary), "sluice")
	if out, err := exec.Command("go", "build", "-o", path, "../sluice").CombinedOutput(); err != nil {
		return "", fmt.Errorf("cannot build sluice: %v\n%s", err, out)
	}
	return path, nil
})

// runSluice runs the sluice command and returns its stdout; a non-zero
// exit fails the test.
func runSluice(t *testing.T, args ...string) []byte {
	t.Helper()
	path, err := sluiceCLI()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sluice %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

// `sluice cluster balance` on a deliberately skewed cluster: six equal
// RF=1 partitions all created on broker 1 (a manual assignment) end two
// per broker, each its preferred leader, with every record still there;
// a second plan finds nothing to move.
func TestClusterBalanceSkewed(t *testing.T) {
	c := startReplCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic, parts = "bal", 6
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addrs...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	// createAt sends CreateTopics with a manual assignment to node i.
	createAt := func(i int, name string, lists ...[]int32) error {
		t.Helper()
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version, req.TimeoutMillis = 7, 10000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, -1, -1
		for p, l := range lists {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = int32(p), l
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		}
		req.Topics = append(req.Topics, rt)
		r, err := request(c.addrs[i-1], req)
		if err != nil {
			t.Fatal(err)
		}
		return kerr.ErrorForCode(r.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode)
	}
	// Every partition on broker 1, asked of broker 2 (forwarded to the
	// controller) and again of broker 3.
	var onOne [][]int32
	for range parts {
		onOne = append(onOne, []int32{1})
	}
	if err := createAt(2, topic, onOne...); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := createAt(3, topic, onOne...); !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("create again: %v", err)
	}
	for i := range 3 {
		if err := createAt(i+1, "mixed", []int32{1}, []int32{1, 2}); !errors.Is(err, kerr.InvalidReplicaAssignment) {
			t.Fatalf("lists of two lengths at node %d: %v", i+1, err)
		}
	}
	// placement counts replicas and leaders per broker, from a fresh
	// Metadata request (kgo caches its own for a while).
	placement := func() (map[int32]int, map[int32]int, string) {
		req := kmsg.NewPtrMetadataRequest()
		req.Version = 12
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, mt)
		r, err := request(c.addrs[0], req)
		if err != nil {
			return nil, nil, err.Error()
		}
		md := r.(*kmsg.MetadataResponse).Topics[0]
		if md.ErrorCode != 0 {
			return nil, nil, kerr.ErrorForCode(md.ErrorCode).Error()
		}
		replicas, leaders := map[int32]int{}, map[int32]int{}
		for _, p := range md.Partitions {
			for _, r := range p.Replicas {
				replicas[r]++
			}
			if p.Leader != p.Replicas[0] {
				return nil, nil, fmt.Sprintf("%s-%d led by %d, replicas %v", topic, p.Partition, p.Leader, p.Replicas)
			}
			leaders[p.Leader]++
		}
		return replicas, leaders, ""
	}
	waitPlacement := func(want map[int32]int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			replicas, leaders, msg := placement()
			if msg == "" && fmt.Sprint(replicas) == fmt.Sprint(want) && fmt.Sprint(leaders) == fmt.Sprint(want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("placement: replicas %v leaders %v (%s), want %v each", replicas, leaders, msg, want)
			}
			time.Sleep(50 * time.Millisecond) // polling Metadata, bounded by the deadline
		}
	}
	waitPlacement(map[int32]int{1: parts})
	for p := range int32(parts) {
		for i := range 20 {
			r := &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%d-%03d", p, i)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce to %s-%d: %v", topic, p, err)
			}
		}
	}

	began := time.Now()
	brokers := strings.Join(c.addrs, ",")
	planFile := filepath.Join(t.TempDir(), "plan.json")
	out := runSluice(t, "cluster", "balance", "--brokers", brokers, "--execute", "--wait", "--save-plan", planFile, "--output", "json")
	var res struct {
		Moves []struct {
			From, To []int32
		}
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("balance output: %v\n%s", err, out)
	}
	if len(res.Moves) != 4 {
		t.Fatalf("%d moves, want 4:\n%s", len(res.Moves), out)
	}
	if _, err := os.Stat(planFile); err != nil {
		t.Fatal(err)
	}
	waitPlacement(map[int32]int{1: 2, 2: 2, 3: 2})
	t.Logf("balanced in %v", time.Since(began))
	for p := range int32(parts) {
		o, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		if lo, _ := o.Lookup(topic, p); lo.Err != nil || lo.Offset != 20 {
			t.Fatalf("%s-%d end offset %d (%v), want 20", topic, p, lo.Offset, lo.Err)
		}
	}
	if again := runSluice(t, "cluster", "balance", "--brokers", brokers); !bytes.HasPrefix(again, []byte("balanced: no move needed")) {
		t.Fatalf("a second balance plans moves:\n%s", again)
	}
}
