package controller

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sluice/sluice/internal/freeport"
	"github.com/sluice/sluice/metadata"
)

// freeAddr returns a loopback address with a port that was free.
func freeAddr(t testing.TB) string {
	t.Helper()
	a, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func testConfig(id int32, voters []Voter, dir string) Config {
	return Config{
		NodeID: id, Voters: voters, DataDir: dir, Serve: func(c net.Conn) { c.Close() },
		SessionTimeout:       2500 * time.Millisecond, // generous: a loaded CI machine must not fence by accident
		SessionCheckInterval: 50 * time.Millisecond,
		ApplyTimeout:         5 * time.Second,
		TrailingLogs:         1, // a snapshot truncates the log: a restarted node needs InstallSnapshot
		Timeouts: Timeouts{
			Heartbeat: 150 * time.Millisecond, Election: 150 * time.Millisecond,
			LeaderLease: 100 * time.Millisecond, Commit: 10 * time.Millisecond,
		},
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Output: os.Stderr}),
	}
}

// cluster is n controller nodes in this process, each on its own loopback
// port and directory. nodes[i] is nil while node i is stopped.
type cluster struct {
	t      *testing.T
	voters []Voter
	dirs   []string
	mu     sync.Mutex
	nodes  []*Controller
}

func newCluster(t *testing.T, n int) *cluster {
	c := &cluster{t: t, nodes: make([]*Controller, n)}
	for i := range n {
		c.voters = append(c.voters, Voter{ID: int32(i + 1), Addr: freeAddr(t)})
		c.dirs = append(c.dirs, t.TempDir())
	}
	for i := range n {
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range n {
			c.stop(i)
		}
	})
	return c
}

func (c *cluster) start(i int) {
	c.t.Helper()
	ctl, err := Open(testConfig(int32(i+1), c.voters, c.dirs[i]))
	if err != nil {
		c.t.Fatalf("open node %d: %v", i+1, err)
	}
	c.mu.Lock()
	c.nodes[i] = ctl
	c.mu.Unlock()
}

func (c *cluster) stop(i int) {
	c.mu.Lock()
	ctl := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if ctl != nil {
		if err := ctl.Close(); err != nil {
			c.t.Errorf("close node %d: %v", i+1, err)
		}
	}
}

func (c *cluster) running() []*Controller {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Controller
	for _, n := range c.nodes {
		if n != nil {
			out = append(out, n)
		}
	}
	return out
}

// eventually polls cond until it returns "" or the deadline passes.
func eventually(t *testing.T, d time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, msg)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not a wait for a condition
	}
}

func (c *cluster) leader() *Controller {
	c.t.Helper()
	var leader *Controller
	eventually(c.t, 10*time.Second, func() string {
		for _, n := range c.running() {
			if n.IsLeader() {
				leader = n
				return ""
			}
		}
		return "no leader"
	})
	return leader
}

// do runs fn on the active controller, again on a new one while the
// leadership moves, and returns the node that succeeded (its image holds
// the change). A proposal whose leader lost leadership may still commit: a
// retry that finds the topic created or deleted already counts as done.
func (c *cluster) do(fn func(*Controller) error) *Controller {
	c.t.Helper()
	var last error
	var node *Controller
	attempts := 0
	eventually(c.t, 10*time.Second, func() string {
		node = c.leader()
		last = fn(node)
		attempts++
		if errors.Is(last, ErrNotLeader) || errors.Is(last, ErrClosed) {
			return fmt.Sprintf("leadership moving: %v", last)
		}
		if attempts > 1 && (errors.Is(last, ErrTopicExists) || errors.Is(last, ErrUnknownTopic)) {
			last = nil
		}
		return ""
	})
	if last != nil {
		c.t.Fatal(last)
	}
	return node
}

// heartbeats sends each running broker's heartbeat to the leader every
// 100 ms until stopped.
type heartbeats struct {
	mu      sync.Mutex
	epochs  map[int32]int64
	stopped map[int32]bool
	quit    chan struct{}
	done    sync.WaitGroup
}

func (c *cluster) startHeartbeats() *heartbeats {
	h := &heartbeats{epochs: map[int32]int64{}, stopped: map[int32]bool{}, quit: make(chan struct{})}
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-h.quit:
				return
			case <-tick.C:
			}
			h.mu.Lock()
			epochs := map[int32]int64{}
			for id, e := range h.epochs {
				if !h.stopped[id] {
					epochs[id] = e
				}
			}
			h.mu.Unlock()
			for _, n := range c.running() {
				if !n.IsLeader() {
					continue
				}
				for id, e := range epochs {
					_ = n.Heartbeat(id, e) // a failed beat is a missed one
				}
			}
		}
	}()
	c.t.Cleanup(func() { close(h.quit); h.done.Wait() })
	return h
}

func (h *heartbeats) set(id int32, epoch int64) {
	h.mu.Lock()
	h.epochs[id] = epoch
	h.mu.Unlock()
}

func (h *heartbeats) stop(id int32) {
	h.mu.Lock()
	h.stopped[id] = true
	h.mu.Unlock()
}

func leaderCounts(tp *metadata.TopicImage) map[int32]int {
	m := map[int32]int{}
	for _, p := range tp.Partitions {
		m[p.Leader]++
	}
	return m
}

// checkIdentical waits until every running node applied the same entries
// and has the same image, compared by snapshot bytes.
func (c *cluster) checkIdentical() {
	c.t.Helper()
	eventually(c.t, 10*time.Second, func() string {
		nodes := c.running()
		want := nodes[0].Image().AppendSnapshot(nil)
		for _, n := range nodes[1:] {
			if n.AppliedIndex() != nodes[0].AppliedIndex() {
				return fmt.Sprintf("applied %d and %d", n.AppliedIndex(), nodes[0].AppliedIndex())
			}
			if got := n.Image().AppendSnapshot(nil); !bytes.Equal(got, want) {
				return fmt.Sprintf("node %d image differs from node %d's", n.NodeID(), nodes[0].NodeID())
			}
		}
		return ""
	})
}

func TestThreeNodeCluster(t *testing.T) {
	start := time.Now()
	phase := func(name string) { t.Logf("%6.2fs %s", time.Since(start).Seconds(), name) }
	c := newCluster(t, 3)
	c.leader()
	phase("leader elected")

	// Every node sees the three voters and the same leader.
	for _, n := range c.running() {
		eventually(t, 10*time.Second, func() string {
			lid := c.leader().NodeID()
			q, err := n.Quorum()
			if err != nil || q.LeaderID != lid || !slices.Equal(q.Voters, c.voters) {
				return fmt.Sprintf("node %d quorum %+v, %v", n.NodeID(), q, err)
			}
			return ""
		})
	}

	// A follower names the leader (with no brokers registered, a node that
	// became leader meanwhile refuses the topic instead: try again).
	eventually(t, 10*time.Second, func() string {
		leader := c.leader()
		for _, n := range c.running() {
			if n == leader {
				continue
			}
			_, err := n.CreateTopic("x", 1, 1, nil)
			var nl *NotLeaderError
			if !errors.As(err, &nl) {
				return fmt.Sprintf("follower create: %v, want NotLeaderError", err)
			}
			if nl.LeaderID != leader.NodeID() && nl.LeaderID != -1 {
				return fmt.Sprintf("follower names leader %d, leader is %d", nl.LeaderID, leader.NodeID())
			}
		}
		return ""
	})

	// Brokers 1-3 register and heartbeat: they are unfenced.
	hb := c.startHeartbeats()
	for id := int32(1); id <= 3; id++ {
		c.do(func(n *Controller) error {
			epoch, err := n.RegisterBroker(BrokerRegistration{
				BrokerID: id, Incarnation: metadata.UUID{byte(id)},
				Endpoints: []metadata.Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: uint16(9091 + id)}},
			})
			if err == nil {
				hb.set(id, epoch)
			}
			return err
		})
	}
	eventually(t, 10*time.Second, func() string {
		for _, b := range c.leader().Image().Brokers() {
			if b.Fenced {
				return fmt.Sprintf("broker %d still fenced", b.ID)
			}
		}
		return ""
	})

	phase("brokers unfenced")
	// 12 partitions of RF=3: four leaders on each broker.
	n := c.do(func(n *Controller) error {
		_, err := n.CreateTopic("orders", 12, 3, map[string]string{"retention.ms": "1000"})
		return err
	})
	tp, _ := n.Image().Topic("orders")
	if got := leaderCounts(tp); len(got) != 3 || got[1] != 4 || got[2] != 4 || got[3] != 4 {
		t.Fatalf("leaders per broker %v, want 4 each", got)
	}
	for _, p := range tp.Partitions {
		if len(p.Replicas) != 3 || !slices.Equal(p.ISR, p.Replicas) || p.Leader != p.Replicas[0] {
			t.Fatalf("partition %+v", p)
		}
	}

	// Producer-id blocks across leader changes and restarts.
	var blocks []metadata.ProducerIdsBlock
	alloc := func(broker int32) {
		t.Helper()
		c.do(func(n *Controller) error {
			hb.mu.Lock()
			epoch := hb.epochs[broker]
			hb.mu.Unlock()
			b, err := n.AllocateProducerIDs(broker, epoch)
			if err == nil {
				blocks = append(blocks, b)
			}
			return err
		})
	}
	alloc(1)
	alloc(2)

	phase("topic created, ids allocated")
	// Stop the leader: a new one is elected and serves proposals.
	old := c.leader().NodeID()
	c.stop(int(old - 1))
	eventually(t, 10*time.Second, func() string {
		if l := c.leader(); l.NodeID() == old {
			return "old leader still leads"
		}
		return ""
	})
	n = c.do(func(n *Controller) error { _, err := n.CreateTopic("after-failover", 3, 2, nil); return err })
	before, _ := n.Image().Topic("orders")
	alloc(3)

	phase("new leader serves")
	// Fence a broker by stopping its heartbeats: its partitions get new
	// leaders from their ISR, leader epoch + 1.
	victim := int32(2)
	hb.stop(victim)
	eventually(t, 15*time.Second, func() string {
		im := c.leader().Image()
		if b, _ := im.Broker(victim); !b.Fenced {
			return "victim not fenced"
		}
		tp, ok := im.Topic("orders")
		if !ok {
			return "a new leader has not applied the topic yet"
		}
		for i, p := range tp.Partitions {
			was := before.Partitions[i]
			if p.Leader == victim || slices.Contains(p.ISR, victim) {
				return fmt.Sprintf("partition %d still has the victim: %+v", i, p)
			}
			if was.Leader == victim && (!slices.Contains(was.ISR, p.Leader) || p.LeaderEpoch != was.LeaderEpoch+1) {
				return fmt.Sprintf("partition %d: new leader %d epoch %d, was %+v", i, p.Leader, p.LeaderEpoch, was)
			}
		}
		return ""
	})

	phase("broker fenced, leaders moved")
	// Restart the old leader on its directory after the leader snapshotted
	// and truncated its log: it catches up from the snapshot.
	c.do(func(n *Controller) error { return n.Snapshot() })
	c.start(int(old - 1))
	alloc(1)
	c.do(func(n *Controller) error { return n.DeleteTopic("after-failover") })
	alloc(3)
	phase("old leader restarted, more changes")
	c.checkIdentical()

	phase("images identical")
	slices.SortFunc(blocks, func(a, b metadata.ProducerIdsBlock) int { return int(a.FirstID - b.FirstID) })
	for i := 1; i < len(blocks); i++ {
		if prev := blocks[i-1]; prev.FirstID+int64(prev.Size) > blocks[i].FirstID {
			t.Fatalf("producer-id blocks overlap: %+v and %+v", prev, blocks[i])
		}
	}
	if len(blocks) != 5 {
		t.Fatalf("%d blocks", len(blocks))
	}
}

func TestSingleVoterBootstrapsAndRestarts(t *testing.T) {
	dir := t.TempDir()
	voters := []Voter{{ID: 1, Addr: freeAddr(t)}}
	cfg := testConfig(1, voters, dir)
	cfg.SessionTimeout = time.Minute // no heartbeats here: no session may expire
	ctl, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() string {
		if !ctl.IsLeader() {
			return "single voter did not elect itself"
		}
		return ""
	})
	epoch, err := ctl.RegisterBroker(BrokerRegistration{BrokerID: 1, Incarnation: metadata.UUID{1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.Heartbeat(1, epoch); err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.CreateTopic("a", 2, 1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.CreateTopic("a", 2, 1, nil); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("second create: %v", err)
	}
	if _, err := ctl.CreateTopic("b", 1, 2, nil); !errors.Is(err, ErrInvalidReplication) {
		t.Fatalf("RF 2 on one broker: %v", err)
	}
	b1, err := ctl.AllocateProducerIDs(1, epoch)
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.CreateTopic("after-snapshot", 1, 1, nil); err != nil {
		t.Fatal(err)
	}
	want := ctl.Image().AppendSnapshot(nil)
	if err := ctl.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopen: the snapshot plus the log's tail rebuild the same image.
	ctl, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	eventually(t, 10*time.Second, func() string {
		if !ctl.IsLeader() || !bytes.Equal(ctl.Image().AppendSnapshot(nil), want) {
			return "image not restored"
		}
		return ""
	})
	b2, err := ctl.AllocateProducerIDs(1, epoch)
	if err != nil {
		t.Fatal(err)
	}
	if b2.FirstID != b1.FirstID+int64(b1.Size) {
		t.Fatalf("block after restart %+v, before %+v", b2, b1)
	}

	// Concurrent allocations never overlap.
	var wg sync.WaitGroup
	got := make([]metadata.ProducerIdsBlock, 8)
	errs := make([]error, 8)
	for i := range got {
		wg.Go(func() { got[i], errs[i] = ctl.AllocateProducerIDs(1, epoch) })
	}
	wg.Wait()
	firsts := map[int64]bool{b1.FirstID: true, b2.FirstID: true}
	for i, b := range got {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if firsts[b.FirstID] || b.FirstID%1000 != 0 || b.Size != 1000 {
			t.Fatalf("block %+v overlaps or is misaligned", b)
		}
		firsts[b.FirstID] = true
	}

	// CreatePartitions grows a topic; shrinking is refused.
	if err := ctl.CreatePartitions("a", 5); err != nil {
		t.Fatal(err)
	}
	if tp, _ := ctl.Image().Topic("a"); len(tp.Partitions) != 5 || tp.Partitions[4].Leader != 1 {
		t.Fatalf("after CreatePartitions: %+v", tp)
	}
	if err := ctl.CreatePartitions("a", 3); !errors.Is(err, ErrInvalidPartitions) {
		t.Fatalf("shrink: %v", err)
	}
	if err := ctl.DeleteTopic("nope"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("delete unknown: %v", err)
	}
	if _, err := ctl.CreateTopic("bad/name", 1, 1, nil); !errors.Is(err, ErrInvalidTopic) {
		t.Fatalf("bad name: %v", err)
	}
	if err := ctl.Heartbeat(1, epoch+1); !errors.Is(err, ErrStaleBrokerEpoch) {
		t.Fatalf("stale heartbeat: %v", err)
	}

	// The broker restarts (new incarnation) within its session: from
	// another process that is a duplicate and refused; from this
	// controller's own process (a combined node restarted after kill -9)
	// its partitions lose their leader (the ISR keeps it), and its first
	// heartbeat unfences it and gives them back (leader epoch + 2).
	if again, err := ctl.RegisterBroker(BrokerRegistration{BrokerID: 1, Incarnation: metadata.UUID{1}}); err != nil || again != epoch {
		t.Fatalf("repeated registration: epoch %d, %v", again, err)
	}
	if err := ctl.Heartbeat(1, epoch); err != nil { // heard from since the reopen
		t.Fatal(err)
	}
	if _, err := ctl.RegisterBroker(BrokerRegistration{BrokerID: 1, Incarnation: metadata.UUID{2}}); !errors.Is(err, ErrDuplicateBroker) {
		t.Fatalf("registration of another live incarnation: %v, want ErrDuplicateBroker", err)
	}
	epoch2, err := ctl.RegisterBroker(BrokerRegistration{BrokerID: 1, Incarnation: metadata.UUID{2}, Local: true})
	if err != nil || epoch2 != epoch+1 {
		t.Fatalf("re-registration: epoch %d, %v", epoch2, err)
	}
	if tp, _ := ctl.Image().Topic("a"); tp.Partitions[0].Leader != metadata.NoLeader || tp.Partitions[0].LeaderEpoch != 1 {
		t.Fatalf("after re-registration: %+v", tp.Partitions[0])
	}
	if err := ctl.Heartbeat(1, epoch2); err != nil {
		t.Fatal(err)
	}
	if tp, _ := ctl.Image().Topic("a"); tp.Partitions[0].Leader != 1 || tp.Partitions[0].LeaderEpoch != 2 {
		t.Fatalf("after unfence: %+v", tp.Partitions[0])
	}
}

func TestQuorumReportsReplicaOffsets(t *testing.T) {
	c := newCluster(t, 1)
	n := c.leader()
	epochs := map[int32]int64{}
	for id := int32(1); id <= 2; id++ {
		epoch, err := n.RegisterBroker(BrokerRegistration{BrokerID: id, Incarnation: metadata.UUID{byte(id)}})
		if err != nil {
			t.Fatal(err)
		}
		epochs[id] = epoch
	}
	// Broker 2 is not a voter: an observer, with the offset it reported.
	if err := n.HeartbeatAt(2, epochs[2], 3); err != nil {
		t.Fatal(err)
	}
	q, err := n.Quorum()
	if err != nil {
		t.Fatal(err)
	}
	if q.LeaderID != 1 || q.LeaderEpoch < 1 || q.HighWatermark < 3 {
		t.Fatalf("quorum %+v", q)
	}
	if len(q.States) != 2 {
		t.Fatalf("states %+v, want voter 1 and observer 2", q.States)
	}
	v, o := q.States[0], q.States[1]
	if v.ID != 1 || !v.Voter || v.LogEndOffset < int64(q.HighWatermark) || v.LastSeen.IsZero() {
		t.Fatalf("voter %+v (high watermark %d)", v, q.HighWatermark)
	}
	if o.ID != 2 || o.Voter || o.LogEndOffset != 3 || o.LastSeen.IsZero() {
		t.Fatalf("observer %+v", o)
	}
}
