package controller

import (
	"testing"
	"time"
)

// TestCloseHandsLeadershipOver: the active controller that stops makes
// another voter leader on its way out, so the quorum is not leaderless for
// a heartbeat timeout (here 2 s: no election can happen sooner).
func TestCloseHandsLeadershipOver(t *testing.T) {
	var voters []Voter
	var dirs []string
	for i := range 3 {
		voters = append(voters, Voter{ID: int32(i + 1), Addr: freeAddr(t)})
		dirs = append(dirs, t.TempDir())
	}
	nodes := make([]*Controller, 3)
	for i := range nodes {
		cfg := testConfig(int32(i+1), voters, dirs[i])
		cfg.Timeouts.Heartbeat, cfg.Timeouts.Election = 2*time.Second, 2*time.Second
		cfg.Timeouts.LeaderLease = time.Second
		ctl, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = ctl
		defer func() {
			if nodes[i] != nil {
				nodes[i].Close()
			}
		}()
	}
	leader := -1
	eventually(t, 30*time.Second, func() string {
		for i, n := range nodes {
			if n.IsLeader() {
				leader = i
				return ""
			}
		}
		return "no leader"
	})
	if err := nodes[leader].Close(); err != nil {
		t.Fatal(err)
	}
	nodes[leader] = nil
	eventually(t, time.Second, func() string { // a timeout's election cannot start within 2 s
		for _, n := range nodes {
			if n != nil && n.IsLeader() {
				return ""
			}
		}
		return "no leader among the others a second after the leader stopped"
	})
}
