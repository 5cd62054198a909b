package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/group"
	"github.com/sluice/sluice/netio"
)

// SyncGroup: v0-5
//
// Behavior:
// * With an authorizer: READ on the group, else GROUP_AUTHORIZATION_FAILED.
// * The leader's assignment is stored in __consumer_offsets, then every
//   member gets its share and the group is Stable; members the leader left
//   out get an empty assignment. Followers long-poll until then.
// * In a Stable group the member's current assignment is returned at once;
//   during PreparingRebalance REBALANCE_IN_PROGRESS.
// * v5: ProtocolType and Protocol are checked (INCONSISTENT_GROUP_PROTOCOL)
//   and returned.

func init() { register(14, 0, 5, handleSyncGroup) }

func handleSyncGroup(ctx context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.SyncGroupRequest)
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	if resp.ErrorCode = b.denied(r, &chkGroupRead, req.Group); resp.ErrorCode != 0 {
		return r.respond(resp), nil
	}
	c := b.coordinatorOr()
	if c == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return r.respond(resp), nil
	}
	sr := group.SyncRequest{
		Group:       req.Group,
		MemberID:    req.MemberID,
		Generation:  req.Generation,
		Assignments: make(map[string][]byte, len(req.GroupAssignment)),
	}
	if r.version >= 3 {
		sr.InstanceID = req.InstanceID
	}
	if r.version >= 5 {
		sr.ProtocolType, sr.Protocol = req.ProtocolType, req.Protocol
	}
	for _, a := range req.GroupAssignment {
		sr.Assignments[a.MemberID] = a.MemberAssignment
	}
	res := c.Sync(ctx, sr)
	if ctx.Err() != nil {
		return nil, errClose("SyncGroup of %q abandoned: %v", req.Group, ctx.Err())
	}
	resp.ErrorCode = group.ErrorCode(res.Err)
	resp.ProtocolType, resp.Protocol = res.ProtocolType, res.Protocol
	resp.MemberAssignment = res.Assignment
	return r.respond(resp), nil
}
