package controller

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/sluice/sluice/metadata"
)

// MetadataDir is the metadata log's directory under the data directory,
// named as KRaft's.
const MetadataDir = "__cluster_metadata-0"

// Errors. A proposal to a node that is not the active controller fails
// with a *NotLeaderError, which matches ErrNotLeader.
var (
	ErrNotLeader          = errors.New("controller: not the active controller")
	ErrClosed             = errors.New("controller: closed")
	ErrTopicExists        = errors.New("controller: topic already exists")
	ErrUnknownTopic       = errors.New("controller: unknown topic")
	ErrInvalidTopic       = errors.New("controller: invalid topic name")
	ErrInvalidPartitions  = errors.New("controller: invalid number of partitions")
	ErrInvalidReplication = errors.New("controller: invalid replication factor")
	ErrStaleBrokerEpoch   = errors.New("controller: stale broker epoch")
	ErrUnknownBroker      = errors.New("controller: unknown broker")
	// ErrDuplicateBroker is DUPLICATE_BROKER_REGISTRATION: another
	// incarnation of the broker id is registered and alive.
	ErrDuplicateBroker = errors.New("controller: another broker with this id is registered and alive")
	// ErrDuplicateVoter refuses to add a voter under an id another voter
	// has (DUPLICATE_VOTER).
	ErrDuplicateVoter = errors.New("controller: another voter has this id")
	// ErrBrokerAlive refuses to unregister an unfenced broker.
	ErrBrokerAlive = errors.New("controller: the broker is alive")

	// AlterPartition's refusals, Kafka's error codes in their names.
	ErrNotPartitionLeader   = errors.New("controller: not the partition's leader")
	ErrFencedLeaderEpoch    = errors.New("controller: fenced leader epoch")
	ErrInvalidUpdateVersion = errors.New("controller: stale partition epoch")
	ErrIneligibleReplica    = errors.New("controller: ineligible replica in the ISR")
)

// NotLeaderError names the active controller, when known (LeaderID -1 if
// not).
type NotLeaderError struct {
	LeaderID   int32
	LeaderAddr string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID < 0 {
		return "controller: not the active controller, and no leader is known"
	}
	return fmt.Sprintf("controller: not the active controller; the leader is node %d at %s", e.LeaderID, e.LeaderAddr)
}

func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

// Controller is one node of the controller quorum. Every node applies the
// metadata log to its image; the Raft leader is the active controller and
// makes the decisions (registration, fencing, assignment, elections,
// producer ids) as proposals.
//
// Lock order: decideMu, then mu. decideMu serializes the active
// controller's decisions (KRaft's single controller thread): a decision
// reads the image, proposes, and waits for the commit before the next one
// reads, so two decisions never act on the same stale image. It is held
// across the commit wait by design and is never taken by readers. mu
// guards the broker sessions and is never held across I/O nor while
// waiting for raft: raft's own goroutine takes it (observeRaft).
type Controller struct {
	cfg   Config
	fsm   *FSM
	raft  *raft.Raft
	trans *raft.NetworkTransport
	guard *soleGuard // trans, as raft sees it (soleguard.go)
	store *raftboltdb.BoltStore

	decideMu  sync.Mutex
	readyGen  uint64        // leaderGen at which the last barrier completed; under decideMu
	leaderGen atomic.Uint64 // bumped on every leadership change

	uncleanCount atomic.Int64 // unclean elections committed (unclean.go)

	mu struct {
		sync.Mutex
		lastSeen map[int32]time.Time // broker id → last heartbeat (leader only)
		heard    map[int32]heardMark // last heartbeat or registration, for CheckRegistration (never cleared by the session checks)
		offsets  map[int32]uint64    // broker id → metadata offset its last heartbeat reported
		watch    leaderWatch         // raft's leader changes (sessions.go)
	}

	sessionKick chan struct{} // one slot: a session pass is due now (sessions.go)

	stop chan struct{}
	done sync.WaitGroup
}

// Open starts a controller node: it opens (or creates) the metadata log
// under cfg.DataDir, binds the CONTROLLER listener and, on an empty log,
// bootstraps the quorum from cfg.Voters. A single voter elects itself.
func Open(c Config) (*Controller, error) {
	cfg, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cfg.DataDir, MetadataDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("controller: cannot create %q: %w", dir, err)
	}
	ctl := &Controller{cfg: cfg, fsm: NewFSM(), stop: make(chan struct{}), sessionKick: make(chan struct{}, 1)}
	ctl.mu.lastSeen = map[int32]time.Time{}
	ctl.mu.heard = map[int32]heardMark{}
	ctl.mu.offsets = map[int32]uint64{}
	ctl.mu.watch = leaderWatch{leader: -1, lost: -1}
	if err := ctl.openRaft(dir); err != nil {
		ctl.closeStores()
		return nil, err
	}
	ctl.done.Add(4)
	go ctl.leaderLoop()
	go ctl.sessionLoop()
	go ctl.rebalanceLoop()
	go ctl.uncleanLoop()
	return ctl, nil
}

func (c *Controller) raftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = serverID(c.cfg.NodeID)
	rc.Logger = c.cfg.Logger
	rc.CommitTimeout = 10 * time.Millisecond
	t := c.cfg.Timeouts
	if t.Heartbeat > 0 {
		rc.HeartbeatTimeout = t.Heartbeat
	}
	if t.Election > 0 {
		rc.ElectionTimeout = t.Election
	}
	if t.LeaderLease > 0 {
		rc.LeaderLeaseTimeout = t.LeaderLease
	}
	if t.Commit > 0 {
		rc.CommitTimeout = t.Commit
	}
	if c.cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = c.cfg.SnapshotThreshold
	}
	if c.cfg.TrailingLogs > 0 {
		rc.TrailingLogs = c.cfg.TrailingLogs
	}
	return rc
}

func (c *Controller) openRaft(dir string) error {
	rc := c.raftConfig()
	var err error
	c.store, err = raftboltdb.NewBoltStore(filepath.Join(dir, "raft.db"))
	if err != nil {
		return fmt.Errorf("controller: cannot open the metadata log: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, c.cfg.Logger)
	if err != nil {
		return fmt.Errorf("controller: cannot open the snapshot store: %w", err)
	}
	advertise, err := c.advertiseAddr()
	if err != nil {
		return err
	}
	if c.cfg.Serve != nil {
		layer, lerr := newMuxLayer(c.cfg.ListenAddr, advertise, c.cfg.Serve)
		if lerr != nil {
			return fmt.Errorf("controller: cannot listen on %s: %w", c.cfg.ListenAddr, lerr)
		}
		layer.quit = c.stop
		c.trans = raft.NewNetworkTransportWithLogger(layer, 3, 5*time.Second, c.cfg.Logger)
	} else {
		c.trans, err = raft.NewTCPTransportWithLogger(c.cfg.ListenAddr, advertise, 3, 5*time.Second, c.cfg.Logger)
		if err != nil {
			return fmt.Errorf("controller: cannot listen on %s: %w", c.cfg.ListenAddr, err)
		}
	}
	c.guard = newSoleGuard(c.trans, serverID(c.cfg.NodeID), func(from raft.ServerID, addr string, times int64) {
		c.cfg.Logger.Error("refused a leader's request from another server to this one-voter quorum: another cluster names this node's address", "from", from, "from_addr", addr, "times", times)
	})
	has, err := raft.HasExistingState(c.store, c.store, snaps)
	if err != nil {
		return fmt.Errorf("controller: cannot read the metadata log: %w", err)
	}
	if !has && !c.cfg.Observer && !c.cfg.Join { // observers and joining voters wait to be added by the leader
		var servers []raft.Server
		for _, v := range c.cfg.Voters {
			servers = append(servers, raft.Server{
				Suffrage: raft.Voter,
				ID:       serverID(v.ID),
				Address:  raft.ServerAddress(v.Addr),
			})
		}
		// Every voter bootstraps with the same configuration: safe, as
		// they all start from it.
		err := raft.BootstrapCluster(rc, c.store, c.store, snaps, c.guard, raft.Configuration{Servers: servers})
		if err != nil {
			return fmt.Errorf("controller: cannot bootstrap the quorum: %w", err)
		}
	}
	c.raft, err = raft.NewRaft(rc, c.fsm, c.store, c.store, snaps, c.guard)
	if err != nil {
		return fmt.Errorf("controller: cannot start raft: %w", err)
	}
	c.guard.started(c.raft)
	// The sessions follow raft's state changes as they happen (sessions.go).
	// An election cannot end before the first heartbeat timeout, long after
	// this; should one have, the sessions start here.
	c.raft.RegisterObserver(raft.NewObserver(nil, false, c.observeRaft))
	if c.IsLeader() {
		c.startSessions()
	}
	return nil
}

// advertiseAddr is this node's address in Voters when the listener binds
// elsewhere (a wildcard host such as :9093), else nil: raft advertises the
// bound address.
func (c *Controller) advertiseAddr() (net.Addr, error) {
	if a := c.cfg.Advertise; a != "" && a != c.cfg.ListenAddr {
		ta, err := net.ResolveTCPAddr("tcp", a)
		if err != nil {
			return nil, fmt.Errorf("controller: cannot resolve this node's address %s: %w", a, err)
		}
		return ta, nil
	}
	for _, v := range c.cfg.Voters {
		if v.ID != c.cfg.NodeID || v.Addr == c.cfg.ListenAddr {
			continue
		}
		a, err := net.ResolveTCPAddr("tcp", v.Addr)
		if err != nil {
			return nil, fmt.Errorf("controller: cannot resolve this node's voter address %s: %w", v.Addr, err)
		}
		return a, nil
	}
	return nil, nil
}

func (c *Controller) closeStores() {
	if c.guard != nil {
		_ = c.guard.Close() // the transport too
	} else if c.trans != nil {
		_ = c.trans.Close()
	}
	if c.store != nil {
		_ = c.store.Close()
	}
}

// Close stops the node: raft shuts down (a leader steps down without
// handing over), the listener closes and the log is closed. Its data stays.
func (c *Controller) Close() error {
	select {
	case <-c.stop:
		return nil
	default:
	}
	close(c.stop)
	c.handOver()
	err := c.raft.Shutdown().Error()
	c.done.Wait()
	c.closeStores()
	if err != nil {
		return fmt.Errorf("controller: shutdown: %w", err)
	}
	return nil
}

// serverID is node id's raft server id.
func serverID(id int32) raft.ServerID { return raft.ServerID(strconv.Itoa(int(id))) }

// handOver, on the active controller of a quorum with other voters, makes
// one of them leader before this node stops (raft's leadership transfer:
// the most caught-up voter is told to start its election now), as a
// resigning KRaft controller ends its epoch (EndQuorumEpoch). Otherwise
// the quorum has no leader, and takes no metadata change, until a
// follower's heartbeat timeout (1–2 s) passes. A transfer that fails
// leaves that to the timeout.
func (c *Controller) handOver() {
	if c.raft.State() != raft.Leader {
		return
	}
	cf := c.raft.GetConfiguration()
	if cf.Error() != nil {
		return
	}
	others := 0
	for _, srv := range cf.Configuration().Servers {
		if srv.Suffrage == raft.Voter && srv.ID != serverID(c.cfg.NodeID) {
			others++
		}
	}
	if others == 0 {
		return
	}
	if err := c.raft.LeadershipTransfer().Error(); err != nil {
		c.cfg.Logger.Warn("could not hand the quorum's leadership over before stopping; the others elect after their heartbeat timeout", "error", err)
	}
}

// Image returns this node's current metadata image.
func (c *Controller) Image() *metadata.Image { return c.fsm.Image() }

// ImageChanged returns a channel closed when the image is next replaced
// (see FSM.Changed).
func (c *Controller) ImageChanged() <-chan struct{} { return c.fsm.Changed() }

// AppliedIndex is the raft index of the last entry (or snapshot) this
// node applied.
func (c *Controller) AppliedIndex() uint64 { return c.raft.AppliedIndex() }

// NodeID is this node's id.
func (c *Controller) NodeID() int32 { return c.cfg.NodeID }

// IsLeader reports whether this node is the active controller.
func (c *Controller) IsLeader() bool { return c.raft.State() == raft.Leader }

// Leader returns the active controller's id and address, or -1 and "".
func (c *Controller) Leader() (int32, string) {
	addr, id := c.raft.LeaderWithID()
	if id == "" {
		return -1, ""
	}
	n, err := strconv.ParseInt(string(id), 10, 32)
	if err != nil {
		return -1, ""
	}
	return int32(n), string(addr)
}

// Barrier waits, on the leader, until an entry proposed now is committed
// and applied: the followers that acknowledged it know everything
// committed before it (a leader about to stop calls it so that its last
// decisions, such as fencing itself, reach the others). ErrNotLeader on
// another node.
func (c *Controller) Barrier(timeout time.Duration) error {
	if err := c.raft.Barrier(timeout).Error(); err != nil {
		return c.raftError(err)
	}
	return nil
}

// Addr is the address the quorum reaches this node at (its CONTROLLER
// listener).
func (c *Controller) Addr() string { return string(c.trans.LocalAddr()) }

// IsObserver reports whether this node is a non-voting member
// (Config.Observer).
func (c *Controller) IsObserver() bool { return c.cfg.Observer }

// AddObserver makes broker id, whose node listens for raft at addr, a
// non-voting member of the quorum, so it follows the metadata log
// (Kafka's brokers fetch it from the controllers). Only the active
// controller adds; a voter, or an observer already known at addr, is left
// as it is.
func (c *Controller) AddObserver(id int32, addr string) error {
	servers, err := c.leaderServers()
	if err != nil {
		return err
	}
	sid := serverID(id)
	for _, s := range servers {
		if s.ID == sid && (s.Suffrage == raft.Voter || string(s.Address) == addr) {
			return nil
		}
	}
	if err := c.raft.AddNonvoter(sid, raft.ServerAddress(addr), 0, c.cfg.ApplyTimeout).Error(); err != nil {
		return c.raftError(err)
	}
	return nil
}

// AddVoter makes node id, whose CONTROLLER listener is addr, a voter of
// the quorum (Kafka's AddRaftVoter; raft AddVoter): a controller started
// with Config.Join asks for it. Only the active controller adds; a voter
// already known at addr is left as it is (ErrDuplicateVoter at another
// address), and a non-voter is promoted. The new voter catches up from
// the log (or a snapshot) as a follower does.
func (c *Controller) AddVoter(id int32, addr string) error {
	servers, err := c.leaderServers()
	if err != nil {
		return err
	}
	sid := serverID(id)
	for _, s := range servers {
		if s.ID != sid || s.Suffrage != raft.Voter {
			continue
		}
		if string(s.Address) == addr {
			return nil
		}
		return fmt.Errorf("%w: node %d is a voter at %s, not %s", ErrDuplicateVoter, id, s.Address, addr)
	}
	if err := c.raft.AddVoter(sid, raft.ServerAddress(addr), 0, c.cfg.ApplyTimeout).Error(); err != nil {
		return c.raftError(err)
	}
	return nil
}

// servers returns the quorum's current configuration as this node knows it.
func (c *Controller) servers() ([]raft.Server, error) {
	f := c.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, c.raftError(err)
	}
	return f.Configuration().Servers, nil
}

// leaderServers is servers on the active controller, and notLeader
// elsewhere: the quorum's membership changes only there.
func (c *Controller) leaderServers() ([]raft.Server, error) {
	if !c.IsLeader() {
		return nil, c.notLeader()
	}
	return c.servers()
}

// IsVoter reports whether this node is a voter in the quorum's current
// configuration, as this node knows it.
func (c *Controller) IsVoter() bool {
	f := c.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	sid := serverID(c.cfg.NodeID)
	for _, s := range f.Configuration().Servers {
		if s.ID == sid {
			return s.Suffrage == raft.Voter
		}
	}
	return false
}

// removeObserver takes non-voter id out of the quorum's configuration
// (raft RemoveServer); a voter, or an id not in it, is left alone.
func (c *Controller) removeObserver(id int32) error {
	servers, err := c.servers()
	if err != nil {
		return err
	}
	sid := serverID(id)
	for _, s := range servers {
		if s.ID == sid && s.Suffrage != raft.Voter {
			if err := c.raft.RemoveServer(sid, 0, c.cfg.ApplyTimeout).Error(); err != nil {
				return c.raftError(err)
			}
			return nil
		}
	}
	return nil
}

// Snapshot makes raft write a snapshot now.
func (c *Controller) Snapshot() error {
	if err := c.raft.Snapshot().Error(); err != nil {
		return fmt.Errorf("controller: snapshot: %w", err)
	}
	return nil
}

func (c *Controller) notLeader() error {
	id, addr := c.Leader()
	return &NotLeaderError{LeaderID: id, LeaderAddr: addr}
}

// leaderLoop follows leadership changes: each one invalidates the barrier.
// (The broker sessions follow them on raft's goroutine: observeRaft.)
func (c *Controller) leaderLoop() {
	defer c.done.Done()
	for {
		select {
		case <-c.stop:
			return
		case <-c.raft.LeaderCh():
			c.leaderGen.Add(1)
		}
	}
}

// beginDecision takes decideMu and, once per leadership, waits for every
// earlier entry to be applied (raft.Barrier), so decisions read an image
// holding all committed records. Call endDecision after.
func (c *Controller) beginDecision() error {
	select {
	case <-c.stop:
		return ErrClosed
	default:
	}
	if !c.IsLeader() {
		return c.notLeader()
	}
	c.decideMu.Lock()
	gen := c.leaderGen.Load()
	if c.readyGen == gen {
		return nil
	}
	if err := c.raft.Barrier(c.cfg.ApplyTimeout).Error(); err != nil {
		c.decideMu.Unlock()
		return c.raftError(err)
	}
	c.readyGen = gen
	return nil
}

func (c *Controller) endDecision() { c.decideMu.Unlock() }

// propose replicates recs as one batch and waits until it is committed
// and applied here. Called between beginDecision and endDecision.
func (c *Controller) propose(recs []metadata.Record) error {
	if len(recs) == 0 {
		return nil
	}
	f := c.raft.Apply(metadata.EncodeBatch(recs), c.cfg.ApplyTimeout)
	if err := f.Error(); err != nil {
		return c.raftError(err)
	}
	if err, ok := f.Response().(error); ok && err != nil {
		return err
	}
	return nil
}

func (c *Controller) raftError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost):
		c.leaderGen.Add(1)
		return fmt.Errorf("%w (%v)", c.notLeader(), err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	}
	return fmt.Errorf("controller: proposal: %w", err)
}

// QuorumInfo describes the quorum as this node sees it (Kafka's
// DescribeQuorum). Offsets are raft log indexes.
type QuorumInfo struct {
	LeaderID      int32  // -1 if unknown
	LeaderEpoch   int32  // the raft term
	HighWatermark uint64 // the commit index
	Voters        []Voter
	// States has one entry per voter, then the observers: the quorum's
	// non-voters (broker-only nodes' metadata followers) and the brokers
	// that heartbeat and are not voters. Only the leader knows the others'
	// offsets; elsewhere they are -1.
	States       []ReplicaState
	AppliedIndex uint64 // this node's
}

// ReplicaState is one voter's or observer's progress, as the leader last
// heard it: its log end offset (the leader's own last index; for the
// others, the metadata offset their broker's last heartbeat reported,
// since hashicorp/raft does not expose its followers' match index), and
// when (zero if never).
type ReplicaState struct {
	ID           int32
	LogEndOffset int64 // -1 if unknown
	LastSeen     time.Time
	Voter        bool
}

// Quorum returns the voters (from the replicated configuration), the
// leader and, on the leader, every replica's log end offset.
func (c *Controller) Quorum() (QuorumInfo, error) {
	f := c.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return QuorumInfo{}, c.raftError(err)
	}
	leader, _ := c.Leader()
	q := QuorumInfo{
		LeaderID: leader, LeaderEpoch: int32(c.raft.CurrentTerm()),
		HighWatermark: c.raft.CommitIndex(), AppliedIndex: c.AppliedIndex(),
	}
	var nonvoters []int32
	for _, s := range f.Configuration().Servers {
		id, err := strconv.ParseInt(string(s.ID), 10, 32)
		switch {
		case err != nil:
		case s.Suffrage == raft.Voter:
			q.Voters = append(q.Voters, Voter{ID: int32(id), Addr: string(s.Address)})
		default:
			nonvoters = append(nonvoters, int32(id))
		}
	}
	q.States = c.replicaStates(q.Voters, nonvoters, leader == c.cfg.NodeID)
	return q, nil
}

func (c *Controller) replicaStates(voters []Voter, nonvoters []int32, leader bool) []ReplicaState {
	now := c.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []ReplicaState
	isVoter := map[int32]bool{}
	state := func(id int32) ReplicaState {
		st := ReplicaState{ID: id, LogEndOffset: -1}
		switch {
		case id == c.cfg.NodeID:
			st.LogEndOffset, st.LastSeen = int64(c.raft.LastIndex()), now
		case !leader:
		default:
			if off, ok := c.mu.offsets[id]; ok {
				st.LogEndOffset, st.LastSeen = int64(off), c.mu.lastSeen[id]
			}
		}
		return st
	}
	for _, v := range voters {
		isVoter[v.ID] = true
		st := state(v.ID)
		st.Voter = true
		out = append(out, st)
	}
	if leader {
		observers := slices.Clone(nonvoters)
		for id := range c.mu.offsets {
			if !isVoter[id] && !slices.Contains(observers, id) {
				observers = append(observers, id)
			}
		}
		slices.Sort(observers)
		for _, id := range observers {
			out = append(out, state(id))
		}
	}
	return out
}
