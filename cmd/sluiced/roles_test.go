package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/config"
	"github.com/sluice/sluice/listener"
)

// A broker-only node bound to every interface gives the controllers a
// reachable address for its metadata follower: its advertised host.
func TestObserverHost(t *testing.T) {
	hostname, _ := os.Hostname()
	f := func(ctl, advertised string, ls []listener.Listener, want string) {
		t.Helper()
		cfg := &config.Config{Cluster: config.Cluster{ControllerListen: ctl}, Advertised: advertised,
			Listeners: ls, InterBrokerListener: "INTERNAL"}
		if got := observerHost(cfg); got != want {
			t.Fatalf("observerHost(%q, %q) = %q, want %q", ctl, advertised, got, want)
		}
	}
	f("10.0.0.4:9093", "", nil, "")
	f(":9093", "broker4.example:9092", nil, "broker4.example")
	f("0.0.0.0:9093", "broker4.example:9092", []listener.Listener{{Name: "INTERNAL", Advertised: "10.1.0.4:9094"}}, "10.1.0.4")
	f(":9093", "", nil, hostname)
}

// rolesEnv is the environment of every node of a roles test: the quorum
// and short heartbeats and sessions.
func rolesEnv(voters []string, roles string) []string {
	return []string{
		"SLUICE_PROCESS_ROLES=" + roles,
		"SLUICE_CONTROLLER_QUORUM_VOTERS=" + strings.Join(voters, ","),
		"SLUICE_BROKER_HEARTBEAT_INTERVAL_MS=500",
		"SLUICE_BROKER_SESSION_TIMEOUT_MS=3000",
	}
}

// brokersAre checks Metadata and DescribeCluster list exactly want.
func brokersAre(want ...int32) func(clusterView) string {
	return func(v clusterView) string {
		if !slices.Equal(v.metadataBrokers, want) || !slices.Equal(v.clusterBrokers, want) {
			return fmt.Sprintf("brokers %v (Metadata) %v (DescribeCluster), want %v", v.metadataBrokers, v.clusterBrokers, want)
		}
		return ""
	}
}

// createTopicN creates topic with n partitions of RF 1 through addr,
// retrying until deadline.
func createTopicN(t *testing.T, addr, topic string, n int32, deadline time.Time) {
	t.Helper()
	for {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version, req.TimeoutMillis = 5, 5000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, n, 1
		req.Topics = append(req.Topics, rt)
		r, err := request(addr, req)
		if err == nil {
			resp := r.(*kmsg.CreateTopicsResponse)
			if len(resp.Topics) != 1 {
				err = fmt.Errorf("%d topics in the answer", len(resp.Topics))
			} else if code := resp.Topics[0].ErrorCode; code != 0 && code != kerr.TopicAlreadyExists.Code {
				err = kerr.ErrorForCode(code)
			}
		}
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("CreateTopics %s through %s: %v", topic, addr, err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

// replicasOn polls addr's Metadata for topic until its n partitions have
// leaders and returns the set of brokers holding replicas.
func replicasOn(t *testing.T, addr, topic string, n int) []int32 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 12
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(topic)
		md.Topics = append(md.Topics, mt)
		r, err := request(addr, md)
		msg := ""
		var on []int32
		if err != nil {
			msg = err.Error()
		} else if ts := r.(*kmsg.MetadataResponse).Topics; len(ts) != 1 || ts[0].ErrorCode != 0 || len(ts[0].Partitions) != n {
			msg = fmt.Sprintf("Metadata for %s: %+v", topic, ts)
		} else {
			for _, p := range ts[0].Partitions {
				if p.ErrorCode != 0 || p.Leader < 0 {
					msg = fmt.Sprintf("partition %d: leader %d, error %d", p.Partition, p.Leader, p.ErrorCode)
				}
				for _, id := range p.Replicas {
					if !slices.Contains(on, id) {
						on = append(on, id)
					}
				}
			}
		}
		if msg == "" {
			slices.Sort(on)
			return on
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s through %s: %s", topic, addr, msg)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// produceAll produces one record to each of topic's n partitions with
// franz-go through seeds, and reads them back.
func produceAll(t *testing.T, seeds []string, topic string, n int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for p := range n {
		r := &kgo.Record{Topic: topic, Partition: p, Value: []byte(strconv.Itoa(int(p)))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce to %s/%d: %v", topic, p, err)
		}
	}
	got := map[int32]bool{}
	for len(got) < int(n) {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read back %d of %d partitions of %s: %v", len(got), n, topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) { got[r.Partition] = true })
	}
}

// quorumLeader checks DescribeQuorum through franz-go, which sends it to
// the controller Metadata names (as sluice cluster info does), names
// leader.
func quorumLeader(t *testing.T, seeds []string, leader int32) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := describeQuorumRequest().RequestWith(ctx, cl)
	if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].LeaderID != leader {
		t.Fatalf("DescribeQuorum through franz-go: %+v, %v; want leader %d", resp, err, leader)
	}
}

// threeControllers starts three controller-only nodes (ids 1 to 3) of
// cluster clusterID and returns the voters and the processes.
func threeControllers(t *testing.T, clusterID string) ([]string, []*proc) {
	t.Helper()
	voters := threeVoters(t)
	var ctls []*proc
	for i := range 3 {
		_, addr, _ := strings.Cut(voters[i], "@")
		p := start(t, rolesEnv(voters, "controller"), "--node-id", strconv.Itoa(i+1), "--cluster-id", clusterID,
			"--data-dir", t.TempDir(), "--listen", "CONTROLLER://"+addr)
		if p.addr != addr {
			t.Fatalf("controller %d: ready at %q, want %s:\n%s", i+1, p.addr, addr, p.stderr)
		}
		ctls = append(ctls, p)
	}
	return voters, ctls
}

// Three controller-only nodes and two broker-only nodes: only the brokers
// are in Metadata and get replicas; kill -9 of the active controller
// elects another while the brokers keep creating topics; a broker-only
// node restarted after kill -9 registers again.
func TestDedicatedControllers(t *testing.T) {
	voters, ctls := threeControllers(t, "roles-test")
	brokerDirs := []string{t.TempDir(), t.TempDir()}
	startBroker := func(i int) *proc {
		p := start(t, rolesEnv(voters, "broker"), "--node-id", strconv.Itoa(4+i), "--cluster-id", "roles-test",
			"--data-dir", brokerDirs[i], "--listen", "PLAINTEXT://127.0.0.1:0")
		if p.addr == "" {
			t.Fatalf("broker %d did not start:\n%s", 4+i, p.stderr)
		}
		return p
	}
	brokers := []*proc{startBroker(0), startBroker(1)}
	addrs := func() []string { return []string{brokers[0].addr, brokers[1].addr} }
	began := time.Now()
	leader := agreed(t, addrs(), 20*time.Second, func(v clusterView) string {
		if !slices.Equal(v.voters, []int32{1, 2, 3}) || !slices.Equal(v.observers, []int32{4, 5}) {
			return fmt.Sprintf("voters %v observers %v, want 1-3 and 4, 5", v.voters, v.observers)
		}
		return brokersAre(4, 5)(v)
	})
	t.Logf("%.2fs: controller %d leads, brokers 4 and 5 registered", time.Since(began).Seconds(), leader)
	// The controllers answer on their CONTROLLER listener, and list the
	// two brokers only, themselves not among them.
	ctlAddrs := []string{ctls[0].addr, ctls[1].addr, ctls[2].addr}
	if got := agreed(t, ctlAddrs, 10*time.Second, brokersAre(4, 5)); got != leader {
		t.Fatalf("the controllers name leader %d, the brokers %d", got, leader)
	}

	// Clients cannot reach a controller-only node: a broker names itself
	// as the controller (KRaft names a live broker), and admin clients
	// reach the quorum through it.
	if v, err := viewOf(brokers[0].addr); err != nil || v.controller != 4 {
		t.Fatalf("DescribeCluster through broker 4 names controller %d (%v), want 4", v.controller, err)
	}
	quorumLeader(t, addrs(), leader)

	createTopicN(t, brokers[0].addr, "spread", 8, time.Now().Add(10*time.Second))
	if on := replicasOn(t, brokers[1].addr, "spread", 8); !slices.Equal(on, []int32{4, 5}) {
		t.Fatalf("replicas of spread on %v, want on brokers 4 and 5 only", on)
	}
	// A config change through a broker goes to the controller-only
	// leader as a record, and both brokers apply it.
	if err := alterVia(brokers[0].addr, kmsg.ConfigResourceTypeTopic, "spread",
		op(kmsg.IncrementalAlterConfigOpSet, "retention.ms", "3600000")); err != nil {
		t.Fatalf("alter configs through broker 4: %v", err)
	}
	everywhere(t, addrs(), "spread", "retention.ms", "3600000/DYNAMIC_TOPIC_CONFIG")

	// kill -9 of the active controller: another is elected, and both
	// brokers keep serving and creating topics.
	ctls[leader-1].kill()
	killedAt := time.Now()
	newLeader := agreed(t, addrs(), 15*time.Second, func(v clusterView) string {
		if v.leader == leader {
			return fmt.Sprintf("the killed controller %d still leads", leader)
		}
		return brokersAre(4, 5)(v)
	})
	for i, b := range brokers {
		topic := fmt.Sprintf("after-kill-%d", i)
		createTopicN(t, b.addr, topic, 2, killedAt.Add(15*time.Second))
		if on := replicasOn(t, b.addr, topic, 2); slices.ContainsFunc(on, func(id int32) bool { return id < 4 }) {
			t.Fatalf("replicas of %s on %v: a controller got one", topic, on)
		}
	}
	t.Logf("controller %d leads %.2fs after kill -9 of %d; both brokers created topics", newLeader, time.Since(killedAt).Seconds(), leader)
	produceAll(t, addrs(), "spread", 8)

	// kill -9 of broker 5: fenced, then restarted, it registers again.
	brokers[1].kill()
	agreed(t, []string{brokers[0].addr}, 15*time.Second, brokersAre(4))
	brokers[1] = startBroker(1)
	agreed(t, addrs(), 20*time.Second, brokersAre(4, 5))
	replicasOn(t, brokers[1].addr, "spread", 8)
	for _, b := range brokers {
		b.stop()
	}
}

// Three combined nodes, then a broker-only node added later: it
// registers, follows the metadata log and receives new partitions.
func TestBrokerOnlyJoinsCombined(t *testing.T) {
	voters, addrs := combinedThree(t, "roles-mixed")
	b4 := start(t, rolesEnv(voters, "broker"), "--node-id", "4", "--cluster-id", "roles-mixed",
		"--data-dir", t.TempDir(), "--listen", "PLAINTEXT://127.0.0.1:0")
	if b4.addr == "" {
		t.Fatalf("broker 4 did not start:\n%s", b4.stderr)
	}
	all := append(slices.Clone(addrs), b4.addr)
	agreed(t, all, 20*time.Second, func(v clusterView) string {
		if !slices.Equal(v.voters, []int32{1, 2, 3}) {
			return fmt.Sprintf("voters %v", v.voters)
		}
		return brokersAre(1, 2, 3, 4)(v)
	})
	createTopicN(t, b4.addr, "wide", 8, time.Now().Add(10*time.Second))
	if on := replicasOn(t, addrs[0], "wide", 8); !slices.Contains(on, 4) {
		t.Fatalf("replicas of wide on %v: the new broker 4 got none", on)
	}
	b4.stop()
}

// A node whose roles and quorum settings contradict each other does not
// start: it exits with status 2 and says why, as Kafka refuses them.
func TestRolesRefused(t *testing.T) {
	f := func(roles, voters, listen, want string) {
		t.Helper()
		env := []string{"SLUICE_PROCESS_ROLES=" + roles, "SLUICE_CONTROLLER_QUORUM_VOTERS=" + voters}
		code, _, stderr := runToExit(t, env, "--node-id", "4", "--data-dir", t.TempDir(), "--listen", listen)
		if code != 2 || !strings.Contains(stderr, want) {
			t.Fatalf("roles %s, voters %q: exit %d, stderr:\n%s\nwant status 2 and %q", roles, voters, code, stderr, want)
		}
	}
	f("broker", "", "PLAINTEXT://127.0.0.1:0", "needs the controller quorum's voters")
	f("broker", "4@127.0.0.1:9093", "PLAINTEXT://127.0.0.1:0", "must not be one of the voters")
	f("broker", "1@127.0.0.1:9093", "PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0", "must not hold a listener named in controller.listener.names")
	f("controller", "1@127.0.0.1:9093", "CONTROLLER://127.0.0.1:0", "must be one of the voters")
	f("controller", "4@127.0.0.1:9093", "PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0", "holds only the controller listeners")
	f("controller", "4@127.0.0.1:9093,4@127.0.0.1:9094", "CONTROLLER://127.0.0.1:0", "listed twice")
}
