package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/group"
	"github.com/sluice/sluice/netio"
)

// OffsetCommit: v0-9
//
// Behavior:
// * Offsets are appended to __consumer_offsets before the response.
// * Partitions of unknown topics, or beyond a topic's partitions:
//   UNKNOWN_TOPIC_OR_PARTITION each; metadata over 4096 bytes:
//   OFFSET_METADATA_TOO_LARGE each.
// * v0 commits, and commits with generation -1 and no member id, are
//   allowed to a group without members (created if new); otherwise the
//   member and generation must be current (UNKNOWN_MEMBER_ID,
//   ILLEGAL_GENERATION, FENCED_INSTANCE_ID) and the group not awaiting its
//   assignment (REBALANCE_IN_PROGRESS); a new group with generation >= 0 is
//   ILLEGAL_GENERATION.
// * Retention (v2-4 RetentionTimeMillis, v1 per-partition timestamps) is
//   ignored: offsets expire by offsets.retention.minutes once the group is
//   Empty (Kafka 2.1+).
// * With an authorizer: READ on the group, else every partition gets
//   GROUP_AUTHORIZATION_FAILED; READ on each topic, else its partitions get
//   TOPIC_AUTHORIZATION_FAILED (before UNKNOWN_TOPIC_OR_PARTITION).

func init() { register(8, 0, 9, handleOffsetCommit) }

func handleOffsetCommit(ctx context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.OffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	cr := group.CommitRequest{Group: req.Group, MemberID: req.MemberID, Generation: req.Generation,
		Offsets: map[group.TopicPartition]group.Offset{}}
	if r.version == 0 {
		cr.Generation, cr.MemberID = -1, ""
	}
	if r.version >= 7 {
		cr.InstanceID = req.InstanceID
	}
	denied := map[string]int16{}
	groupDenied := b.denied(r, &chkCommitGroup, req.Group)
	for _, t := range req.Topics {
		if denied[t.Topic] = groupDenied; groupDenied == 0 {
			denied[t.Topic] = b.denied(r, &chkCommitTopic, t.Topic)
		}
		for _, p := range t.Partitions {
			if denied[t.Topic] != 0 || !b.partitionExists(t.Topic, p.Partition) {
				continue
			}
			cr.Offsets[group.TopicPartition{Topic: t.Topic, Partition: p.Partition}] =
				commitOffset(p.Offset, p.LeaderEpoch, r.version >= 6, p.Metadata)
		}
	}
	errs := b.commitVia(cr.Offsets, func(c *group.Coordinator) map[group.TopicPartition]error { return c.Commit(ctx, cr) })
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			tp := group.TopicPartition{Topic: t.Topic, Partition: p.Partition}
			if _, ok := cr.Offsets[tp]; !ok {
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				if denied[t.Topic] != 0 {
					rp.ErrorCode = denied[t.Topic]
				}
			} else {
				rp.ErrorCode = group.ErrorCode(errs[tp])
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return r.respond(resp), nil
}

// commitOffset is one partition's offset to commit; the leader epoch is
// kept only where the request version carries it (else -1).
func commitOffset(offset int64, leaderEpoch int32, hasEpoch bool, metadata *string) group.Offset {
	o := group.Offset{Offset: offset, LeaderEpoch: -1}
	if hasEpoch {
		o.LeaderEpoch = leaderEpoch
	}
	if metadata != nil {
		o.Metadata = *metadata
	}
	return o
}

// commitVia runs commit on the group coordinator for offsets (OffsetCommit
// or TxnOffsetCommit), or answers COORDINATOR_NOT_AVAILABLE for each of
// them when there is none; nothing to commit asks nothing.
func (b *Broker) commitVia(offsets map[group.TopicPartition]group.Offset,
	commit func(*group.Coordinator) map[group.TopicPartition]error) map[group.TopicPartition]error {
	errs := map[group.TopicPartition]error{}
	if len(offsets) == 0 {
		return errs
	}
	c := b.coordinatorOr()
	if c == nil {
		for tp := range offsets {
			errs[tp] = kerr.CoordinatorNotAvailable
		}
		return errs
	}
	return commit(c)
}
