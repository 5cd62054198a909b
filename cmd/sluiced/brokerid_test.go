package main

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// combinedThree starts three combined nodes with short sessions and waits
// until they agree on a leader and three brokers; it returns the voters
// (for broker-only nodes to join) and the client addresses.
func combinedThree(t *testing.T, clusterID string) (voters, addrs []string) {
	t.Helper()
	voters = threeVoters(t)
	for i := range 3 {
		_, ctl, _ := strings.Cut(voters[i], "@")
		p := start(t, rolesEnv(voters, "broker,controller"), "--node-id", strconv.Itoa(i+1), "--cluster-id", clusterID,
			"--data-dir", t.TempDir(), "--listen", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://%s", freePort(t), ctl))
		if p.addr == "" {
			t.Fatalf("node %d did not start:\n%s", i+1, p.stderr)
		}
		addrs = append(addrs, p.addr)
	}
	agreed(t, addrs, 20*time.Second, brokersAre(1, 2, 3))
	return voters, addrs
}

// threeVoters is controller.quorum.voters for three nodes, ids 1 to 3,
// each at a free loopback port.
func threeVoters(t *testing.T) []string {
	t.Helper()
	var voters []string
	for id := 1; id <= 3; id++ {
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", id, freePort(t)))
	}
	return voters
}

// brokerPort polls addr's Metadata until broker id is listed at a port
// for which ok is true, and returns it.
func brokerPort(t *testing.T, addr string, id int32, timeout time.Duration, ok func(int32) bool) int32 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 12
		r, err := request(addr, md)
		var port int32 = -1
		if err == nil {
			for _, b := range r.(*kmsg.MetadataResponse).Brokers {
				if b.NodeID == id {
					port = b.Port
				}
			}
		}
		if ok(port) {
			return port
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker %d through %s: port %d (%v)", id, addr, port, err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

func portNum(t *testing.T, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	n, perr := strconv.Atoi(p)
	if err != nil || perr != nil {
		t.Fatalf("bad address %q", addr)
	}
	return int32(n)
}

// Two sluiced processes started with one node.id: the second is refused
// with DUPLICATE_BROKER_REGISTRATION while the first is alive, says so in
// its log, and keeps retrying as Kafka's broker does; once the first is
// killed and its session ends, the second registers in its place.
func TestDuplicateNodeID(t *testing.T) {
	voters, addrs := combinedThree(t, "dup-node-id")
	startB4 := func() *proc {
		p := start(t, rolesEnv(voters, "broker"), "--node-id", "4", "--cluster-id", "dup-node-id",
			"--data-dir", t.TempDir(), "--listen", "PLAINTEXT://127.0.0.1:0")
		if p.addr == "" {
			t.Fatalf("broker 4 did not start:\n%s", p.stderr)
		}
		return p
	}
	first := startB4()
	firstPort := portNum(t, first.addr)
	agreed(t, addrs, 20*time.Second, brokersAre(1, 2, 3, 4))
	brokerPort(t, addrs[0], 4, 10*time.Second, func(p int32) bool { return p == firstPort })

	second := startB4()
	secondPort := portNum(t, second.addr)
	msg := "node.id 4 is taken: another broker registered with it is alive; not registered, retrying until its session ends, as Kafka's broker does (after a restart within the session, the old incarnation's)"
	rec := second.waitLog(msg)
	if e, _ := rec["err"].(string); !strings.Contains(e, "DUPLICATE_BROKER_REGISTRATION") {
		t.Fatalf("the refusal's log record %v does not name DUPLICATE_BROKER_REGISTRATION", rec)
	}
	if len(second.logs("registered with the controller")) != 0 {
		t.Fatalf("the duplicate registered:\n%s", second.stderr)
	}
	// The live broker keeps its registration on every node.
	for _, a := range addrs {
		brokerPort(t, a, 4, 5*time.Second, func(p int32) bool { return p == firstPort })
	}
	if len(second.logs(msg)) != 1 {
		t.Fatalf("the refusal is logged %d times, want once per streak", len(second.logs(msg)))
	}

	// The first dies: after its session (3 s) the second takes node.id 4.
	first.kill()
	killed := time.Now()
	for _, a := range addrs {
		brokerPort(t, a, 4, 15*time.Second, func(p int32) bool { return p == secondPort })
	}
	second.waitLog("registered with the controller")
	t.Logf("the duplicate registered %.2fs after the first was killed", time.Since(killed).Seconds())
	createTopicN(t, second.addr, "after-dup", 4, time.Now().Add(10*time.Second))
	if on := replicasOn(t, addrs[0], "after-dup", 4); !slices.Contains(on, 4) {
		t.Fatalf("replicas of after-dup on %v: broker 4 got none", on)
	}
	second.stop()
}

// unregister sends UnregisterBroker for id through addr.
func unregister(addr string, id int32) (int16, error) {
	req := kmsg.NewPtrUnregisterBrokerRequest()
	req.BrokerID = id
	r, err := request(addr, req)
	if err != nil {
		return -1, err
	}
	return r.(*kmsg.UnregisterBrokerResponse).ErrorCode, nil
}

// A broker-only node removed for good: UnregisterBroker is refused while
// it runs; once it stopped, it leaves the brokers and the quorum's
// observers on every node (through a node that is not the controller,
// which forwards it); started again, it registers and follows the log.
func TestRemoveBrokerOnlyNode(t *testing.T) {
	voters, addrs := combinedThree(t, "remove-broker")
	dir := t.TempDir()
	startB4 := func() *proc {
		p := start(t, rolesEnv(voters, "broker"), "--node-id", "4", "--cluster-id", "remove-broker",
			"--data-dir", dir, "--listen", "PLAINTEXT://127.0.0.1:0")
		if p.addr == "" {
			t.Fatalf("broker 4 did not start:\n%s", p.stderr)
		}
		return p
	}
	b4 := startB4()
	observers := func(want ...int32) func(clusterView) string {
		return func(v clusterView) string {
			if !slices.Equal(v.observers, want) {
				return fmt.Sprintf("observers %v, want %v", v.observers, want)
			}
			return ""
		}
	}
	leader := agreed(t, addrs, 20*time.Second, func(v clusterView) string {
		if msg := observers(4)(v); msg != "" {
			return msg
		}
		return brokersAre(1, 2, 3, 4)(v)
	})
	follower := addrs[leader%3] // a node that is not the controller
	if code, err := unregister(follower, 4); err != nil || code != kerr.InvalidRequest.Code {
		t.Fatalf("unregister the live broker 4: code %d, %v; want INVALID_REQUEST", code, err)
	}
	if code, err := unregister(follower, 9); err != nil || code != kerr.BrokerIDNotRegistered.Code {
		t.Fatalf("unregister unknown broker 9: code %d, %v; want BROKER_ID_NOT_REGISTERED", code, err)
	}
	b4.stop() // its controlled shutdown fences it
	if code, err := unregister(follower, 4); err != nil || code != 0 {
		t.Fatalf("unregister the stopped broker 4: code %d, %v", code, err)
	}
	agreed(t, addrs, 10*time.Second, func(v clusterView) string {
		if msg := observers()(v); msg != "" {
			return msg
		}
		return brokersAre(1, 2, 3)(v)
	})
	b4 = startB4()
	agreed(t, append(slices.Clone(addrs), b4.addr), 20*time.Second, func(v clusterView) string {
		if msg := observers(4)(v); msg != "" {
			return msg
		}
		return brokersAre(1, 2, 3, 4)(v)
	})
	b4.stop()
}

// A broker-only node given controller.quorum.bootstrap.servers (one
// controller, not the active one) in place of the voters finds the active
// controller through it, registers, follows the metadata log and takes
// partitions.
func TestBrokerOnlyBootstrapServers(t *testing.T) {
	_, ctls := threeControllers(t, "bootstrap-servers")
	var ctlAddrs []string
	for _, p := range ctls {
		ctlAddrs = append(ctlAddrs, p.addr)
	}
	leader := agreed(t, ctlAddrs, 20*time.Second, brokersAre())
	bootstrap := ctlAddrs[leader%3] // not the active controller
	env := []string{
		"SLUICE_PROCESS_ROLES=broker",
		"SLUICE_CONTROLLER_QUORUM_BOOTSTRAP_SERVERS=" + bootstrap,
		"SLUICE_BROKER_HEARTBEAT_INTERVAL_MS=500",
		"SLUICE_BROKER_SESSION_TIMEOUT_MS=3000",
	}
	b4 := start(t, env, "--node-id", "4", "--cluster-id", "bootstrap-servers",
		"--data-dir", t.TempDir(), "--listen", "PLAINTEXT://127.0.0.1:0")
	if b4.addr == "" {
		t.Fatalf("broker 4 did not start:\n%s", b4.stderr)
	}
	if got := agreed(t, []string{b4.addr, ctlAddrs[0]}, 20*time.Second, func(v clusterView) string {
		if !slices.Equal(v.voters, []int32{1, 2, 3}) || !slices.Equal(v.observers, []int32{4}) {
			return fmt.Sprintf("voters %v observers %v, want 1-3 and 4", v.voters, v.observers)
		}
		return brokersAre(4)(v)
	}); got != leader {
		t.Fatalf("leader %d, was %d", got, leader)
	}
	createTopicN(t, b4.addr, "boot", 2, time.Now().Add(10*time.Second))
	replicasOn(t, b4.addr, "boot", 2)
	produceAll(t, []string{b4.addr}, "boot", 2)
	b4.stop()
}

// Voters and bootstrap servers together, or a controller bootstrapping
// from another controller (a dynamic quorum), do not start: status 2.
func TestBootstrapServersRefused(t *testing.T) {
	f := func(roles, voters, bootstrap, listen, want string) {
		t.Helper()
		env := []string{"SLUICE_PROCESS_ROLES=" + roles, "SLUICE_CONTROLLER_QUORUM_VOTERS=" + voters,
			"SLUICE_CONTROLLER_QUORUM_BOOTSTRAP_SERVERS=" + bootstrap}
		code, _, stderr := runToExit(t, env, "--node-id", "4", "--data-dir", t.TempDir(), "--listen", listen)
		if code != 2 || !strings.Contains(stderr, want) {
			t.Fatalf("roles %s, voters %q, bootstrap %q: exit %d, stderr:\n%s\nwant status 2 and %q", roles, voters, bootstrap, code, stderr, want)
		}
	}
	f("broker", "1@127.0.0.1:9093", "127.0.0.1:9093", "PLAINTEXT://127.0.0.1:0", "not both")
	ctl := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	f("broker,controller", "", ctl+",127.0.0.2:9093", "PLAINTEXT://127.0.0.1:0,CONTROLLER://"+ctl, "names this node and other controllers")
}

// A dynamic quorum (KIP-853) without a format step: the first controller
// names only itself in controller.quorum.bootstrap.servers and starts a
// quorum of one; two more name it and join as voters (AddRaftVoter); a
// broker-only node bootstraps through one of the joiners. After kill -9
// of the first controller the two others elect a leader among themselves
// and the broker keeps creating topics: they are real voters.
func TestControllersJoinThroughBootstrapServers(t *testing.T) {
	var addrs []string
	for range 3 {
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	}
	env := func(roles, bootstrap string) []string {
		return []string{"SLUICE_PROCESS_ROLES=" + roles, "SLUICE_CONTROLLER_QUORUM_BOOTSTRAP_SERVERS=" + bootstrap,
			"SLUICE_BROKER_HEARTBEAT_INTERVAL_MS=500", "SLUICE_BROKER_SESSION_TIMEOUT_MS=3000"}
	}
	var ctls []*proc
	for i, addr := range addrs {
		p := start(t, env("controller", addrs[0]), "--node-id", strconv.Itoa(i+1), "--cluster-id", "dynamic-quorum",
			"--data-dir", t.TempDir(), "--listen", "CONTROLLER://"+addr)
		if p.addr != addr {
			t.Fatalf("controller %d: ready at %q, want %s:\n%s", i+1, p.addr, addr, p.stderr)
		}
		ctls = append(ctls, p)
	}
	agreed(t, addrs, 20*time.Second, func(v clusterView) string {
		if !slices.Equal(v.voters, []int32{1, 2, 3}) {
			return fmt.Sprintf("voters %v, want 1-3", v.voters)
		}
		return ""
	})
	b4 := start(t, env("broker", addrs[2]), "--node-id", "4", "--cluster-id", "dynamic-quorum",
		"--data-dir", t.TempDir(), "--listen", "PLAINTEXT://127.0.0.1:0")
	if b4.addr == "" {
		t.Fatalf("broker 4 did not start:\n%s", b4.stderr)
	}
	leader := agreed(t, []string{b4.addr}, 20*time.Second, brokersAre(4))
	createTopicN(t, b4.addr, "dyn", 2, time.Now().Add(10*time.Second))
	ctls[leader-1].kill()
	newLeader := agreed(t, []string{b4.addr}, 20*time.Second, func(v clusterView) string {
		if v.leader == leader {
			return fmt.Sprintf("the killed controller %d still leads", leader)
		}
		return brokersAre(4)(v)
	})
	createTopicN(t, b4.addr, "dyn-after", 2, time.Now().Add(15*time.Second))
	replicasOn(t, b4.addr, "dyn-after", 2)
	t.Logf("controller %d leads after kill -9 of %d", newLeader, leader)
	b4.stop()
}
