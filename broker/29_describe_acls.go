package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/acl"
	"github.com/sluice/sluice/netio"
)

// DescribeAcls: v0-3 (Kafka 3.9's range)
//
// Behavior:
// * No authorizer configured: SECURITY_DISABLED (54), "No Authorizer is
//   configured." — as Kafka.
// * The principal needs DESCRIBE on the cluster, else
//   CLUSTER_AUTHORIZATION_FAILED (31).
// * A filter with an UNKNOWN field is INVALID_REQUEST. v0 filters are
//   LITERAL (the field's default); ANY and MATCH select as Kafka's
//   ResourcePatternFilter does (MATCH: the bindings that apply to the
//   named resource, literal, wildcard and prefixed).
// * Matching bindings come back grouped by resource pattern, sorted, from
//   this broker's authorizer: with a controller the metadata image's ACLs,
//   the same on every broker (security_cluster.go).

func init() { register(29, 0, 3, handleDescribeACLs) }

func handleDescribeACLs(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	f := acl.Filter{
		ResourceType: acl.ResourceType(req.ResourceType), ResourceName: req.ResourceName,
		PatternType: acl.PatternType(req.ResourcePatternType), Principal: req.Principal, Host: req.Host,
		Operation: acl.Operation(req.Operation), Permission: acl.Permission(req.PermissionType),
	}
	switch code, msg := b.aclAPIError(r, &chkDescribeACLs); {
	case code != 0:
		resp.ErrorCode, resp.ErrorMessage = code, msg
	case f.Validate() != nil:
		resp.ErrorCode, resp.ErrorMessage = b.errorResult(newAPIError(kerr.InvalidRequest, "%v", f.Validate()), "describe acls")
	default:
		resp.Resources = describeResources(b.acls.describe(f))
	}
	return r.respond(resp), nil
}

// aclAPIError is what the ACL APIs answer before looking at the request:
// SECURITY_DISABLED without an authorizer, c's error when denied.
func (b *Broker) aclAPIError(r *request, c *check) (int16, *string) {
	if !b.authzOn() {
		msg := "No Authorizer is configured."
		return kerr.SecurityDisabled.Code, &msg
	}
	if code := b.denied(r, c, ""); code != 0 {
		msg := "Cluster authorization failed."
		return code, &msg
	}
	return 0, nil
}

// describeResources groups sorted bindings by resource pattern.
func describeResources(bs []acl.Binding) []kmsg.DescribeACLsResponseResource {
	var out []kmsg.DescribeACLsResponseResource
	for _, bd := range bs {
		n := len(out)
		if n == 0 || out[n-1].ResourceType != kmsg.ACLResourceType(bd.ResourceType) ||
			out[n-1].ResourceName != bd.ResourceName || out[n-1].ResourcePatternType != kmsg.ACLResourcePatternType(bd.PatternType) {
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType, res.ResourceName = kmsg.ACLResourceType(bd.ResourceType), bd.ResourceName
			res.ResourcePatternType = kmsg.ACLResourcePatternType(bd.PatternType)
			out = append(out, res)
			n++
		}
		a := kmsg.NewDescribeACLsResponseResourceACL()
		a.Principal, a.Host = bd.Principal, bd.Host
		a.Operation, a.PermissionType = kmsg.ACLOperation(bd.Operation), kmsg.ACLPermissionType(bd.Permission)
		out[n-1].ACLs = append(out[n-1].ACLs, a)
	}
	return out
}
