package group

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// JoinRequest is a JoinGroup request of any version.
type JoinRequest struct {
	Group                string
	MemberID             string  // "" for a new member
	InstanceID           *string // group.instance.id (v5+): a static member
	ClientID, ClientHost string
	SessionTimeout       time.Duration
	RebalanceTimeout     time.Duration // v0: the session timeout
	ProtocolType         string
	Protocols            []Protocol
	RequireKnownMemberID bool // v4+: a new dynamic member gets MEMBER_ID_REQUIRED first
}

// JoinResult is a JoinGroup response.
type JoinResult struct {
	Err          error // a *kerr.Error or nil
	MemberID     string
	Generation   int32
	ProtocolType string
	Protocol     *string // nil when none
	LeaderID     string
	Members      []JoinMember // the leader's view of the group; empty for followers
}

// JoinMember is one member as the leader sees it.
type JoinMember struct {
	MemberID   string
	InstanceID *string
	Metadata   []byte
}

func joinError(memberID string, err error) JoinResult {
	return JoinResult{Err: err, MemberID: memberID, Generation: -1}
}

// Join serves JoinGroup. It blocks until the rebalance completes (or ctx
// ends: ctx.Err() is returned and the member stays, as in Kafka when a
// response is lost).
func (c *Coordinator) Join(ctx context.Context, req JoinRequest) JoinResult {
	if req.Group == "" {
		return joinError(req.MemberID, kerr.InvalidGroupID)
	}
	if err := c.Available(req.Group); err != nil {
		return joinError(req.MemberID, err.(*kerr.Error))
	}
	if req.SessionTimeout < c.cfg.MinSessionTimeout || req.SessionTimeout > c.cfg.MaxSessionTimeout {
		return joinError(req.MemberID, kerr.InvalidSessionTimeout)
	}
	if req.RebalanceTimeout <= 0 {
		req.RebalanceTimeout = req.SessionTimeout
	}
	c.mu.Lock()
	res, wait := c.joinLocked(&req)
	c.mu.Unlock()
	c.flushDirty()
	if wait == nil {
		return res
	}
	select {
	case r := <-wait:
		return r
	case <-ctx.Done():
		return joinError(req.MemberID, ctx.Err())
	}
}

func (c *Coordinator) joinLocked(req *JoinRequest) (JoinResult, chan JoinResult) {
	if c.mu.closed {
		return joinError(req.MemberID, kerr.NotCoordinator), nil
	}
	g := c.groupLocked(req.Group)
	if g == nil && req.MemberID != "" {
		return joinError(req.MemberID, kerr.UnknownMemberID), nil
	}
	if g == nil {
		g = c.getOrCreateLocked(req.Group)
	}
	var res JoinResult
	var wait chan JoinResult
	if req.MemberID == "" {
		res, wait = c.joinNewLocked(g, req)
	} else {
		res, wait = c.joinKnownLocked(g, req)
	}
	if g.state == PreparingRebalance {
		c.tryCompleteJoinLocked(g)
	}
	c.dropIfUnusedLocked(g)
	return res, wait
}

// joinNewLocked is a join without a member id.
func (c *Coordinator) joinNewLocked(g *group, req *JoinRequest) (JoinResult, chan JoinResult) {
	if g.state == Dead {
		return joinError("", kerr.CoordinatorNotAvailable), nil
	}
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		return joinError("", kerr.InconsistentGroupProtocol), nil
	}
	id := newMemberID(req.ClientID, req.InstanceID)
	if req.InstanceID != nil {
		if old, ok := g.static[*req.InstanceID]; ok {
			return c.replaceStaticLocked(g, req, g.members[old], id)
		}
		return c.addMemberAndRebalanceLocked(g, req, id)
	}
	if req.RequireKnownMemberID {
		g.pending[id] = c.now().Add(req.SessionTimeout)
		c.kickLocked()
		return joinError(id, kerr.MemberIDRequired), nil
	}
	return c.addMemberAndRebalanceLocked(g, req, id)
}

// joinKnownLocked is a join with a member id.
func (c *Coordinator) joinKnownLocked(g *group, req *JoinRequest) (JoinResult, chan JoinResult) {
	if g.state == Dead {
		return joinError(req.MemberID, kerr.CoordinatorNotAvailable), nil
	}
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		return joinError(req.MemberID, kerr.InconsistentGroupProtocol), nil
	}
	if _, ok := g.pending[req.MemberID]; ok {
		delete(g.pending, req.MemberID)
		return c.addMemberAndRebalanceLocked(g, req, req.MemberID)
	}
	if g.staticFenced(req.MemberID, req.InstanceID) {
		return joinError(req.MemberID, kerr.FencedInstanceID), nil
	}
	m := g.members[req.MemberID]
	if m == nil || req.InstanceID != nil && g.static[*req.InstanceID] == "" {
		return joinError(req.MemberID, kerr.UnknownMemberID), nil
	}
	switch g.state {
	case PreparingRebalance:
		return c.updateMemberAndRebalanceLocked(g, m, req)
	case CompletingRebalance:
		if m.matches(req.Protocols) {
			return c.currentJoinResultLocked(g, m), nil // the response was lost: send it again
		}
		return c.updateMemberAndRebalanceLocked(g, m, req)
	case Stable:
		if m.id == g.leader || !m.matches(req.Protocols) {
			return c.updateMemberAndRebalanceLocked(g, m, req)
		}
		m.deadline = c.now().Add(m.sessionTimeout)
		return c.followerJoinResultLocked(g, m.id, g.leader), nil
	}
	return joinError(req.MemberID, kerr.UnknownMemberID), nil
}

// currentJoinResultLocked is the response of the current generation for m.
func (c *Coordinator) currentJoinResultLocked(g *group, m *member) JoinResult {
	r := c.followerJoinResultLocked(g, m.id, g.leader)
	if m.id == g.leader {
		r.Members = g.joinMembers()
	}
	return r
}

func (c *Coordinator) followerJoinResultLocked(g *group, memberID, leader string) JoinResult {
	r := JoinResult{MemberID: memberID, Generation: g.generation, ProtocolType: g.protocolType, LeaderID: leader}
	if g.protocol != "" {
		p := g.protocol
		r.Protocol = &p
	}
	return r
}

// joinMembers is the member list the leader gets.
func (g *group) joinMembers() []JoinMember {
	out := make([]JoinMember, 0, len(g.members))
	for _, m := range g.sortedMembers() {
		out = append(out, JoinMember{MemberID: m.id, InstanceID: m.instanceID, Metadata: m.metadataFor(g.protocol)})
	}
	return out
}

// addMemberAndRebalanceLocked adds a new member waiting in JoinGroup.
func (c *Coordinator) addMemberAndRebalanceLocked(g *group, req *JoinRequest, id string) (JoinResult, chan JoinResult) {
	m := &member{
		id: id, instanceID: req.InstanceID, protocolType: req.ProtocolType, isNew: true,
		deadline: c.now().Add(c.cfg.NewMemberJoinTimeout),
	}
	m.update(req)
	g.add(m)
	wait := g.awaitJoin(m)
	g.newMemberAdded = true
	c.maybePrepareRebalanceLocked(g)
	return JoinResult{}, wait
}

// updateMemberAndRebalanceLocked makes a known member wait for a rebalance.
func (c *Coordinator) updateMemberAndRebalanceLocked(g *group, m *member, req *JoinRequest) (JoinResult, chan JoinResult) {
	m.update(req)
	wait := g.awaitJoin(m)
	c.maybePrepareRebalanceLocked(g)
	return JoinResult{}, wait
}

// replaceStaticLocked gives a known static member (instance id) a new member
// id. The old id is fenced. In a Stable group whose selected protocol stays
// the same there is no rebalance: the group is stored and the member gets
// the current generation with its old assignment (and the old leader id, so
// that a rejoining leader does not assign again).
func (c *Coordinator) replaceStaticLocked(g *group, req *JoinRequest, m *member, newID string) (JoinResult, chan JoinResult) {
	oldID, oldLeader := m.id, g.leader
	g.completeJoin(m, joinError(oldID, kerr.FencedInstanceID))
	m.respondSync(syncError(kerr.FencedInstanceID))
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	g.static[*req.InstanceID] = newID
	if g.leader == oldID {
		g.leader = newID
	}
	if _, ok := g.pendingSync[oldID]; ok {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = struct{}{}
	}
	m.update(req)
	m.deadline = c.now().Add(m.sessionTimeout)
	switch g.state {
	case Stable:
		if g.selectProtocol() != g.protocol {
			return c.updateMemberAndRebalanceLocked(g, m, req)
		}
		wait := make(chan JoinResult, 1)
		res := c.followerJoinResultLocked(g, newID, oldLeader)
		gen := g.generation
		c.enqueueLocked(g.part, &write{recs: []kv{groupRecord(g, nil)}, apply: func(err error) {
			if err != nil && g.generation == gen {
				res = joinError(newID, err)
			}
			wait <- res
		}})
		return JoinResult{}, wait
	case PreparingRebalance:
		wait := g.awaitJoin(m)
		return JoinResult{}, wait
	default: // CompletingRebalance: the leader may be assigning to the old id
		wait := g.awaitJoin(m)
		c.prepareRebalanceLocked(g)
		return JoinResult{}, wait
	}
}

// maybePrepareRebalanceLocked starts a rebalance unless one is under way.
func (c *Coordinator) maybePrepareRebalanceLocked(g *group) {
	switch g.state {
	case Stable, CompletingRebalance, Empty:
		c.prepareRebalanceLocked(g)
	}
}

// prepareRebalanceLocked moves g to PreparingRebalance: members must rejoin
// within the rebalance timeout; an Empty group first waits the initial
// rebalance delay for more members.
func (c *Coordinator) prepareRebalanceLocked(g *group) {
	if g.state == CompletingRebalance {
		g.resetAssignments(kerr.RebalanceInProgress)
	}
	g.pendingSync, g.syncDeadline = nil, time.Time{}
	now := c.now()
	rt := g.maxRebalanceTimeout()
	g.initialDelay = g.state == Empty && c.cfg.InitialRebalanceDelay > 0
	if g.initialDelay {
		delay := min(c.cfg.InitialRebalanceDelay, rt)
		g.joinDeadline = now.Add(delay)
		g.delayRemaining = max(rt-delay, 0)
		g.newMemberAdded = false
	} else {
		g.joinDeadline = now.Add(rt)
	}
	g.transition(PreparingRebalance, now)
	c.kickLocked()
}

// resetAssignments clears assignments and answers SyncGroup waiters.
func (g *group) resetAssignments(err error) {
	for _, m := range g.members {
		m.assignment = nil
		m.respondSync(syncError(err))
	}
}

// tryCompleteJoinLocked completes the rebalance once every member rejoined
// (never during the initial delay, which only its deadline ends).
func (c *Coordinator) tryCompleteJoinLocked(g *group) {
	if g.state == PreparingRebalance && !g.initialDelay && g.allJoined() {
		c.completeJoinLocked(g)
	}
}

// joinDeadlineLocked handles the end of a PreparingRebalance wait.
func (c *Coordinator) joinDeadlineLocked(g *group, now time.Time) {
	if g.initialDelay && g.newMemberAdded && g.delayRemaining > 0 {
		d := min(c.cfg.InitialRebalanceDelay, g.delayRemaining)
		g.delayRemaining -= d
		g.newMemberAdded = false
		g.joinDeadline = now.Add(d)
		return
	}
	g.initialDelay = false
	c.completeJoinLocked(g)
}

// completeJoinLocked ends PreparingRebalance: dynamic members that did not
// rejoin are removed, the generation advances, and every waiting member
// gets its JoinGroup response (the leader with the member list).
func (c *Coordinator) completeJoinLocked(g *group) {
	now := c.now()
	for _, m := range g.sortedMembers() {
		if m.joinWait == nil && m.instanceID == nil {
			g.remove(m.id)
		}
	}
	if len(g.members) > 0 && !c.electJoinedLeaderLocked(g) {
		// Nobody rejoined (only static members that did not): wait again
		// until their sessions expire.
		g.joinDeadline = now.Add(g.maxRebalanceTimeout())
		return
	}
	g.generation++
	g.joinDeadline, g.initialDelay = time.Time{}, false
	if len(g.members) == 0 {
		g.protocol, g.leader = "", ""
		g.transition(Empty, now)
		c.enqueueLocked(g.part, &write{recs: []kv{groupRecord(g, nil)}})
		return
	}
	g.protocol = g.selectProtocol()
	g.transition(CompletingRebalance, now)
	g.pendingSync = map[string]struct{}{}
	for _, m := range g.sortedMembers() {
		r := c.currentJoinResultLocked(g, m)
		g.completeJoin(m, r)
		m.isNew = false
		m.deadline = now.Add(m.sessionTimeout)
		g.pendingSync[m.id] = struct{}{}
	}
	g.syncDeadline = now.Add(g.maxRebalanceTimeout())
	c.kickLocked()
}

// electJoinedLeaderLocked keeps the leader if it rejoined, else picks a
// member that did; false if none did.
func (c *Coordinator) electJoinedLeaderLocked(g *group) bool {
	if l := g.members[g.leader]; l != nil && l.joinWait != nil {
		return true
	}
	for _, m := range g.sortedMembers() {
		if m.joinWait != nil {
			g.leader = m.id
			return true
		}
	}
	return false
}

// SyncRequest is a SyncGroup request of any version.
type SyncRequest struct {
	Group        string
	MemberID     string
	InstanceID   *string
	Generation   int32
	ProtocolType *string           // v5+
	Protocol     *string           // v5+
	Assignments  map[string][]byte // from the leader
}

// SyncResult is a SyncGroup response.
type SyncResult struct {
	Err          error
	ProtocolType *string
	Protocol     *string
	Assignment   []byte
}

func syncError(err error) SyncResult { return SyncResult{Err: err} }

// Sync serves SyncGroup. Followers wait until the leader's assignment is
// stored (or ctx ends).
func (c *Coordinator) Sync(ctx context.Context, req SyncRequest) SyncResult {
	if req.Group == "" {
		return syncError(kerr.InvalidGroupID)
	}
	if err := c.Available(req.Group); err != nil {
		return syncError(err.(*kerr.Error))
	}
	c.mu.Lock()
	res, wait := c.syncLocked(&req)
	c.mu.Unlock()
	c.flushDirty()
	if wait == nil {
		return res
	}
	select {
	case r := <-wait:
		return r
	case <-ctx.Done():
		return syncError(ctx.Err())
	}
}

func (c *Coordinator) syncLocked(req *SyncRequest) (SyncResult, chan SyncResult) {
	if c.mu.closed {
		return syncError(kerr.NotCoordinator), nil
	}
	g := c.groupLocked(req.Group)
	if g == nil {
		return syncError(kerr.UnknownMemberID), nil
	}
	m, err := g.validateMember(req.MemberID, req.InstanceID, req.Generation)
	if err != nil {
		return syncError(err), nil
	}
	if req.ProtocolType != nil && *req.ProtocolType != g.protocolType || req.Protocol != nil && *req.Protocol != g.protocol {
		return syncError(kerr.InconsistentGroupProtocol), nil
	}
	switch g.state {
	case PreparingRebalance:
		return syncError(kerr.RebalanceInProgress), nil
	case Stable:
		delete(g.pendingSync, m.id)
		m.deadline = c.now().Add(m.sessionTimeout)
		return g.syncResult(m), nil
	case CompletingRebalance:
		return SyncResult{}, c.awaitSyncLocked(g, m, req.Assignments)
	}
	return syncError(kerr.UnknownMemberID), nil
}

// validateMember is the common check of Heartbeat, SyncGroup and member
// commits: group alive, instance not fenced, member known, generation
// current.
func (g *group) validateMember(memberID string, instanceID *string, generation int32) (*member, error) {
	switch {
	case g.state == Dead:
		return nil, kerr.CoordinatorNotAvailable
	case g.staticFenced(memberID, instanceID):
		return nil, kerr.FencedInstanceID
	case g.members[memberID] == nil:
		return nil, kerr.UnknownMemberID
	case generation != g.generation:
		return nil, kerr.IllegalGeneration
	}
	return g.members[memberID], nil
}

func (g *group) syncResult(m *member) SyncResult {
	pt, p := g.protocolType, g.protocol
	return SyncResult{ProtocolType: &pt, Protocol: &p, Assignment: m.assignment}
}

// awaitSyncLocked makes m wait for the assignment; the leader's request
// stores the group, then every waiting member gets its share and the group
// is Stable.
func (c *Coordinator) awaitSyncLocked(g *group, m *member, assignments map[string][]byte) chan SyncResult {
	m.respondSync(syncError(kerr.RebalanceInProgress))
	wait := make(chan SyncResult, 1)
	m.syncWait = wait
	delete(g.pendingSync, m.id)
	m.deadline = c.now().Add(m.sessionTimeout)
	if m.id != g.leader {
		return wait
	}
	all := make(map[string][]byte, len(g.members))
	for id := range g.members {
		all[id] = assignments[id] // members the leader left out get nothing
	}
	gen := g.generation
	c.enqueueLocked(g.part, &write{recs: []kv{groupRecord(g, all)}, apply: func(err error) {
		if g.state != CompletingRebalance || g.generation != gen {
			return // a new rebalance answered the waiters
		}
		if err != nil {
			g.resetAssignments(err)
			c.prepareRebalanceLocked(g)
			return
		}
		for id, mm := range g.members {
			mm.assignment = all[id]
		}
		g.transition(Stable, c.now())
		for _, mm := range g.members {
			if mm.syncWait != nil {
				mm.respondSync(g.syncResult(mm))
			}
		}
	}})
	return wait
}
