package txn

import (
	"context"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// InitProducerID serves InitProducerId with a transactional id: a new
// producer id for a new id; otherwise the epoch is bumped (a new producer
// id when the epoch is exhausted), which fences the previous instance. An
// ongoing transaction of the previous instance is aborted first (its
// markers written with the bumped epoch). pid/epoch are the caller's
// current ones (KIP-360), -1 if none: when given they must be current,
// else PRODUCER_FENCED.
func (c *Coordinator) InitProducerID(ctx context.Context, id string, timeout time.Duration, pid int64, epoch int16) (int64, int16, error) {
	if timeout <= 0 || timeout > c.cfg.MaxTimeout {
		return -1, -1, kerr.InvalidTransactionTimeout
	}
	if err := c.Available(id); err != nil {
		return -1, -1, err
	}
	m, err := c.getOrCreate(id)
	if err != nil {
		return -1, -1, err
	}
	c.mu.Lock()
	if err := c.initCheckLocked(m, pid, epoch); err != nil {
		c.mu.Unlock()
		return -1, -1, err
	}
	m.pending = true
	ongoing := m.state == Ongoing
	c.mu.Unlock()
	if ongoing {
		if err := c.fenceAndAbort(context.WithoutCancel(ctx), m); err != nil {
			return -1, -1, err
		}
		c.mu.Lock()
		if m.pending || m.state != CompleteAbort { // markers failed: the background retries
			c.mu.Unlock()
			return -1, -1, kerr.ConcurrentTransactions
		}
		m.pending = true
		c.mu.Unlock()
	}
	return c.bump(m, timeout)
}

// initCheckLocked validates an InitProducerId against m.
func (c *Coordinator) initCheckLocked(m *txnMeta, pid int64, epoch int16) error {
	switch {
	case c.mu.closed:
		return kerr.NotCoordinator
	case m.pending, m.state == PrepareCommit, m.state == PrepareAbort, m.state == PrepareEpochFence:
		return kerr.ConcurrentTransactions
	case pid >= 0 && !(pid == m.producerID && epoch == m.epoch):
		return kerr.ProducerFenced
	}
	return nil
}

// getOrCreate returns id's meta, creating an Empty one with a new producer
// id (allocated without the lock held: it writes a file).
func (c *Coordinator) getOrCreate(id string) (*txnMeta, error) {
	c.mu.Lock()
	m := c.mu.txns[id]
	c.mu.Unlock()
	if m != nil {
		return m, nil
	}
	pid, err := c.hooks.NewProducerID()
	if err != nil {
		c.log.Error("cannot allocate producer id", "err", err)
		return nil, kerr.KafkaStorageError
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if m = c.mu.txns[id]; m != nil { // raced: the other one wins, pid is skipped
		return m, nil
	}
	m = &txnMeta{id: id, part: PartitionFor(id, c.Partitions())}
	m.producerID, m.prevProducerID, m.nextProducerID, m.epoch, m.lastEpoch = pid, -1, -1, -1, -1
	m.state = Empty
	m.update = c.now()
	c.mu.txns[id] = m
	return m, nil
}

// bump writes m Empty with the next epoch and returns the new producer id
// and epoch. Called with m.pending set; clears it.
func (c *Coordinator) bump(m *txnMeta, timeout time.Duration) (int64, int16, error) {
	c.mu.Lock()
	next := m.txnState.clone()
	c.mu.Unlock()
	if next.epoch >= math.MaxInt16-1 {
		pid, err := c.hooks.NewProducerID()
		if err != nil {
			c.clearPending(m)
			c.log.Error("cannot allocate producer id", "err", err)
			return -1, -1, kerr.KafkaStorageError
		}
		next.prevProducerID, next.producerID, next.lastEpoch, next.epoch = next.producerID, pid, next.epoch, 0
	} else {
		next.lastEpoch, next.epoch = next.epoch, next.epoch+1
	}
	next.state, next.partitions, next.start = Empty, nil, time.Time{}
	next.timeout, next.update = timeout, c.now()
	if err := c.write(m, next, true); err != nil {
		return -1, -1, err
	}
	return next.producerID, next.epoch, nil
}

// write appends next as m's state and applies it; done clears pending.
func (c *Coordinator) write(m *txnMeta, next txnState, done bool) error {
	err := c.appendRecord(m.part, stateRecord(m.id, &next))
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		m.txnState = next
	}
	if done || err != nil {
		m.pending = false
	}
	return err
}

func (c *Coordinator) clearPending(m *txnMeta) {
	c.mu.Lock()
	m.pending = false
	c.mu.Unlock()
}

// checkProducerLocked is the check of AddPartitionsToTxn, AddOffsetsToTxn
// and EndTxn: id known and held by pid at epoch.
func (c *Coordinator) checkProducerLocked(id string, pid int64, epoch int16) (*txnMeta, error) {
	if c.mu.closed {
		return nil, kerr.NotCoordinator
	}
	m := c.mu.txns[id]
	switch {
	case m == nil, m.producerID != pid:
		return nil, kerr.InvalidProducerIDMapping
	case m.epoch != epoch:
		return nil, kerr.ProducerFenced
	case m.pending, m.state == PrepareCommit, m.state == PrepareAbort, m.state == PrepareEpochFence:
		return nil, kerr.ConcurrentTransactions
	}
	return m, nil
}

// AddPartitions serves AddPartitionsToTxn (and AddOffsetsToTxn, with the
// group's __consumer_offsets partition): the partitions join the
// transaction, which becomes Ongoing.
func (c *Coordinator) AddPartitions(id string, pid int64, epoch int16, tps []TopicPartition) error {
	if err := c.Available(id); err != nil {
		return err
	}
	c.mu.Lock()
	m, err := c.checkProducerLocked(id, pid, epoch)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	if m.state == Ongoing && m.hasAll(tps) {
		c.mu.Unlock()
		return nil
	}
	next := m.txnState.clone()
	m.pending = true
	c.mu.Unlock()
	if next.state != Ongoing {
		next.state, next.start, next.partitions = Ongoing, c.now(), map[TopicPartition]struct{}{}
	}
	for _, tp := range tps {
		next.partitions[tp] = struct{}{}
	}
	next.update = c.now()
	return c.write(m, next, true)
}

func (s *txnState) hasAll(tps []TopicPartition) bool {
	for _, tp := range tps {
		if _, ok := s.partitions[tp]; !ok {
			return false
		}
	}
	return true
}

// VerifyPartitions serves AddPartitionsToTxn v4's VerifyOnly: nil for
// each partition in id's ongoing transaction, INVALID_TXN_STATE for the
// others; a producer error applies to all.
func (c *Coordinator) VerifyPartitions(id string, pid int64, epoch int16, tps []TopicPartition) (map[TopicPartition]error, error) {
	if err := c.Available(id); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.checkProducerLocked(id, pid, epoch)
	if err != nil && err != kerr.ConcurrentTransactions {
		return nil, err
	}
	out := make(map[TopicPartition]error, len(tps))
	for _, tp := range tps {
		out[tp] = kerr.InvalidTxnState
		if m != nil && m.state == Ongoing && m.hasAll([]TopicPartition{tp}) {
			out[tp] = nil
		}
	}
	return out, nil
}

// CheckProduce tells whether a transactional batch of pid at epoch, sent
// with transactional id id, may go to tp: nil when tp is in the id's
// ongoing transaction; INVALID_PRODUCER_ID_MAPPING when the id is unknown
// or held by another producer id; INVALID_PRODUCER_EPOCH for an older
// epoch (a fenced producer); INVALID_TXN_STATE when tp was not added.
func (c *Coordinator) CheckProduce(id string, pid int64, epoch int16, tp TopicPartition) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.mu.txns[id]
	switch {
	case m == nil, m.producerID != pid:
		return kerr.InvalidProducerIDMapping
	case epoch < m.epoch:
		return kerr.InvalidProducerEpoch
	case m.state != Ongoing || !m.hasAll([]TopicPartition{tp}):
		return kerr.InvalidTxnState
	}
	return nil
}

// EndTxn serves EndTxn: PrepareCommit (or PrepareAbort) is written, then
// the markers, then CompleteCommit (CompleteAbort). It returns once the
// prepare is durable; when the markers fail the background retries them
// and the id answers CONCURRENT_TRANSACTIONS until they are written. A
// retry of a completed EndTxn succeeds.
func (c *Coordinator) EndTxn(ctx context.Context, id string, pid int64, epoch int16, commit bool) error {
	if err := c.Available(id); err != nil {
		return err
	}
	c.mu.Lock()
	m, err := c.checkProducerLocked(id, pid, epoch)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	switch {
	case m.state == CompleteCommit && commit, m.state == CompleteAbort && !commit:
		c.mu.Unlock()
		return nil
	case m.state != Ongoing:
		c.mu.Unlock()
		return kerr.InvalidTxnState
	}
	next := m.txnState.clone()
	m.pending = true
	c.mu.Unlock()
	next.state, next.update = PrepareAbort, c.now()
	if commit {
		next.state = PrepareCommit
	}
	if err := c.write(m, next, false); err != nil {
		return err
	}
	if c.cfg.testAfterPrepare != nil && c.cfg.testAfterPrepare() {
		return nil // a simulated crash: left prepared
	}
	c.complete(context.WithoutCancel(ctx), m)
	return nil
}

// fenceAndAbort aborts m's ongoing transaction with the epoch bumped, so
// that the producer that began it is fenced. Called with m.pending set.
func (c *Coordinator) fenceAndAbort(ctx context.Context, m *txnMeta) error {
	c.mu.Lock()
	next := m.txnState.clone()
	c.mu.Unlock()
	if next.epoch >= math.MaxInt16-1 {
		// No epoch left to fence with: abort with the current one; the
		// next InitProducerId moves to a new producer id.
		next.lastEpoch = next.epoch
	} else {
		next.lastEpoch, next.epoch = next.epoch, next.epoch+1
	}
	next.state, next.update = PrepareAbort, c.now()
	if err := c.write(m, next, false); err != nil {
		return err
	}
	c.complete(ctx, m)
	return nil
}

// complete writes m's markers, then its Complete state. Called with
// m.pending set; clears it. A failure leaves m prepared, for Tick to retry.
func (c *Coordinator) complete(ctx context.Context, m *txnMeta) {
	c.mu.Lock()
	st := m.txnState.clone()
	c.mu.Unlock()
	commit := st.state == PrepareCommit
	mk := Markers{TransactionalID: m.id, ProducerID: st.producerID, ProducerEpoch: st.epoch,
		Commit: commit, CoordinatorEpoch: c.coordinatorEpoch(m.part), Partitions: st.sortedPartitions()}
	if err := c.hooks.WriteMarkers(ctx, mk); err != nil {
		c.log.Warn("cannot write transaction markers; will retry", "transactional_id", m.id, "commit", commit, "err", err)
		c.clearPending(m)
		return
	}
	next := st
	next.state, next.partitions, next.update = CompleteAbort, nil, c.now()
	if commit {
		next.state = CompleteCommit
	}
	if next.nextProducerID >= 0 { // a v2 transaction exhausted the epoch: continue with the new id
		next.prevProducerID, next.producerID, next.nextProducerID = next.producerID, next.nextProducerID, -1
		next.lastEpoch, next.epoch = next.epoch, 0
	}
	if err := c.write(m, next, true); err != nil {
		c.log.Warn("cannot write transaction completion; will retry", "transactional_id", m.id, "err", err)
	}
}

// coordinatorEpoch is the leader epoch of the id's partition (Kafka's
// coordinator epoch): the one of its Elect in a cluster, else the local
// log's.
func (c *Coordinator) coordinatorEpoch(p int32) int32 {
	c.mu.Lock()
	pt := c.parts[p]
	epoch, l := pt.epoch, pt.log
	c.mu.Unlock()
	if epoch >= 0 {
		return epoch
	}
	if l != nil {
		return max(l.LeaderEpoch(), 0)
	}
	return 0
}

// EndTxnV2 serves EndTxn v5 (transactions v2, KIP-890 part 2): as EndTxn,
// but the producer epoch is bumped at every commit or abort. The prepare
// record carries the bumped epoch, the markers are written with it, and
// the producer continues with the returned producer id and epoch. When the
// epoch is exhausted (the bump reaches math.MaxInt16) the markers are
// written at that epoch and a new producer id, at epoch 0, is returned.
//
// A retry of a completed EndTxnV2 (the producer's epoch one behind, or its
// previous producer id after an exhausted epoch, with the same decision)
// answers the current producer id and epoch; one with the other decision
// is INVALID_TXN_STATE. An abort with no transaction
// open (Empty or Complete*: nothing was added, or every add failed) is
// allowed and bumps the epoch, as Kafka allows it for v2 clients; a commit
// then is INVALID_TXN_STATE.
func (c *Coordinator) EndTxnV2(ctx context.Context, id string, pid int64, epoch int16, commit bool) (int64, int16, error) {
	if err := c.Available(id); err != nil {
		return -1, -1, err
	}
	c.mu.Lock()
	m, retry, err := c.checkEndV2Locked(id, pid, epoch, commit)
	if err != nil || retry {
		c.mu.Unlock()
		if err != nil {
			return -1, -1, err
		}
		return m.producerID, m.epoch, nil
	}
	next := m.txnState.clone()
	m.pending = true
	c.mu.Unlock()
	if next.state != Ongoing { // an abort of nothing: no partition to mark
		next.partitions, next.start = nil, time.Time{}
	}
	next.lastEpoch, next.v2, next.update = next.epoch, true, c.now()
	if next.epoch >= math.MaxInt16-1 {
		npid, err := c.hooks.NewProducerID()
		if err != nil {
			c.clearPending(m)
			c.log.Error("cannot allocate producer id", "err", err)
			return -1, -1, kerr.KafkaStorageError
		}
		next.nextProducerID, next.epoch = npid, math.MaxInt16
	} else {
		next.epoch++
	}
	next.state = PrepareAbort
	if commit {
		next.state = PrepareCommit
	}
	if err := c.write(m, next, false); err != nil {
		return -1, -1, err
	}
	rpid, repoch := next.producerID, next.epoch
	if next.nextProducerID >= 0 {
		rpid, repoch = next.nextProducerID, 0
	}
	if c.cfg.testAfterPrepare != nil && c.cfg.testAfterPrepare() {
		return rpid, repoch, nil // a simulated crash: left prepared
	}
	c.complete(context.WithoutCancel(ctx), m)
	return rpid, repoch, nil
}

// checkEndV2Locked is EndTxnV2's check of the producer against id's
// state; retry reports a retry of the completed EndTxnV2 (m answers it).
func (c *Coordinator) checkEndV2Locked(id string, pid int64, epoch int16, commit bool) (m *txnMeta, retry bool, err error) {
	if c.mu.closed {
		return nil, false, kerr.NotCoordinator
	}
	m = c.mu.txns[id]
	switch {
	case m == nil:
		return nil, false, kerr.InvalidProducerIDMapping
	case m.pending, m.state == PrepareCommit, m.state == PrepareAbort, m.state == PrepareEpochFence:
		return nil, false, kerr.ConcurrentTransactions
	}
	done := m.state == CompleteCommit && commit || m.state == CompleteAbort && !commit
	bumped := pid == m.producerID && int(epoch)+1 == int(m.epoch) ||
		pid == m.prevProducerID && epoch == math.MaxInt16-1 && m.epoch == 0
	complete := m.state == CompleteCommit || m.state == CompleteAbort
	switch {
	case done && m.v2 && bumped:
		return m, true, nil
	case complete && m.v2 && bumped: // a retry with the other decision, as Kafka answers it
		return nil, false, kerr.InvalidTxnState
	case m.producerID != pid:
		return nil, false, kerr.InvalidProducerIDMapping
	case m.epoch != epoch:
		return nil, false, kerr.ProducerFenced
	case m.state == Ongoing, !commit && (m.state == Empty || m.state == CompleteCommit || m.state == CompleteAbort):
		return m, false, nil
	}
	return nil, false, kerr.InvalidTxnState
}
