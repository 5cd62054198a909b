package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/group"
	"github.com/sluice/sluice/netio"
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
// * The producer is not checked against the transaction (Kafka before
//   KIP-890 part 2 does not either): the client sends AddOffsetsToTxn
//   first, which is.

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
			o := group.Offset{Offset: p.Offset, LeaderEpoch: -1}
			if r.version >= 2 {
				o.LeaderEpoch = p.LeaderEpoch
			}
			if p.Metadata != nil {
				o.Metadata = *p.Metadata
			}
			cr.Offsets[group.TopicPartition{Topic: t.Topic, Partition: p.Partition}] = o
		}
	}
	errs := map[group.TopicPartition]error{}
	if len(cr.Offsets) > 0 {
		if c := b.coordinatorOr(); c == nil {
			for tp := range cr.Offsets {
				errs[tp] = kerr.CoordinatorNotAvailable
			}
		} else {
			errs = c.TxnCommit(ctx, cr)
		}
	}
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
