package metadata

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

// Broker is a registered broker as the image sees it.
type Broker struct {
	ID          int32
	Incarnation UUID
	Epoch       int64
	Endpoints   []Endpoint
	Rack        string
	Fenced      bool
}

// TopicImage is one topic: Partitions[i] is partition i.
type TopicImage struct {
	Name       string
	ID         UUID
	Partitions []Partition
}

// ConfigResource names a config resource.
type ConfigResource struct {
	Type int8
	Name string
}

// Image is the cluster's metadata after applying records in order. An Image
// is immutable: Apply returns a new one sharing unchanged parts, so a reader
// holding an Image sees one consistent state. Values returned by its methods
// (slices, *TopicImage) must not be modified.
type Image struct {
	brokers     map[int32]*Broker
	topics      map[UUID]*TopicImage
	byName      map[string]UUID
	configs     map[ConfigResource]map[string]string
	producerIDs ProducerIdsBlock // the last block handed out
	acls        map[UUID]AccessControlEntry
	scram       map[ScramKey]UserScramCredential
}

// Empty is the image before any record.
var Empty = &Image{
	brokers: map[int32]*Broker{},
	topics:  map[UUID]*TopicImage{},
	byName:  map[string]UUID{},
	configs: map[ConfigResource]map[string]string{},
}

// Broker returns broker id.
func (im *Image) Broker(id int32) (Broker, bool) {
	b, ok := im.brokers[id]
	if !ok {
		return Broker{}, false
	}
	return *b, true
}

// Brokers returns every registered broker, by id.
func (im *Image) Brokers() []Broker {
	out := make([]Broker, 0, len(im.brokers))
	for _, id := range slices.Sorted(maps.Keys(im.brokers)) {
		out = append(out, *im.brokers[id])
	}
	return out
}

// Topic returns the topic named name.
func (im *Image) Topic(name string) (*TopicImage, bool) {
	id, ok := im.byName[name]
	if !ok {
		return nil, false
	}
	return im.topics[id], true
}

// TopicByID returns the topic with id.
func (im *Image) TopicByID(id UUID) (*TopicImage, bool) {
	t, ok := im.topics[id]
	return t, ok
}

// TopicNames returns every topic's name, sorted.
func (im *Image) TopicNames() []string {
	return slices.Sorted(maps.Keys(im.byName))
}

// Configs returns a copy of the resource's config keys.
func (im *Image) Configs(typ int8, name string) map[string]string {
	return maps.Clone(im.configs[ConfigResource{typ, name}])
}

// NextProducerID is the first id of the next producer-id block.
func (im *Image) NextProducerID() int64 {
	return im.producerIDs.FirstID + int64(im.producerIDs.Size)
}

// LastProducerIdsBlock is the last block handed out (zero if none).
func (im *Image) LastProducerIdsBlock() ProducerIdsBlock { return im.producerIDs }

// Apply applies recs in order and returns the new image. On error the batch
// is refused whole (im is unchanged, being immutable) and the error wraps
// ErrInvalid.
func (im *Image) Apply(recs []Record) (*Image, error) {
	b := builder{Image: *im, owned: map[UUID]bool{}}
	for i, rec := range recs {
		if err := b.apply(rec); err != nil {
			return nil, fmt.Errorf("record %d (type %d): %w", i, rec.Type(), err)
		}
	}
	next := b.Image
	return &next, nil
}

// builder is an Image being changed: each map is cloned on its first write,
// each topic on its first change.
type builder struct {
	Image
	brokersOwned, topicsOwned, configsOwned bool
	aclsOwned, scramOwned                   bool
	owned                                   map[UUID]bool // topics cloned in this batch
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func (b *builder) apply(rec Record) error {
	switch r := rec.(type) {
	case RegisterBroker:
		return b.registerBroker(r)
	case FenceBroker:
		return b.setFenced(r.BrokerID, r.BrokerEpoch, true)
	case UnfenceBroker:
		return b.setFenced(r.BrokerID, r.BrokerEpoch, false)
	case UnregisterBroker:
		return b.unregisterBroker(r)
	case Topic:
		return b.topic(r)
	case Partition:
		return b.partition(r)
	case PartitionChange:
		return b.partitionChange(r)
	case RemoveTopic:
		return b.removeTopic(r)
	case Config:
		return b.config(r)
	case ProducerIdsBlock:
		return b.producerIdsBlock(r)
	case AccessControlEntry:
		return b.acl(r)
	case RemoveAccessControlEntry:
		return b.removeACL(r)
	case UserScramCredential:
		return b.scramCredential(r)
	case RemoveUserScramCredential:
		return b.removeScram(r)
	}
	return invalid("unknown record %T", rec)
}

func (b *builder) ownBrokers() {
	if !b.brokersOwned {
		b.brokers = maps.Clone(b.brokers)
		b.brokersOwned = true
	}
}

func (b *builder) ownTopics() {
	if !b.topicsOwned {
		b.topics = maps.Clone(b.topics)
		b.byName = maps.Clone(b.byName)
		b.topicsOwned = true
	}
}

// ownTopic returns a copy of topic id that this batch may change.
func (b *builder) ownTopic(id UUID) *TopicImage {
	b.ownTopics()
	t := b.topics[id]
	if !b.owned[id] {
		c := *t
		c.Partitions = slices.Clone(t.Partitions)
		t = &c
		b.topics[id] = t
		b.owned[id] = true
	}
	return t
}

func (b *builder) registerBroker(r RegisterBroker) error {
	if r.BrokerID < 0 {
		return invalid("broker id %d", r.BrokerID)
	}
	if old, ok := b.brokers[r.BrokerID]; ok && r.BrokerEpoch <= old.Epoch {
		return invalid("broker %d epoch %d after %d", r.BrokerID, r.BrokerEpoch, old.Epoch)
	}
	b.ownBrokers()
	b.brokers[r.BrokerID] = &Broker{
		ID: r.BrokerID, Incarnation: r.Incarnation, Epoch: r.BrokerEpoch,
		Endpoints: slices.Clone(r.Endpoints), Rack: r.Rack, Fenced: r.Fenced,
	}
	return nil
}

func (b *builder) unregisterBroker(r UnregisterBroker) error {
	old, ok := b.brokers[r.BrokerID]
	if !ok || old.Epoch != r.BrokerEpoch {
		return invalid("broker %d epoch %d is not registered", r.BrokerID, r.BrokerEpoch)
	}
	b.ownBrokers()
	delete(b.brokers, r.BrokerID)
	return nil
}

func (b *builder) setFenced(id int32, epoch int64, fenced bool) error {
	old, ok := b.brokers[id]
	if !ok || old.Epoch != epoch {
		return invalid("broker %d epoch %d is not registered", id, epoch)
	}
	b.ownBrokers()
	c := *old
	c.Fenced = fenced
	b.brokers[id] = &c
	return nil
}

func (b *builder) topic(r Topic) error {
	if r.Name == "" || r.ID.IsZero() {
		return invalid("topic %q id %s", r.Name, r.ID)
	}
	if _, ok := b.byName[r.Name]; ok {
		return invalid("topic %q exists", r.Name)
	}
	if _, ok := b.topics[r.ID]; ok {
		return invalid("topic id %s exists", r.ID)
	}
	b.ownTopics()
	b.topics[r.ID] = &TopicImage{Name: r.Name, ID: r.ID}
	b.byName[r.Name] = r.ID
	b.owned[r.ID] = true
	return nil
}

func (b *builder) partition(r Partition) error {
	t, ok := b.topics[r.TopicID]
	if !ok {
		return invalid("partition of unknown topic %s", r.TopicID)
	}
	if int(r.Partition) != len(t.Partitions) {
		return invalid("topic %q partition %d after %d partitions", t.Name, r.Partition, len(t.Partitions))
	}
	if err := checkAssignment(r.Replicas, r.ISR, r.Leader); err != nil {
		return fmt.Errorf("topic %q partition %d: %w", t.Name, r.Partition, err)
	}
	if err := checkELR(r); err != nil {
		return fmt.Errorf("topic %q partition %d: %w", t.Name, r.Partition, err)
	}
	if err := checkReassignment(r.Replicas, r.Adding, r.Removing); err != nil {
		return fmt.Errorf("topic %q partition %d: %w", t.Name, r.Partition, err)
	}
	t = b.ownTopic(r.TopicID)
	r.Replicas, r.ISR = clone32(r.Replicas), clone32(r.ISR)
	r.EligibleLeaderReplicas, r.LastKnownElr = clone32(r.EligibleLeaderReplicas), clone32(r.LastKnownElr)
	r.Adding, r.Removing = clone32(r.Adding), clone32(r.Removing)
	t.Partitions = append(t.Partitions, r)
	return nil
}

// checkAssignment checks replicas are distinct, ISR ⊆ replicas and the
// leader is in the ISR (or NoLeader).
func checkAssignment(replicas, isr []int32, leader int32) error {
	if len(replicas) == 0 {
		return invalid("no replicas")
	}
	seen := map[int32]bool{}
	for _, r := range replicas {
		if r < 0 || seen[r] {
			return invalid("replicas %v", replicas)
		}
		seen[r] = true
	}
	inISR := map[int32]bool{}
	for _, r := range isr {
		if !seen[r] || inISR[r] {
			return invalid("ISR %v of replicas %v", isr, replicas)
		}
		inISR[r] = true
	}
	if leader != NoLeader && !inISR[leader] {
		return invalid("leader %d not in ISR %v", leader, isr)
	}
	return nil
}

// checkELR checks the ELR and the last known ELR are distinct replicas,
// the ELR apart from the ISR and the last known ELR apart from both.
func checkELR(p Partition) error {
	seen := map[int32]bool{}
	for _, r := range p.ISR {
		seen[r] = true
	}
	for _, set := range [][]int32{p.EligibleLeaderReplicas, p.LastKnownElr} {
		for _, r := range set {
			if seen[r] || !slices.Contains(p.Replicas, r) {
				return invalid("ELR %v, last known ELR %v with ISR %v of replicas %v",
					p.EligibleLeaderReplicas, p.LastKnownElr, p.ISR, p.Replicas)
			}
			seen[r] = true
		}
	}
	return nil
}

// checkReassignment checks a pending reassignment: adding and removing
// are distinct replicas, disjoint, and leave a target that is not empty.
func checkReassignment(replicas, adding, removing []int32) error {
	if len(adding) == 0 && len(removing) == 0 {
		return nil
	}
	seen := map[int32]bool{}
	for _, r := range slices.Concat(adding, removing) {
		if seen[r] || !slices.Contains(replicas, r) {
			return invalid("adding %v, removing %v of replicas %v", adding, removing, replicas)
		}
		seen[r] = true
	}
	if len(removing) >= len(replicas) {
		return invalid("removing %v leaves no replicas of %v", removing, replicas)
	}
	return nil
}

func (b *builder) partitionChange(r PartitionChange) error {
	t, ok := b.topics[r.TopicID]
	if !ok || r.Partition < 0 || int(r.Partition) >= len(t.Partitions) {
		return invalid("change of unknown partition %s-%d", r.TopicID, r.Partition)
	}
	p := t.Partitions[r.Partition]
	if r.Replicas != nil {
		p.Replicas = clone32(r.Replicas)
	}
	if r.ISR != nil {
		p.ISR = clone32(r.ISR)
	}
	if r.EligibleLeaderReplicas != nil {
		p.EligibleLeaderReplicas = clone32(r.EligibleLeaderReplicas)
	}
	if r.LastKnownElr != nil {
		p.LastKnownElr = clone32(r.LastKnownElr)
	}
	if r.Adding != nil {
		p.Adding = clone32(r.Adding)
	}
	if r.Removing != nil {
		p.Removing = clone32(r.Removing)
	}
	if r.Leader != NoLeaderChange {
		if r.Leader != p.Leader {
			if p.LeaderEpoch == math.MaxInt32 {
				return invalid("leader epoch overflow")
			}
			p.LeaderEpoch++
		}
		p.Leader = r.Leader
	}
	if err := checkAssignment(p.Replicas, p.ISR, p.Leader); err != nil {
		return fmt.Errorf("topic %q partition %d: %w", t.Name, r.Partition, err)
	}
	if err := checkELR(p); err != nil {
		return fmt.Errorf("topic %q partition %d: %w", t.Name, r.Partition, err)
	}
	if err := checkReassignment(p.Replicas, p.Adding, p.Removing); err != nil {
		return fmt.Errorf("topic %q partition %d: %w", t.Name, r.Partition, err)
	}
	if p.PartitionEpoch == math.MaxInt32 {
		return invalid("partition epoch overflow")
	}
	p.PartitionEpoch++
	t = b.ownTopic(r.TopicID)
	t.Partitions[r.Partition] = p
	return nil
}

func (b *builder) removeTopic(r RemoveTopic) error {
	t, ok := b.topics[r.TopicID]
	if !ok {
		return invalid("remove of unknown topic %s", r.TopicID)
	}
	b.ownTopics()
	delete(b.topics, r.TopicID)
	delete(b.byName, t.Name)
	res := ConfigResource{ResourceTopic, t.Name}
	if _, ok := b.configs[res]; ok {
		b.ownConfigs()
		delete(b.configs, res)
	}
	return nil
}

func (b *builder) ownConfigs() {
	if !b.configsOwned {
		b.configs = maps.Clone(b.configs)
		b.configsOwned = true
	}
}

func (b *builder) config(r Config) error {
	if r.Key == "" || strings.ContainsRune(r.Key, 0) {
		return invalid("config key %q", r.Key)
	}
	if r.ResourceType == ResourceTopic {
		if _, ok := b.byName[r.ResourceName]; !ok {
			return invalid("config of unknown topic %q", r.ResourceName)
		}
	}
	res := ConfigResource{r.ResourceType, r.ResourceName}
	b.ownConfigs()
	m := maps.Clone(b.configs[res])
	if m == nil {
		m = map[string]string{}
	}
	if r.Delete {
		delete(m, r.Key)
	} else {
		m[r.Key] = r.Value
	}
	if len(m) == 0 {
		delete(b.configs, res)
	} else {
		b.configs[res] = m
	}
	return nil
}

func (b *builder) producerIdsBlock(r ProducerIdsBlock) error {
	next := b.NextProducerID()
	if r.FirstID < next || r.Size <= 0 || r.FirstID > math.MaxInt64-int64(r.Size) {
		return invalid("producer ids [%d, +%d) below the next, %d", r.FirstID, r.Size, next)
	}
	b.producerIDs = r
	return nil
}

// clone32 copies v; empty becomes nil, as decoding gives, so equal images
// compare equal.
func clone32(v []int32) []int32 {
	if len(v) == 0 {
		return nil
	}
	return slices.Clone(v)
}
