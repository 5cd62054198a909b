package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
)

// EndTxn: v0-5
//
// Behavior:
// * Commit or abort: PrepareCommit/PrepareAbort is written to
//   __transaction_state, then a marker to every partition of the
//   transaction (the group offsets of AddOffsetsToTxn are materialised or
//   discarded), then CompleteCommit/CompleteAbort; the response follows.
//   If markers cannot be written, the response still succeeds (the
//   prepare is durable) and the coordinator retries them; meanwhile the
//   id answers CONCURRENT_TRANSACTIONS.
// * A retry of a completed EndTxn succeeds; the opposite decision, or no
//   transaction, is INVALID_TXN_STATE. INVALID_PRODUCER_ID_MAPPING,
//   PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before v2) and
//   CONCURRENT_TRANSACTIONS as for AddPartitionsToTxn.
// * v5 is transactions v2 (KIP-890 part 2), whatever transaction.version
//   is finalized (Kafka too decides by the request version): the
//   coordinator bumps the producer epoch at every commit and abort, the
//   prepare record and the markers carry the bumped epoch, and the
//   response's ProducerId/ProducerEpoch are what the producer continues
//   with (a new producer id at epoch 0 once the epoch is exhausted); -1 on
//   an error. A retry with the epoch before the bump answers the current
//   ones. An abort with no transaction open is allowed (and bumps); see
//   txn.Coordinator.EndTxnV2. v0-4 never bump.
// * With an authorizer (authz.go): WRITE on the transactional id, else
//   TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as Kafka.

func init() { register(26, 0, 5, handleEndTxn) }

func handleEndTxn(ctx context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.EndTxnRequest)
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	if !b.allowed(r, &chkEndTxn, req.TransactionalID) {
		resp.ErrorCode = chkEndTxn.err.Code
		return r.respond(resp), nil
	}
	tc := b.txnCoordinatorOr()
	if tc == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return r.respond(resp), nil
	}
	if r.version >= 5 {
		pid, epoch, err := tc.EndTxnV2(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit)
		resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = fencedCode(err, true), pid, epoch
		return r.respond(resp), nil
	}
	err := tc.EndTxn(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit)
	resp.ErrorCode = fencedCode(err, r.version >= 2)
	return r.respond(resp), nil
}
