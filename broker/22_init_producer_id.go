package broker

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/txn"
)

// InitProducerID: v0-5
//
// Behavior:
// * With an authorizer: a transactional id needs WRITE on it, else
//   TRANSACTIONAL_ID_AUTHORIZATION_FAILED; an idempotent producer needs
//   IDEMPOTENT_WRITE on the cluster or WRITE on some topic (Kafka 3.x,
//   KIP-679), else CLUSTER_AUTHORIZATION_FAILED.
// * Without a TransactionalID (idempotent producer): a new producer id
//   with epoch 0, every time — also when (v3+) the producer sends its
//   current id and epoch to bump after an error, as Kafka does for
//   non-transactional producers. Ids are never reused, even across
//   restarts (files.go: producer-id-block) and, in a cluster, across
//   brokers: blocks come from the active controller (AllocateProducerIds,
//   67_allocate_producer_ids.go); while none can be had (not registered
//   yet, no controller) the answer is COORDINATOR_LOAD_IN_PROGRESS, which
//   clients retry, as Kafka's RPCProducerIdManager answers.
// * v3+: ProducerID and ProducerEpoch must both be -1 or both be set, else
//   INVALID_REQUEST, as in Kafka.
// * With a TransactionalID: the transaction coordinator's answer
//   (txn.Coordinator.InitProducerID): a new id with epoch 0 for a new
//   transactional id, else the epoch bumped, fencing the previous
//   instance after aborting its ongoing transaction;
//   TransactionTimeoutMillis above transaction.max.timeout.ms (or <= 0) is
//   INVALID_TRANSACTION_TIMEOUT; CONCURRENT_TRANSACTIONS while the id's
//   transaction is completing; a ProducerID/Epoch (v3+) that is not the
//   current one is PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before v4, as
//   Kafka maps it for older clients). An empty TransactionalID is
//   INVALID_REQUEST.

func init() { register(22, 0, 5, handleInitProducerID) }

func handleInitProducerID(ctx context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = b.denied(r, &chkInitPIDTxn, *req.TransactionalID)
	} else {
		resp.ErrorCode = b.denied(r, &chkInitPIDIdem, "")
	}
	switch {
	case resp.ErrorCode != 0:
	case r.version >= 3 && (req.ProducerID == -1) != (req.ProducerEpoch == -1):
		resp.ErrorCode = kerr.InvalidRequest.Code
	case req.TransactionalID != nil && *req.TransactionalID == "":
		resp.ErrorCode = kerr.InvalidRequest.Code
	case req.TransactionalID != nil:
		resp.ProducerID, resp.ProducerEpoch, resp.ErrorCode = b.initTransactional(ctx, r.version, req)
	default:
		id, err := b.producerIDs.next()
		if errors.Is(err, errNoProducerIDs) {
			b.log.Warn("cannot allocate producer id", "err", err)
			resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code // retriable, as Kafka while it waits for a block
			break
		}
		if err != nil {
			b.log.Error("cannot allocate producer id", "err", err)
			resp.ErrorCode = kerr.KafkaStorageError.Code // no Kafka code fits better
			break
		}
		resp.ProducerID, resp.ProducerEpoch = id, 0
	}
	return r.respond(resp), nil
}

func (b *Broker) initTransactional(ctx context.Context, version int16, req *kmsg.InitProducerIDRequest) (int64, int16, int16) {
	tc := b.txnCoordinatorOr()
	if tc == nil {
		return -1, -1, kerr.CoordinatorNotAvailable.Code
	}
	pid, epoch := int64(-1), int16(-1)
	if version >= 3 {
		pid, epoch = req.ProducerID, req.ProducerEpoch
	}
	pid, epoch, err := tc.InitProducerID(ctx, *req.TransactionalID, millis(req.TransactionTimeoutMillis), pid, epoch)
	if err != nil {
		return -1, -1, fencedCode(err, version >= 4)
	}
	return pid, epoch, 0
}

// fencedCode is the error code of a transaction coordinator's error,
// PRODUCER_FENCED becoming INVALID_PRODUCER_EPOCH for request versions
// older than KIP-588's (InitProducerId v4, AddPartitionsToTxn v2,
// AddOffsetsToTxn v2, EndTxn v2, TxnOffsetCommit v3), as Kafka maps it.
func fencedCode(err error, newVersion bool) int16 {
	code := txn.ErrorCode(err)
	if code == kerr.ProducerFenced.Code && !newVersion {
		return kerr.InvalidProducerEpoch.Code
	}
	return code
}
