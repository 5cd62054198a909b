package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"

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
	return off, 0
}
