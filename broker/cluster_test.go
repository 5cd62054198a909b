package broker

import (
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/controller"
)

// freeControllerAddr returns a loopback address whose port was free.
func freeControllerAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// withController makes the server a combined node: node id of voters,
// with short Raft timers and heartbeats.
func withController(id int32, voters []controller.Voter) func(*ServerConfig) {
	return func(cfg *ServerConfig) {
		cfg.Broker.NodeID = id
		cfg.Broker.ClusterID = "sluice-test-cluster"
		cfg.Broker.HeartbeatInterval = 100 * time.Millisecond
		dir := cfg.Store.Dir
		cfg.OpenController = func() (*controller.Controller, error) {
			return controller.Open(controller.Config{
				NodeID: id, Voters: voters, DataDir: dir,
				SessionTimeout: 3 * time.Second, // generous: a loaded machine must not fence by accident
				Timeouts: controller.Timeouts{
					Heartbeat: 150 * time.Millisecond, Election: 150 * time.Millisecond, LeaderLease: 100 * time.Millisecond,
				},
				Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Off}),
			})
		}
	}
}

func describeQuorum(t *testing.T, addr string) kmsg.DescribeQuorumResponseTopicPartition {
	t.Helper()
	rc := dialRaw(t, addr)
	defer rc.c.Close()
	req := kmsg.NewPtrDescribeQuorumRequest()
	req.Version = 2
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = []kmsg.DescribeQuorumRequestTopic{rt}
	resp := rc.roundTrip(req).(*kmsg.DescribeQuorumResponse)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("DescribeQuorum: %+v", resp)
	}
	return resp.Topics[0].Partitions[0]
}

func describeCluster(t *testing.T, addr string) *kmsg.DescribeClusterResponse {
	t.Helper()
	rc := dialRaw(t, addr)
	defer rc.c.Close()
	req := kmsg.NewPtrDescribeClusterRequest()
	req.Version = 1
	req.EndpointType = endpointBrokers
	return rc.roundTrip(req).(*kmsg.DescribeClusterResponse)
}

func metadataBrokers(t *testing.T, addr string) []int32 {
	t.Helper()
	rc := dialRaw(t, addr)
	defer rc.c.Close()
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	resp := rc.roundTrip(req).(*kmsg.MetadataResponse)
	var ids []int32
	for _, b := range resp.Brokers {
		ids = append(ids, b.NodeID)
	}
	slices.Sort(ids)
	return ids
}

func TestCombinedNodeRegistersItself(t *testing.T) {
	dir := t.TempDir()
	voters := []controller.Voter{{ID: 1, Addr: freeControllerAddr(t)}}
	ts := startServer(t, dir, withController(1, voters))
	select {
	case <-ts.Broker().Registered():
	case <-time.After(15 * time.Second):
		t.Fatal("the broker did not register and get unfenced within 15 s")
	}
	br, ok := ts.ctl.Image().Broker(1)
	host, port, _ := net.SplitHostPort(ts.addr)
	if !ok || br.Fenced || len(br.Endpoints) != 1 || br.Endpoints[0].Host != host ||
		strconv.Itoa(int(br.Endpoints[0].Port)) != port {
		t.Fatalf("registered broker %+v, want unfenced at %s", br, ts.addr)
	}

	q := describeQuorum(t, ts.addr)
	if q.ErrorCode != 0 || q.LeaderID != 1 || q.LeaderEpoch < 1 || q.HighWatermark < 1 ||
		len(q.CurrentVoters) != 1 || q.CurrentVoters[0].ReplicaID != 1 ||
		q.CurrentVoters[0].LogEndOffset < q.HighWatermark || len(q.Observers) != 0 {
		t.Fatalf("quorum %+v", q)
	}
	if dc := describeCluster(t, ts.addr); dc.ControllerID != 1 || len(dc.Brokers) != 1 || dc.Brokers[0].NodeID != 1 {
		t.Fatalf("DescribeCluster %+v", dc)
	}
	rc := dialRaw(t, ts.addr)
	vs := rc.roundTrip(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse)
	rc.c.Close()
	if !slices.ContainsFunc(vs.ApiKeys, func(k kmsg.ApiVersionsResponseApiKey) bool { return k.ApiKey == 55 && k.MaxVersion == 2 }) {
		t.Fatalf("ApiVersions does not list DescribeQuorum v0-2: %+v", vs.ApiKeys)
	}
	// Brokers' APIs to the controller are served, not advertised (as Kafka's broker listener).
	if slices.ContainsFunc(vs.ApiKeys, func(k kmsg.ApiVersionsResponseApiKey) bool { return k.ApiKey == 62 || k.ApiKey == 63 }) {
		t.Fatalf("ApiVersions lists BrokerRegistration or BrokerHeartbeat: %+v", vs.ApiKeys)
	}

	// A clean shutdown fences the broker at once (controlled shutdown):
	// the metadata log says so when reopened.
	ts.stop(t)
	ctl, err := controller.Open(controller.Config{NodeID: 1, Voters: voters, DataDir: dir,
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Off})})
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	waitFor(t, "the reopened log to be applied", 10*time.Second, func() bool {
		_, ok := ctl.Image().Broker(1)
		return ok
	})
	waitFor(t, "broker 1 fenced in the log", 10*time.Second, func() bool {
		br, _ := ctl.Image().Broker(1)
		return br.Fenced
	})
}

// Three combined nodes in one process: the followers' brokers register
// and heartbeat with BrokerRegistration/BrokerHeartbeat to the leader,
// and every node answers for the whole cluster.
func TestCombinedNodesRegisterWithTheLeader(t *testing.T) {
	var voters []controller.Voter
	for id := int32(1); id <= 3; id++ {
		voters = append(voters, controller.Voter{ID: id, Addr: freeControllerAddr(t)})
	}
	var nodes []*testServer
	for id := int32(1); id <= 3; id++ {
		nodes = append(nodes, startServer(t, "", withController(id, voters)))
	}
	for _, n := range nodes {
		select {
		case <-n.Broker().Registered():
		case <-time.After(20 * time.Second):
			t.Fatalf("broker %d did not register within 20 s", n.Broker().NodeID())
		}
	}
	for _, n := range nodes {
		waitFor(t, "every node to see three live brokers", 10*time.Second, func() bool {
			return slices.Equal(metadataBrokers(t, n.addr), []int32{1, 2, 3})
		})
	}
	var leader int32
	waitFor(t, "DescribeQuorum to agree everywhere, with every voter's offset", 10*time.Second, func() bool {
		for i, n := range nodes {
			q := describeQuorum(t, n.addr)
			if q.ErrorCode != 0 || len(q.CurrentVoters) != 3 || i > 0 && q.LeaderID != leader {
				return false
			}
			leader = q.LeaderID
			for _, v := range q.CurrentVoters {
				if v.LogEndOffset < 1 {
					return false
				}
			}
			if dc := describeCluster(t, n.addr); dc.ControllerID != leader || len(dc.Brokers) != 3 {
				return false
			}
		}
		return true
	})
	t.Logf("leader %d", leader)
}
