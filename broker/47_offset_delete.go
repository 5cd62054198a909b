package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/group"
	"github.com/sluice/sluice/netio"
)

// OffsetDelete: v0
//
// Behavior:
// * With an authorizer: DELETE on the group, else GROUP_AUTHORIZATION_FAILED;
//   READ on each topic, else its partitions get TOPIC_AUTHORIZATION_FAILED.
// * Deletes committed offsets of an Empty group; in a consumer group with
//   members, partitions of topics it is subscribed to get
//   GROUP_SUBSCRIBED_TO_TOPIC (a non-consumer group with members:
//   NON_EMPTY_GROUP). Unknown group: GROUP_ID_NOT_FOUND; unknown topic or
//   partition: UNKNOWN_TOPIC_OR_PARTITION each.

func init() { register(47, 0, 0, handleOffsetDelete) }

func handleOffsetDelete(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.OffsetDeleteRequest)
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if resp.ErrorCode = b.denied(r, &chkOffDelGroup, req.Group); resp.ErrorCode != 0 {
		return r.respond(resp), nil
	}
	c := b.coordinatorOr()
	if c == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return r.respond(resp), nil
	}
	var tps []group.TopicPartition
	denied := map[string]int16{}
	for _, t := range req.Topics {
		denied[t.Topic] = b.denied(r, &chkOffDelTopic, t.Topic)
		for _, p := range t.Partitions {
			if denied[t.Topic] == 0 && b.partitionExists(t.Topic, p.Partition) {
				tps = append(tps, group.TopicPartition{Topic: t.Topic, Partition: p.Partition})
			}
		}
	}
	errs, err := c.DeleteOffsets(req.Group, tps)
	if err != nil {
		resp.ErrorCode = group.ErrorCode(err)
		return r.respond(resp), nil
	}
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			if e, ok := errs[group.TopicPartition{Topic: t.Topic, Partition: p.Partition}]; ok {
				rp.ErrorCode = group.ErrorCode(e)
			} else if rp.ErrorCode = kerr.UnknownTopicOrPartition.Code; denied[t.Topic] != 0 {
				rp.ErrorCode = denied[t.Topic]
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return r.respond(resp), nil
}
