package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/acl"
	"github.com/sluice/sluice/group"
	"github.com/sluice/sluice/netio"
)

// DescribeGroups: v0-5
//
// Behavior:
// * AuthorizedOperations (v3+) when asked for: the bit field of the group
//   operations the principal may perform (all without an authorizer).
// * With an authorizer: DESCRIBE on each group, else that group gets
//   GROUP_AUTHORIZATION_FAILED.
// * State, protocol type and members (client id, host "/ip", instance id
//   v4+); the protocol and each member's metadata and assignment only when
//   the group is Stable, as Kafka.
// * An unknown group is described as "Dead" with no error (v0-5).
// * Authorized operations (v3+) are not computed (INT32_MIN).

func init() { register(15, 0, 5, handleDescribeGroups) }

func handleDescribeGroups(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.DescribeGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	c := b.coordinatorOr()
	var descs []group.Description
	if c != nil {
		descs = c.Describe(req.Groups)
	}
	for i, id := range req.Groups {
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group = id
		if rg.ErrorCode = b.denied(r, &chkDescribeGroup, id); rg.ErrorCode != 0 {
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		if c == nil {
			rg.ErrorCode = kerr.CoordinatorNotAvailable.Code
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		d := descs[i]
		rg.ErrorCode = group.ErrorCode(d.Err)
		if req.IncludeAuthorizedOperations {
			rg.AuthorizedOperations = b.authorizedOps(r, acl.Group, id)
		}
		rg.State, rg.ProtocolType, rg.Protocol = d.State, d.ProtocolType, d.Protocol
		for _, m := range d.Members {
			rm := kmsg.NewDescribeGroupsResponseGroupMember()
			rm.MemberID, rm.InstanceID, rm.ClientID, rm.ClientHost = m.MemberID, m.InstanceID, m.ClientID, m.ClientHost
			rm.ProtocolMetadata, rm.MemberAssignment = m.Metadata, m.Assignment
			rg.Members = append(rg.Members, rm)
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return r.respond(resp), nil
}
