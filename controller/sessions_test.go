package controller

import (
	"errors"
	"testing"
	"time"

	"github.com/sluice/sluice/metadata"
)

// A node that regains leadership must not fence brokers on what it saw
// when it led before: the first pass that finds it leading starts every
// session afresh (the race that fenced two live brokers in the netns
// cluster test when the controller moved back to a former leader).
func TestRegainedLeadershipStartsFreshSessions(t *testing.T) {
	cfg := testConfig(1, []Voter{{ID: 1, Addr: freeAddr(t)}}, t.TempDir())
	now := time.Unix(1_000_000, 0)
	cfg.Now = func() time.Time { return now }
	cfg.SessionCheckInterval = time.Hour // the test runs the passes itself
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
	epoch, err := ctl.RegisterBroker(BrokerRegistration{BrokerID: 1, Incarnation: metadata.UUID{1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.Heartbeat(1, epoch); err != nil {
		t.Fatal(err)
	}
	fenced := func() bool { b, _ := ctl.Image().Broker(1); return b.Fenced }
	if fenced() {
		t.Fatal("broker 1 fenced after its heartbeat")
	}
	// Its last heartbeat here is now far older than the session (it went
	// to another leader meanwhile): a pass that just found leadership
	// regained gives it a fresh session.
	now = now.Add(10 * cfg.SessionTimeout)
	if !ctl.checkSessions(false) || fenced() {
		t.Fatalf("first pass as leader: fenced %v", fenced())
	}
	if ctl.checkSessions(true); fenced() {
		t.Fatal("fenced within its fresh session")
	}
	// Past the fresh session, it is fenced.
	now = now.Add(cfg.SessionTimeout + time.Second)
	if ctl.checkSessions(true); !fenced() {
		t.Fatal("not fenced after missing a whole session")
	}
}

// The pass that finds leadership gained keeps the heartbeats received
// since the previous pass (they came to this leadership) and starts the
// other brokers' sessions afresh, there and then.
func TestGainedLeadershipKeepsRecentHeartbeats(t *testing.T) {
	cfg := testConfig(1, []Voter{{ID: 1, Addr: freeAddr(t)}}, t.TempDir())
	now := time.Unix(1_000_000, 0)
	cfg.Now = func() time.Time { return now }
	cfg.SessionCheckInterval = time.Hour // the test runs the passes itself
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
	t0 := now
	for id := int32(1); id <= 2; id++ {
		epoch, err := ctl.RegisterBroker(BrokerRegistration{BrokerID: id, Incarnation: metadata.UUID{byte(id)}})
		if err != nil {
			t.Fatal(err)
		}
		if err := ctl.Heartbeat(id, epoch); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Second) // broker 1 at t0, broker 2 at t0+1s
	}
	prev := t0.Add(time.Second / 2) // the previous pass: between the two heartbeats
	now = t0.Add(1200 * time.Millisecond)
	if !ctl.checkSessionsSince(false, prev) {
		t.Fatal("not leading")
	}
	ctl.mu.Lock()
	seen1, seen2 := ctl.mu.lastSeen[1], ctl.mu.lastSeen[2]
	ctl.mu.Unlock()
	if !seen1.Equal(now) || !seen2.Equal(t0.Add(time.Second)) {
		t.Fatalf("after the first pass as leader: broker 1 seen at %v (want the pass), broker 2 at %v (want its heartbeat)", seen1, seen2)
	}
	// A session after broker 2's heartbeat, within broker 1's fresh one.
	now = t0.Add(time.Second + cfg.SessionTimeout + 100*time.Millisecond)
	ctl.checkSessionsSince(true, prev)
	if b, _ := ctl.Image().Broker(2); !b.Fenced {
		t.Fatal("broker 2 not fenced a session after its last heartbeat")
	}
	if b, _ := ctl.Image().Broker(1); b.Fenced {
		t.Fatal("broker 1 fenced within the session that began at the first pass")
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
