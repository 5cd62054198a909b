package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/group"
	"github.com/sluice/sluice/netio"
)

// LeaveGroup: v0-5
//
// Behavior:
// * With an authorizer: READ on the group, else GROUP_AUTHORIZATION_FAILED.
// * v0-2: one MemberID; its error is the top-level error.
// * v3+: a batch of members, by member id and/or instance id (static
//   members; a mismatching member id is FENCED_INSTANCE_ID), one error
//   each; the top-level error is the group's (UNKNOWN_MEMBER_ID for an
//   unknown group, as Kafka).
// * Leaving starts a rebalance for the remaining members.

func init() { register(13, 0, 5, handleLeaveGroup) }

func handleLeaveGroup(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.LeaveGroupRequest)
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	if resp.ErrorCode = b.denied(r, &chkGroupRead, req.Group); resp.ErrorCode != 0 {
		return r.respond(resp), nil
	}
	c := b.coordinatorOr()
	if c == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return r.respond(resp), nil
	}
	var members []group.LeaveMember
	if r.version < 3 {
		members = []group.LeaveMember{{MemberID: req.MemberID}}
	}
	for _, m := range req.Members {
		members = append(members, group.LeaveMember{MemberID: m.MemberID, InstanceID: m.InstanceID})
	}
	errs, gerr := c.Leave(req.Group, members)
	resp.ErrorCode = group.ErrorCode(gerr)
	if r.version < 3 {
		if gerr == nil && len(errs) == 1 {
			resp.ErrorCode = group.ErrorCode(errs[0])
		}
		return r.respond(resp), nil
	}
	for i, m := range req.Members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = m.MemberID, m.InstanceID
		if i < len(errs) {
			rm.ErrorCode = group.ErrorCode(errs[i])
		}
		resp.Members = append(resp.Members, rm)
	}
	return r.respond(resp), nil
}
