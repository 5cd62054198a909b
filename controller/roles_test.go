package controller

import (
	"bytes"
	"errors"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/sluice/sluice/metadata"
)

// The prefixes raft's transport opens a connection with are told apart
// from Kafka frames of every size a controller RPC has.
func TestMuxPrefix(t *testing.T) {
	f := func(b0, b1 byte, raft bool) {
		t.Helper()
		if got := isRaftPrefix(b0, b1); got != raft {
			t.Fatalf("isRaftPrefix(%#x, %#x) = %v, want %v", b0, b1, got, raft)
		}
	}
	f(0x01, 0x88, true) // RequestVote, fixmap of 8 (as raft v1.8 sends)
	f(0x04, 0x86, true) // RequestPreVote
	f(0x00, 0xde, true) // AppendEntries, map16
	f(0x00, 0x00, false)
	f(0x00, 0x7f, false) // a frame just under 8 MiB
	f(0x10, 0x80, false)
}

// A Kafka-framed connection to a voter's CONTROLLER listener reaches
// Serve, first bytes included, while raft keeps working on the same port.
func TestMuxServesKafkaFrames(t *testing.T) {
	got := make(chan []byte, 1)
	voters := []Voter{{ID: 1, Addr: freeAddr(t)}}
	cfg := testConfig(1, voters, t.TempDir())
	cfg.Serve = func(c net.Conn) {
		defer c.Close()
		b := make([]byte, 6)
		if _, err := io.ReadFull(c, b); err != nil {
			got <- nil
			return
		}
		_, _ = c.Write([]byte("pong"))
		got <- b
	}
	ctl, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	eventually(t, 10*time.Second, func() string {
		if !ctl.IsLeader() {
			return "no leader"
		}
		return ""
	})
	c, err := net.DialTimeout("tcp", voters[0].Addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	frame := []byte{0, 0, 0, 2, 0xab, 0xcd}
	if _, err := c.Write(frame); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, frame) {
		t.Fatalf("Serve read % x, want % x", b, frame)
	}
	reply := make([]byte, 4)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, reply); err != nil || string(reply) != "pong" {
		t.Fatalf("reply %q, %v", reply, err)
	}
	if _, err := ctl.RegisterBroker(BrokerRegistration{BrokerID: 7}); err != nil {
		t.Fatal(err)
	}
}

// openObserver opens node id as an observer (process.roles=broker) of
// c's quorum, on a loopback port; the caller closes it.
func openObserver(t *testing.T, c *cluster, id int32) *Controller {
	t.Helper()
	ocfg := testConfig(id, c.voters, t.TempDir())
	ocfg.Observer, ocfg.ListenAddr = true, "127.0.0.1:0"
	obs, err := Open(ocfg)
	if err != nil {
		t.Fatal(err)
	}
	return obs
}

// An observer (process.roles=broker) is not a voter: it follows the
// metadata log once the leader adds it, never leads, and a second
// AddObserver at the same address changes nothing.
func TestObserverFollowsLog(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.leader()
	obs := openObserver(t, c, 4)
	defer obs.Close()
	if _, err := leader.RegisterBroker(BrokerRegistration{BrokerID: 7}); err != nil {
		t.Fatal(err)
	}
	if err := obs.AddObserver(4, obs.Addr()); err == nil {
		t.Fatal("an observer added a member: want a not-leader error")
	}
	for range 2 {
		if err := leader.AddObserver(4, obs.Addr()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := leader.RegisterBroker(BrokerRegistration{BrokerID: 8}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() string {
		im := obs.Image()
		_, b := im.Broker(7)
		_, a := im.Broker(8)
		if !a || !b {
			return "the observer's image lacks the registrations"
		}
		if id, _ := obs.Leader(); id != leader.NodeID() {
			return "the observer does not know the leader"
		}
		return ""
	})
	q, err := leader.Quorum()
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Voters) != 3 {
		t.Fatalf("voters %+v: the observer must not vote", q.Voters)
	}
	if obs.IsLeader() {
		t.Fatal("the observer leads")
	}
}

// UnregisterBroker refuses an unknown or live broker; a fenced broker-only
// node leaves the image and the quorum (its follower is no longer a
// non-voter), and may register again later.
func TestUnregisterBroker(t *testing.T) {
	c := newCluster(t, 3)
	leader := c.leader()
	obs := openObserver(t, c, 4)
	defer obs.Close()
	if err := leader.AddObserver(4, obs.Addr()); err != nil {
		t.Fatal(err)
	}
	epoch, err := leader.RegisterBroker(BrokerRegistration{BrokerID: 4, Incarnation: metadata.UUID{4}})
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.Heartbeat(4, epoch); err != nil {
		t.Fatal(err)
	}
	observers := func() []int32 {
		q, err := leader.Quorum()
		if err != nil {
			t.Fatal(err)
		}
		var out []int32
		for _, s := range q.States {
			if !s.Voter {
				out = append(out, s.ID)
			}
		}
		return out
	}
	if got := observers(); !slices.Equal(got, []int32{4}) {
		t.Fatalf("observers %v, want [4]", got)
	}
	if err := leader.UnregisterBroker(9); !errors.Is(err, ErrUnknownBroker) {
		t.Fatalf("unregister an unknown broker: %v", err)
	}
	if err := leader.UnregisterBroker(4); !errors.Is(err, ErrBrokerAlive) {
		t.Fatalf("unregister a live broker: %v", err)
	}
	if err := obs.UnregisterBroker(4); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("unregister on a non-leader: %v", err)
	}
	if err := leader.FenceBroker(4); err != nil {
		t.Fatal(err)
	}
	if err := leader.UnregisterBroker(4); err != nil {
		t.Fatal(err)
	}
	if _, ok := leader.Image().Broker(4); ok {
		t.Fatal("broker 4 still registered")
	}
	if got := observers(); len(got) != 0 {
		t.Fatalf("observers %v after unregistering, want none", got)
	}
	f := leader.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	if n := len(f.Configuration().Servers); n != 3 {
		t.Fatalf("%d servers in the quorum's configuration, want the 3 voters", n)
	}
	if _, err := leader.RegisterBroker(BrokerRegistration{BrokerID: 4, Incarnation: metadata.UUID{5}}); err != nil {
		t.Fatalf("register again: %v", err)
	}
}

// A node started with Join waits for the leader to add it as a voter:
// then it follows the log and is counted in the quorum; a second add at
// the same address changes nothing, at another address it is refused.
func TestJoinAsVoter(t *testing.T) {
	c := newCluster(t, 1)
	leader := c.leader()
	if _, err := leader.RegisterBroker(BrokerRegistration{BrokerID: 7}); err != nil {
		t.Fatal(err)
	}
	jcfg := testConfig(2, nil, t.TempDir())
	jcfg.Join, jcfg.ListenAddr = true, freeAddr(t)
	j, err := Open(jcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if j.IsVoter() {
		t.Fatal("a joining node is a voter before it is added")
	}
	if err := j.AddVoter(2, j.Addr()); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("add on a non-leader: %v", err)
	}
	for range 2 {
		if err := leader.AddVoter(2, j.Addr()); err != nil {
			t.Fatal(err)
		}
	}
	if err := leader.AddVoter(2, "127.0.0.1:1"); !errors.Is(err, ErrDuplicateVoter) {
		t.Fatalf("add at another address: %v", err)
	}
	eventually(t, 10*time.Second, func() string {
		if !j.IsVoter() {
			return "the joined node is not a voter"
		}
		if _, ok := j.Image().Broker(7); !ok {
			return "the joined node's image lacks the registration"
		}
		return ""
	})
	q, err := leader.Quorum()
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Voters) != 2 {
		t.Fatalf("voters %+v, want 2", q.Voters)
	}
	// Two voters: a proposal needs both, so the joined node takes part.
	if _, err := leader.RegisterBroker(BrokerRegistration{BrokerID: 8}); err != nil {
		t.Fatal(err)
	}
}
