package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/group"
	"github.com/sluice/sluice/netio"
)

// JoinGroup: v0-9
//
// Behavior:
// * With an authorizer: READ on the group, else GROUP_AUTHORIZATION_FAILED.
// * Kafka's classic join (package group): a new dynamic member gets
//   MEMBER_ID_REQUIRED and its id first from v4; static members
//   (InstanceID, v5+) rejoining a Stable group with the same selected
//   protocol take their old place without a rebalance.
// * Long-poll: the request blocks this connection's handler until the
//   rebalance completes (initial delay, every member rejoined, or the
//   rebalance timeout); a closed connection abandons it.
// * v0 has no rebalance timeout: the session timeout is used. The leader
//   gets the members with their metadata for the selected protocol;
//   SkipAssignment (v9) is always false.

func init() { register(11, 0, 9, handleJoinGroup) }

func handleJoinGroup(ctx context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.JoinGroupRequest)
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	if code := b.denied(r, &chkGroupRead, req.Group); code != 0 {
		resp.ErrorCode, resp.Generation, resp.MemberID = code, -1, req.MemberID
		return r.respond(resp), nil
	}
	c := b.coordinatorOr()
	if c == nil {
		resp.ErrorCode, resp.Generation, resp.MemberID = kerr.CoordinatorNotAvailable.Code, -1, req.MemberID
		return r.respond(resp), nil
	}
	jr := group.JoinRequest{
		Group:                req.Group,
		MemberID:             req.MemberID,
		ClientID:             clientIDOf(r),
		ClientHost:           clientHost(r.conn),
		SessionTimeout:       millis(req.SessionTimeoutMillis),
		RebalanceTimeout:     millis(req.RebalanceTimeoutMillis),
		ProtocolType:         req.ProtocolType,
		RequireKnownMemberID: r.version >= 4,
	}
	if r.version == 0 {
		jr.RebalanceTimeout = jr.SessionTimeout
	}
	if r.version >= 5 {
		jr.InstanceID = req.InstanceID
	}
	for _, p := range req.Protocols {
		jr.Protocols = append(jr.Protocols, group.Protocol{Name: p.Name, Metadata: p.Metadata})
	}
	res := c.Join(ctx, jr)
	if ctx.Err() != nil {
		return nil, errClose("JoinGroup of %q abandoned: %v", req.Group, ctx.Err())
	}
	fillJoinResponse(resp, res)
	return r.respond(resp), nil
}

func fillJoinResponse(resp *kmsg.JoinGroupResponse, res group.JoinResult) {
	resp.ErrorCode = group.ErrorCode(res.Err)
	resp.Generation = res.Generation
	resp.MemberID = res.MemberID
	resp.LeaderID = res.LeaderID
	resp.Protocol = res.Protocol
	if res.Err == nil {
		pt := res.ProtocolType
		resp.ProtocolType = &pt
	}
	for _, m := range res.Members {
		rm := kmsg.NewJoinGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ProtocolMetadata = m.MemberID, m.InstanceID, m.Metadata
		resp.Members = append(resp.Members, rm)
	}
}
