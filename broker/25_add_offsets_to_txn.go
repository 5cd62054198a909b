package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/group"
	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/txn"
)

// AddOffsetsToTxn: v0-4
//
// Behavior:
// * The group's __consumer_offsets partition joins the transaction (as
//   AddPartitionsToTxn does for a data partition), so that EndTxn
//   completes the offsets TxnOffsetCommit leaves pending for the group.
//   Errors as AddPartitionsToTxn's (PRODUCER_FENCED is
//   INVALID_PRODUCER_EPOCH before v2); an empty group id is
//   INVALID_GROUP_ID; COORDINATOR_NOT_AVAILABLE when either coordinator
//   cannot be loaded.
// * With an authorizer (authz.go), as Kafka: WRITE on the transactional id
//   (else TRANSACTIONAL_ID_AUTHORIZATION_FAILED), then READ on the group
//   (else GROUP_AUTHORIZATION_FAILED).

func init() { register(25, 0, 4, handleAddOffsetsToTxn) }

func handleAddOffsetsToTxn(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.AddOffsetsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	gc, tc := b.coordinatorOr(), b.txnCoordinatorOr()
	switch {
	case !b.allowed(r, &chkAddOffsetsTxn, req.TransactionalID):
		resp.ErrorCode = chkAddOffsetsTxn.err.Code
	case !b.allowed(r, &chkAddOffsetsGroup, req.Group):
		resp.ErrorCode = chkAddOffsetsGroup.err.Code
	case req.Group == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
	case gc == nil || tc == nil:
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
	default:
		tp := txn.TopicPartition{Topic: group.TopicName, Partition: group.PartitionFor(req.Group, gc.Partitions())}
		err := tc.AddPartitions(req.TransactionalID, req.ProducerID, req.ProducerEpoch, []txn.TopicPartition{tp})
		resp.ErrorCode = fencedCode(err, r.version >= 2)
	}
	return r.respond(resp), nil
}
