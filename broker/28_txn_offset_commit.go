package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/group"
	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/txn"
)

// TxnOffsetCommit: v0-5 (v5, KIP-890 part 2, differs only by an error
// code TRANSACTION_ABORTABLE that transactions v1 never answer)
//
// Behavior:
// * The offsets are appended to the group's __consumer_offsets partition
//   as a transactional batch of the producer before the response, and are
//   pending until the transaction ends: EndTxn's COMMIT marker there makes
//   them the group's offsets, an ABORT drops them (group/txnoffsets.go).
//   Until then OffsetFetch with RequireStable answers
//   UNSTABLE_OFFSET_COMMIT for those partitions.
// * v3+ with a member id and generation: checked as OffsetCommit checks
//   them (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID);
//   generation -1 skips the check.
// * Unknown topics or partitions: UNKNOWN_TOPIC_OR_PARTITION each;
//   metadata over offset.metadata.max.bytes: OFFSET_METADATA_TOO_LARGE.
// * With an authorizer (authz.go), as Kafka: WRITE on the transactional
//   id, else every partition gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
//   READ on the group, else every partition gets GROUP_AUTHORIZATION_FAILED;
//   READ on each topic, else its partitions get TOPIC_AUTHORIZATION_FAILED
//   (before existence is looked at). Only the authorized offsets are
//   written.
// * v0-4: the producer is not checked against the transaction: the
//   client sends AddOffsetsToTxn first, which is.
// * v5 is transactions v2 (KIP-890 part 2): the client sends no
//   AddOffsetsToTxn, so the group's __consumer_offsets partition is first
//   added to the transaction on the coordinator (retrying
//   CONCURRENT_TRANSACTIONS for a while). If that fails every partition
//   gets the error: INVALID_PRODUCER_EPOCH (fenced),
//   INVALID_PRODUCER_ID_MAPPING, TRANSACTION_ABORTABLE (no transaction
//   to add to) or COORDINATOR_NOT_AVAILABLE (retriable).

func init() { register(28, 0, 5, handleTxnOffsetCommit) }

func handleTxnOffsetCommit(ctx context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.TxnOffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	cr := group.TxnCommitRequest{Group: req.Group, Generation: -1, ProducerID: req.ProducerID,
		ProducerEpoch: req.ProducerEpoch, Offsets: map[group.TopicPartition]group.Offset{}}
	if r.version >= 3 {
		cr.MemberID, cr.Generation, cr.InstanceID = req.MemberID, req.Generation, req.InstanceID
	}
	var whole int16 // an error for every partition
	switch {
	case !b.allowed(r, &chkTxnCommitTxn, req.TransactionalID):
		whole = chkTxnCommitTxn.err.Code
	case !b.allowed(r, &chkTxnCommitGroup, req.Group):
		whole = chkTxnCommitGroup.err.Code
	}
	if whole == 0 && r.version >= 5 {
		whole = b.implicitOffsetsAdd(ctx, req)
	}
	topicDenied := map[string]bool{}
	for _, t := range req.Topics {
		if whole != 0 {
			break
		}
		if !b.allowed(r, &chkTxnCommitTopic, t.Topic) {
			topicDenied[t.Topic] = true
			continue
		}
		for _, p := range t.Partitions {
			if !b.partitionExists(t.Topic, p.Partition) {
				continue
			}
			cr.Offsets[group.TopicPartition{Topic: t.Topic, Partition: p.Partition}] =
				commitOffset(p.Offset, p.LeaderEpoch, r.version >= 2, p.Metadata)
		}
	}
	errs := b.commitVia(cr.Offsets, func(c *group.Coordinator) map[group.TopicPartition]error { return c.TxnCommit(ctx, cr) })
	for _, t := range req.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			tp := group.TopicPartition{Topic: t.Topic, Partition: p.Partition}
			_, ok := cr.Offsets[tp]
			switch {
			case whole != 0:
				rp.ErrorCode = whole
			case topicDenied[t.Topic]:
				rp.ErrorCode = chkTxnCommitTopic.err.Code
			case !ok:
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				rp.ErrorCode = group.ErrorCode(errs[tp])
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return r.respond(resp), nil
}

// implicitOffsetsAdd adds the group's __consumer_offsets partition to the
// transaction for a TxnOffsetCommit v5 (transactions v2) and returns the
// error code every partition gets when that fails.
func (b *Broker) implicitOffsetsAdd(ctx context.Context, req *kmsg.TxnOffsetCommitRequest) int16 {
	gc, tc := b.coordinatorOr(), b.txnCoordinatorOr()
	if gc == nil || tc == nil {
		return kerr.CoordinatorNotAvailable.Code
	}
	tp := txn.TopicPartition{Topic: group.TopicName, Partition: group.PartitionFor(req.Group, gc.Partitions())}
	err := b.implicitAdd(ctx, tc, req.TransactionalID, req.ProducerID, req.ProducerEpoch, []txn.TopicPartition{tp})
	switch code := txn.ErrorCode(err); code {
	case kerr.ProducerFenced.Code:
		return kerr.InvalidProducerEpoch.Code
	case kerr.InvalidTxnState.Code:
		return kerr.TransactionAbortable.Code
	case kerr.ConcurrentTransactions.Code, kerr.NotCoordinator.Code, kerr.CoordinatorLoadInProgress.Code, kerr.KafkaStorageError.Code:
		return kerr.CoordinatorNotAvailable.Code
	default:
		return code
	}
}
