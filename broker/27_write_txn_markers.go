package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/group"
	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/txn"
)

// WriteTxnMarkers: v1 (v0 went with Kafka 4.0, KIP-896)
//
// Behavior:
// * Sent by a transaction coordinator to the partitions' leaders (on one
//   node the coordinator writes its own markers without it; served for
//   tools and for the cluster to come): each marker is appended to each
//   partition as the coordinator's own are (a __consumer_offsets
//   partition then commits or drops the producer's pending offsets). Per partition:
//   UNKNOWN_TOPIC_OR_PARTITION, INVALID_PRODUCER_EPOCH (older than the
//   partition's producer epoch), TRANSACTION_COORDINATOR_FENCED, or
//   KAFKA_STORAGE_ERROR.
// * With an authorizer (authz.go): CLUSTER_ACTION on the cluster, else
//   every partition gets CLUSTER_AUTHORIZATION_FAILED and nothing is
//   written, as Kafka.

func init() { register(27, 1, 1, handleWriteTxnMarkers) }

func handleWriteTxnMarkers(ctx context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.WriteTxnMarkersRequest)
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	denied := !b.allowed(r, &chkWriteMarkers, "")
	for _, m := range req.Markers {
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		mk := txn.Markers{ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch, Commit: m.Committed, CoordinatorEpoch: m.CoordinatorEpoch}
		for _, t := range m.Topics {
			rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition = p
				if denied {
					rp.ErrorCode = chkWriteMarkers.err.Code
				} else {
					rp.ErrorCode = b.writeOneMarker(ctx, mk, txn.TopicPartition{Topic: t.Topic, Partition: p})
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	return r.respond(resp), nil
}

// writeOneMarker appends one marker and returns its error code. On a
// __consumer_offsets partition the group coordinator then commits or drops
// the producer's pending offsets (group/txnoffsets.go).
func (b *Broker) writeOneMarker(_ context.Context, m txn.Markers, tp txn.TopicPartition) int16 {
	var gc *group.Coordinator
	if tp.Topic == group.TopicName {
		if gc = b.coordinatorOr(); gc == nil {
			return kerr.CoordinatorNotAvailable.Code
		}
	}
	_, code := b.WriteTxnMarker(tp.Topic, tp.Partition, m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch)
	if code == 0 && gc != nil {
		gc.EndTxn(tp.Partition, m.ProducerID, m.Commit)
	}
	return code
}
