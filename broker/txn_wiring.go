package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice/sluice/txn"
)

// The transaction coordinator of a Broker lives in Broker.tx. New opens it
// when __transaction_state already exists (so transactions are loaded, and
// prepared ones completed, at start-up); otherwise the first transactional
// request creates the topic and opens it, as Kafka does.
//
// Markers: the coordinator's WriteMarkers hook appends a COMMIT or ABORT
// control batch (partition.Log.AppendMarker) to every data partition of the
// transaction, concurrently; on a __consumer_offsets partition (a group
// added by AddOffsetsToTxn) the group coordinator then commits or drops
// the producer's pending offsets (group/txnoffsets.go). A partition deleted since the
// transaction began is skipped, as Kafka skips markers for unknown
// partitions; so is a marker older than the partition's producer epoch
// (a newer instance already ended the transaction there).

// txnEntry is one broker's transaction coordinator (coordentry.go).
type txnEntry = coordEntry[*txn.Coordinator, txn.Config]

var errTxnsClosed = errors.New("broker: transaction coordinator closed")

// loadTxns opens the coordinator at start-up if __transaction_state exists.
func (b *Broker) loadTxns() error {
	if b.topics.get(txn.TopicName) == nil {
		return nil
	}
	_, err := b.txns()
	return err
}

// txns returns the broker's transaction coordinator, opening it on first
// use.
func (b *Broker) txns() (*txn.Coordinator, error) {
	_ = b.awaitReady(startWait) // in a cluster: __transaction_state follows the image
	return b.tx.get(errTxnsClosed, func(cfg txn.Config) (func() (*txn.Coordinator, error), error) {
		if cfg.Logger == nil {
			cfg.Logger = b.log
		}
		cfg.LoadOnElection = b.cl != nil // coordinators.go
		t, err := b.txnStateTopic(cfg)   // not under the entry's mu (coordentry.go)
		if err != nil {
			return nil, err
		}
		return func() (*txn.Coordinator, error) {
			c, err := txn.Open(cfg, t.partitions, txn.Hooks{NewProducerID: b.producerIDs.next, WriteMarkers: b.writeMarkers})
			if err != nil {
				return nil, fmt.Errorf("broker: cannot open transaction coordinator: %w", err)
			}
			b.SetTxnVerifier(txnProduceVerifier{b, c})
			if b.cl != nil {
				b.electOn(txn.TopicName, c.Elect, c.Resign)
			}
			return c, nil
		}, nil
	})
}

// closeTxns stops the coordinator; later transactional requests get
// COORDINATOR_NOT_AVAILABLE. Idempotent.
func (b *Broker) closeTxns() error {
	e := &b.tx
	e.mu.Lock()
	c := e.c
	e.closed, e.c, e.cfg = true, nil, txn.Config{}
	e.mu.Unlock()
	b.SetTxnVerifier(nil)
	if c == nil {
		return nil
	}
	return c.Close()
}

// txnCoordinatorOr returns the coordinator, logging why it is unavailable.
func (b *Broker) txnCoordinatorOr() *txn.Coordinator {
	c, err := b.txns()
	if err != nil {
		if !errors.Is(err, errTxnsClosed) {
			b.log.Error("transaction coordinator unavailable", "err", err)
		}
		return nil
	}
	return c
}

// txnStateTopic returns __transaction_state, creating it compacted
// (transaction.state.log.* settings), with no time retention.
func (b *Broker) txnStateTopic(cfg txn.Config) (*topic, error) {
	if t := b.topics.get(txn.TopicName); t != nil {
		return t, nil
	}
	d := txn.DefaultConfig()
	if cfg.Partitions <= 0 {
		cfg.Partitions = d.Partitions
	}
	if cfg.SegmentBytes <= 0 {
		cfg.SegmentBytes = d.SegmentBytes
	}
	configs := map[string]string{
		"cleanup.policy":   "compact",
		"segment.bytes":    strconv.FormatInt(cfg.SegmentBytes, 10),
		"retention.ms":     "-1",
		"compression.type": "uncompressed",
	}
	t, _, err := b.createInternalTopic(txn.TopicName, cfg.Partitions, configs)
	return t, err
}

// writeMarkers is the coordinator's WriteMarkers hook: local partitions
// through writeOneMarker, partitions other brokers lead with
// WriteTxnMarkers to them (coordinators.go).
func (b *Broker) writeMarkers(ctx context.Context, m txn.Markers) error {
	if h := b.testBeforeMarkers; h != nil {
		if err := h(m); err != nil {
			return err
		}
	}
	if len(m.Partitions) == 1 && b.cl == nil {
		return b.writeLocalMarker(ctx, m, m.Partitions[0])
	}
	return b.writeMarkersSplit(ctx, m)
}

// writeLocalMarker ends m's transaction on tp, a partition this broker
// leads (writeOneMarker), after the testBeforeMarker hook.
func (b *Broker) writeLocalMarker(ctx context.Context, m txn.Markers, tp txn.TopicPartition) error {
	if h := b.testBeforeMarker; h != nil {
		if err := h(m, tp); err != nil {
			return err
		}
	}
	return b.markerResult(m, tp, b.writeOneMarker(ctx, m, tp))
}

// markerResult is the outcome of m's marker on tp given its error code: a
// partition that no longer exists, or that refuses the marker as stale, is
// skipped with a warning rather than retried for ever.
func (b *Broker) markerResult(m txn.Markers, tp txn.TopicPartition, code int16) error {
	switch code {
	case 0:
		return nil
	case kerr.UnknownTopicOrPartition.Code, kerr.InvalidProducerEpoch.Code, kerr.TransactionCoordinatorFenced.Code:
		b.log.Warn("transaction marker skipped", "topic", tp.Topic, "partition", tp.Partition,
			"producer_id", m.ProducerID, "err", kerr.ErrorForCode(code))
		return nil
	default:
		return fmt.Errorf("broker: cannot write marker to %s-%d: %w", tp.Topic, tp.Partition, kerr.ErrorForCode(code))
	}
}

// txnProduceVerifier is the Produce path's check of a transactional batch
// (TxnVerifier): the partition must be in the id's ongoing transaction.
// In a cluster, an id this broker does not coordinate is verified with
// the broker that does (verifyRemote).
type txnProduceVerifier struct {
	b *Broker
	c *txn.Coordinator
}

func (v txnProduceVerifier) VerifyTxnProduce(id, topic string, p int32, pid int64, epoch int16) int16 {
	if v.b.cl != nil {
		switch err := v.c.Available(id); {
		case errors.Is(err, kerr.NotCoordinator):
			if t := v.b.topics.get(topic); t != nil {
				if l := t.partition(p); l != nil && l.InTransaction(pid, epoch) {
					return 0 // verified at the transaction's first batch here
				}
			}
			return v.b.verifyRemote(id, topic, p, pid, epoch)
		case err != nil:
			return verifyCode(txn.ErrorCode(err))
		}
	}
	return txn.ErrorCode(v.c.CheckProduce(id, pid, epoch, txn.TopicPartition{Topic: topic, Partition: p}))
}

// Implicit adds (Produce v12) retry CONCURRENT_TRANSACTIONS, the previous
// transaction still completing, for up to implicitAddRetryFor, with a
// backoff doubling from 5 ms to 100 ms (Kafka's leader retries the
// verification likewise, add.partitions.to.txn.retry.backoff.*).
const (
	implicitAddRetryFor = 5 * time.Second
	implicitAddBackoff  = 5 * time.Millisecond
	implicitAddMaxWait  = 100 * time.Millisecond
)

// AddTxnPartitions is TxnAdder: the partitions join the transaction
// (txn.Coordinator.AddPartitions), the coordinator's errors converted as a
// Produce answers them.
func (v txnProduceVerifier) AddTxnPartitions(ctx context.Context, id string, pid int64, epoch int16, tps []TopicPartition) int16 {
	ttps := make([]txn.TopicPartition, len(tps))
	for i, tp := range tps {
		ttps[i] = txn.TopicPartition{Topic: tp.Topic, Partition: tp.Partition}
	}
	return produceAddCode(v.b.implicitAdd(ctx, v.c, id, pid, epoch, ttps))
}

// implicitAdd adds tps to id's transaction for a transactions v2 request
// (Produce v12, TxnOffsetCommit v5), retrying CONCURRENT_TRANSACTIONS; on
// the coordinator c, or in a cluster on the broker that coordinates id
// (coordinators.go).
func (b *Broker) implicitAdd(ctx context.Context, c *txn.Coordinator, id string, pid int64, epoch int16, tps []txn.TopicPartition) error {
	deadline := time.Now().Add(implicitAddRetryFor)
	wait := implicitAddBackoff
	for {
		var err error
		if b.cl != nil && errors.Is(c.Available(id), kerr.NotCoordinator) {
			err = b.addRemote(ctx, id, pid, epoch, tps)
		} else {
			err = c.AddPartitions(id, pid, epoch, tps)
		}
		if !errors.Is(err, kerr.ConcurrentTransactions) || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, implicitAddMaxWait)
	}
}

// produceAddCode converts the coordinator's answer to an implicit add into
// the code a Produce partition gets.
func produceAddCode(err error) int16 {
	switch code := txn.ErrorCode(err); code {
	case kerr.ProducerFenced.Code:
		return kerr.InvalidProducerEpoch.Code
	case kerr.ConcurrentTransactions.Code, kerr.CoordinatorNotAvailable.Code, kerr.NotCoordinator.Code,
		kerr.CoordinatorLoadInProgress.Code, kerr.KafkaStorageError.Code:
		return kerr.NotEnoughReplicas.Code
	default:
		return code
	}
}

// TransactionStates counts the transactional ids by state name (nil
// before the transaction coordinator is loaded), for metrics.
func (b *Broker) TransactionStates() map[string]int {
	b.tx.mu.Lock()
	c := b.tx.c
	b.tx.mu.Unlock()
	if c == nil {
		return nil
	}
	out := map[string]int{}
	for s, n := range c.States() {
		out[s.String()] = n
	}
	return out
}
