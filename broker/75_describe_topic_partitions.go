package broker

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/acl"
	"github.com/sluice/sluice/netio"
)

// DescribeTopicPartitions: v0 (KIP-966; Kafka 3.7+ admin clients describe
// topics with it)
//
// Behavior:
// * Topics: the named ones, or every topic the principal may DESCRIBE for
//   an empty list, in name order. A named topic that does not exist gets
//   UNKNOWN_TOPIC_OR_PARTITION, one the principal may not DESCRIBE
//   TOPIC_AUTHORIZATION_FAILED (whether it exists or not), as Kafka.
// * Partitions as Metadata describes them (leader, leader epoch, replicas,
//   ISR, offline replicas, LEADER_NOT_AVAILABLE without a leader), plus
//   EligibleLeaderReplicas and LastKnownElr from the metadata image (empty
//   without a controller or with eligible.leader.replicas.enable off).
// * Paging as Kafka's: at most ResponsePartitionLimit partitions (capped at
//   2000, Kafka's describe.topic.partitions.response.max.partitions
//   default; ≤ 0 means the cap); Cursor starts at a topic and partition
//   (topics before it are skipped; a cursor topic missing from a non-empty
//   list gets every requested topic INVALID_REQUEST); when partitions are
//   left, NextCursor names the first of them.
// * TopicAuthorizedOperations: the bit field of the topic operations the
//   principal may perform (all of them without an authorizer).

func init() { register(75, 0, 0, handleDescribeTopicPartitions) }

// describeTopicPartitionsMax is Kafka's
// describe.topic.partitions.response.max.partitions default.
const describeTopicPartitionsMax = 2000

func handleDescribeTopicPartitions(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.DescribeTopicPartitionsRequest)
	_ = b.awaitReady(startWait)
	names := make([]string, 0, len(req.Topics))
	for _, rt := range req.Topics {
		names = append(names, rt.Topic)
	}
	all := len(names) == 0
	if all {
		for _, t := range b.topics.all() {
			if b.allowed(r, &chkDescTopicParts, t.name) {
				names = append(names, t.name)
			}
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	resp := req.ResponseKind().(*kmsg.DescribeTopicPartitionsResponse)
	if c := req.Cursor; c != nil && !all && !slices.Contains(names, c.Topic) {
		// Kafka's error response: every requested topic, with the code.
		for _, name := range names {
			dt := kmsg.NewDescribeTopicPartitionsResponseTopic()
			dt.Topic, dt.ErrorCode = &name, kerr.InvalidRequest.Code
			resp.Topics = append(resp.Topics, dt)
		}
		return r.respond(resp), nil
	}
	limit := int(req.ResponsePartitionLimit)
	if limit <= 0 || limit > describeTopicPartitionsMax {
		limit = describeTopicPartitionsMax
	}
	for _, name := range names {
		first := int32(0)
		if c := req.Cursor; c != nil {
			if cmp := strings.Compare(name, c.Topic); cmp < 0 {
				continue
			} else if cmp == 0 {
				first = max(c.Partition, 0)
			}
		}
		if limit == 0 {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: first}
			break
		}
		dt, next := b.describeTopicPartitions(r, name, first, limit)
		limit -= len(dt.Partitions)
		resp.Topics = append(resp.Topics, dt)
		if next >= 0 {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: next}
			break
		}
	}
	return r.respond(resp), nil
}

// describeTopicPartitions describes topic name's partitions from first,
// at most limit of them, and returns the next partition left out (-1 if
// none).
func (b *Broker) describeTopicPartitions(r *request, name string, first int32, limit int) (kmsg.DescribeTopicPartitionsResponseTopic, int32) {
	dt := kmsg.NewDescribeTopicPartitionsResponseTopic()
	dt.Topic = &name
	dt.IsInternal = isInternalTopic(name)
	if dt.ErrorCode = b.denied(r, &chkDescTopicParts, name); dt.ErrorCode != 0 {
		return dt, -1
	}
	t := b.topics.get(name)
	if t == nil {
		dt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return dt, -1
	}
	mt := b.topicMetadata(t)
	dt.TopicID, dt.IsInternal = mt.TopicID, mt.IsInternal
	dt.AuthorizedOperations = b.authorizedOps(r, acl.Topic, name)
	for _, mp := range mt.Partitions {
		if mp.Partition < first {
			continue
		}
		if len(dt.Partitions) == limit {
			return dt, mp.Partition
		}
		dp := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
		dp.ErrorCode, dp.Partition = mp.ErrorCode, mp.Partition
		dp.LeaderID, dp.LeaderEpoch = mp.Leader, mp.LeaderEpoch
		dp.Replicas, dp.ISR, dp.OfflineReplicas = mp.Replicas, mp.ISR, mp.OfflineReplicas
		dp.EligibleLeaderReplicas, dp.LastKnownELR = []int32{}, []int32{}
		if t.meta != nil && int(mp.Partition) < len(t.meta.Partitions) {
			ip := t.meta.Partitions[mp.Partition]
			dp.EligibleLeaderReplicas = append(dp.EligibleLeaderReplicas, ip.EligibleLeaderReplicas...)
			dp.LastKnownELR = append(dp.LastKnownELR, ip.LastKnownElr...)
		}
		dt.Partitions = append(dt.Partitions, dp)
	}
	return dt, -1
}
