package group

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/partition"
	"github.com/sluice/sluice/segment"
)

// Key and value versions written (Kafka 2.1+ and 2.3+ formats).
const (
	offsetKeyVersion   = 1
	groupKeyVersion    = 2
	offsetValueVersion = 3
	groupValueVersion  = 3
)

// maxBatchBytes bounds one appended batch (below the default
// max.message.bytes); a single larger write goes alone.
const maxBatchBytes = 900 << 10

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// offsetRecord is the record of a committed offset (tombstone if o is nil).
func offsetRecord(group string, tp TopicPartition, o *Offset) kv {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: group, Topic: tp.Topic, Partition: tp.Partition}
	r := kv{key: k.AppendTo(nil)}
	if o != nil {
		v := kmsg.NewOffsetCommitValue()
		v.Version = offsetValueVersion
		v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp = o.Offset, o.LeaderEpoch, o.Metadata, o.CommitTimestamp
		r.value = v.AppendTo(nil)
	}
	return r
}

// groupRecord is g's metadata record, with assignments replacing the
// members' own when not nil.
func groupRecord(g *group, assignments map[string][]byte) kv {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: g.id}
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocol != "" {
		v.Protocol = &g.protocol
	}
	if g.leader != "" {
		v.Leader = &g.leader
	}
	v.CurrentStateTimestamp = g.stateTime.UnixMilli()
	for _, m := range g.sortedMembers() {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID, vm.InstanceID = m.id, m.instanceID
		vm.ClientID, vm.ClientHost = m.clientID, m.clientHost
		vm.RebalanceTimeoutMillis = int32(m.rebalanceTimeout.Milliseconds())
		vm.SessionTimeoutMillis = int32(m.sessionTimeout.Milliseconds())
		vm.Subscription = m.metadataFor(g.protocol)
		vm.Assignment = m.assignment
		if assignments != nil {
			vm.Assignment = assignments[m.id]
		}
		v.Members = append(v.Members, vm)
	}
	return kv{key: k.AppendTo(nil), value: v.AppendTo(nil)}
}

// groupTombstone deletes g's metadata.
func groupTombstone(id string) kv {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: id}
	return kv{key: k.AppendTo(nil)}
}

// encodeBatch is one uncompressed RecordBatch v2 (no producer) of recs.
func encodeBatch(recs []kv, ts int64) []byte {
	var body []byte
	for i, r := range recs {
		rec := kmsg.Record{OffsetDelta: int32(i), Key: r.key, Value: r.value}
		enc := rec.AppendTo(nil) // Length 0 encodes as one byte
		body = binary.AppendVarint(body, int64(len(enc)-1))
		body = append(body, enc[1:]...)
	}
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1,
		Magic:                2,
		LastOffsetDelta:      int32(len(recs) - 1),
		FirstTimestamp:       ts,
		MaxTimestamp:         ts,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(len(recs)),
		Records:              body,
	}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], castagnoli))
	return raw
}

// encodeTxnBatch is encodeBatch as a transactional batch of tag's
// producer, without a sequence (a coordinator's write).
func encodeTxnBatch(recs []kv, ts int64, tag *txnTag) []byte {
	b := encodeBatch(recs, ts)
	binary.BigEndian.PutUint16(b[21:], binary.BigEndian.Uint16(b[21:])|segment.AttrTransactional)
	binary.BigEndian.PutUint64(b[43:], uint64(tag.producerID))
	binary.BigEndian.PutUint16(b[51:], uint16(tag.epoch))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b
}

func recsSize(recs []kv) int {
	n := 0
	for _, r := range recs {
		n += len(r.key) + len(r.value) + 16
	}
	return n
}

// appendWrites appends ws in order, whole writes per batch, and returns
// each write's error (mapped to a Kafka error).
func (c *Coordinator) appendWrites(pt *part, ws []*write) []error {
	errs := make([]error, len(ws))
	ts := c.now().UnixMilli()
	for i := 0; i < len(ws); {
		j, size := i, 0
		var recs []kv
		for j < len(ws) && (j == i || ws[i].txn == nil && ws[j].txn == nil && size+recsSize(ws[j].recs) <= maxBatchBytes) {
			size += recsSize(ws[j].recs)
			recs = append(recs, ws[j].recs...)
			j++
		}
		var err error
		if pt.log == nil {
			err = kerr.CoordinatorNotAvailable // offline (offline.go)
		} else if len(recs) > 0 {
			batch := encodeBatch(recs, ts)
			if tag := ws[i].txn; tag != nil {
				batch = encodeTxnBatch(recs, ts, tag)
			}
			var res partition.AppendResult
			if res, err = pt.log.Append(batch); err != nil {
				c.log.Error("cannot append to __consumer_offsets", "partition", pt.index, "records", len(recs), "err", err)
				err = storageError(err)
			} else {
				err = awaitCommitted(pt.log, res.LastOffset)
			}
		}
		for k := i; k < j; k++ {
			errs[k] = err
		}
		i = j
	}
	return errs
}

// commitTimeout bounds the wait for an append to __consumer_offsets to
// reach every in-sync replica [offsets.commit.timeout.ms] 5 s.
const commitTimeout = 5 * time.Second

// awaitCommitted waits, as Kafka's append with acks=all, until the record
// at last is on every in-sync replica of a replicated __consumer_offsets
// partition, so that a commit answered is not lost when the coordinator
// moves. It runs with the partition's write lock held: later writes of
// the partition queue behind it (and go out as one batch), so writes
// apply in log order. A timeout answers COORDINATOR_NOT_AVAILABLE (the
// client finds the coordinator again and retries), as Kafka maps
// NOT_ENOUGH_REPLICAS for its coordinators.
func awaitCommitted(l *partition.Log, last int64) error {
	if !l.AwaitHighWatermark(last, commitTimeout) {
		return kerr.CoordinatorNotAvailable
	}
	return nil
}

// load replays every partition. Called by Open before anything else runs.
func (c *Coordinator) load() (int, error) {
	total := 0
	direct := func(fn func()) bool { fn(); return true }
	for _, pt := range c.parts {
		if pt.log == nil {
			continue // offline
		}
		n, err := c.loadPart(pt, direct)
		if err != nil {
			return total, err
		}
		total += n
	}
	c.finishLoadLocked(func(int32) bool { return true })
	return total, nil
}

// finishLoadLocked ends the load of the partitions in (settles their
// transactional offsets, forgets groups left with nothing, gives loaded
// members a full session) and returns their group count.
func (c *Coordinator) finishLoadLocked(in func(p int32) bool) int {
	c.settleLoadedTxns(in)
	now := c.now()
	n := 0
	for id, g := range c.mu.groups {
		if !in(g.part) {
			continue
		}
		if len(g.offsets) == 0 && len(g.txnOffsets) == 0 && !g.hasMetadata() {
			delete(c.mu.groups, id)
			continue
		}
		n++
		for _, m := range g.members {
			m.deadline = now.Add(m.sessionTimeout)
		}
	}
	return n
}

// loadPart replays one partition from its log start to its log end
// offset. Chunks are read without Coordinator.mu and replayed through
// apply, which runs its function under mu (or not at all, returning
// false, when the load was abandoned: load.go).
func (c *Coordinator) loadPart(pt *part, apply func(func()) bool) (int, error) {
	n := 0
	err := pt.log.ScanToEnd(func(buf []byte, off int64) (int64, bool, error) {
		next := off
		var err error
		if !apply(func() { next, err = c.replayChunk(pt, buf, off, &n) }) {
			return off, false, nil // the load was abandoned
		}
		if err != nil {
			return off, false, fmt.Errorf("group: cannot load %s-%d at offset %d: %w", TopicName, pt.index, off, err)
		}
		return next, true, nil
	})
	return n, err
}

// replayChunk replays the batches of buf (read at off) and returns the
// offset after the last one; n counts the records replayed.
func (c *Coordinator) replayChunk(pt *part, buf []byte, off int64, n *int) (int64, error) {
	next := off
	err := segment.Split(buf, func(batch []byte, h segment.Header) error {
		next = h.LastOffset() + 1
		if h.LastOffset() < off {
			return nil
		}
		if h.Attributes&segment.AttrControl != 0 {
			m, err := segment.ParseMarker(batch)
			if err != nil {
				c.log.Warn("skipping bad transaction marker", "partition", pt.index, "offset", h.BaseOffset, "err", err)
				return nil
			}
			if m.Type == segment.ControlCommit || m.Type == segment.ControlAbort {
				c.endTxnLocked(pt.index, h.ProducerID, m.Commit())
			}
			return nil
		}
		txn := h.Attributes&segment.AttrTransactional != 0
		return segment.Records(batch, func(r segment.Record) bool {
			if r.Offset >= off {
				*n++
				if txn {
					c.replayTxn(pt.index, h.ProducerID, r)
				} else {
					c.replay(pt.index, r)
				}
			}
			return true
		})
	})
	return next, err
}

// replay applies one record to the in-memory state.
func (c *Coordinator) replay(p int32, r segment.Record) {
	if r.KeyNull || len(r.Key) < 2 {
		return
	}
	switch binary.BigEndian.Uint16(r.Key) {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(r.Key); err != nil {
			c.log.Warn("skipping bad offset commit key", "partition", p, "offset", r.Offset, "err", err)
			return
		}
		c.replayOffset(p, k, r)
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(r.Key); err != nil {
			c.log.Warn("skipping bad group metadata key", "partition", p, "offset", r.Offset, "err", err)
			return
		}
		c.replayGroup(p, k.Group, r)
	}
}

func (c *Coordinator) replayOffset(p int32, k kmsg.OffsetCommitKey, r segment.Record) {
	tp := TopicPartition{k.Topic, k.Partition}
	if r.ValueNull {
		if g := c.mu.groups[k.Group]; g != nil {
			delete(g.offsets, tp)
		}
		return
	}
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(r.Value); err != nil {
		c.log.Warn("skipping bad offset commit value", "partition", p, "offset", r.Offset, "err", err)
		return
	}
	g := c.loadGroup(p, k.Group)
	epoch := v.LeaderEpoch
	if v.Version < 3 {
		epoch = -1
	}
	g.offsets[tp] = Offset{Offset: v.Offset, LeaderEpoch: epoch, Metadata: v.Metadata, CommitTimestamp: v.CommitTimestamp}
}

func (c *Coordinator) replayGroup(p int32, id string, r segment.Record) {
	g := c.loadGroup(p, id)
	if r.ValueNull {
		offsets, txnOffsets := g.offsets, g.txnOffsets
		*g = *newGroup(id, p, c.now())
		g.offsets, g.txnOffsets = offsets, txnOffsets
		return
	}
	var v kmsg.GroupMetadataValue
	if err := v.ReadFrom(r.Value); err != nil {
		c.log.Warn("skipping bad group metadata value", "partition", p, "offset", r.Offset, "err", err)
		return
	}
	offsets, txnOffsets := g.offsets, g.txnOffsets
	*g = *newGroup(id, p, c.now())
	g.offsets, g.txnOffsets = offsets, txnOffsets
	g.protocolType, g.generation = v.ProtocolType, v.Generation
	if v.Protocol != nil {
		g.protocol = *v.Protocol
	}
	if v.CurrentStateTimestamp > 0 {
		g.stateTime = time.UnixMilli(v.CurrentStateTimestamp)
	}
	for _, vm := range v.Members {
		m := &member{
			id: vm.MemberID, instanceID: vm.InstanceID, clientID: vm.ClientID, clientHost: vm.ClientHost,
			sessionTimeout:   time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
			rebalanceTimeout: time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond,
			protocolType:     v.ProtocolType,
			protocols:        []Protocol{{Name: g.protocol, Metadata: vm.Subscription}},
			assignment:       vm.Assignment,
		}
		if m.rebalanceTimeout <= 0 {
			m.rebalanceTimeout = m.sessionTimeout
		}
		g.add(m)
	}
	if v.Leader != nil && g.members[*v.Leader] != nil {
		g.leader = *v.Leader
	}
	if len(g.members) > 0 {
		g.state = Stable
	}
}

// loadGroup returns the group being loaded, creating it.
func (c *Coordinator) loadGroup(p int32, id string) *group {
	g := c.mu.groups[id]
	if g == nil {
		g = newGroup(id, p, c.now())
		c.mu.groups[id] = g
	}
	return g
}
