package broker

// A combined node (process.roles=broker,controller) runs a controller
// quorum member (package controller) next to the broker; a broker-only
// node runs a non-voting member that follows the metadata log; a
// controller-only node runs a voter and a broker that never registers. The broker joins
// the cluster as a KRaft broker does:
//
//	start ──▶ register (BrokerRegistration: id, incarnation, every
//	            advertised endpoint, rack) ──▶ broker epoch, registered fenced
//	      ──▶ heartbeat now and every broker.heartbeat.interval.ms
//	            (BrokerHeartbeat: epoch, metadata offset) ──▶ unfenced
//	stop  ──▶ heartbeat with WantShutdown: the controller fences it at once
//
// Both go to the active controller (the Raft leader): straight to the
// local controller when this node leads, else as Kafka's BrokerRegistration
// (API 62) and BrokerHeartbeat (API 63) frames to the leader's broker
// listener, whose address is in the metadata image (the leader registered
// its own broker first; until then registration retries): the endpoint of
// inter.broker.listener.name, authenticated as that listener demands
// (peer.go). The leader's
// handlers (62_broker_registration.go, 63_broker_heartbeat.go) call its
// controller; NOT_CONTROLLER makes the sender look the leader up again,
// STALE_BROKER_EPOCH or BROKER_ID_NOT_REGISTERED makes it register again.
// Kafka sends these on the CONTROLLER listener. Here a combined node sends
// them to the leader's broker listener once the leader's broker is
// registered; before that, and always when the leader is a controller-only
// node (process.roles=controller, Config.ControllerOnly, which registers no
// broker), they go to the leader's CONTROLLER listener, which passes Kafka
// frames on to a Kafka listener of that node (controller/mux.go). A
// broker-only node (process.roles=broker) runs a raft observer in place of
// a voter, sends its address in its registration (observerEndpoint; the
// leader adds it as a non-voter), and, while it knows no leader, asks the
// controllers of Config.QuorumAddrs (controller.quorum.voters or
// controller.quorum.bootstrap.servers) in turn for it (peer.go).
//
// Every node applies the metadata log, so Metadata and DescribeCluster
// read the brokers from the local image; DescribeQuorum is answered by the
// leader (the only node that knows the others' offsets) and forwarded
// there by the others.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/controller"
	"github.com/sluice/sluice/metadata"
	"github.com/sluice/sluice/netio"
)

// Errors the member loop acts on.
var (
	errNoController = errors.New("broker: no active controller known")
	errReregister   = errors.New("broker: the controller no longer knows this registration")
	errDuplicate    = errors.New("broker: another broker with this node.id is registered and alive")
)

// registerRetry is how long the member waits before trying again after a
// failed registration or heartbeat (no leader yet, leader moving).
const registerRetry = 100 * time.Millisecond

// duplicateRetry is the wait before registering again after
// DUPLICATE_BROKER_REGISTRATION: the other broker's session lasts seconds.
const duplicateRetry = time.Second

// peerTimeout bounds one request to the leader's broker listener.
const peerTimeout = 5 * time.Second

// clusterMember is the broker's registration and heartbeat loop.
type clusterMember struct {
	b           *Broker
	ctl         *controller.Controller
	interval    time.Duration
	incarnation metadata.UUID
	epoch       atomic.Int64 // -1 until registered
	registered  chan struct{}
	regOnce     atomic.Bool
	quit        chan struct{}
	done        chan struct{}
	joinDone    chan struct{} // closed when joinLoop ends (at once without Config.JoinQuorum)

	// conn is the loop's connection to the leader's broker listener,
	// used only by the loop goroutine (and by stop after it ended).
	conn     net.Conn
	connAddr string
	corrID   int32
	stopOnce sync.Once
	// idle watches conn between calls (idleconn.go); callLeader takes it
	// back.
	idle *idleWatch
	// refused is set while the controller refuses the registration as a
	// duplicate (used by the loop goroutine only), so that the error is
	// logged once per refusal streak, not at every retry.
	refused bool

	rec  *reconciler       // the image's topics onto the local logs (reconcile.go)
	repl *replicaManager   // leader and follower replica state (replication.go)
	sec  *securityFollower // the image's ACLs and credentials (security_cluster.go)
}

func newClusterMember(b *Broker) *clusterMember {
	m := &clusterMember{
		b: b, ctl: b.cfg.Controller, interval: b.cfg.HeartbeatInterval,
		registered: make(chan struct{}), quit: make(chan struct{}), done: make(chan struct{}),
		joinDone: make(chan struct{}),
	}
	if m.interval <= 0 {
		m.interval = 2 * time.Second
	}
	_, _ = rand.Read(m.incarnation[:]) // crypto/rand.Read never fails
	m.epoch.Store(-1)
	m.rec = newReconciler(b)
	m.repl = newReplicaManager(b)
	m.sec = newSecurityFollower(b, m.rec.ready)
	b.topics.markImageOnly()
	return m
}

func (m *clusterMember) start() {
	if m.b.cfg.JoinQuorum {
		go m.joinLoop()
	} else {
		close(m.joinDone)
	}
	if !m.b.cfg.ControllerOnly {
		go m.loop()
	} else {
		close(m.done)
	}
	m.sec.start()
	m.repl.start()
	m.rec.start(m.epoch.Load)
}

// Registered is closed once this broker has registered and been unfenced
// for the first time.
func (b *Broker) Registered() <-chan struct{} {
	if b.cl == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return b.cl.registered
}

func (m *clusterMember) loop() {
	defer close(m.done)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-m.quit:
			return
		case <-timer.C:
		}
		timer.Reset(m.step())
	}
}

// step registers or heartbeats once and returns how long to wait.
func (m *clusterMember) step() time.Duration {
	if m.epoch.Load() < 0 {
		epoch, err := m.register()
		switch {
		case errors.Is(err, errDuplicate):
			if !m.refused {
				m.refused = true
				m.b.log.Error(fmt.Sprintf("node.id %d is taken: another broker registered with it is alive; not registered, retrying until its session ends, as Kafka's broker does (after a restart within the session, the old incarnation's)", m.b.cfg.NodeID),
					"node_id", m.b.cfg.NodeID, "err", err)
			}
			return duplicateRetry
		case err != nil:
			m.b.log.Debug("broker registration failed; retrying", "err", err)
			return registerRetry
		}
		m.refused = false
		m.epoch.Store(epoch)
		m.b.store.SetBrokerEpoch(epoch) // named by the clean-shutdown marker (KIP-966)
		m.b.log.Info("registered with the controller", "broker_epoch", epoch)
		return 0 // the first heartbeat unfences
	}
	fenced, err := m.heartbeat(false)
	switch {
	case errors.Is(err, errReregister):
		m.b.log.Warn("the controller lost this broker's registration: registering again", "err", err)
		m.epoch.Store(-1)
		return 0
	case err != nil:
		m.b.log.Debug("broker heartbeat failed; retrying", "err", err)
		return registerRetry
	case !fenced && m.regOnce.CompareAndSwap(false, true):
		close(m.registered)
	}
	return m.interval
}

// stop ends the loop and, when registered, asks the controller to fence
// this broker now (Kafka's controlled shutdown), so that it leaves Metadata
// before its session would expire.
func (m *clusterMember) stop() { m.stopOnce.Do(m.stopNow) }

func (m *clusterMember) stopNow() {
	close(m.quit)
	<-m.done
	<-m.joinDone
	if m.epoch.Load() >= 0 {
		if _, err := m.heartbeat(true); err != nil {
			m.b.log.Warn("could not tell the controller this broker is stopping; its session will expire", "err", err)
		} else {
			if m.ctl.IsLeader() {
				// The fence must reach the other nodes before this one's
				// raft stops: followers learn an entry is committed from
				// the leader's next append.
				if err := m.ctl.Barrier(peerTimeout); err != nil {
					m.b.log.Warn("the other controllers may not have applied this broker's fencing", "err", err)
				}
			}
			m.awaitResigned()
		}
	}
	m.rec.stop()
	m.repl.stop()
	m.sec.stop()
	if m.idle != nil {
		m.conn, m.idle = m.idle.take(), nil
	}
	if m.conn != nil {
		_ = m.conn.Close()
	}
}

// resignWait bounds how long a stopping broker waits for its own fencing
// to reach its reconciler.
const resignWait = 2 * time.Second

// awaitResigned waits until the reconciler has applied an image in which
// this broker is fenced: its leaderships have moved (the controller
// elected new leaders in the same batch) and it has resigned them, so
// that a Produce or Fetch that reaches it from here until the listener
// drains is answered NOT_LEADER_OR_FOLLOWER with the new leader (KIP-951)
// and an acks=all Produce waiting on the old leadership ends with it,
// rather than with a lost connection and a Metadata refresh the client
// may hold back (franz-go: MetadataMinAge, 5 s). Kafka's controlled
// shutdown likewise stops serving only once its leaderships have moved.
func (m *clusterMember) awaitResigned() {
	select {
	case <-m.rec.ready:
	default:
		return // never caught up: it leads nothing yet
	}
	id := m.b.cfg.NodeID
	if !m.rec.awaitApplied(time.Now().Add(resignWait), func(im *metadata.Image) bool {
		br, ok := im.Broker(id)
		return !ok || br.Fenced
	}) {
		m.b.log.Warn("this broker's fencing did not reach its own metadata in time; stopping with its leaderships", "waited", resignWait)
	}
}

func (m *clusterMember) registration() controller.BrokerRegistration {
	reg := controller.BrokerRegistration{
		BrokerID: m.b.cfg.NodeID, Incarnation: m.incarnation, Rack: m.b.cfg.Rack,
		Endpoints: m.b.registeredEndpoints(),
		// The epoch the clean-shutdown marker named, else -1: an unclean
		// restart leaves every ELR (KIP-966).
		PreviousBrokerEpoch: m.b.store.CleanShutdownBrokerEpoch(),
	}
	if m.ctl.IsObserver() {
		host, port, _ := splitHostPort(m.ctl.Addr())
		reg.Endpoints = append(reg.Endpoints, metadata.Endpoint{Name: observerEndpoint, Host: host, Port: port})
	}
	return reg
}

// observerEndpoint names, in a broker-only node's BrokerRegistration, the
// address its metadata-log follower (a raft non-voter) listens at. The
// active controller adds it to the quorum as a non-voter and leaves the
// entry out of the registered endpoints (62_broker_registration.go).
const observerEndpoint = "SLUICE_METADATA_OBSERVER"

// registeredEndpoints are this broker's advertised listeners as it
// registers them, so each client is told of every broker at the listener
// it connected on (Kafka matches listeners by name across brokers).
func (b *Broker) registeredEndpoints() []metadata.Endpoint {
	m := *b.endpoints.Load()
	if len(m) == 0 {
		return []metadata.Endpoint{{Name: "PLAINTEXT", Host: b.cfg.AdvertisedHost, Port: uint16(b.advertisedPort())}}
	}
	out := make([]metadata.Endpoint, 0, len(m))
	for _, e := range b.cfg.Advertised {
		e = m[e.Listener]
		out = append(out, metadata.Endpoint{Name: e.Listener, Host: e.Host, Port: uint16(e.Port),
			SecurityProtocol: e.Protocol.ID()})
	}
	return out
}

func (m *clusterMember) register() (int64, error) {
	reg := m.registration()
	if m.ctl.IsLeader() {
		reg.Local = true // this node's own controller: no duplicate of it can be alive
		epoch, err := m.ctl.RegisterBroker(reg)
		if errors.Is(err, controller.ErrDuplicateBroker) {
			err = fmt.Errorf("%w (%v)", errDuplicate, err)
		}
		return epoch, err
	}
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.BrokerID, req.ClusterID, req.IncarnationID = reg.BrokerID, m.b.clusterID, reg.Incarnation
	req.Rack = nilIfEmpty(reg.Rack)
	req.PreviousBrokerEpoch = reg.PreviousBrokerEpoch
	for _, e := range reg.Endpoints {
		l := kmsg.NewBrokerRegistrationRequestListener()
		l.Name, l.Host, l.Port, l.SecurityProtocol = e.Name, e.Host, e.Port, e.SecurityProtocol
		req.Listeners = append(req.Listeners, l)
	}
	resp := req.ResponseKind().(*kmsg.BrokerRegistrationResponse)
	if err := m.callLeader(req, resp); err != nil {
		return 0, err
	}
	if err := peerError(resp.ErrorCode); err != nil {
		return 0, err
	}
	return resp.BrokerEpoch, nil
}

// heartbeat sends one heartbeat (or, with shutdown, asks to be fenced)
// and returns whether the broker is still fenced.
func (m *clusterMember) heartbeat(shutdown bool) (bool, error) {
	id, epoch := m.b.cfg.NodeID, m.epoch.Load()
	if m.ctl.IsLeader() {
		return localHeartbeat(m.ctl, id, epoch, int64(m.ctl.AppliedIndex()), shutdown)
	}
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.BrokerID, req.BrokerEpoch = id, epoch
	req.CurrentMetadataOffset = int64(m.ctl.AppliedIndex())
	req.WantShutdown = shutdown
	resp := req.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
	if err := m.callLeader(req, resp); err != nil {
		return true, err
	}
	if err := peerError(resp.ErrorCode); err != nil {
		return true, err
	}
	return resp.IsFenced, nil
}

// localHeartbeat is a heartbeat on the active controller, from this node
// or from a peer's BrokerHeartbeat.
func localHeartbeat(ctl *controller.Controller, id int32, epoch, offset int64, shutdown bool) (bool, error) {
	if shutdown {
		if br, ok := ctl.Image().Broker(id); !ok || br.Epoch != epoch {
			return true, fmt.Errorf("%w: broker %d epoch %d", controller.ErrStaleBrokerEpoch, id, epoch)
		}
		return true, ctl.FenceBroker(id)
	}
	if err := ctl.HeartbeatAt(id, epoch, offset); err != nil {
		return true, err
	}
	br, _ := ctl.Image().Broker(id)
	return br.Fenced, nil
}

// controllerError maps the controller's errors onto Kafka's codes.
func controllerError(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, controller.ErrNotLeader), errors.Is(err, controller.ErrClosed):
		return kerr.NotController.Code
	case errors.Is(err, controller.ErrStaleBrokerEpoch):
		return kerr.StaleBrokerEpoch.Code
	case errors.Is(err, controller.ErrUnknownBroker):
		return kerr.BrokerIDNotRegistered.Code
	case errors.Is(err, controller.ErrDuplicateBroker):
		return kerr.DuplicateBrokerRegistration.Code
	}
	return kerr.UnknownServerError.Code
}

// peerError is the member's view of a code from the leader's handler.
func peerError(code int16) error {
	switch code {
	case 0:
		return nil
	case kerr.NotController.Code:
		return errNoController
	case kerr.StaleBrokerEpoch.Code, kerr.BrokerIDNotRegistered.Code:
		return fmt.Errorf("%w (%v)", errReregister, kerr.ErrorForCode(code))
	case kerr.DuplicateBrokerRegistration.Code:
		return fmt.Errorf("%w (%v)", errDuplicate, kerr.ErrorForCode(code))
	}
	return fmt.Errorf("broker: controller answered %v", kerr.ErrorForCode(code))
}

// controllerCallTimeout bounds one registration or heartbeat exchange with
// the controller: twice the heartbeat interval, at least 1 s (4 s with
// Kafka's defaults, under half of broker.session.timeout.ms). Before, a
// heartbeat sent to a controller just cut off waited peerTimeout (5 s),
// longer than a short session, and the new controller fenced this live
// broker.
func controllerCallTimeout(interval time.Duration) time.Duration {
	return max(2*interval, time.Second)
}

// callLeader sends req to the leader's broker listener on the loop's
// connection, dialing it when the leader moved.
func (m *clusterMember) callLeader(req kmsg.Request, resp kmsg.Response) error {
	addr, err := m.b.leaderAddr(m.ctl)
	if err != nil {
		return err
	}
	if m.idle != nil {
		m.conn, m.idle = m.idle.take(), nil // nil: the controller's broker closed it
	}
	if m.conn != nil && m.connAddr != addr {
		_ = m.conn.Close()
		m.conn = nil
	}
	// A controller cut off by the network answers nothing: a call to it
	// must end well within a session, so that the heartbeats reach the
	// controller elected meanwhile before this broker's session runs out.
	timeout := controllerCallTimeout(m.interval)
	if m.conn == nil {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		c, err := m.b.dialPeer(ctx, addr)
		cancel()
		if err != nil {
			return fmt.Errorf("broker: cannot reach the controller's broker: %w", err)
		}
		m.conn, m.connAddr, m.corrID = c, addr, 100 // 1…99: the SASL exchange
	}
	m.corrID++
	if err := roundTripWithin(m.conn, timeout, m.b.peerClientID(), m.corrID, req.MaxVersion(), req, resp); err != nil {
		_ = m.conn.Close()
		m.conn = nil
		return err
	}
	m.idle = watchIdle(m.conn)
	return nil
}

// roundTrip writes one request frame on c, at the request's highest
// version, and reads its response.
func roundTrip(c net.Conn, clientID string, corrID int32, req kmsg.Request, resp kmsg.Response) error {
	return roundTripAt(c, clientID, corrID, req.MaxVersion(), req, resp)
}

// roundTripAt is roundTrip at the given version (one the peer serves).
func roundTripAt(c net.Conn, clientID string, corrID int32, version int16, req kmsg.Request, resp kmsg.Response) error {
	return roundTripWithin(c, peerTimeout, clientID, corrID, version, req, resp)
}

// roundTripWithin is roundTripAt with the whole exchange bounded by timeout.
func roundTripWithin(c net.Conn, timeout time.Duration, clientID string, corrID int32, version int16, req kmsg.Request, resp kmsg.Response) error {
	req.SetVersion(version)
	resp.SetVersion(version)
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID))
	frame := f.AppendRequest(nil, req, corrID)
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write(frame); err != nil {
		return fmt.Errorf("broker: cannot send request %d: %w", req.Key(), err)
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return fmt.Errorf("broker: no response to request %d: %w", req.Key(), err)
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 1<<24 {
		return fmt.Errorf("broker: response to request %d has bad size %d", req.Key(), n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c, body); err != nil {
		return fmt.Errorf("broker: short response to request %d: %w", req.Key(), err)
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != corrID {
		return fmt.Errorf("broker: response correlation id %d, want %d", got, corrID)
	}
	body = body[4:]
	if resp.IsFlexible() { // response header v1: tagged fields, none sent here
		if len(body) == 0 || body[0] != 0 {
			return fmt.Errorf("broker: response to request %d has header tags", req.Key())
		}
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		return fmt.Errorf("broker: cannot decode response to request %d: %w", req.Key(), err)
	}
	return nil
}

// callPeer sends one request to addr on a connection of its own (admin
// requests forwarded to the leader, such as DescribeQuorum).
func (b *Broker) callPeer(ctx context.Context, addr, clientID string, req kmsg.Request, resp kmsg.Response) error {
	return b.callPeerAt(ctx, addr, clientID, req, resp, req.MaxVersion())
}

// callPeerAt is callPeer at a given request version.
func (b *Broker) callPeerAt(ctx context.Context, addr, clientID string, req kmsg.Request, resp kmsg.Response, version int16) error {
	c, err := b.dialPeer(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	return roundTripAt(c, clientID, 100, version, req, resp)
}

// liveBrokers returns the unfenced brokers of the image with their
// PLAINTEXT endpoint, this node always among them (it answers, so it is
// alive, even before its registration is committed).
func (b *Broker) liveBrokers(c *netio.Conn) []kmsg.MetadataResponseBroker {
	self := b.brokerMetadata(c)
	want := "PLAINTEXT"
	if c != nil && c.ListenerName() != "" {
		want = c.ListenerName()
	}
	if b.cl == nil {
		return []kmsg.MetadataResponseBroker{self}
	}
	var out []kmsg.MetadataResponseBroker
	seenSelf := false
	for _, br := range b.cl.ctl.Image().Brokers() {
		if br.ID == self.NodeID {
			out, seenSelf = append(out, self), true
			continue
		}
		if br.Fenced {
			continue
		}
		for _, e := range br.Endpoints {
			if e.Name != want {
				continue
			}
			mb := kmsg.NewMetadataResponseBroker()
			mb.NodeID, mb.Host, mb.Port, mb.Rack = br.ID, e.Host, int32(e.Port), nilIfEmpty(br.Rack)
			out = append(out, mb)
			break
		}
	}
	if !seenSelf && !b.cfg.ControllerOnly { // a controller-only node is no broker
		out = append(out, self)
	}
	return out
}

// controllerID is the controller Metadata and DescribeCluster name: the
// active controller's id (-1 while none is known), or this node's without
// a controller. When the active controller is a controller-only node,
// which clients cannot reach, it is this broker's id, as a KRaft broker
// names a live broker there: admin requests sent to it are forwarded.
func (b *Broker) controllerID() int32 {
	if b.cl == nil {
		return b.cfg.NodeID
	}
	id, _ := b.cl.ctl.Leader()
	if id < 0 || b.cfg.ControllerOnly {
		return id
	}
	if _, ok := b.cl.ctl.Image().Broker(id); !ok {
		return b.cfg.NodeID
	}
	return id
}

func splitHostPort(addr string) (string, uint16, bool) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, false
	}
	port, err := strconv.ParseUint(p, 10, 16)
	return host, uint16(port), err == nil
}

// ClusterBroker is one broker of the cluster as the web console shows it.
type ClusterBroker struct {
	ID         int32
	Endpoints  []string // "NAME://host:port", in registration order
	Rack       string
	Epoch      int64 // broker epoch (-1: not registered yet)
	Fenced     bool
	Controller bool // the active controller (the Raft leader) runs on this node
	Self       bool // the broker answering
}

// ClusterBrokers lists every broker of the metadata image, fenced ones
// included, with this one always among them (before its registration is
// committed, as liveBrokers does), sorted by id. Without a controller
// quorum it is this broker alone.
func (b *Broker) ClusterBrokers() []ClusterBroker {
	ctl := b.controllerID()
	self := ClusterBroker{ID: b.cfg.NodeID, Rack: b.cfg.Rack, Epoch: -1, Self: true, Controller: ctl == b.cfg.NodeID,
		Endpoints: strings.Split(b.advertisedListeners(), ",")}
	if b.cl == nil {
		return []ClusterBroker{self}
	}
	var out []ClusterBroker
	seenSelf := false
	for _, br := range b.cl.ctl.Image().Brokers() {
		cb := ClusterBroker{ID: br.ID, Rack: br.Rack, Epoch: br.Epoch, Fenced: br.Fenced, Controller: br.ID == ctl, Self: br.ID == self.ID}
		for _, e := range br.Endpoints {
			cb.Endpoints = append(cb.Endpoints, e.Name+"://"+net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port))))
		}
		seenSelf = seenSelf || cb.Self
		out = append(out, cb)
	}
	if !seenSelf && !b.cfg.ControllerOnly {
		out = append(out, self)
	}
	slices.SortFunc(out, func(x, y ClusterBroker) int { return int(x.ID) - int(y.ID) })
	return out
}

// MetadataState is the metadata this node has applied: the Raft index of
// the last applied entry and the SHA-256 of the image's snapshot bytes
// (metadata.Image.AppendSnapshot: equal images, equal bytes). Nodes that
// applied the same log answer the same pair. The index is read before and
// after the image; ok is false without a controller quorum or when an
// entry was applied in between (ask again).
func (b *Broker) MetadataState() (applied uint64, digest [sha256.Size]byte, ok bool) {
	if b.cl == nil {
		return 0, digest, false
	}
	applied = b.cl.ctl.AppliedIndex()
	im := b.cl.ctl.Image()
	if b.cl.ctl.AppliedIndex() != applied {
		return 0, digest, false
	}
	return applied, sha256.Sum256(im.AppendSnapshot(nil)), true
}

// ClusterPartition is one partition of the metadata image as the web
// console shows it.
type ClusterPartition struct {
	Partition int32
	Leader    int32 // -1: no leader (offline)
	Replicas  []int32
	ISR       []int32
}

// ClusterTopics returns every topic of the metadata image with its
// partitions in order; nil without a controller quorum (the store's logs
// are then the whole cluster).
func (b *Broker) ClusterTopics() map[string][]ClusterPartition {
	if b.cl == nil {
		return nil
	}
	im := b.cl.ctl.Image()
	out := map[string][]ClusterPartition{}
	for _, name := range im.TopicNames() {
		t, ok := im.Topic(name)
		if !ok {
			continue
		}
		ps := make([]ClusterPartition, len(t.Partitions))
		for i, p := range t.Partitions {
			ps[i] = ClusterPartition{Partition: p.Partition, Leader: p.Leader,
				Replicas: slices.Clone(p.Replicas), ISR: slices.Clone(p.ISR)}
		}
		out[name] = ps
	}
	return out
}

// PeerAddr is broker id's inter-broker endpoint (inter.broker.listener.name)
// in the metadata image.
func (b *Broker) PeerAddr(id int32) (string, bool) {
	if b.cl == nil {
		return "", false
	}
	br, ok := b.cl.ctl.Image().Broker(id)
	if !ok {
		return "", false
	}
	want := b.cfg.InterBroker.listener()
	for _, e := range br.Endpoints {
		if e.Name == want {
			return net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port))), true
		}
	}
	return "", false
}

// DialPeer returns a dialer (kgo.Dialer's signature) that connects to
// another broker's inter-broker listener and secures the connection as
// the inter-broker configuration says (TLS, SASL), as the broker's own
// principal: the web console reads partitions led by other brokers with
// it (ListOffsets, DescribeLogDirs, Fetch). Never hand it to a user's
// requests: what the console reads through it is filtered by the console
// with Authorize first.
func (b *Broker) DialPeer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, _, addr string) (net.Conn, error) { return b.dialPeer(ctx, addr) }
}
