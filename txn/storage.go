package txn

import (
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/partition"
	"github.com/sluice/sluice/segment"
)

// Versions written: key 0, value 1 (flexible, with the previous and next
// producer ids as tagged fields), as Kafka 4 writes them.
const (
	keyVersion   = 0
	valueVersion = 1
)

// kv is one record: value nil is a tombstone.
type kv struct{ key, value []byte }

func keyOf(id string) []byte {
	k := kmsg.TxnMetadataKey{Version: keyVersion, TransactionalID: id}
	return k.AppendTo(nil)
}

// stateRecord is the record of id's state s.
func stateRecord(id string, s *txnState) kv {
	v := kmsg.NewTxnMetadataValue()
	v.Version = valueVersion
	v.ProducerID, v.ProducerEpoch = s.producerID, s.epoch
	v.PreviousProducerID, v.NextProducerID = s.prevProducerID, s.nextProducerID
	if s.v2 {
		v.ClientTransactionVersion = 2
	}
	v.TimeoutMillis = int32(s.timeout.Milliseconds())
	v.State = kmsg.TransactionState(s.state)
	byTopic := map[string]int{}
	for _, tp := range s.sortedPartitions() {
		i, ok := byTopic[tp.Topic]
		if !ok {
			i = len(v.Topics)
			byTopic[tp.Topic] = i
			t := kmsg.NewTxnMetadataValueTopic()
			t.Topic = tp.Topic
			v.Topics = append(v.Topics, t)
		}
		v.Topics[i].Partitions = append(v.Topics[i].Partitions, tp.Partition)
	}
	v.LastUpdateTimestamp = s.update.UnixMilli()
	v.StartTimestamp = -1
	if !s.start.IsZero() {
		v.StartTimestamp = s.start.UnixMilli()
	}
	return kv{key: keyOf(id), value: v.AppendTo(nil)}
}

func tombstone(id string) kv { return kv{key: keyOf(id)} }

// decodeState is the inverse of stateRecord.
func decodeState(value []byte) (txnState, error) {
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return txnState{}, err
	}
	if v.Version > valueVersion {
		return txnState{}, fmt.Errorf("unknown value version %d", v.Version)
	}
	s := txnState{
		producerID: v.ProducerID, prevProducerID: v.PreviousProducerID, nextProducerID: v.NextProducerID,
		epoch: v.ProducerEpoch, lastEpoch: -1,
		timeout: time.Duration(v.TimeoutMillis) * time.Millisecond,
		state:   State(v.State),
		update:  time.UnixMilli(v.LastUpdateTimestamp),
	}
	s.v2 = v.ClientTransactionVersion >= 2
	if v.Version == 0 {
		s.prevProducerID, s.nextProducerID, s.v2 = -1, -1, false
	}
	if v.StartTimestamp >= 0 {
		s.start = time.UnixMilli(v.StartTimestamp)
	}
	s.partitions = map[TopicPartition]struct{}{}
	for _, t := range v.Topics {
		for _, p := range t.Partitions {
			s.partitions[TopicPartition{t.Topic, p}] = struct{}{}
		}
	}
	return s, nil
}

// stateCommitTimeout bounds the wait for a state record to reach every
// in-sync replica of a replicated __transaction_state partition.
const stateCommitTimeout = 5 * time.Second

// errNotCommitted: the record did not reach the ISR in time.
var errNotCommitted = errors.New("txn: state record not on every in-sync replica in time")

// awaitCommitted waits, as Kafka's append with acks=all, until the record
// at last is on every in-sync replica, so that a transaction state
// answered is not lost when the coordinator moves. Called with the
// partition's write lock held: state records apply in log order. A
// timeout answers COORDINATOR_NOT_AVAILABLE, as Kafka maps
// NOT_ENOUGH_REPLICAS and REQUEST_TIMED_OUT for its coordinator.
func awaitCommitted(l *partition.Log, last int64) error {
	if !l.AwaitHighWatermark(last, stateCommitTimeout) {
		return errNotCommitted
	}
	return nil
}

// appendRecord appends one record to partition p of __transaction_state.
func (c *Coordinator) appendRecord(p int32, r kv) error {
	pt := c.parts[p]
	c.mu.Lock()
	state, l := pt.state, pt.log
	c.mu.Unlock()
	switch {
	case state != partLoaded:
		return kerr.NotCoordinator // unloaded meanwhile (load.go)
	case l == nil:
		return kerr.CoordinatorNotAvailable
	}
	ts := c.now().UnixMilli()
	rec := segment.Record{Timestamp: ts, Key: r.key, Value: r.value, ValueNull: r.value == nil}
	batch, err := segment.EncodeBatch(segment.BatchSpec{PartitionLeaderEpoch: -1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, []segment.Record{rec})
	if err != nil {
		return fmt.Errorf("txn: cannot encode state record: %w", err)
	}
	pt.wmu.Lock()
	c.mu.Lock()
	current := pt.state == partLoaded && pt.log == l
	c.mu.Unlock()
	var res partition.AppendResult
	if current {
		if res, err = l.Append(batch); err == nil {
			err = awaitCommitted(l, res.LastOffset)
		}
	}
	pt.wmu.Unlock()
	if !current {
		return kerr.NotCoordinator
	}
	if errors.Is(err, errNotCommitted) {
		return kerr.CoordinatorNotAvailable
	}
	if err != nil {
		c.log.Error("cannot append to "+TopicName, "partition", p, "err", err)
		if errorsIsClosed(err) {
			return kerr.NotCoordinator
		}
		return kerr.CoordinatorNotAvailable
	}
	return nil
}

func errorsIsClosed(err error) bool { return errors.Is(err, partition.ErrClosed) }

// load replays every partition from its log start to its high watermark;
// the last record of a key wins and a tombstone removes the id. A record
// that does not decode is skipped with a warning.
func (c *Coordinator) load() (int, error) {
	n := 0
	direct := func(fn func()) bool { fn(); return true }
	for _, pt := range c.parts {
		if pt.log == nil {
			continue
		}
		k, err := c.loadPart(pt, direct)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// loadPart replays one partition from its log start to its log end
// offset. Chunks are read without Coordinator.mu and replayed through
// apply, which runs its function under mu (or not at all, returning false,
// when the load was abandoned: load.go).
func (c *Coordinator) loadPart(pt *part, apply func(func()) bool) (int, error) {
	n := 0
	err := pt.log.ScanToEnd(func(buf []byte, off int64) (int64, bool, error) {
		next := off
		var err error
		if !apply(func() { next, err = c.replayChunk(pt, buf, off, &n) }) {
			return off, false, nil // the load was abandoned
		}
		if err != nil {
			return off, false, fmt.Errorf("txn: cannot load %s-%d at offset %d: %w", TopicName, pt.index, off, err)
		}
		return next, true, nil
	})
	return n, err
}

// replayChunk replays the records of buf (read at off) and returns the
// offset after its last batch; n counts the records replayed.
func (c *Coordinator) replayChunk(pt *part, buf []byte, off int64, n *int) (int64, error) {
	next := off
	err := segment.Split(buf, func(batch []byte, h segment.Header) error {
		next = h.LastOffset() + 1
		if h.Attributes&segment.AttrControl != 0 {
			return nil
		}
		return segment.Records(batch, func(r segment.Record) bool {
			if r.Offset >= off {
				*n++
				c.replay(pt.index, r)
			}
			return true
		})
	})
	return next, err
}

// replay applies one record.
func (c *Coordinator) replay(p int32, r segment.Record) {
	var k kmsg.TxnMetadataKey
	if r.KeyNull || k.ReadFrom(r.Key) != nil || k.Version != keyVersion {
		c.log.Warn("skipping undecodable "+TopicName+" key", "partition", p, "offset", r.Offset)
		return
	}
	if r.ValueNull {
		delete(c.mu.txns, k.TransactionalID)
		return
	}
	s, err := decodeState(r.Value)
	if err != nil {
		c.log.Warn("skipping undecodable "+TopicName+" value", "partition", p, "offset", r.Offset, "err", err)
		return
	}
	m := &txnMeta{txnState: s, id: k.TransactionalID, part: p}
	c.mu.txns[m.id] = m
}
