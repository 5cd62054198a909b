package broker

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/controller"
	"github.com/sluice/sluice/metadata"
	"github.com/sluice/sluice/netio"
)

// AlterPartition: v0-3 (Kafka 3.9's range; 4.x serves v2-3)
//
// Behavior:
// * Sent by a partition leader to change its ISR (replication.go); served
//   (not listed in ApiVersions) on the broker listener of the active
//   controller's node, as BrokerHeartbeat is (see cluster.go). With an
//   authorizer the sender needs CLUSTER_ACTION on the cluster, else
//   CLUSTER_AUTHORIZATION_FAILED.
// * Request-level errors: NOT_CONTROLLER on a node that is not the active
//   controller, STALE_BROKER_EPOCH for another broker epoch than the
//   registered one.
// * Per partition, as Kafka's ReplicationControlManager:
//   UNKNOWN_TOPIC_OR_PARTITION (v0-1, topics by name) / UNKNOWN_TOPIC_ID
//   (v2+), FENCED_LEADER_EPOCH for an older leader epoch, INVALID_REQUEST
//   from a broker that does not lead the partition, INVALID_UPDATE_VERSION
//   for a stale partition epoch, INELIGIBLE_REPLICA for a fenced broker, a
//   non-replica, or (v3 NewIsrWithEpochs) a stale broker epoch in the new
//   ISR. Success answers the partition as committed (leader, leader epoch,
//   ISR, partition epoch). LeaderRecoveryState is always 0 (RECOVERED).

func init() { registerHidden(56, 0, 3, handleAlterPartition) }

func handleAlterPartition(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.AlterPartitionRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionResponse)
	if resp.ErrorCode = b.denied(r, &chkBrokerAction, ""); resp.ErrorCode != 0 {
		return r.respond(resp), nil
	}
	if b.cl == nil || !b.cl.ctl.IsLeader() {
		resp.ErrorCode = kerr.NotController.Code
		return r.respond(resp), nil
	}
	ctl := b.cl.ctl
	if br, ok := ctl.Image().Broker(req.BrokerID); !ok || br.Epoch != req.BrokerEpoch {
		resp.ErrorCode = kerr.StaleBrokerEpoch.Code
		return r.respond(resp), nil
	}
	// Every partition's item is decided in one controller decision,
	// committed as one Raft entry (controller.AlterPartitions).
	type slot struct{ topic, part, item int }
	var items []controller.ISRChange
	var slots []slot
	missing := kerr.UnknownTopicID.Code
	if req.Version < 2 {
		missing = kerr.UnknownTopicOrPartition.Code
	}
	for ti, rt := range req.Topics {
		st := kmsg.NewAlterPartitionResponseTopic()
		st.Topic, st.TopidID = rt.Topic, rt.TopicID
		id := metadata.UUID(rt.TopicID)
		if req.Version < 2 {
			if t, ok := ctl.Image().Topic(rt.Topic); ok {
				id = t.ID
			} else {
				id = metadata.UUID{}
			}
		}
		for pi, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionResponseTopicPartition()
			sp.Partition = rp.Partition
			isr, code := alterPartitionISR(ctl.Image(), req.Version, &rp)
			if sp.ErrorCode = code; code == 0 {
				items = append(items, controller.ISRChange{TopicID: id, Partition: rp.Partition,
					LeaderEpoch: rp.LeaderEpoch, PartitionEpoch: rp.PartitionEpoch, ISR: isr})
				slots = append(slots, slot{ti, pi, len(items) - 1})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(items) == 0 {
		return r.respond(resp), nil
	}
	ps, errs, err := ctl.AlterPartitions(req.BrokerID, req.BrokerEpoch, items)
	for _, sl := range slots {
		sp := &resp.Topics[sl.topic].Partitions[sl.part]
		ierr := err
		if err == nil {
			ierr = errs[sl.item]
		}
		code := alterPartitionError(ierr, missing)
		if ierr != nil && code == kerr.UnknownServerError.Code {
			b.log.Error("cannot alter a partition's ISR", "topic", req.Topics[sl.topic].Topic, "partition", sp.Partition, "err", ierr)
		}
		if sp.ErrorCode = code; code == 0 {
			p := ps[sl.item]
			sp.LeaderID, sp.LeaderEpoch, sp.ISR, sp.PartitionEpoch = p.Leader, p.LeaderEpoch, p.ISR, p.PartitionEpoch
		}
	}
	return r.respond(resp), nil
}

// alterPartitionISR is the requested ISR; v3 names each member's broker
// epoch, and a stale one (not -1) makes the replica INELIGIBLE_REPLICA.
func alterPartitionISR(im *metadata.Image, version int16, rp *kmsg.AlterPartitionRequestTopicPartition) ([]int32, int16) {
	if version < 3 {
		return rp.NewISR, 0
	}
	isr := make([]int32, 0, len(rp.NewEpochISR))
	for _, m := range rp.NewEpochISR {
		if m.BrokerEpoch >= 0 {
			if br, ok := im.Broker(m.BrokerID); !ok || br.Epoch != m.BrokerEpoch {
				return nil, kerr.IneligibleReplica.Code
			}
		}
		isr = append(isr, m.BrokerID)
	}
	return isr, 0
}

// alterPartitionError maps controller.AlterPartition's errors onto
// Kafka's codes; missing is the unknown-topic code of the version.
func alterPartitionError(err error, missing int16) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, controller.ErrUnknownTopic):
		return missing
	case errors.Is(err, controller.ErrFencedLeaderEpoch):
		return kerr.FencedLeaderEpoch.Code
	case errors.Is(err, controller.ErrNotPartitionLeader):
		return kerr.InvalidRequest.Code
	case errors.Is(err, controller.ErrInvalidUpdateVersion):
		return kerr.InvalidUpdateVersion.Code
	case errors.Is(err, controller.ErrIneligibleReplica):
		return kerr.IneligibleReplica.Code
	}
	return controllerError(err)
}
