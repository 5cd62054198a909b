package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestOneVoterQuorumRefusesAnotherClustersLeader starts a one-node
// cluster, then two controllers of another cluster whose voter list
// names the first node's CONTROLLER address as their third voter (as
// when a node takes a port another cluster's stopped node had). Their
// leader sends it appends. Raft's RPCs carry no cluster id, and
// hashicorp/raft checks a vote's sender but not an append's: without the
// controller's guard (controller/soleguard.go) the node followed the
// other cluster's leader, took its voters, and a topic creation on it
// timed out. It must keep its own quorum and create the topic.
func TestOneVoterQuorumRefusesAnotherClustersLeader(t *testing.T) {
	voters := threeVoters(t) // the other cluster's
	_, shared, _ := strings.Cut(voters[2], "@")
	own := start(t, rolesEnv([]string{"1@" + shared}, "broker,controller"),
		"--node-id", "1", "--cluster-id", "own-cluster", "--data-dir", t.TempDir(),
		"--listen", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://%s", freePort(t), shared))
	if own.addr == "" {
		t.Fatalf("the one-node cluster did not start:\n%s", own.stderr)
	}
	createTopicN(t, own.addr, "before", 1, time.Now().Add(10*time.Second))

	var others []string
	for i := range 2 {
		_, addr, _ := strings.Cut(voters[i], "@")
		start(t, rolesEnv(voters, "controller"), "--node-id", fmt.Sprint(i+1), "--cluster-id", "other-cluster",
			"--data-dir", t.TempDir(), "--listen", "CONTROLLER://"+addr)
		others = append(others, addr)
	}
	// The other cluster elects a leader with two of its three voters, and
	// that leader then sends the one-node cluster its appends.
	for deadline := time.Now().Add(20 * time.Second); ; {
		v, err := viewOf(others[0])
		if err == nil && (v.leader == 1 || v.leader == 2) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other cluster elected no leader: %+v, %v", v, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for deadline := time.Now().Add(10 * time.Second); own.stderr.Count("another cluster names this node's address") == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("the other cluster's leader sent the node nothing it refused:\n%s", own.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}

	createTopicN(t, own.addr, "after", 1, time.Now().Add(10*time.Second))
	v, err := viewOf(own.addr)
	if err != nil || v.leader != 1 || !slices.Equal(v.voters, []int32{1}) {
		t.Fatalf("the one-node cluster's quorum: %+v, %v; want itself as leader and only voter", v, err)
	}
}
