package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
)

// EndTxn: v0-4
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
// * With an authorizer (authz.go): WRITE on the transactional id, else
//   TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as Kafka.
// * v5 is not served: it means transactions v2 (KIP-890 part 2: Kafka
//   bumps the epoch at every EndTxn v5 and answers the new one), which
//   Sluice does not implement; clients then run transactions v1.

func init() { register(26, 0, 4, handleEndTxn) }

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
	err := tc.EndTxn(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit)
	resp.ErrorCode = fencedCode(err, r.version >= 2)
	return r.respond(resp), nil
}
