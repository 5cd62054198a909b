package controller

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/sluice/sluice/metadata"
)

// sessionNode is a one-voter controller on a clock the test moves, with
// brokers 1-3 registered and heartbeated at the clock's start. Its
// session passes run only when the test calls checkSessions.
type sessionNode struct {
	t     *testing.T
	ctl   *Controller
	clock atomic.Int64 // unix nanoseconds
	t0    time.Time
}

func newSessionNode(t *testing.T, session, heartbeat time.Duration) *sessionNode {
	t.Helper()
	n := &sessionNode{t: t, t0: time.Unix(1_000_000, 0)}
	n.clock.Store(n.t0.UnixNano())
	cfg := testConfig(1, []Voter{{ID: 1, Addr: freeAddr(t)}}, t.TempDir())
	cfg.Now = n.now
	cfg.SessionTimeout, cfg.HeartbeatInterval = session, heartbeat
	cfg.SessionCheckInterval = time.Hour // the test runs the passes itself
	ctl, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close() })
	n.ctl = ctl
	eventually(t, 10*time.Second, func() string {
		ctl.mu.Lock()
		defer ctl.mu.Unlock()
		if !ctl.IsLeader() || !ctl.mu.watch.leading {
			return "single voter did not elect itself"
		}
		return ""
	})
	for id := int32(1); id <= 3; id++ {
		epoch, err := ctl.RegisterBroker(BrokerRegistration{BrokerID: id, Incarnation: metadata.UUID{byte(id)}})
		if err != nil {
			t.Fatal(err)
		}
		n.heartbeat(id, epoch)
	}
	return n
}

func (n *sessionNode) now() time.Time { return time.Unix(0, n.clock.Load()) }

// at sets the clock to t0+d.
func (n *sessionNode) at(d time.Duration) { n.clock.Store(n.t0.Add(d).UnixNano()) }

func (n *sessionNode) heartbeat(id int32, epoch int64) {
	n.t.Helper()
	if epoch < 0 {
		b, _ := n.ctl.Image().Broker(id)
		epoch = b.Epoch
	}
	if err := n.ctl.Heartbeat(id, epoch); err != nil {
		n.t.Fatal(err)
	}
}

// fenced runs a session pass and returns which brokers are fenced.
func (n *sessionNode) fenced() [3]bool {
	n.ctl.checkSessions()
	var out [3]bool
	for id := int32(1); id <= 3; id++ {
		b, _ := n.ctl.Image().Broker(id)
		out[id-1] = b.Fenced
	}
	return out
}

// observe feeds raft observations to the node as its raft would: leader
// lost (-1, with the last contact), another leader, or this node's state.
func (n *sessionNode) lose(lastContact time.Duration) { n.ctl.leaderChanged(-1, n.t0.Add(lastContact)) }
func (n *sessionNode) follow(id int32)                { n.ctl.leaderChanged(id, time.Time{}) }
func (n *sessionNode) state(s raft.RaftState)         { n.ctl.observeRaft(&raft.Observation{Data: s}) }

// A node that regains leadership does not fence brokers on what it saw
// when it led before: its sessions restart as it becomes leader, and no
// pass fences in between (the race that fenced two live brokers in the
// netns cluster test when the controller moved back to a former leader).
func TestRegainedLeadershipStartsFreshSessions(t *testing.T) {
	n := newSessionNode(t, 3*time.Second, 500*time.Millisecond)
	// This node steps down; its brokers' last heartbeats here are soon
	// far older than the session (they go to the other leader).
	n.state(raft.Follower)
	n.follow(2)
	n.at(10 * time.Second)
	if f := n.fenced(); f != [3]bool{} {
		t.Fatalf("a pass while not leading fenced %v", f)
	}
	n.lose(10 * time.Second)
	n.state(raft.Leader) // regained: every session starts now
	n.follow(1)
	if f := n.fenced(); f != [3]bool{} {
		t.Fatalf("first pass as leader again fenced %v", f)
	}
	n.at(12900 * time.Millisecond)
	n.heartbeat(3, -1)
	if f := n.fenced(); f != [3]bool{} {
		t.Fatalf("fenced %v within the fresh sessions", f)
	}
	n.at(13100 * time.Millisecond)
	if f := n.fenced(); f != [3]bool{true, true, false} {
		t.Fatalf("a session after the election: fenced %v, want brokers 1 and 2 (3 heartbeated)", f)
	}
}

// The previous controller's broker (same node id) gets a session from
// when that controller was last heard from, not from the election; the
// other brokers from the election. A slow election still leaves it two
// heartbeat intervals after the election, and a heartbeat in them keeps
// it.
func TestPreviousControllerSessionFromLastContact(t *testing.T) {
	const session, heartbeat = 3 * time.Second, 500 * time.Millisecond
	f := func(name string, lastContact, elected time.Duration, heartbeatAt time.Duration,
		checks map[time.Duration][3]bool) {
		t.Run(name, func(t *testing.T) {
			n := newSessionNode(t, session, heartbeat)
			n.state(raft.Follower)
			n.follow(2) // broker 2's node leads, then is lost
			n.lose(lastContact)
			n.at(elected)
			n.state(raft.Leader)
			n.follow(1)
			if heartbeatAt > 0 {
				n.at(heartbeatAt)
				n.heartbeat(2, -1)
			}
			var last time.Duration
			for _, d := range []time.Duration{0, 2900, 3100, 3400, 3600, 3900, 4100, 4600} {
				want, ok := checks[d*time.Millisecond]
				if !ok {
					continue
				}
				n.at(max(d*time.Millisecond, last))
				if got := n.fenced(); got != want {
					t.Fatalf("at %v: fenced %v, want %v", d*time.Millisecond, got, want)
				}
				last = d * time.Millisecond
			}
		})
	}
	// Last heard at 0, elected at 1.5 s: broker 2 fenced a session after
	// 0, the others a session after the election.
	f("session from the last contact", 0, 1500*time.Millisecond, 0, map[time.Duration][3]bool{
		2900 * time.Millisecond: {false, false, false},
		3100 * time.Millisecond: {false, true, false},
		4600 * time.Millisecond: {true, true, true},
	})
	// Elected 2.5 s after the last contact: broker 2 keeps 2 heartbeat
	// intervals from the election (until 3.5 s).
	f("slow election: two heartbeat intervals", 0, 2500*time.Millisecond, 0, map[time.Duration][3]bool{
		3400 * time.Millisecond: {false, false, false},
		3600 * time.Millisecond: {false, true, false},
	})
	// ...and a heartbeat within them keeps it a session from there.
	f("slow election, broker heard", 0, 2500*time.Millisecond, 3*time.Second, map[time.Duration][3]bool{
		3600 * time.Millisecond: {false, false, false},
		4100 * time.Millisecond: {false, false, false},
	})
	// Another leader seen after the lost one: nothing is known of the
	// lost one's end, every session starts at the election.
	t.Run("another leader between", func(t *testing.T) {
		n := newSessionNode(t, session, heartbeat)
		n.state(raft.Follower)
		n.follow(2)
		n.lose(0)
		n.follow(3)
		n.at(1500 * time.Millisecond)
		n.state(raft.Leader)
		n.at(3100 * time.Millisecond)
		if got := n.fenced(); got != [3]bool{} {
			t.Fatalf("fenced %v, want none", got)
		}
	})
}

// The grace after an election is two heartbeat intervals, at most a
// session; a last contact after the election (clocks) counts as the
// election.
func TestPreviousLeaderSeen(t *testing.T) {
	c := &Controller{}
	now := time.Unix(1_000_000, 0)
	f := func(session, heartbeat, lastContact, want time.Duration) {
		t.Helper()
		c.cfg.SessionTimeout, c.cfg.HeartbeatInterval = session, heartbeat
		if got := c.previousLeaderSeen(now, now.Add(lastContact)); !got.Equal(now.Add(want)) {
			t.Fatalf("session %v heartbeat %v last contact %v: seen at %v, want %v", session, heartbeat, lastContact,
				got.Sub(now), want)
		}
	}
	f(9*time.Second, 2*time.Second, -2*time.Second, -2*time.Second)
	f(9*time.Second, 2*time.Second, -6*time.Second, -5*time.Second) // grace 4 s
	f(3*time.Second, 2*time.Second, -2*time.Second, 0)              // grace capped at the session
	f(3*time.Second, 500*time.Millisecond, time.Second, 0)
}

// The next pass comes just after the first session's end (KRaft's
// controller schedules its fencing check there), within
// SessionCheckInterval.
func TestNextPassAtSessionEnd(t *testing.T) {
	n := newSessionNode(t, 3*time.Second, 500*time.Millisecond)
	n.at(time.Second)
	n.heartbeat(1, -1)
	n.heartbeat(2, -1)
	n.at(2 * time.Second)
	expired, next := n.ctl.expiredSessions()
	if len(expired) != 0 || !next.Equal(n.t0.Add(3*time.Second)) {
		t.Fatalf("at 2s: expired %v, next session end %v, want none and broker 3's at 3s", expired, next.Sub(n.t0))
	}
	if d := untilNextPass(n.now(), next, time.Hour); d != time.Second+time.Millisecond {
		t.Fatalf("next pass in %v, want 1.001s", d)
	}
	n.at(3001 * time.Millisecond)
	if f := n.fenced(); f != [3]bool{false, false, true} {
		t.Fatalf("just after broker 3's session: fenced %v", f)
	}
	if _, next = n.ctl.expiredSessions(); !next.Equal(n.t0.Add(4 * time.Second)) {
		t.Fatalf("next session end %v, want 4s", next.Sub(n.t0))
	}
	if d := untilNextPass(n.now(), next, 200*time.Millisecond); d != 200*time.Millisecond {
		t.Fatalf("next pass in %v, want the check interval", d)
	}
	if d := untilNextPass(n.now(), time.Time{}, 200*time.Millisecond); d != 200*time.Millisecond {
		t.Fatalf("with no session: next pass in %v, want the check interval", d)
	}
	if d := untilNextPass(n.now(), n.t0, time.Hour); d != time.Millisecond {
		t.Fatalf("with a session already over: next pass in %v, want 1ms", d)
	}
}

// A second incarnation of a broker id is refused while the first is alive
// (unfenced, heard from within its session), as Kafka's
// DUPLICATE_BROKER_REGISTRATION; once the session has passed, or the
// first is fenced, it registers.
func TestDuplicateRegistrationRefused(t *testing.T) {
	cfg := testConfig(1, []Voter{{ID: 1, Addr: freeAddr(t)}}, t.TempDir())
	now := time.Unix(1_000_000, 0)
	cfg.Now = func() time.Time { return now }
	cfg.SessionCheckInterval = time.Hour // no fencing behind the test's back
	ctl, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	eventually(t, 10*time.Second, func() string {
		if !ctl.IsLeader() {
			return "single voter did not elect itself"
		}
		return ""
	})
	register := func(inc byte) (int64, error) {
		return ctl.RegisterBroker(BrokerRegistration{BrokerID: 7, Incarnation: metadata.UUID{inc}})
	}
	epoch, err := register(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.Heartbeat(7, epoch); err != nil {
		t.Fatal(err)
	}
	// Alive: the other incarnation is refused, the same one is not.
	if _, err := register(2); !errors.Is(err, ErrDuplicateBroker) {
		t.Fatalf("second incarnation while the first is alive: %v", err)
	}
	if again, err := register(1); err != nil || again != epoch {
		t.Fatalf("repeat of the first: epoch %d, %v", again, err)
	}
	if b, _ := ctl.Image().Broker(7); b.Epoch != epoch || b.Incarnation != (metadata.UUID{1}) {
		t.Fatalf("the refused registration changed broker 7: %+v", b)
	}
	// Just within the session: still refused; past it: registered.
	now = now.Add(cfg.SessionTimeout)
	if _, err := register(2); !errors.Is(err, ErrDuplicateBroker) {
		t.Fatalf("at the end of the session: %v", err)
	}
	now = now.Add(time.Millisecond)
	epoch2, err := register(2)
	if err != nil || epoch2 != epoch+1 {
		t.Fatalf("after the session: epoch %d, %v", epoch2, err)
	}
	// A fenced broker's id is free at once.
	if err := ctl.Heartbeat(7, epoch2); err != nil {
		t.Fatal(err)
	}
	if err := ctl.FenceBroker(7); err != nil {
		t.Fatal(err)
	}
	if _, err := register(3); err != nil {
		t.Fatalf("after fencing: %v", err)
	}
}
