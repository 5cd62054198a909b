package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/group"
	"github.com/sluice/sluice/netio"
)

// Heartbeat: v0-4
//
// Behavior:
// * With an authorizer: READ on the group, else GROUP_AUTHORIZATION_FAILED.
// * Extends the member's session. REBALANCE_IN_PROGRESS while the group
//   prepares a rebalance (the member must rejoin); UNKNOWN_MEMBER_ID,
//   ILLEGAL_GENERATION, FENCED_INSTANCE_ID (v3+ InstanceID) as Kafka.

func init() { register(12, 0, 4, handleHeartbeat) }

func handleHeartbeat(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.HeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	if resp.ErrorCode = b.denied(r, &chkGroupRead, req.Group); resp.ErrorCode != 0 {
		return r.respond(resp), nil
	}
	c := b.coordinatorOr()
	if c == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return r.respond(resp), nil
	}
	var instanceID *string
	if r.version >= 3 {
		instanceID = req.InstanceID
	}
	resp.ErrorCode = group.ErrorCode(c.Heartbeat(req.Group, req.MemberID, instanceID, req.Generation))
	return r.respond(resp), nil
}
