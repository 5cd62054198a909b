package broker

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/partition"
	"github.com/sluice/sluice/segment"
)

// TxnVerifier is the transaction coordinator's side of a transactional
// Produce (Kafka's AddPartitionsToTxn verification, KIP-890): it answers
// whether producerID/producerEpoch of transactionalID may write to the
// partition now (0) or the error code the partition gets
// (INVALID_TXN_STATE when the partition was not added to the transaction,
// PRODUCER_FENCED / INVALID_PRODUCER_EPOCH, …). It must be fast and safe
// for concurrent use; it runs before the append, once per partition.
type TxnVerifier interface {
	VerifyTxnProduce(transactionalID, topic string, partition int32, producerID int64, producerEpoch int16) int16
}

// TxnAdder is a TxnVerifier that can also add partitions to a
// transaction, for Produce v12 (transactions v2, KIP-890 part 2: the
// producer sends no AddPartitionsToTxn; the partition leader adds the
// partitions on the coordinator before the append). It answers 0 or the
// error code for every partition given: INVALID_PRODUCER_EPOCH (fenced),
// INVALID_PRODUCER_ID_MAPPING, INVALID_TXN_STATE, or NOT_ENOUGH_REPLICAS
// (retriable: the coordinator is unavailable or still completing the
// previous transaction), as Kafka's leader converts them. A verifier
// without it only verifies, as for v11.
type TxnAdder interface {
	AddTxnPartitions(ctx context.Context, transactionalID string, producerID int64, producerEpoch int16, tps []TopicPartition) int16
}

// TopicPartition names one partition (of a transaction).
type TopicPartition struct {
	Topic     string
	Partition int32
}

type txnVerifierBox struct{ v TxnVerifier }

// SetTxnVerifier installs the transaction coordinator's verifier; until
// one is set (or after SetTxnVerifier(nil)), transactional produce gets
// INVALID_TXN_STATE.
func (b *Broker) SetTxnVerifier(v TxnVerifier) {
	if v == nil {
		b.txnVerifier.Store(nil)
		return
	}
	b.txnVerifier.Store(&txnVerifierBox{v})
}

// checkTxn is the precheck of a partition of a Produce carrying a
// TransactionalID or a transactional batch.
func (j *produceJob) checkTxn(txnID *string) int16 {
	box := j.b.txnVerifier.Load()
	if box == nil {
		return kerr.InvalidTxnState.Code
	}
	h, err := segment.ParseHeader(j.records)
	if err != nil || h.Attributes&segment.AttrTransactional == 0 {
		// Malformed framing: Append gives the precise error. A plain batch
		// in a transactional producer's request: Append's producer-state
		// rules decide.
		return 0
	}
	if txnID == nil {
		return kerr.TransactionalIDAuthorizationFailed.Code
	}
	return box.v.VerifyTxnProduce(*txnID, j.topic, j.out.Partition, h.ProducerID, h.ProducerEpoch)
}

// WriteTxnMarker appends a transaction marker (COMMIT or ABORT) for the
// producer to topic/partition through partition.Log.AppendMarker, for the
// transaction coordinator (WriteTxnMarkers). It returns the marker's offset
// and 0, or -1 and the partition's Kafka error code
// (UNKNOWN_TOPIC_OR_PARTITION, INVALID_PRODUCER_EPOCH,
// TRANSACTION_COORDINATOR_FENCED, KAFKA_STORAGE_ERROR, …).
func (b *Broker) WriteTxnMarker(topic string, part int32, producerID int64, producerEpoch int16,
	commit bool, coordinatorEpoch int32) (int64, int16) {
	t := b.topics.get(topic)
	var l *partition.Log
	if t != nil {
		l = t.partition(part)
	}
	if l == nil {
		return -1, t.missingCode(part)
	}
	off, err := l.AppendMarker(producerID, producerEpoch, commit, coordinatorEpoch)
	if err != nil {
		return -1, errorCode(err)
	}
	// As Kafka's append with acks=all: the coordinator completes the
	// transaction only once the marker is on every in-sync replica, so a
	// new leader never lacks it. On time-out it writes the marker again
	// (a marker with no open transaction changes nothing).
	if !l.AwaitHighWatermark(off, markerCommitTimeout) {
		return -1, kerr.RequestTimedOut.Code
	}
	return off, 0
}

// markerCommitTimeout bounds the wait for a marker to reach the ISR.
const markerCommitTimeout = 5 * time.Second

// implicitTxnAdds adds to the transaction, in one call, every partition
// of a Produce v12+ request that carries a transactional batch and passes
// the request's other checks (transactions v2: no AddPartitionsToTxn came
// before). It returns the error code of the partitions the add failed
// for (nil when it succeeded or nothing was to add); the per-partition
// verification (checkTxn) then runs as for older versions.
func (b *Broker) implicitTxnAdds(ctx context.Context, r *request, req *kmsg.ProduceRequest, txnDenied int16) map[TopicPartition]int16 {
	box := b.txnVerifier.Load()
	acksOK := req.Acks == 0 || req.Acks == 1 || req.Acks == -1
	if req.Version < 12 || req.TransactionID == nil || txnDenied != 0 || box == nil || !acksOK {
		return nil
	}
	adder, ok := box.v.(TxnAdder)
	if !ok {
		return nil
	}
	var tps []TopicPartition
	pid, epoch := int64(-1), int16(-1)
	for _, rt := range req.Topics {
		t := b.topics.get(rt.Topic)
		if t == nil || t.internal() || b.denied(r, &chkProduceTopic, rt.Topic) != 0 {
			continue
		}
		for _, rp := range rt.Partitions {
			if t.partition(rp.Partition) == nil || !hasTransactionalBatch(rp.Records) {
				continue
			}
			h, err := segment.ParseHeader(rp.Records)
			if err != nil {
				continue
			}
			pid, epoch = h.ProducerID, h.ProducerEpoch
			tps = append(tps, TopicPartition{rt.Topic, rp.Partition})
		}
	}
	if len(tps) == 0 {
		return nil
	}
	code := adder.AddTxnPartitions(ctx, *req.TransactionID, pid, epoch, tps)
	if code == 0 {
		return nil
	}
	failed := make(map[TopicPartition]int16, len(tps))
	for _, tp := range tps {
		failed[tp] = code
	}
	return failed
}
