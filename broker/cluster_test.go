package broker

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/acl"
	"github.com/sluice/sluice/controller"
	"github.com/sluice/sluice/internal/freeport"
	"github.com/sluice/sluice/netio"
)

// freeControllerAddr returns a loopback address whose port was free.
func freeControllerAddr(t testing.TB) string {
	t.Helper()
	a, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return a
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
	voters := []controller.Voter{{ID: 1, Addr: "127.0.0.1:0"}} // one voter: nobody dials it
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

// The controller's answers to BrokerRegistration and BrokerHeartbeat,
// each with Kafka's error code.
func TestBrokerRegistrationErrors(t *testing.T) {
	standalone := startServer(t, "")
	voters := []controller.Voter{{ID: 1, Addr: "127.0.0.1:0"}} // one voter: nobody dials it
	ts := startServer(t, "", withController(1, voters))
	select {
	case <-ts.Broker().Registered():
	case <-time.After(15 * time.Second):
		t.Fatal("the broker did not register within 15 s")
	}
	reg := func(addr, clusterID string, id int32) (int16, int64) {
		t.Helper()
		rc := dialRaw(t, addr)
		defer rc.c.Close()
		req := kmsg.NewPtrBrokerRegistrationRequest()
		req.BrokerID, req.ClusterID, req.IncarnationID = id, clusterID, [16]byte{byte(id)}
		l := kmsg.NewBrokerRegistrationRequestListener()
		l.Name, l.Host, l.Port = "PLAINTEXT", "127.0.0.1", 9
		req.Listeners = []kmsg.BrokerRegistrationRequestListener{l}
		resp := rc.roundTrip(req).(*kmsg.BrokerRegistrationResponse)
		return resp.ErrorCode, resp.BrokerEpoch
	}
	beat := func(addr string, id int32, epoch int64, shutdown bool) (int16, bool) {
		t.Helper()
		rc := dialRaw(t, addr)
		defer rc.c.Close()
		req := kmsg.NewPtrBrokerHeartbeatRequest()
		req.BrokerID, req.BrokerEpoch, req.WantShutdown = id, epoch, shutdown
		resp := rc.roundTrip(req).(*kmsg.BrokerHeartbeatResponse)
		return resp.ErrorCode, resp.IsFenced
	}
	f := func(what string, got, want int16) {
		t.Helper()
		if got != want {
			t.Errorf("%s: error %d, want %d", what, got, want)
		}
	}
	code, _ := reg(standalone.addr, standalone.Broker().ClusterID(), 7)
	f("registration to a broker without a controller", code, 41) // NOT_CONTROLLER
	code, _ = beat(standalone.addr, 7, 1, false)
	f("heartbeat to a broker without a controller", code, 41)
	code, _ = reg(ts.addr, "another-cluster", 7)
	f("registration with another cluster id", code, 104) // INCONSISTENT_CLUSTER_ID
	code, _ = beat(ts.addr, 8, 1, false)
	f("heartbeat of an unregistered broker", code, 102) // BROKER_ID_NOT_REGISTERED

	code, epoch := reg(ts.addr, "sluice-test-cluster", 7)
	f("registration", code, 0)
	code, _ = beat(ts.addr, 7, epoch+1, false)
	f("heartbeat at another epoch", code, 77) // STALE_BROKER_EPOCH
	code, fenced := beat(ts.addr, 7, epoch, false)
	if f("heartbeat", code, 0); fenced {
		t.Error("broker 7 still fenced after its first heartbeat")
	}
	if got := metadataBrokers(t, ts.addr); !slices.Equal(got, []int32{1, 7}) {
		t.Errorf("Metadata brokers %v, want [1 7]", got)
	}
	code, fenced = beat(ts.addr, 7, epoch, true)
	if f("controlled shutdown", code, 0); !fenced {
		t.Error("broker 7 not fenced by its controlled shutdown")
	}
	if got := metadataBrokers(t, ts.addr); !slices.Equal(got, []int32{1}) {
		t.Errorf("Metadata brokers %v after broker 7's controlled shutdown, want [1]", got)
	}
}

// A combined node that cannot catch up with the metadata log (the other
// voter of its quorum never starts, so there is no leader) does not decide
// on the ACLs it may lack: a request of an ordinary principal waits for
// the log, then is denied; a super user's is served at once.
func TestAuthorizerWaitsForTheMetadataLog(t *testing.T) {
	was := authzStartWait
	t.Cleanup(func() { authzStartWait = was }) // after the server stops
	authzStartWait = 200 * time.Millisecond
	voters := []controller.Voter{{ID: 1, Addr: freeControllerAddr(t)}, {ID: 2, Addr: freeControllerAddr(t)}}
	var admins sync.Map // local addresses of the super user's connections
	ts := startServer(t, "", withController(1, voters), func(cfg *ServerConfig) {
		cfg.Broker.Authorizer = &acl.Config{SuperUsers: []string{"User:admin"}, AllowIfNoACL: true}
		cfg.Broker.principalForTest = func(c *netio.Conn) string {
			if _, ok := admins.Load(c.RemoteAddr().String()); ok {
				return "User:admin"
			}
			return "User:ann"
		}
	})
	describe := func(rc *rawConn) int16 {
		req := kmsg.NewPtrDescribeACLsRequest()
		req.ResourceType, req.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
		req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
		return rc.roundTrip(req).(*kmsg.DescribeACLsResponse).ErrorCode
	}
	admin := dialRaw(t, ts.addr)
	admins.Store(admin.c.LocalAddr().String(), true)
	if code := describe(admin); code != 0 {
		t.Fatalf("the super user's DescribeAcls: error %d", code)
	}
	// allow.everyone.if.no.acl.found would allow ann on an empty set of
	// ACLs: the node does not know the set is empty.
	if code := describe(dialRaw(t, ts.addr)); code != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("ann's DescribeAcls before the log is caught up: error %d, want CLUSTER_AUTHORIZATION_FAILED", code)
	}
}

// A corrupt acls.json stops a combined node's start, as a standalone
// broker's: its ACLs must not be dropped on the way into the metadata log.
func TestCorruptACLsFileStopsCombinedNode(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, aclsFile), []byte(`{"version": 1, "acls": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testServerConfig(dir)
	withController(1, []controller.Voter{{ID: 1, Addr: "127.0.0.1:0"}})(&cfg)
	srv, err := StartServer(cfg)
	if err == nil {
		srv.Shutdown(context.Background())
		t.Fatal("a combined node started with a corrupt acls.json")
	}
	if !errors.Is(err, ErrACLsCorrupt) {
		t.Fatalf("start: %v, want ErrACLsCorrupt", err)
	}
}
