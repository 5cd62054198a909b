package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestOneVoterQuorumRefusesAnotherClustersLeader starts two controllers
// of a three-voter cluster whose third voter's address is then taken by
// a one-node cluster (as when a node gets a port another cluster's
// stopped node had). The three-voter cluster's leader sends that node
// its appends. Raft's RPCs carry no cluster id, and hashicorp/raft checks
// a vote's sender but not an append's: without the controller's guard
// (controller/soleguard.go) the node followed the other cluster's leader,
// took its voters, and a topic creation on it failed. It must keep its
// own quorum and create the topic, also when its node id is the other
// leader's.
func TestOneVoterQuorumRefusesAnotherClustersLeader(t *testing.T) {
	for _, sameID := range []bool{true, false} {
		t.Run(fmt.Sprintf("same id %v", sameID), func(t *testing.T) {
			voters := threeVoters(t) // the other cluster's
			_, shared, _ := strings.Cut(voters[2], "@")
			var others []string
			for i := range 2 {
				_, addr, _ := strings.Cut(voters[i], "@")
				start(t, rolesEnv(voters, "controller"), "--node-id", fmt.Sprint(i+1), "--cluster-id", "other-cluster",
					"--data-dir", t.TempDir(), "--listen", "CONTROLLER://"+addr)
				others = append(others, addr)
			}
			// Two of its three voters elect a leader, which then sends
			// appends to the third's address, until something answers.
			var leader int32
			for deadline := time.Now().Add(20 * time.Second); leader != 1 && leader != 2; {
				v, err := viewOf(others[0])
				if time.Now().After(deadline) {
					t.Fatalf("the other cluster elected no leader: %+v, %v", v, err)
				}
				leader = v.leader
				time.Sleep(100 * time.Millisecond)
			}
			id := int32(9)
			if sameID {
				id = leader
			}
			own := start(t, rolesEnv([]string{fmt.Sprintf("%d@%s", id, shared)}, "broker,controller"),
				"--node-id", fmt.Sprint(id), "--cluster-id", "own-cluster", "--data-dir", t.TempDir(),
				"--listen", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://%s", freePort(t), shared))
			if own.addr == "" {
				t.Fatalf("the one-node cluster did not start:\n%s", own.stderr)
			}
			for deadline := time.Now().Add(10 * time.Second); own.stderr.Count("another cluster names this node") == 0; {
				if time.Now().After(deadline) {
					t.Fatalf("the node refused nothing of the other cluster's leader %d:\n%s", leader, own.stderr)
				}
				time.Sleep(50 * time.Millisecond)
			}
			createTopicN(t, own.addr, "mine", 1, time.Now().Add(10*time.Second))
			v, err := viewOf(own.addr)
			if err != nil || v.leader != id || !slices.Equal(v.voters, []int32{id}) {
				t.Fatalf("the one-node cluster's quorum: %+v, %v; want %d as leader and only voter", v, err, id)
			}
		})
	}
}
