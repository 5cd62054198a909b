package broker

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/acl"
	"github.com/sluice/sluice/netio"
)

// DeleteAcls: v0-3 (Kafka 3.9's range)
//
// Behavior:
// * No authorizer configured: every filter result is SECURITY_DISABLED
//   (54); without ALTER on the cluster, CLUSTER_AUTHORIZATION_FAILED (31).
// * A filter with an UNKNOWN field is INVALID_REQUEST. Filters select as
//   in DescribeAcls (ANY, MATCH, nil strings match anything).
// * Every binding some filter selects is removed at once: with a
//   controller by one decision of the active controller (the filters
//   matched against its image, forwarded to it from any other broker;
//   security_cluster.go), without one in one write of acls.json. Each
//   filter's result lists what it matched (a binding two filters match is
//   listed under both).

func init() { register(31, 0, 3, handleDeleteACLs) }

func handleDeleteACLs(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	for i := range resp.Results {
		resp.Results[i] = kmsg.NewDeleteACLsResponseResult()
	}
	if code, msg := b.aclAPIError(r, &chkAlterACLs); code != 0 {
		for i := range resp.Results {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, msg
		}
		return r.respond(resp), nil
	}
	fs := make([]acl.Filter, len(req.Filters))
	for i, f := range req.Filters {
		fs[i] = acl.Filter{
			ResourceType: acl.ResourceType(f.ResourceType), ResourceName: f.ResourceName,
			PatternType: acl.PatternType(f.ResourcePatternType), Principal: f.Principal, Host: f.Host,
			Operation: acl.Operation(f.Operation), Permission: acl.Permission(f.PermissionType),
		}
	}
	del := b.acls.delete
	if b.cl != nil {
		del = b.deleteACLsCluster
	}
	matched, errs := del(fs)
	for i := range resp.Results {
		res := &resp.Results[i]
		res.ErrorCode, res.ErrorMessage = b.aclResult(errs[i], "delete acls")
		for _, bd := range matched[i] {
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName = kmsg.ACLResourceType(bd.ResourceType), bd.ResourceName
			m.ResourcePatternType = kmsg.ACLResourcePatternType(bd.PatternType)
			m.Principal, m.Host = bd.Principal, bd.Host
			m.Operation, m.PermissionType = kmsg.ACLOperation(bd.Operation), kmsg.ACLPermissionType(bd.Permission)
			res.MatchingACLs = append(res.MatchingACLs, m)
		}
	}
	return r.respond(resp), nil
}

func isInvalidACL(err error) bool { return errors.Is(err, acl.ErrInvalid) }
