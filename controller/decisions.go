package controller

import (
	"crypto/rand"
	"fmt"
	"slices"
	"time"

	"github.com/sluice/sluice/metadata"
)

// BrokerRegistration is what a starting broker sends (Kafka's
// BrokerRegistrationRequest).
type BrokerRegistration struct {
	BrokerID    int32
	Incarnation metadata.UUID // new on every process start
	Endpoints   []metadata.Endpoint
	Rack        string
	// Local is set when the broker runs in this controller's own process
	// (a combined node registering with itself): its previous incarnation
	// was an earlier process of this node, never a live duplicate.
	Local bool
	// PreviousBrokerEpoch is the broker epoch the broker held when it last
	// shut down cleanly, -1 (or 0) if it did not: a new incarnation with
	// another value leaves every ELR (KIP-966).
	PreviousBrokerEpoch int64
}

// RegisterBroker registers a broker and returns its new broker epoch. A
// broker registers fenced and is unfenced by its first heartbeat; a new
// incarnation of a broker whose session has ended (fenced, or silent for
// the session timeout) gives up its leaderships as a fenced one does. A
// new incarnation of a broker that is alive is refused with
// ErrDuplicateBroker (CheckRegistration). A repeat of the same
// incarnation's registration returns the epoch already given.
func (c *Controller) RegisterBroker(reg BrokerRegistration) (int64, error) {
	if err := c.beginDecision(); err != nil {
		return 0, err
	}
	defer c.endDecision()
	if err := c.CheckRegistration(reg); err != nil {
		return 0, err
	}
	im := c.Image()
	epoch := int64(1)
	if old, ok := im.Broker(reg.BrokerID); ok {
		if old.Incarnation == reg.Incarnation {
			return old.Epoch, nil
		}
		epoch = old.Epoch + 1
	}
	recs := []metadata.Record{metadata.RegisterBroker{
		BrokerID: reg.BrokerID, Incarnation: reg.Incarnation, BrokerEpoch: epoch,
		Endpoints: reg.Endpoints, Rack: reg.Rack, Fenced: true,
	}}
	if old, ok := im.Broker(reg.BrokerID); ok && !old.Fenced {
		// A restart within its session: the old incarnation's leaderships
		// move now, as for a fence.
		recs = append(recs, electOnFence(im, reg.BrokerID, c.uncleanEnabled(im), c.cfg.EligibleLeaderReplicas)...)
	}
	unclean := int32(-1)
	if uncleanRestart(im, reg) {
		unclean = reg.BrokerID
	}
	recs = c.trackELR(im, recs, unclean)
	if err := c.propose(recs); err != nil {
		return 0, fmt.Errorf("cannot register broker %d: %w", reg.BrokerID, err)
	}
	c.noteUnclean(im, recs)
	c.touch(reg.BrokerID)
	return epoch, nil
}

// CheckRegistration refuses, with ErrDuplicateBroker, a registration of
// a new incarnation of a broker id whose registration is alive: unfenced,
// and heard from (registration or heartbeat) by this controller within
// the session timeout, as Kafka's ClusterControlManager refuses it with
// DUPLICATE_BROKER_REGISTRATION (two processes started with one node.id).
// The refused broker retries; it registers once the other's session ends.
// Unlike Kafka, a broker this controller has not heard from since it took
// over is not taken as alive, so after a controller fail-over or a whole
// cluster's restart a restarted broker registers at once instead of
// waiting out a session. The active controller's handler calls it before
// adding a broker-only node's metadata follower, so a duplicate never
// takes over the live broker's place in the quorum; RegisterBroker checks
// again under the decision lock.
func (c *Controller) CheckRegistration(reg BrokerRegistration) error {
	if reg.Local {
		return nil
	}
	old, ok := c.Image().Broker(reg.BrokerID)
	if !ok || old.Fenced || old.Incarnation == reg.Incarnation {
		return nil
	}
	c.mu.Lock()
	h, ok := c.mu.heard[reg.BrokerID]
	c.mu.Unlock()
	ago := c.cfg.Now().Sub(h.at)
	if ok && h.gen == c.leaderGen.Load() && ago <= c.cfg.SessionTimeout {
		return fmt.Errorf("%w: broker %d (registered at epoch %d) was heard from %v ago, within its session (%v)",
			ErrDuplicateBroker, reg.BrokerID, old.Epoch, ago.Round(time.Millisecond), c.cfg.SessionTimeout)
	}
	return nil
}

// heardMark is when this controller last heard from a broker, and in
// which of its leaderships (leaderGen): a mark from an earlier leadership
// is stale, as the broker's heartbeats may have gone to another leader
// meanwhile.
type heardMark struct {
	at  time.Time
	gen uint64
}

// touch records that broker id was heard from now.
func (c *Controller) touch(id int32) {
	now := c.cfg.Now()
	c.mu.Lock()
	c.mu.lastSeen[id] = now
	c.mu.heard[id] = heardMark{at: now, gen: c.leaderGen.Load()}
	c.mu.Unlock()
}

// Heartbeat records a broker's heartbeat (Kafka's BrokerHeartbeat). The
// first heartbeat of a fenced broker unfences it, and it then leads the
// leaderless partitions whose ISR names it.
func (c *Controller) Heartbeat(brokerID int32, epoch int64) error {
	return c.HeartbeatAt(brokerID, epoch, -1)
}

// HeartbeatAt is Heartbeat carrying the broker's metadata offset (the
// raft index its image was applied up to; negative if unknown), which
// Quorum reports as that node's log end offset.
func (c *Controller) HeartbeatAt(brokerID int32, epoch, metadataOffset int64) error {
	if !c.IsLeader() {
		return c.notLeader()
	}
	im := c.Image()
	br, ok := im.Broker(brokerID)
	if !ok {
		return fmt.Errorf("%w: %d", ErrUnknownBroker, brokerID)
	}
	if br.Epoch != epoch {
		return fmt.Errorf("%w: broker %d epoch %d, registered %d", ErrStaleBrokerEpoch, brokerID, epoch, br.Epoch)
	}
	c.touch(brokerID)
	if metadataOffset >= 0 {
		c.mu.Lock()
		c.mu.offsets[brokerID] = uint64(metadataOffset)
		c.mu.Unlock()
	}
	if !br.Fenced {
		return nil
	}
	return c.unfence(brokerID, epoch)
}

func (c *Controller) unfence(id int32, epoch int64) error {
	if err := c.beginDecision(); err != nil {
		return err
	}
	defer c.endDecision()
	im := c.Image()
	br, ok := im.Broker(id)
	if !ok || br.Epoch != epoch {
		return fmt.Errorf("%w: broker %d epoch %d", ErrStaleBrokerEpoch, id, epoch)
	}
	if !br.Fenced {
		return nil
	}
	recs := []metadata.Record{metadata.UnfenceBroker{BrokerID: id, BrokerEpoch: epoch}}
	recs = append(recs, electOnUnfence(im, id, c.uncleanEnabled(im), c.cfg.EligibleLeaderReplicas)...)
	recs = c.trackELR(im, recs, -1)
	if err := c.propose(recs); err != nil {
		return fmt.Errorf("cannot unfence broker %d: %w", id, err)
	}
	c.noteUnclean(im, recs)
	return nil
}

// FenceBroker fences a broker now and moves its leaderships to other ISR
// members (leader epoch + 1). The session checker calls it for a broker
// whose heartbeats stopped; it is also an administrative action.
func (c *Controller) FenceBroker(id int32) error {
	if err := c.beginDecision(); err != nil {
		return err
	}
	defer c.endDecision()
	im := c.Image()
	br, ok := im.Broker(id)
	if !ok {
		return fmt.Errorf("%w: %d", ErrUnknownBroker, id)
	}
	if br.Fenced {
		return nil
	}
	recs := []metadata.Record{metadata.FenceBroker{BrokerID: id, BrokerEpoch: br.Epoch}}
	recs = append(recs, electOnFence(im, id, c.uncleanEnabled(im), c.cfg.EligibleLeaderReplicas)...)
	recs = c.trackELR(im, recs, -1)
	if err := c.propose(recs); err != nil {
		return fmt.Errorf("cannot fence broker %d: %w", id, err)
	}
	c.noteUnclean(im, recs)
	return nil
}

// UnregisterBroker removes a broker that is gone for good (Kafka's
// UnregisterBroker): its registration leaves the image, and a broker-only
// node's metadata follower leaves the quorum (raft RemoveServer), so the
// leader stops replicating to it. A broker that is alive (unfenced) is
// refused with ErrBrokerAlive: stop it first (its controlled shutdown
// fences it), or wait for its session to end. Kafka unregisters a live
// broker, which then registers again at once; refusing keeps a mistyped id
// from disturbing a running broker. Partitions keep it among their
// replicas (it already left their ISRs and leaderships when fenced) until
// they are reassigned. A voter stays in the quorum: removing controllers
// is not done here.
func (c *Controller) UnregisterBroker(id int32) error {
	if err := c.beginDecision(); err != nil {
		return err
	}
	defer c.endDecision()
	br, ok := c.Image().Broker(id)
	if !ok {
		return fmt.Errorf("%w: %d", ErrUnknownBroker, id)
	}
	if !br.Fenced {
		return fmt.Errorf("%w: broker %d (epoch %d) is unfenced", ErrBrokerAlive, id, br.Epoch)
	}
	if err := c.removeObserver(id); err != nil {
		return fmt.Errorf("cannot remove broker %d's metadata follower from the quorum: %w", id, err)
	}
	if err := c.propose([]metadata.Record{metadata.UnregisterBroker{BrokerID: id, BrokerEpoch: br.Epoch}}); err != nil {
		return fmt.Errorf("cannot unregister broker %d: %w", id, err)
	}
	c.mu.Lock()
	delete(c.mu.lastSeen, id)
	delete(c.mu.heard, id)
	delete(c.mu.offsets, id)
	c.mu.Unlock()
	return nil
}

// beginCreateTopic begins a decision (the caller ends it with endDecision)
// to create topic name, and returns the image it decides on; a name already
// taken is refused with ErrTopicExists, the decision then ended here.
func (c *Controller) beginCreateTopic(name string) (*metadata.Image, error) {
	if err := c.beginDecision(); err != nil {
		return nil, err
	}
	im := c.Image()
	if _, ok := im.Topic(name); ok {
		c.endDecision()
		return nil, fmt.Errorf("%w: %q", ErrTopicExists, name)
	}
	return im, nil
}

// CreateTopic creates a topic of partitions × replicationFactor replicas
// on the unfenced brokers, with configs, and returns its id.
func (c *Controller) CreateTopic(name string, partitions int32, replicationFactor int16, configs map[string]string) (metadata.UUID, error) {
	if err := validTopicName(name); err != nil {
		return metadata.UUID{}, err
	}
	if partitions < 1 {
		return metadata.UUID{}, fmt.Errorf("%w: %d", ErrInvalidPartitions, partitions)
	}
	im, err := c.beginCreateTopic(name)
	if err != nil {
		return metadata.UUID{}, err
	}
	defer c.endDecision()
	assignment, err := assign(im, partitions, replicationFactor)
	if err != nil {
		return metadata.UUID{}, fmt.Errorf("cannot create topic %q: %w", name, err)
	}
	id := newTopicID(im)
	recs := []metadata.Record{metadata.Topic{Name: name, ID: id}}
	for p, replicas := range assignment {
		recs = append(recs, metadata.Partition{
			TopicID: id, Partition: int32(p), Replicas: replicas,
			ISR: slices.Clone(replicas), Leader: replicas[0],
		})
	}
	keys := make([]string, 0, len(configs))
	for k := range configs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		recs = append(recs, metadata.Config{ResourceType: metadata.ResourceTopic, ResourceName: name, Key: k, Value: configs[k]})
	}
	if err := c.propose(recs); err != nil {
		return metadata.UUID{}, fmt.Errorf("cannot create topic %q: %w", name, err)
	}
	return id, nil
}

// CreatePartitions grows a topic to total partitions (Kafka's
// CreatePartitions); the new ones get the replication factor of partition
// 0 and are assigned as CreateTopic assigns.
func (c *Controller) CreatePartitions(name string, total int32) error {
	if err := c.beginDecision(); err != nil {
		return err
	}
	defer c.endDecision()
	im := c.Image()
	t, ok := im.Topic(name)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	have := int32(len(t.Partitions))
	if total <= have {
		return fmt.Errorf("%w: topic %q has %d partitions, asked for %d", ErrInvalidPartitions, name, have, total)
	}
	assignment, err := assign(im, total, int16(len(t.Partitions[0].Replicas)))
	if err != nil {
		return fmt.Errorf("cannot add partitions to %q: %w", name, err)
	}
	var recs []metadata.Record
	for p := have; p < total; p++ {
		replicas := assignment[p]
		recs = append(recs, metadata.Partition{
			TopicID: t.ID, Partition: p, Replicas: replicas,
			ISR: slices.Clone(replicas), Leader: replicas[0],
		})
	}
	if err := c.propose(recs); err != nil {
		return fmt.Errorf("cannot add partitions to %q: %w", name, err)
	}
	return nil
}

// AlterPartition is a partition leader's request to change its ISR
// (Kafka's AlterPartition): the leader names the leader epoch and
// partition epoch it acts on. It returns the partition as committed.
// Errors, as Kafka's: ErrStaleBrokerEpoch, ErrUnknownTopic,
// ErrNotPartitionLeader (NOT_LEADER_OR_FOLLOWER), ErrFencedLeaderEpoch,
// ErrInvalidUpdateVersion (a stale partition epoch), ErrIneligibleReplica
// (a fenced broker or a non-replica in the new ISR, or no leader in it).
func (c *Controller) AlterPartition(brokerID int32, brokerEpoch int64, topicID metadata.UUID, partition, leaderEpoch, partitionEpoch int32, isr []int32) (metadata.Partition, error) {
	ps, errs, err := c.AlterPartitions(brokerID, brokerEpoch, []ISRChange{{TopicID: topicID, Partition: partition,
		LeaderEpoch: leaderEpoch, PartitionEpoch: partitionEpoch, ISR: isr}})
	if err != nil {
		return metadata.Partition{}, err
	}
	return ps[0], errs[0]
}

// ISRChange is one partition's item of an AlterPartition request: the ISR
// its leader asks for, at the leader and partition epochs it knows.
type ISRChange struct {
	TopicID        metadata.UUID
	Partition      int32
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
}

// AlterPartitions decides the ISR changes one leader asks for in one
// request, as Kafka's controller does an AlterPartition request of many
// partitions: each item is checked as AlterPartition checks it, against
// the image the items before it made, and the records of every accepted
// item are committed as one batch, one Raft entry instead of one each (a
// broker rejoining 1,000 partitions' ISRs, or leaving them). ps[i] is
// item i's partition as committed (or as it stands, when refused or
// unchanged), errs[i] its refusal; err fails every item.
func (c *Controller) AlterPartitions(brokerID int32, brokerEpoch int64, items []ISRChange) (ps []metadata.Partition, errs []error, err error) {
	if err := c.beginDecision(); err != nil {
		return nil, nil, err
	}
	defer c.endDecision()
	im := c.Image()
	if br, ok := im.Broker(brokerID); !ok || br.Epoch != brokerEpoch {
		return nil, nil, fmt.Errorf("%w: broker %d epoch %d", ErrStaleBrokerEpoch, brokerID, brokerEpoch)
	}
	ps, errs = make([]metadata.Partition, len(items)), make([]error, len(items))
	var recs []metadata.Record
	changed := make([]bool, len(items))
	for i, it := range items {
		var rec metadata.PartitionChange
		ps[i], rec, changed[i], errs[i] = decideISR(im, brokerID, it)
		if errs[i] != nil || !changed[i] {
			continue
		}
		batch := c.trackELR(im, []metadata.Record{rec}, -1)
		next, err := im.Apply(batch)
		if err != nil {
			errs[i], changed[i] = fmt.Errorf("cannot alter %s-%d: %w", it.TopicID, it.Partition, err), false
			continue
		}
		im, recs = next, append(recs, batch...)
	}
	if err := c.propose(recs); err != nil {
		return nil, nil, fmt.Errorf("cannot alter the ISR of %d partitions: %w", len(recs), err)
	}
	now := c.Image()
	for i, it := range items {
		if !changed[i] {
			continue
		}
		if t, ok := now.TopicByID(it.TopicID); ok && int(it.Partition) < len(t.Partitions) {
			ps[i] = t.Partitions[it.Partition]
		}
	}
	return ps, errs, nil
}

// decideISR checks one ISR change against im and returns the partition as
// it stands and the record that makes the change (changed false: the ISR
// is already the one asked for).
func decideISR(im *metadata.Image, brokerID int32, it ISRChange) (metadata.Partition, metadata.PartitionChange, bool, error) {
	var none metadata.PartitionChange
	t, ok := im.TopicByID(it.TopicID)
	if !ok || it.Partition < 0 || int(it.Partition) >= len(t.Partitions) {
		return metadata.Partition{}, none, false, fmt.Errorf("%w: %s-%d", ErrUnknownTopic, it.TopicID, it.Partition)
	}
	p, partition, isr := t.Partitions[it.Partition], it.Partition, it.ISR
	switch {
	case p.Leader != brokerID:
		return p, none, false, fmt.Errorf("%w: %s-%d is led by %d", ErrNotPartitionLeader, t.Name, partition, p.Leader)
	case it.LeaderEpoch != p.LeaderEpoch:
		return p, none, false, fmt.Errorf("%w: %s-%d leader epoch %d, current %d", ErrFencedLeaderEpoch, t.Name, partition, it.LeaderEpoch, p.LeaderEpoch)
	case it.PartitionEpoch != p.PartitionEpoch:
		return p, none, false, fmt.Errorf("%w: %s-%d partition epoch %d, current %d", ErrInvalidUpdateVersion, t.Name, partition, it.PartitionEpoch, p.PartitionEpoch)
	}
	if !slices.Contains(isr, brokerID) {
		return p, none, false, fmt.Errorf("%w: the leader %d is not in ISR %v", ErrIneligibleReplica, brokerID, isr)
	}
	for _, r := range isr {
		b, ok := im.Broker(r)
		if !ok || b.Fenced || !slices.Contains(p.Replicas, r) {
			return p, none, false, fmt.Errorf("%w: %d in ISR %v of %s-%d", ErrIneligibleReplica, r, isr, t.Name, partition)
		}
	}
	rec, changed := change(it.TopicID, p, p.Leader, isr)
	if done, ok := completeOnISRChange(im, it.TopicID, p, isr); ok {
		rec, changed = done, true // the ISR change completes a reassignment (reassign.go)
	}
	return p, rec, changed, nil
}

// newTopicID returns a random id, never zero and never in use (Kafka's
// Uuid.randomUuid also skips reserved ids).
func newTopicID(im *metadata.Image) metadata.UUID {
	for {
		var id metadata.UUID
		_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
		if _, used := im.TopicByID(id); !used && !id.IsZero() {
			return id
		}
	}
}

// validTopicName applies Kafka's rule: 1-249 of [a-zA-Z0-9._-], not "."
// or "..".
func validTopicName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 249 {
		return fmt.Errorf("%w: %q", ErrInvalidTopic, name)
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return fmt.Errorf("%w: %q", ErrInvalidTopic, name)
		}
	}
	return nil
}

// DeleteTopic deletes a topic with its partitions and configs.
func (c *Controller) DeleteTopic(name string) error {
	if err := c.beginDecision(); err != nil {
		return err
	}
	defer c.endDecision()
	t, ok := c.Image().Topic(name)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	if err := c.propose([]metadata.Record{metadata.RemoveTopic{TopicID: t.ID}}); err != nil {
		return fmt.Errorf("cannot delete topic %q: %w", name, err)
	}
	return nil
}

// AllocateProducerIDs hands the broker the next block of producer ids
// (Kafka's AllocateProducerIds). The image refuses a block below its next
// id, so blocks never overlap, across leader changes and restarts alike.
func (c *Controller) AllocateProducerIDs(brokerID int32, brokerEpoch int64) (metadata.ProducerIdsBlock, error) {
	if err := c.beginDecision(); err != nil {
		return metadata.ProducerIdsBlock{}, err
	}
	defer c.endDecision()
	im := c.Image()
	br, ok := im.Broker(brokerID)
	if !ok || br.Epoch != brokerEpoch {
		return metadata.ProducerIdsBlock{}, fmt.Errorf("%w: broker %d epoch %d", ErrStaleBrokerEpoch, brokerID, brokerEpoch)
	}
	block := metadata.ProducerIdsBlock{
		BrokerID: brokerID, BrokerEpoch: brokerEpoch,
		FirstID: im.NextProducerID(), Size: c.cfg.ProducerIDBlockSize,
	}
	if err := c.propose([]metadata.Record{block}); err != nil {
		return metadata.ProducerIdsBlock{}, fmt.Errorf("cannot allocate producer ids: %w", err)
	}
	return block, nil
}

// SetConfigs sets (value non-nil) or deletes (nil) config keys of a
// resource in one batch. A change of unclean.leader.election.enable
// carries, in the same batch, the unclean elections it allows
// (unclean.go).
func (c *Controller) SetConfigs(resourceType int8, resourceName string, changes map[string]*string) error {
	if err := c.beginDecision(); err != nil {
		return err
	}
	defer c.endDecision()
	im := c.Image()
	keys := make([]string, 0, len(changes))
	for k := range changes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var recs []metadata.Record
	for _, k := range keys {
		rec := metadata.Config{ResourceType: resourceType, ResourceName: resourceName, Key: k}
		if v := changes[k]; v != nil {
			rec.Value = *v
		} else {
			rec.Delete = true
		}
		recs = append(recs, rec)
	}
	var elected []metadata.Record
	if touchesUnclean(resourceType, changes) {
		// A batch the image refuses (Apply's error) is refused whole by
		// propose below, elections or not.
		if next, err := im.Apply(recs); err == nil {
			elected = c.trackELR(next, c.uncleanElections(next), -1)
			recs = append(recs, elected...)
			im = next
		}
	}
	if err := c.propose(recs); err != nil {
		return fmt.Errorf("cannot change configs of %q: %w", resourceName, err)
	}
	c.noteUnclean(im, elected)
	return nil
}
