package group

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// State is a group's state, named as Kafka names it (ListGroups and
// DescribeGroups report these strings).
type State int8

const (
	Empty State = iota
	PreparingRebalance
	CompletingRebalance
	Stable
	Dead
)

func (s State) String() string {
	switch s {
	case Empty:
		return "Empty"
	case PreparingRebalance:
		return "PreparingRebalance"
	case CompletingRebalance:
		return "CompletingRebalance"
	case Stable:
		return "Stable"
	case Dead:
		return "Dead"
	}
	return fmt.Sprintf("State(%d)", int8(s))
}

// consumerProtocolType is the protocol type of Kafka consumers, whose
// subscriptions the coordinator can read (OffsetDelete).
const consumerProtocolType = "consumer"

// Protocol is one protocol a member supports, with its metadata.
type Protocol struct {
	Name     string
	Metadata []byte
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Offset is a committed offset.
type Offset struct {
	Offset          int64
	LeaderEpoch     int32 // -1: unknown
	Metadata        string
	CommitTimestamp int64 // ms since the epoch
}

// member is one group member. Fields are guarded by Coordinator.mu.
type member struct {
	id               string
	instanceID       *string
	clientID         string
	clientHost       string
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	protocolType     string
	protocols        []Protocol
	assignment       []byte
	seq              uint64 // join order (deterministic listings)

	joinWait chan JoinResult // awaiting join: the JoinGroup long-poll
	syncWait chan SyncResult // awaiting sync: the SyncGroup long-poll
	isNew    bool            // has not completed a join yet
	deadline time.Time       // session (or new-member) expiry
}

// respondJoin completes a waiting JoinGroup, if any.
func (m *member) respondJoin(r JoinResult) {
	if m.joinWait != nil {
		m.joinWait <- r
		m.joinWait = nil
	}
}

// respondSync completes a waiting SyncGroup, if any.
func (m *member) respondSync(r SyncResult) {
	if m.syncWait != nil {
		m.syncWait <- r
		m.syncWait = nil
	}
}

// metadataFor is the member's metadata for protocol name.
func (m *member) metadataFor(name string) []byte {
	for _, p := range m.protocols {
		if p.Name == name {
			return p.Metadata
		}
	}
	return nil
}

// matches reports whether protocols equal the member's (names, order and
// metadata): a rejoin with the same ones needs no rebalance.
func (m *member) matches(protocols []Protocol) bool {
	return slices.EqualFunc(m.protocols, protocols, func(a, b Protocol) bool {
		return a.Name == b.Name && bytes.Equal(a.Metadata, b.Metadata)
	})
}

// update takes a rejoining member's settings.
func (m *member) update(req *JoinRequest) {
	m.protocols = req.Protocols
	m.sessionTimeout = req.SessionTimeout
	m.rebalanceTimeout = req.RebalanceTimeout
	m.clientID, m.clientHost = req.ClientID, req.ClientHost
}

// group is one group's state and its committed offsets. Guarded by
// Coordinator.mu.
type group struct {
	id           string
	part         int32 // its __consumer_offsets partition
	state        State
	stateTime    time.Time // when the state last changed (currentStateTimestamp)
	protocolType string    // "" until a member joined (offset-only groups)
	protocol     string    // selected protocol; "" when none
	generation   int32
	leader       string
	members      map[string]*member
	static       map[string]string    // group.instance.id → member id
	pending      map[string]time.Time // member ids handed out with MEMBER_ID_REQUIRED → expiry
	pendingSync  map[string]struct{}  // members that have not sent SyncGroup this generation
	awaitingJoin int
	nextSeq      uint64

	// Rebalance timing.
	joinDeadline   time.Time // PreparingRebalance completes by then
	initialDelay   bool      // joinDeadline is group.initial.rebalance.delay
	delayRemaining time.Duration
	newMemberAdded bool
	syncDeadline   time.Time // pendingSync members are removed then

	offsets map[TopicPartition]Offset
	// txnOffsets: producer id → offsets pending in its transaction
	// (txnoffsets.go).
	txnOffsets map[int64]map[TopicPartition]Offset
}

func newGroup(id string, part int32, now time.Time) *group {
	return &group{
		id:        id,
		part:      part,
		state:     Empty,
		stateTime: now,
		members:   map[string]*member{},
		static:    map[string]string{},
		pending:   map[string]time.Time{},
		offsets:   map[TopicPartition]Offset{},
	}
}

func (g *group) transition(s State, now time.Time) {
	g.state = s
	g.stateTime = now
}

// sortedMembers lists members in join order.
func (g *group) sortedMembers() []*member {
	out := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *member) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return out
}

// add adds a member; the first member sets the protocol type and leads.
func (g *group) add(m *member) {
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	g.nextSeq++
	m.seq = g.nextSeq
	g.members[m.id] = m
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
	if g.leader == "" {
		g.leader = m.id
	}
}

// remove removes a member, handing leadership to another.
func (g *group) remove(id string) {
	m := g.members[id]
	if m == nil {
		return
	}
	if m.joinWait != nil {
		g.awaitingJoin--
	}
	delete(g.members, id)
	delete(g.pendingSync, id)
	if m.instanceID != nil && g.static[*m.instanceID] == id {
		delete(g.static, *m.instanceID)
	}
	if g.leader == id {
		g.leader = ""
		if ms := g.sortedMembers(); len(ms) > 0 {
			g.leader = ms[0].id
		}
	}
}

// awaitJoin makes m wait for the end of the rebalance and returns its
// channel. A previous wait of m (a duplicate JoinGroup) is answered with
// REBALANCE_IN_PROGRESS, so that its caller retries.
func (g *group) awaitJoin(m *member) chan JoinResult {
	if m.joinWait != nil {
		m.respondJoin(joinError(m.id, kerr.RebalanceInProgress))
	} else {
		g.awaitingJoin++
	}
	m.joinWait = make(chan JoinResult, 1)
	return m.joinWait
}

// completeJoin answers m's JoinGroup.
func (g *group) completeJoin(m *member, r JoinResult) {
	if m.joinWait != nil {
		g.awaitingJoin--
		m.respondJoin(r)
	}
}

// staticFenced reports a static member id that another member replaced.
func (g *group) staticFenced(memberID string, instanceID *string) bool {
	if instanceID == nil {
		return false
	}
	id, ok := g.static[*instanceID]
	return ok && id != memberID
}

// candidateProtocols are the protocols every member supports.
func (g *group) candidateProtocols() map[string]bool {
	counts := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			counts[p.Name]++
		}
	}
	out := map[string]bool{}
	for name, n := range counts {
		if n == len(g.members) {
			out[name] = true
		}
	}
	return out
}

// supportsProtocols is Kafka's check that a joining member can be part of
// the group.
func (g *group) supportsProtocols(protocolType string, protocols []Protocol) bool {
	if len(g.members) == 0 {
		return protocolType != "" && len(protocols) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	cand := g.candidateProtocols()
	for _, p := range protocols {
		if cand[p.Name] {
			return true
		}
	}
	return false
}

// selectProtocol picks the protocol as Kafka does: among those every member
// supports, each member votes for the first it lists; most votes wins
// (ties: the earliest member's preference).
func (g *group) selectProtocol() string {
	cand := g.candidateProtocols()
	votes := map[string]int{}
	var order []string
	for _, m := range g.sortedMembers() {
		for _, p := range m.protocols {
			if cand[p.Name] {
				if votes[p.Name] == 0 {
					order = append(order, p.Name)
				}
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, name := range order {
		if best == "" || votes[name] > votes[best] {
			best = name
		}
	}
	return best
}

// maxRebalanceTimeout is the longest rebalance timeout of the members.
func (g *group) maxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

// allJoined: every member is waiting in JoinGroup and no handed-out member
// id is still expected.
func (g *group) allJoined() bool {
	return g.awaitingJoin == len(g.members) && len(g.pending) == 0
}

// subscribedTopics is the union of the consumer subscriptions for the
// selected protocol; ok false when they cannot be read.
func (g *group) subscribedTopics() (map[string]bool, bool) {
	if g.protocolType != consumerProtocolType || g.protocol == "" {
		return nil, false
	}
	out := map[string]bool{}
	for _, m := range g.members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			return nil, false
		}
		for _, t := range md.Topics {
			out[t] = true
		}
	}
	return out, true
}

// hasMetadata reports whether the group has state beyond offsets (a group
// metadata record describes it).
func (g *group) hasMetadata() bool { return g.protocolType != "" || g.generation > 0 }

// newMemberID is Kafka's: the client id (or instance id) and a UUID.
func newMemberID(clientID string, instanceID *string) string {
	prefix := clientID
	if instanceID != nil {
		prefix = *instanceID
	}
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", prefix, u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
