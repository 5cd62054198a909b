package main

import (
	"cmp"
	be "encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/internal/freeport"
)

// freePort returns a loopback port that was free.
func freePort(t testing.TB) int {
	t.Helper()
	p, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// freeHTTP is an address for a node's --http-listen in a test that names
// its nodes' other ports in advance (a quorum's voters): a listen on
// 127.0.0.1:0 may be handed the port freePort just gave out for the
// node's controller listener, which then cannot bind it.
func freeHTTP(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", freePort(t))
}

// request sends one request to addr on a new connection and returns the
// response.
func request(addr string, req kmsg.Request) (kmsg.Response, error) {
	return requestWithin(addr, req, 5*time.Second)
}

// topicMetadata is addr's Metadata (v12) answer for topic.
func topicMetadata(addr, topic string) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &topic
	req.Topics = append(req.Topics, mt)
	r, err := request(addr, req)
	if err != nil {
		return nil, err
	}
	return r.(*kmsg.MetadataResponse), nil
}

// requestWithin is request bounded by timeout.
func requestWithin(addr string, req kmsg.Request, timeout time.Duration) (kmsg.Response, error) {
	c, err := net.DialTimeout("tcp", addr, min(2*time.Second, timeout))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("cluster-test")).AppendRequest(nil, req, 1)
	if _, err := c.Write(frame); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, be.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		return nil, err
	}
	resp := req.ResponseKind()
	body = body[4:] // correlation id
	if resp.IsFlexible() {
		body = body[1:] // no header tags
	}
	return resp, resp.ReadFrom(body)
}

// clusterView is what one node answers about the cluster.
type clusterView struct {
	leader, epoch     int32
	voters, observers []int32 // ids
	votersLEO         []int64
	metadataBrokers   []int32
	controller        int32 // DescribeCluster's ControllerID
	clusterBrokers    []int32
}

// describeQuorumRequest asks for the metadata quorum's state
// (__cluster_metadata, partition 0).
func describeQuorumRequest() *kmsg.DescribeQuorumRequest {
	dq := kmsg.NewPtrDescribeQuorumRequest()
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = "__cluster_metadata"
	t.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	dq.Topics = []kmsg.DescribeQuorumRequestTopic{t}
	return dq
}

func viewOf(addr string) (clusterView, error) {
	var v clusterView
	dq := describeQuorumRequest()
	dq.Version = 1
	r, err := request(addr, dq)
	if err != nil {
		return v, err
	}
	qr := r.(*kmsg.DescribeQuorumResponse)
	if len(qr.Topics) != 1 || len(qr.Topics[0].Partitions) != 1 || qr.Topics[0].Partitions[0].ErrorCode != 0 {
		return v, fmt.Errorf("DescribeQuorum: %+v", qr)
	}
	p := qr.Topics[0].Partitions[0]
	v.leader, v.epoch = p.LeaderID, p.LeaderEpoch
	// By node id: a dynamic quorum lists its voters in the order they
	// joined, which concurrent joins leave open.
	byID := func(a, b kmsg.DescribeQuorumResponseTopicPartitionReplicaState) int {
		return cmp.Compare(a.ReplicaID, b.ReplicaID)
	}
	slices.SortFunc(p.CurrentVoters, byID)
	slices.SortFunc(p.Observers, byID)
	for _, s := range p.CurrentVoters {
		v.voters, v.votersLEO = append(v.voters, s.ReplicaID), append(v.votersLEO, s.LogEndOffset)
	}
	for _, s := range p.Observers {
		v.observers = append(v.observers, s.ReplicaID)
	}
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	if r, err = request(addr, md); err != nil {
		return v, err
	}
	for _, b := range r.(*kmsg.MetadataResponse).Brokers {
		v.metadataBrokers = append(v.metadataBrokers, b.NodeID)
	}
	dc := kmsg.NewPtrDescribeClusterRequest()
	if r, err = request(addr, dc); err != nil {
		return v, err
	}
	dcr := r.(*kmsg.DescribeClusterResponse)
	v.controller = dcr.ControllerID
	for _, b := range dcr.Brokers {
		v.clusterBrokers = append(v.clusterBrokers, b.NodeID)
	}
	slices.Sort(v.metadataBrokers)
	slices.Sort(v.clusterBrokers)
	return v, nil
}

// agreed polls the running nodes until each one's view passes check and
// all name the same leader, which it returns.
func agreed(t testing.TB, addrs []string, timeout time.Duration, check func(clusterView) string) int32 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		leader, msg := int32(-1), ""
		for _, a := range addrs {
			v, err := viewOf(a)
			switch {
			case err != nil:
				msg = fmt.Sprintf("%s: %v", a, err)
			case v.leader < 0 || leader >= 0 && v.leader != leader:
				msg = fmt.Sprintf("%s names leader %d, another node %d", a, v.leader, leader)
			case v.controller != v.leader && (slices.Contains(v.clusterBrokers, v.leader) || !slices.Contains(v.clusterBrokers, v.controller)):
				// A controller-only leader is no broker: a broker names a
				// live broker (itself) instead, as KRaft's do.
				msg = fmt.Sprintf("%s: DescribeCluster names controller %d, DescribeQuorum leader %d", a, v.controller, v.leader)
			default:
				leader, msg = v.leader, check(v)
				if msg != "" {
					msg = a + ": " + msg
				}
			}
			if msg != "" {
				break
			}
		}
		if msg == "" {
			return leader
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, msg)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// allThree checks one leader, three voters with offsets, and three live
// brokers in Metadata and DescribeCluster.
func allThree(v clusterView) string {
	all := []int32{1, 2, 3}
	switch {
	case !slices.Equal(v.voters, all) || len(v.observers) != 0:
		return fmt.Sprintf("voters %v observers %v", v.voters, v.observers)
	case slices.ContainsFunc(v.votersLEO, func(o int64) bool { return o < 1 }):
		return fmt.Sprintf("voters' log end offsets %v", v.votersLEO)
	case !slices.Equal(v.metadataBrokers, all):
		return fmt.Sprintf("Metadata brokers %v", v.metadataBrokers)
	case !slices.Equal(v.clusterBrokers, all):
		return fmt.Sprintf("DescribeCluster brokers %v", v.clusterBrokers)
	}
	return ""
}

// Three sluiced processes on loopback form a quorum; kill -9 of the
// controller elects another within 10 s and its broker is fenced after
// its session; the killed node restarts and rejoins.
func TestThreeNodeQuorum(t *testing.T) {
	var voters []string
	var clientPorts []int
	for id := 1; id <= 3; id++ {
		clientPorts = append(clientPorts, freePort(t))
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", id, freePort(t)))
	}
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	env := []string{
		"SLUICE_CONTROLLER_QUORUM_VOTERS=" + strings.Join(voters, ","),
		"SLUICE_BROKER_HEARTBEAT_INTERVAL_MS=500",
		"SLUICE_BROKER_SESSION_TIMEOUT_MS=3000", // fencing within the test's time
	}
	startNode := func(i int) *proc {
		_, ctl, _ := strings.Cut(voters[i], "@")
		p := start(t, env, "--node-id", strconv.Itoa(i+1), "--cluster-id", "three-node-test", "--data-dir", dirs[i],
			"--listen", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://%s", clientPorts[i], ctl), "--http-listen", freeHTTP(t))
		if p.addr == "" {
			t.Fatalf("node %d did not start:\n%s", i+1, p.stderr)
		}
		return p
	}
	began := time.Now()
	nodes := []*proc{startNode(0), startNode(1), startNode(2)}
	addrs := []string{nodes[0].addr, nodes[1].addr, nodes[2].addr}
	leader := agreed(t, addrs, 20*time.Second, allThree)
	t.Logf("%.2fs: node %d leads, three brokers registered", time.Since(began).Seconds(), leader)
	pids := map[int64]string{}
	initPIDs(t, addrs, pids, "at start")
	// Any node's console shows the three brokers, the controller among them.
	for _, n := range nodes {
		consoleBrokers(t, n, func(bs []consoleBroker) string {
			return wantBrokers(bs, leader, map[int32]string{1: "alive", 2: "alive", 3: "alive"})
		})
	}

	// kill -9 of the controller: the other two elect a new one.
	killed := int(leader - 1)
	nodes[killed].kill()
	killedAt := time.Now()
	rest := slices.Delete(slices.Clone(addrs), killed, killed+1)
	newLeader := agreed(t, rest, 10*time.Second, func(v clusterView) string {
		if v.leader == leader {
			return fmt.Sprintf("the killed node %d still leads", leader)
		}
		return ""
	})
	t.Logf("new leader %d %.2fs after kill -9 of %d", newLeader, time.Since(killedAt).Seconds(), leader)
	// The new controller serves admin calls: CreateTopics through either
	// survivor (the other forwards it) succeeds within 10 s of the kill.
	for k, a := range rest {
		topic := fmt.Sprintf("after-kill-%d", k)
		for {
			err := createTopic(a, topic)
			if err == nil {
				t.Logf("CreateTopics %s through %s answered %.2fs after kill -9 of the controller", topic, a, time.Since(killedAt).Seconds())
				break
			}
			if time.Since(killedAt) > 10*time.Second {
				t.Fatalf("CreateTopics %s through %s 10s after kill -9 of the controller: %v", topic, a, err)
			}
			time.Sleep(20 * time.Millisecond) // polling interval
		}
	}

	// Its broker misses its heartbeats: fenced after the session timeout,
	// it leaves Metadata and DescribeCluster everywhere.
	var live []int32
	for id := int32(1); id <= 3; id++ {
		if id != leader {
			live = append(live, id)
		}
	}
	agreed(t, rest, 15*time.Second, func(v clusterView) string {
		if !slices.Equal(v.metadataBrokers, live) || !slices.Equal(v.clusterBrokers, live) {
			return fmt.Sprintf("brokers %v (Metadata) %v (DescribeCluster), want %v", v.metadataBrokers, v.clusterBrokers, live)
		}
		return ""
	})
	t.Logf("broker %d fenced %.2fs after kill -9", leader, time.Since(killedAt).Seconds())
	states := map[int32]string{1: "alive", 2: "alive", 3: "alive"}
	states[leader] = "fenced"
	for i, n := range nodes {
		if i != killed {
			consoleBrokers(t, n, func(bs []consoleBroker) string { return wantBrokers(bs, newLeader, states) })
		}
	}

	// It restarts on the same directory and addresses and rejoins.
	nodes[killed] = startNode(killed)
	agreed(t, addrs, 20*time.Second, allThree)
	// Producer ids stay unique across brokers, a controller change and a
	// restart: each broker's blocks come from the active controller.
	initPIDs(t, addrs, pids, "after the restart")
	// The three applied the same metadata log: /metadataz answers the same
	// index and image digest everywhere, with the three brokers unfenced.
	st := sameMetadataOf(t, nodes)
	// Each entry applied is stamped with the leader's append time: the
	// apply lag of the last one, and of the last image reconciled.
	if a, r := st.Applied, st.Reconciled; a == nil || a.Index == 0 || a.AppendedAt.IsZero() || a.LagSeconds < 0 || r == nil || r.Index > a.Index {
		t.Fatalf("/metadataz apply stamps: applied %+v, reconciled %+v", a, r)
	}
	for id := int32(1); id <= 3; id++ {
		if epoch, fenced := st.broker(id); epoch < 0 || fenced {
			t.Fatalf("/metadataz: broker %d epoch %d fenced %v", id, epoch, fenced)
		}
	}
	for _, n := range nodes {
		n.stop()
	}
}

// A one-node quorum whose default controller port (client port + 1) is
// taken listens on a free one instead, and the broker still registers.
func TestControllerPortTaken(t *testing.T) {
	var held net.Listener
	var client int
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		if c, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p-1)); err == nil {
			c.Close()
			held, client = l, p-1
			break
		}
		l.Close()
	}
	if held == nil {
		t.Skip("found no free port below a held one")
	}
	defer held.Close()
	p := start(t, nil, "--data-dir", t.TempDir(), "--listen", fmt.Sprintf("127.0.0.1:%d", client))
	if p.addr == "" {
		t.Fatalf("sluiced did not start with port %d taken:\n%s", client+1, p.stderr)
	}
	p.waitLog("the port next to the client port is taken: the one-node controller quorum listens on a free port instead (set a CONTROLLER:// listener to choose)")
	p.waitLog("registered with the controller")
	p.stop()
}

// initPIDs asks every node for two idempotent producer ids (InitProducerId
// without a transactional id) and fails on an id handed out before (pids
// maps each to where it was handed out).
func initPIDs(t *testing.T, addrs []string, pids map[int64]string, when string) {
	t.Helper()
	for _, a := range addrs {
		for k := range 2 {
			req := kmsg.NewPtrInitProducerIDRequest()
			req.Version, req.ProducerID, req.ProducerEpoch = 4, -1, -1
			var resp *kmsg.InitProducerIDResponse
			for deadline := time.Now().Add(15 * time.Second); ; {
				r, err := request(a, req)
				if err != nil {
					t.Fatalf("InitProducerId at %s: %v", a, err)
				}
				resp = r.(*kmsg.InitProducerIDResponse)
				if resp.ErrorCode != kerr.CoordinatorLoadInProgress.Code || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond) // retriable: no block yet; polling, bounded by the deadline
			}
			if resp.ErrorCode != 0 {
				t.Fatalf("InitProducerId at %s %s: %v", a, when, kerr.ErrorForCode(resp.ErrorCode))
			}
			where := fmt.Sprintf("%s (#%d %s)", a, k+1, when)
			if prev, ok := pids[resp.ProducerID]; ok {
				t.Fatalf("producer id %d handed out twice: by %s and by %s", resp.ProducerID, prev, where)
			}
			pids[resp.ProducerID] = where
		}
	}
}

// sameMetadataOf polls the nodes' /metadataz until they answer the same
// applied index and image digest, and returns that answer.
func sameMetadataOf(t *testing.T, nodes []*proc) metadataState {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var got []metadataState
		msg := ""
		for _, n := range nodes {
			code, body := httpGet(t, "http://"+n.waitLog("http listening")["addr"].(string)+"/metadataz")
			var st metadataState
			if code != 200 || json.Unmarshal([]byte(body), &st) != nil {
				msg = fmt.Sprintf("/metadataz of %s: %d %s", n.addr, code, body)
				break
			}
			got = append(got, st)
		}
		if msg == "" {
			for _, st := range got[1:] {
				if st.AppliedIndex != got[0].AppliedIndex || st.ImageSHA256 != got[0].ImageSHA256 || len(st.ImageSHA256) != 64 {
					msg = fmt.Sprintf("/metadataz answers differ: %+v", got)
				}
			}
		}
		if msg == "" {
			return got[0]
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

// createTopic sends CreateTopics for a one-partition RF=1 topic to addr.
func createTopic(addr, topic string) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version, req.TimeoutMillis = 5, 5000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 1, 1
	req.Topics = append(req.Topics, rt)
	r, err := request(addr, req)
	if err != nil {
		return err
	}
	resp := r.(*kmsg.CreateTopicsResponse)
	if len(resp.Topics) != 1 {
		return fmt.Errorf("CreateTopics: %d topics in the answer", len(resp.Topics))
	}
	if code := resp.Topics[0].ErrorCode; code != 0 {
		return fmt.Errorf("CreateTopics: %w", kerr.ErrorForCode(code))
	}
	return nil
}

// consoleBroker is a row of the console's brokers table (/api/overview).
type consoleBroker struct {
	ID         int32
	Endpoint   string
	State      string
	Controller bool
	Self       bool
}

// consoleBrokers polls n's /api/overview until check passes (it returns
// what is wrong, "" when nothing).
func consoleBrokers(t *testing.T, n *proc, check func([]consoleBroker) string) {
	t.Helper()
	base := "http://" + n.waitLog("http listening")["addr"].(string)
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, body := httpGet(t, base+"/api/overview")
		var o struct{ Brokers []consoleBroker }
		msg := fmt.Sprintf("/api/overview: %d %s", code, body)
		if code == 200 && json.Unmarshal([]byte(body), &o) == nil {
			if msg = check(o.Brokers); msg != "" {
				msg = fmt.Sprintf("%s (brokers %+v)", msg, o.Brokers)
			}
		}
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("console of %s: %s", n.addr, msg)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

// wantBrokers checks the brokers' states and the controller, and that
// each has its PLAINTEXT endpoint and one is the answering node.
func wantBrokers(bs []consoleBroker, controller int32, states map[int32]string) string {
	if len(bs) != len(states) {
		return fmt.Sprintf("%d brokers, want %d", len(bs), len(states))
	}
	self := 0
	for _, b := range bs {
		switch {
		case b.State != states[b.ID]:
			return fmt.Sprintf("broker %d is %s, want %s", b.ID, b.State, states[b.ID])
		case b.Controller != (b.ID == controller):
			return fmt.Sprintf("broker %d controller=%v, want the controller %d", b.ID, b.Controller, controller)
		case !strings.Contains(b.Endpoint, "PLAINTEXT://127.0.0.1:"):
			return fmt.Sprintf("broker %d endpoint %q", b.ID, b.Endpoint)
		}
		if b.Self {
			self++
		}
	}
	if self != 1 {
		return fmt.Sprintf("%d brokers marked as this one", self)
	}
	return ""
}
