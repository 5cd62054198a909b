package broker

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/controller"
	"github.com/sluice/sluice/netio"
)

// ListPartitionReassignments: v0
//
// Behavior:
//   - With an authorizer: DESCRIBE on the cluster, else
//     CLUSTER_AUTHORIZATION_FAILED.
//   - Answers the reassignments pending in this broker's metadata image
//     (every broker follows the controller's log): each partition's
//     replicas (the union of the original and the target ones), adding and
//     removing replicas. Topics null lists every pending one; named topics
//     and partitions that do not exist or have none pending are left out,
//     as Kafka does. Without a controller nothing is ever pending.

func init() { register(46, 0, 0, handleListPartitionReassignments) }

func handleListPartitionReassignments(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	if code := b.denied(r, &chkListReassign, ""); code != 0 {
		resp.ErrorCode = code
		return r.respond(resp), nil
	}
	if b.cl == nil {
		return r.respond(resp), nil
	}
	var want map[string][]int32 // nil: every topic
	if req.Topics != nil {
		want = map[string][]int32{}
		for _, rt := range req.Topics {
			want[rt.Topic] = append(want[rt.Topic], rt.Partitions...)
		}
	}
	for _, pr := range controller.PendingReassignments(b.cl.ctl.Image()) {
		if want != nil {
			ps, ok := want[pr.Topic]
			if !ok || !slices.Contains(ps, pr.Partition) {
				continue
			}
		}
		if n := len(resp.Topics); n == 0 || resp.Topics[n-1].Topic != pr.Topic {
			st := kmsg.NewListPartitionReassignmentsResponseTopic()
			st.Topic = pr.Topic
			resp.Topics = append(resp.Topics, st)
		}
		sp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		sp.Partition, sp.Replicas, sp.AddingReplicas, sp.RemovingReplicas = pr.Partition, pr.Replicas, pr.Adding, pr.Removing
		st := &resp.Topics[len(resp.Topics)-1]
		st.Partitions = append(st.Partitions, sp)
	}
	return r.respond(resp), nil
}
