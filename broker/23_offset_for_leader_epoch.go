package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/partition"
)

// OffsetForLeaderEpoch: v0-4
//
// Behavior:
// * With an authorizer: DESCRIBE on each topic (consumers, ReplicaID -1),
//   else TOPIC_AUTHORIZATION_FAILED per partition; a replica (v3+
//   ReplicaID >= 0) needs CLUSTER_ACTION on the cluster, else
//   CLUSTER_AUTHORIZATION_FAILED per partition.
// * With a controller, a partition this broker does not lead (metadata
//   image) gets NOT_LEADER_OR_FOLLOWER, and a CurrentLeaderEpoch is
//   checked against the image's leader epoch (older: FENCED_LEADER_EPOCH,
//   newer: UNKNOWN_LEADER_EPOCH) instead of the log's.
// * For each partition, the end offset of the largest leader epoch <= the
//   requested one, and that epoch (v1+), from Log.EndOffsetForEpoch;
//   consumers use it to detect log truncation (KIP-320).
// * CurrentLeaderEpoch (v2+) older than the log's: FENCED_LEADER_EPOCH;
//   newer: UNKNOWN_LEADER_EPOCH. Errors from the log map through
//   errors.go; with an error, LeaderEpoch and EndOffset are -1.
// * Unknown topics or partitions: UNKNOWN_TOPIC_OR_PARTITION. ReplicaID
//   (v3+) is not checked: followers use Fetch's DivergingEpoch (KIP-320),
//   and this API only to realign a log that ends inside one of the
//   leader's batches (replica_fetcher.go), so any replica id is answered
//   as a consumer is.

func init() { register(23, 0, 4, handleOffsetForLeaderEpoch) }

func handleOffsetForLeaderEpoch(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	var replicaDenied int16
	if r.version >= 3 && req.ReplicaID >= 0 {
		replicaDenied = b.denied(r, &chkEpochReplica, "")
	}
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		t := b.topics.get(rt.Topic)
		denied := replicaDenied
		if denied == 0 && !(r.version >= 3 && req.ReplicaID >= 0) {
			denied = b.denied(r, &chkEpochTopic, rt.Topic)
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			var l *partition.Log
			if t != nil {
				l = t.partition(rp.Partition)
			}
			if denied != 0 {
				sp.ErrorCode = denied
			} else if l == nil {
				sp.ErrorCode = t.missingCode(rp.Partition)
			} else if r.version < 2 {
				endOffsetForEpoch(l, false, rp, &sp)
			} else if sp.ErrorCode = t.imageEpochCode(rp.Partition, &rp.CurrentLeaderEpoch); sp.ErrorCode == 0 {
				endOffsetForEpoch(l, true, rp, &sp)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return r.respond(resp), nil
}

func endOffsetForEpoch(l *partition.Log, checkCurrent bool, rp kmsg.OffsetForLeaderEpochRequestTopicPartition,
	sp *kmsg.OffsetForLeaderEpochResponseTopicPartition) {
	if sp.ErrorCode = checkLeaderEpoch(checkCurrent, rp.CurrentLeaderEpoch, l.LeaderEpoch()); sp.ErrorCode != 0 {
		return
	}
	end, epoch, err := l.EndOffsetForEpoch(rp.LeaderEpoch)
	if err != nil {
		sp.ErrorCode = errorCode(err)
		return
	}
	sp.EndOffset, sp.LeaderEpoch = end, epoch
}
