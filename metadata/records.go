package metadata

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
)

// Errors. ErrCorrupt marks bytes that are not a valid frame or record (kept
// apart from I/O errors: this package never does I/O). ErrInvalid marks a
// well-formed record that does not apply to the image it is applied to.
var (
	ErrCorrupt = errors.New("metadata: corrupt record")
	ErrInvalid = errors.New("metadata: record does not apply")
)

// Type is a record's type byte. The numbers are this package's own (KRaft's
// names, not its wire ids) and are never reused.
type Type uint8

// Record types. 9-12 are the security records (security.go); 13-15 are
// reserved; 17 is UnregisterBroker.
const (
	TypeRegisterBroker   Type = 1
	TypeFenceBroker      Type = 2
	TypeUnfenceBroker    Type = 3
	TypeTopic            Type = 4
	TypePartition        Type = 5
	TypePartitionChange  Type = 6
	TypeRemoveTopic      Type = 7
	TypeConfig           Type = 8
	TypeAccessControl    Type = 9
	TypeRemoveAccessCtl  Type = 10
	TypeScramCredential  Type = 11
	TypeRemoveScram      Type = 12
	TypeProducerIdsBlock Type = 16
	TypeUnregisterBroker Type = 17
)

// Special broker ids in Partition and PartitionChange.
const (
	NoLeader       int32 = -1 // the partition has no leader
	NoLeaderChange int32 = -2 // PartitionChange: keep the leader
)

// Config resource types, Kafka's (DescribeConfigs' ResourceType).
const (
	ResourceTopic  int8 = 2
	ResourceBroker int8 = 4
)

// UUID is a 16-byte id: a topic id or a broker incarnation.
type UUID [16]byte

func (u UUID) String() string { return hex.EncodeToString(u[:]) }

// IsZero reports whether u is the all-zero id (Kafka's ZERO_UUID).
func (u UUID) IsZero() bool { return u == UUID{} }

// Record is one metadata record. Every implementation is a value type from
// this package.
type Record interface {
	Type() Type
	Version() uint8
	encodeFields(w *writer)
}

// decodable is a pointer to a zero record being decoded.
type decodable interface {
	Record
	decodeFields(r *reader)
}

// Endpoint is one listener a broker serves on.
type Endpoint struct {
	Name             string // listener name, e.g. PLAINTEXT
	Host             string
	Port             uint16
	SecurityProtocol int16 // Kafka's: 0 PLAINTEXT, 1 SSL, 2 SASL_PLAINTEXT, 3 SASL_SSL
}

// RegisterBroker registers (or re-registers) a broker. A registered broker
// starts fenced unless Fenced is false (snapshots record the state).
type RegisterBroker struct {
	BrokerID    int32
	Incarnation UUID  // new on every start of the broker process
	BrokerEpoch int64 // chosen by the controller, grows per broker
	Endpoints   []Endpoint
	Rack        string // "" = no rack
	Fenced      bool
}

// FenceBroker fences a broker: it leads nothing and receives no new replicas.
type FenceBroker struct {
	BrokerID    int32
	BrokerEpoch int64
}

// UnfenceBroker unfences a broker.
type UnfenceBroker struct {
	BrokerID    int32
	BrokerEpoch int64
}

// UnregisterBroker removes a broker's registration (Kafka's
// UnregisterBrokerRecord): it is no longer listed anywhere. Partitions
// keep naming it among their replicas until they are reassigned.
type UnregisterBroker struct {
	BrokerID    int32
	BrokerEpoch int64
}

// Topic creates a topic; its partitions follow as Partition records.
type Topic struct {
	Name string
	ID   UUID
}

// Partition creates a partition or, in a snapshot, states it whole.
// During a reassignment (KIP-455) Replicas is the union of the target and
// the original replicas, Adding the target's replicas not in the original
// and Removing the original's not in the target; both are empty otherwise.
// A partition with a reassignment pending is encoded as version 2.
type Partition struct {
	TopicID        UUID
	Partition      int32
	Replicas       []int32
	ISR            []int32
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	// EligibleLeaderReplicas (KIP-966) are replicas out of the ISR that
	// still hold every record below the high watermark: the ISR shrank
	// below min.insync.replicas when they left it. Disjoint from the ISR.
	EligibleLeaderReplicas []int32
	// LastKnownElr are the replicas that left the ELR without rejoining
	// the ISR (an unclean shutdown), kept while the ISR is under
	// min.insync.replicas: the last hope of a leader when ISR and ELR are
	// both empty.
	LastKnownElr []int32
	Adding       []int32 // version 2: replicas being added
	Removing     []int32 // version 2: replicas being removed
}

// Reassigning reports whether a reassignment of p is pending.
func (p Partition) Reassigning() bool { return len(p.Adding) > 0 || len(p.Removing) > 0 }

// Target is the replica list a pending reassignment moves to (Replicas
// less Removing, in order); Replicas when none is pending.
func (p Partition) Target() []int32 { return without(p.Replicas, p.Removing) }

// Original is the replica list before a pending reassignment (Replicas
// less Adding, in order); Replicas when none is pending.
func (p Partition) Original() []int32 { return without(p.Replicas, p.Adding) }

// without returns the elements of v not in drop, in v's order.
func without(v, drop []int32) []int32 {
	out := make([]int32, 0, len(v))
	for _, x := range v {
		if !slices.Contains(drop, x) {
			out = append(out, x)
		}
	}
	return out
}

// PartitionChange changes a partition. Leader NoLeaderChange keeps the
// leader; a nil ISR, Replicas, Adding or Removing keeps it (an empty,
// non-nil Adding or Removing clears it). Applying it bumps the partition
// epoch, and the leader epoch when the leader changes. A change that sets
// Adding or Removing is encoded as version 2.
type PartitionChange struct {
	TopicID   UUID
	Partition int32
	Leader    int32
	ISR       []int32 // nil = unchanged
	Replicas  []int32 // nil = unchanged
	// EligibleLeaderReplicas and LastKnownElr (version 1) replace the
	// partition's; nil = unchanged.
	EligibleLeaderReplicas []int32
	LastKnownElr           []int32
	Adding                 []int32 // version 2; nil = unchanged
	Removing               []int32 // version 2; nil = unchanged
}

// RemoveTopic deletes a topic with its partitions and configs.
type RemoveTopic struct {
	TopicID UUID
}

// Config sets (Delete false) or removes (Delete true, Value "") one config
// key of a resource.
type Config struct {
	ResourceType int8
	ResourceName string
	Key          string
	Value        string
	Delete       bool
}

// ProducerIdsBlock hands ids [FirstID, FirstID+Size) to a broker. Blocks
// only go up: FirstID must be at least the image's next producer id (a
// snapshot restates the last block alone, above an empty image's 0).
type ProducerIdsBlock struct {
	BrokerID    int32
	BrokerEpoch int64
	FirstID     int64
	Size        int32
}

func (RegisterBroker) Type() Type   { return TypeRegisterBroker }
func (FenceBroker) Type() Type      { return TypeFenceBroker }
func (UnfenceBroker) Type() Type    { return TypeUnfenceBroker }
func (Topic) Type() Type            { return TypeTopic }
func (Partition) Type() Type        { return TypePartition }
func (PartitionChange) Type() Type  { return TypePartitionChange }
func (RemoveTopic) Type() Type      { return TypeRemoveTopic }
func (Config) Type() Type           { return TypeConfig }
func (ProducerIdsBlock) Type() Type { return TypeProducerIdsBlock }
func (UnregisterBroker) Type() Type { return TypeUnregisterBroker }

func (RegisterBroker) Version() uint8 { return 0 }
func (FenceBroker) Version() uint8    { return 0 }
func (UnfenceBroker) Version() uint8  { return 0 }
func (Topic) Version() uint8          { return 0 }

// Version is 2 when a reassignment is pending (ELR, last known ELR,
// adding and removing follow), 1 when the partition has only an ELR or a
// last known ELR, else 0: records without them encode as before, byte
// for byte.
func (rec Partition) Version() uint8 {
	if rec.Reassigning() {
		return 2
	}
	if len(rec.EligibleLeaderReplicas) > 0 || len(rec.LastKnownElr) > 0 {
		return 1
	}
	return 0
}

// Version is 2 when the change sets adding or removing, 1 when it sets
// only the ELR or the last known ELR, else 0.
func (rec PartitionChange) Version() uint8 {
	if rec.Adding != nil || rec.Removing != nil {
		return 2
	}
	if rec.EligibleLeaderReplicas != nil || rec.LastKnownElr != nil {
		return 1
	}
	return 0
}
func (RemoveTopic) Version() uint8      { return 0 }
func (Config) Version() uint8           { return 0 }
func (ProducerIdsBlock) Version() uint8 { return 0 }
func (UnregisterBroker) Version() uint8 { return 0 }

// newRecord returns a pointer to a zero record of type t at version v, or
// nil when the pair is unknown.
func newRecord(t Type, v uint8) decodable {
	if v == 1 || v == 2 {
		switch t {
		case TypePartition:
			return &Partition{}
		case TypePartitionChange:
			return &PartitionChange{}
		}
		return nil
	}
	if v != 0 {
		return nil
	}
	switch t {
	case TypeRegisterBroker:
		return &RegisterBroker{}
	case TypeFenceBroker:
		return &FenceBroker{}
	case TypeUnfenceBroker:
		return &UnfenceBroker{}
	case TypeTopic:
		return &Topic{}
	case TypePartition:
		return &Partition{}
	case TypePartitionChange:
		return &PartitionChange{}
	case TypeRemoveTopic:
		return &RemoveTopic{}
	case TypeConfig:
		return &Config{}
	case TypeProducerIdsBlock:
		return &ProducerIdsBlock{}
	case TypeUnregisterBroker:
		return &UnregisterBroker{}
	case TypeAccessControl:
		return &AccessControlEntry{}
	case TypeRemoveAccessCtl:
		return &RemoveAccessControlEntry{}
	case TypeScramCredential:
		return &UserScramCredential{}
	case TypeRemoveScram:
		return &RemoveUserScramCredential{}
	}
	return nil
}

func (rec RegisterBroker) encodeFields(w *writer) {
	w.int32(rec.BrokerID)
	w.uuid(rec.Incarnation)
	w.int64(rec.BrokerEpoch)
	w.count(len(rec.Endpoints))
	for _, e := range rec.Endpoints {
		w.string(e.Name)
		w.string(e.Host)
		w.uint16(e.Port)
		w.int16(e.SecurityProtocol)
	}
	w.string(rec.Rack)
	w.bool(rec.Fenced)
}

func (rec *RegisterBroker) decodeFields(r *reader) {
	rec.BrokerID = r.int32()
	rec.Incarnation = r.uuid()
	rec.BrokerEpoch = r.int64()
	n := r.count(2 + 2 + 2 + 2) // two empty strings, port, protocol
	if n > 0 {
		rec.Endpoints = make([]Endpoint, n)
	}
	for i := range rec.Endpoints {
		e := &rec.Endpoints[i]
		e.Name = r.string()
		e.Host = r.string()
		e.Port = r.uint16()
		e.SecurityProtocol = r.int16()
	}
	rec.Rack = r.string()
	rec.Fenced = r.bool()
}

// encodeBrokerEpoch writes the fields FenceBroker, UnfenceBroker and
// UnregisterBroker share: the broker's id and epoch.
func encodeBrokerEpoch(w *writer, id int32, epoch int64) {
	w.int32(id)
	w.int64(epoch)
}

// decodeBrokerEpoch reads what encodeBrokerEpoch wrote.
func decodeBrokerEpoch(r *reader) (id int32, epoch int64) {
	id = r.int32()
	epoch = r.int64()
	return id, epoch
}

func (rec FenceBroker) encodeFields(w *writer) {
	encodeBrokerEpoch(w, rec.BrokerID, rec.BrokerEpoch)
}

func (rec *FenceBroker) decodeFields(r *reader) {
	rec.BrokerID, rec.BrokerEpoch = decodeBrokerEpoch(r)
}

func (rec UnfenceBroker) encodeFields(w *writer) {
	encodeBrokerEpoch(w, rec.BrokerID, rec.BrokerEpoch)
}

func (rec *UnfenceBroker) decodeFields(r *reader) {
	rec.BrokerID, rec.BrokerEpoch = decodeBrokerEpoch(r)
}

func (rec UnregisterBroker) encodeFields(w *writer) {
	encodeBrokerEpoch(w, rec.BrokerID, rec.BrokerEpoch)
}

func (rec *UnregisterBroker) decodeFields(r *reader) {
	rec.BrokerID, rec.BrokerEpoch = decodeBrokerEpoch(r)
}

func (rec Topic) encodeFields(w *writer) {
	w.string(rec.Name)
	w.uuid(rec.ID)
}

func (rec *Topic) decodeFields(r *reader) {
	rec.Name = r.string()
	rec.ID = r.uuid()
}

func (rec Partition) encodeFields(w *writer) {
	w.uuid(rec.TopicID)
	w.int32(rec.Partition)
	w.int32s(rec.Replicas)
	w.int32s(rec.ISR)
	w.int32(rec.Leader)
	w.int32(rec.LeaderEpoch)
	w.int32(rec.PartitionEpoch)
	if rec.Version() >= 1 { // version 2 adds to version 1's fields
		w.int32s(rec.EligibleLeaderReplicas)
		w.int32s(rec.LastKnownElr)
	}
	if rec.Version() == 2 {
		w.int32s(rec.Adding)
		w.int32s(rec.Removing)
	}
}

func (rec *Partition) decodeFields(r *reader) {
	rec.TopicID = r.uuid()
	rec.Partition = r.int32()
	rec.Replicas = r.int32s()
	rec.ISR = r.int32s()
	rec.Leader = r.int32()
	rec.LeaderEpoch = r.int32()
	rec.PartitionEpoch = r.int32()
	if r.version >= 1 { // version 2 adds to version 1's fields
		rec.EligibleLeaderReplicas = r.int32s()
		rec.LastKnownElr = r.int32s()
	}
	if r.version == 1 && r.err == nil && rec.Version() != 1 {
		r.err = fmt.Errorf("%w: partition version 1 without an ELR", ErrCorrupt)
	}
	if r.version == 2 {
		rec.Adding = r.int32s()
		rec.Removing = r.int32s()
		if !rec.Reassigning() && r.err == nil {
			r.err = fmt.Errorf("%w: partition version 2 without a reassignment", ErrCorrupt)
		}
	}
}

func (rec PartitionChange) encodeFields(w *writer) {
	w.uuid(rec.TopicID)
	w.int32(rec.Partition)
	w.int32(rec.Leader)
	w.nullableInt32s(rec.ISR)
	w.nullableInt32s(rec.Replicas)
	if rec.Version() >= 1 { // version 2 adds to version 1's fields
		w.nullableInt32s(rec.EligibleLeaderReplicas)
		w.nullableInt32s(rec.LastKnownElr)
	}
	if rec.Version() == 2 {
		w.nullableInt32s(rec.Adding)
		w.nullableInt32s(rec.Removing)
	}
}

func (rec *PartitionChange) decodeFields(r *reader) {
	rec.TopicID = r.uuid()
	rec.Partition = r.int32()
	rec.Leader = r.int32()
	rec.ISR = r.nullableInt32s()
	rec.Replicas = r.nullableInt32s()
	if r.version >= 1 { // version 2 adds to version 1's fields
		rec.EligibleLeaderReplicas = r.nullableInt32s()
		rec.LastKnownElr = r.nullableInt32s()
	}
	if r.version == 1 && r.err == nil && rec.Version() != 1 {
		r.err = fmt.Errorf("%w: partition change version 1 without an ELR", ErrCorrupt)
	}
	if r.version == 2 {
		rec.Adding = r.nullableInt32s()
		rec.Removing = r.nullableInt32s()
		if rec.Adding == nil && rec.Removing == nil && r.err == nil {
			r.err = fmt.Errorf("%w: partition change version 2 without adding or removing", ErrCorrupt)
		}
	}
}

func (rec RemoveTopic) encodeFields(w *writer) { w.uuid(rec.TopicID) }

func (rec *RemoveTopic) decodeFields(r *reader) { rec.TopicID = r.uuid() }

func (rec Config) encodeFields(w *writer) {
	w.int8(rec.ResourceType)
	w.string(rec.ResourceName)
	w.string(rec.Key)
	w.string(rec.Value)
	w.bool(rec.Delete)
}

func (rec *Config) decodeFields(r *reader) {
	rec.ResourceType = r.int8()
	rec.ResourceName = r.string()
	rec.Key = r.string()
	rec.Value = r.string()
	rec.Delete = r.bool()
	if rec.Delete && rec.Value != "" && r.err == nil {
		r.err = fmt.Errorf("%w: config delete with a value", ErrCorrupt)
	}
}

func (rec ProducerIdsBlock) encodeFields(w *writer) {
	w.int32(rec.BrokerID)
	w.int64(rec.BrokerEpoch)
	w.int64(rec.FirstID)
	w.int32(rec.Size)
}

func (rec *ProducerIdsBlock) decodeFields(r *reader) {
	rec.BrokerID = r.int32()
	rec.BrokerEpoch = r.int64()
	rec.FirstID = r.int64()
	rec.Size = r.int32()
}
