package controller

import (
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
