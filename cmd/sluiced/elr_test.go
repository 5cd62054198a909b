package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// splitCluster is one controller-only node and three broker-only nodes,
// so brokers can be stopped, killed and restarted (on their data
// directories and ports) while the metadata quorum lives on.
type splitCluster struct {
	t      *testing.T
	env    []string
	ctl    *proc
	args   [][]string
	nodes  []*proc // brokers 1-3 at [0-2]; nil while down
	addrs  []string
	stderr []*proc // every broker process started, for the race check
}

func startSplitCluster(t *testing.T, env ...string) *splitCluster {
	t.Helper()
	voter := fmt.Sprintf("9@127.0.0.1:%d", freePort(t))
	c := &splitCluster{t: t, env: append([]string{
		"SLUICE_CONTROLLER_QUORUM_VOTERS=" + voter,
		"SLUICE_BROKER_HEARTBEAT_INTERVAL_MS=500",
		"SLUICE_BROKER_SESSION_TIMEOUT_MS=3000",
	}, env...)}
	t.Cleanup(func() {
		for _, p := range append(c.stderr, c.ctl) {
			if p != nil && strings.Contains(p.stderr.String(), "WARNING: DATA RACE") {
				t.Errorf("data race in a sluiced process:\n%s", p.stderr)
			}
		}
	})
	_, ctlAddr, _ := strings.Cut(voter, "@")
	c.ctl = start(t, append([]string{"SLUICE_PROCESS_ROLES=controller"}, c.env...), "--node-id", "9",
		"--cluster-id", "elr", "--data-dir", t.TempDir(), "--listen", "CONTROLLER://"+ctlAddr)
	if c.ctl.addr != ctlAddr {
		t.Fatalf("controller did not start:\n%s", c.ctl.stderr)
	}
	for id := 1; id <= 3; id++ {
		// Port 0: a restart gets new ports (addrs follows), so the
		// metadata follower's port, derived from it, never collides.
		c.args = append(c.args, []string{"--node-id", strconv.Itoa(id), "--cluster-id", "elr", "--data-dir", t.TempDir(),
			"--listen", "PLAINTEXT://127.0.0.1:0"})
		c.addrs = append(c.addrs, "")
		c.nodes = append(c.nodes, nil)
		c.start(int32(id))
	}
	agreed(t, c.addrs, 20*time.Second, brokersAre(1, 2, 3))
	return c
}

// start starts broker id (again).
func (c *splitCluster) start(id int32) {
	c.t.Helper()
	p := start(c.t, append([]string{"SLUICE_PROCESS_ROLES=broker"}, c.env...), c.args[id-1]...)
	if p.addr == "" {
		c.t.Fatalf("broker %d did not start:\n%s", id, p.stderr)
	}
	c.nodes[id-1], c.addrs[id-1] = p, p.addr
	c.stderr = append(c.stderr, p)
}

// topic creates a one-partition RF=3 topic and waits for its full ISR;
// it returns the leader and the two followers.
func (c *splitCluster) topic(name string) (leader int32, followers []int32) {
	c.t.Helper()
	adm, err := kgo.NewClient(kgo.SeedBrokers(c.addrs...))
	if err != nil {
		c.t.Fatal(err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if res, err := kadm.NewClient(adm).CreateTopic(ctx, 1, 3, nil, name); err != nil || res.Err != nil {
		c.t.Fatalf("create %s: %v %v", name, err, res.Err)
	}
	leader, _ = waitPartition(c.t, c.addrs[0], name, 0, 10*time.Second, func(l int32, isr []int32) bool {
		return l > 0 && len(isr) == 3
	})
	for id := int32(1); id <= 3; id++ {
		if id != leader {
			followers = append(followers, id)
		}
	}
	return leader, followers
}

// With min.insync.replicas=2 and both followers of an RF=3 partition
// stopped (SIGSTOP) just after an acks=all produce was appended, the
// leader shrinks the ISR to itself after replica.lag.time.max.ms. Then, as
// Kafka's Partition.checkEnoughReplicasReachOffset: without eligible
// leader replicas the high watermark passes the batch with the ISR under
// min.insync.replicas, so the produce answers
// NOT_ENOUGH_REPLICAS_AFTER_APPEND; with them (KIP-966) the high watermark
// stays still under min.insync.replicas, so it answers REQUEST_TIMED_OUT
// and consumers still see only the record before. The next produce gets
// NOT_ENOUGH_REPLICAS before any append either way.
func TestNotEnoughReplicasAfterAppend(t *testing.T) {
	f := func(elr bool, want *kerr.Error) {
		t.Helper()
		c := startSplitCluster(t, "SLUICE_REPLICA_LAG_TIME_MAX_MS=2000", "SLUICE_MIN_INSYNC_REPLICAS=2",
			"SLUICE_ELIGIBLE_LEADER_REPLICAS_ENABLE="+strconv.FormatBool(elr))
		const topic = "after-append"
		leader, followers := c.topic(topic)
		at := c.addrs[leader-1]
		if sp := produceRaw(t, at, topic, oneBatch(t, "warm")); sp.ErrorCode != 0 {
			t.Fatalf("produce with the full ISR: %v", kerr.ErrorForCode(sp.ErrorCode))
		}
		// The followers replicate (an acks=all answered before the
		// leader's replica state exists does not wait for them).
		waitFor(t, "the high watermark past the first record", 10*time.Second, func() bool {
			return highWatermark(t, at, topic) == 1
		})
		for _, f := range followers {
			if err := c.nodes[f-1].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			waitStopped(t, c.nodes[f-1].cmd.Process.Pid)
		}
		defer func() {
			for _, f := range followers {
				_ = c.nodes[f-1].cmd.Process.Signal(syscall.SIGCONT)
			}
		}()
		began := time.Now()
		sp := produceTimeout(t, at, topic, oneBatch(t, "in-flight"), 4000)
		if sp.ErrorCode != want.Code {
			t.Fatalf("ELR %v: acks=all produce while the ISR shrank: %v after %v, want %v",
				elr, kerr.ErrorForCode(sp.ErrorCode), time.Since(began), want)
		}
		t.Logf("ELR %v: in-flight acks=all produce: %v after %v", elr, want, time.Since(began))
		waitPartition(t, at, topic, 0, 10*time.Second, func(_ int32, isr []int32) bool {
			return slices.Equal(isr, []int32{leader})
		})
		if sp := produceRaw(t, at, topic, oneBatch(t, "next")); sp.ErrorCode != kerr.NotEnoughReplicas.Code {
			t.Fatalf("next acks=all produce: %v, want NOT_ENOUGH_REPLICAS", kerr.ErrorForCode(sp.ErrorCode))
		}
		if hw, wantHW := highWatermark(t, at, topic), map[bool]int64{false: 2, true: 1}[elr]; hw != wantHW {
			t.Fatalf("ELR %v: high watermark %d with the ISR [%d], want %d", elr, hw, leader, wantHW)
		}
	}
	f(false, kerr.NotEnoughReplicasAfterAppend)
	f(true, kerr.RequestTimedOut)
}

// waitFor polls cond until it holds, failing after timeout.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond) // polling, bounded by the deadline
	}
}

// waitStopped waits until every thread of process pid is stopped (state
// T in /proc): SIGSTOP is sent at once but takes effect asynchronously,
// and a follower still running could fetch what the test appends next.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("stop of process %d", pid), 10*time.Second, func() bool {
		tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		if err != nil || len(tasks) == 0 {
			return false
		}
		for _, task := range tasks {
			b, err := os.ReadFile(task)
			// The state follows the command's closing parenthesis.
			i := bytes.LastIndexByte(b, ')')
			if err != nil || i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
				return false
			}
		}
		return true
	})
}

// produceTimeout is produceRaw with timeout_ms (under request's 5 s).
func produceTimeout(t *testing.T, addr, topic string, records []byte, timeoutMs int32) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	preq := kmsg.NewPtrProduceRequest()
	preq.Version, preq.Acks, preq.TimeoutMillis = 9, -1, timeoutMs
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = topic
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = records
	pt.Partitions = append(pt.Partitions, pp)
	preq.Topics = append(preq.Topics, pt)
	r, err := request(addr, preq)
	if err != nil {
		t.Fatal(err)
	}
	return r.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
}

// highWatermark is ListOffsets' latest offset of topic-0 at addr (the HW).
func highWatermark(t *testing.T, addr, topic string) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 4
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -1
	lt.Partitions = append(lt.Partitions, lp)
	req.Topics = append(req.Topics, lt)
	r, err := request(addr, req)
	if err != nil {
		t.Fatal(err)
	}
	p := r.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("ListOffsets: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	return p.Offset
}

// elrState is partition 0 of topic as DescribeTopicPartitions (API 75)
// shows it at addr.
type elrState struct {
	leader            int32
	isr, elr, lastELR []int32
}

func describeELR(addr, topic string) (elrState, error) {
	req := kmsg.NewPtrDescribeTopicPartitionsRequest()
	rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
	rt.Topic = topic
	req.Topics = append(req.Topics, rt)
	r, err := request(addr, req)
	if err != nil {
		return elrState{}, err
	}
	resp := r.(*kmsg.DescribeTopicPartitionsResponse)
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != 1 {
		return elrState{}, fmt.Errorf("DescribeTopicPartitions %s: %+v", topic, resp.Topics)
	}
	p := resp.Topics[0].Partitions[0]
	return elrState{leader: p.LeaderID, isr: p.ISR, elr: p.EligibleLeaderReplicas, lastELR: p.LastKnownELR}, nil
}

// waitELR polls addr until check passes on topic's partition 0.
func waitELR(t *testing.T, addr, topic string, timeout time.Duration, check func(elrState) bool) elrState {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := describeELR(addr, topic)
		if err == nil && check(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s-0 at %s after %v: %+v (%v)", topic, addr, timeout, st, err)
		}
		time.Sleep(20 * time.Millisecond) // polling, bounded by the deadline
	}
}

// sameSet reports whether a and b hold the same ids.
func sameSet(a []int32, b ...int32) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// KIP-966: RF=3, min.insync.replicas=2, eligible leader replicas on. Both
// followers shut down cleanly one after the other: the second leaves an
// ISR already at min.insync.replicas, so it joins the ELR. The leader is
// killed with kill -9: the ISR is empty, the ELR holds it and the second
// follower. Restarted, the killed leader registers without a clean
// shutdown: it leaves the ELR for the last known ELR and is not elected,
// though live. The second follower restarted leads, from the ELR, and
// once the killed leader caught up and the ISR is at min.insync.replicas
// again, every record acknowledged with acks=all is read back at its
// offset.
func TestELRLeaderAfterISRLost(t *testing.T) {
	c := startSplitCluster(t, "SLUICE_MIN_INSYNC_REPLICAS=2", "SLUICE_ELIGIBLE_LEADER_REPLICAS_ENABLE=true")
	const topic = "elr"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	leader, followers := c.topic(topic)
	first, second := followers[0], followers[1]
	at := c.addrs[leader-1]
	var acks []acked
	produce := func(n int, tag string) {
		t.Helper()
		acks = append(acks, produceAcked(t, at, topic, tag, n)...)
	}
	produce(20, "all-three")
	c.nodes[first-1].stop()
	c.nodes[first-1] = nil
	waitELR(t, at, topic, 10*time.Second, func(st elrState) bool {
		return sameSet(st.isr, leader, second) && len(st.elr) == 0 // ISR at min.insync: no ELR
	})
	produce(20, "two")
	c.nodes[second-1].stop()
	c.nodes[second-1] = nil
	waitELR(t, at, topic, 10*time.Second, func(st elrState) bool {
		return sameSet(st.isr, leader) && sameSet(st.elr, second)
	})
	if sp := produceRaw(t, at, topic, oneBatch(t, "refused")); sp.ErrorCode != kerr.NotEnoughReplicas.Code {
		t.Fatalf("acks=all with the ISR under min.insync.replicas: %v, want NOT_ENOUGH_REPLICAS", kerr.ErrorForCode(sp.ErrorCode))
	}

	// kill -9 of the leader: fenced at its session's end, it leaves the
	// ISR for the ELR (asked of the controller: no broker is up).
	c.nodes[leader-1].kill()
	c.nodes[leader-1] = nil
	killed := time.Now()
	waitELR(t, c.ctl.addr, topic, 15*time.Second, func(st elrState) bool {
		return st.leader == -1 && len(st.isr) == 0 && sameSet(st.elr, leader, second)
	})
	c.start(leader) // no clean-shutdown marker
	st := waitELR(t, c.ctl.addr, topic, 15*time.Second, func(st elrState) bool {
		return sameSet(st.elr, second) && sameSet(st.lastELR, leader)
	})
	agreed(t, []string{c.addrs[leader-1]}, 15*time.Second, brokersAre(leader)) // unfenced
	if st, err := describeELR(c.ctl.addr, topic); err != nil || st.leader != -1 {
		t.Fatalf("after its unclean restart, broker %d: %+v (%v); want no leader", leader, st, err)
	}
	t.Logf("unclean restart of %d: ELR %v, last known ELR %v, no leader", leader, st.elr, st.lastELR)

	c.start(second)
	newLeader, isr := waitPartition(t, c.addrs[second-1], topic, 0, 15*time.Second, func(l int32, _ []int32) bool {
		return l == second
	})
	if !slices.Equal(isr, []int32{second}) && !sameSet(isr, second, leader) {
		t.Fatalf("leader %d elected from the ELR with ISR %v", newLeader, isr)
	}
	t.Logf("ELR member %d leads %v after kill -9 of leader %d (ISR lost)", second, time.Since(killed), leader)
	waitELR(t, c.addrs[second-1], topic, 15*time.Second, func(st elrState) bool {
		return sameSet(st.isr, leader, second) && len(st.elr) == 0 && len(st.lastELR) == 0
	})
	checkAcked(t, ctx, []string{c.addrs[leader-1], c.addrs[second-1]}, topic, acks)
}
