package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/acl"
	"github.com/sluice/sluice/netio"
)

// CreateAcls: v0-3 (Kafka 3.9's range)
//
// Behavior:
// * No authorizer configured: every result is SECURITY_DISABLED (54).
// * The principal needs ALTER on the cluster, else every result is
//   CLUSTER_AUTHORIZATION_FAILED (31).
// * Each creation is validated as Kafka validates a new ACL (LITERAL or
//   PREFIXED, a concrete resource type, operation and permission, a
//   non-empty name, kafka-cluster for CLUSTER, a Type:name principal, a
//   host that is * or an IP address): INVALID_REQUEST with a message.
// * With a controller (always in sluiced) valid creations are a decision
//   of the active controller, forwarded to it from any other broker as
//   this same request (security_cluster.go): AccessControlEntry records in
//   the metadata log, enforced by every broker once it applies them; the
//   answer waits until this broker has. A controller that cannot be
//   reached answers NOT_CONTROLLER to every valid creation.
// * Without one they are written to acls.json (fsync'd, renamed) before
//   the response and before they take effect; a write failure is answered
//   to every valid creation (KAFKA_STORAGE_ERROR or UNKNOWN_SERVER_ERROR,
//   logged).
// * Either way an ACL that exists already succeeds without a second copy.

func init() { register(30, 0, 3, handleCreateACLs) }

func handleCreateACLs(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	resp.Results = make([]kmsg.CreateACLsResponseResult, len(req.Creations))
	for i := range resp.Results {
		resp.Results[i] = kmsg.NewCreateACLsResponseResult()
	}
	if code, msg := b.aclAPIError(r, &chkAlterACLs); code != 0 {
		for i := range resp.Results {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = code, msg
		}
		return r.respond(resp), nil
	}
	bs := make([]acl.Binding, len(req.Creations))
	for i, c := range req.Creations {
		bs[i] = acl.Binding{
			ResourceType: acl.ResourceType(c.ResourceType), ResourceName: c.ResourceName,
			PatternType: acl.PatternType(c.ResourcePatternType), Principal: c.Principal, Host: c.Host,
			Operation: acl.Operation(c.Operation), Permission: acl.Permission(c.PermissionType),
		}
	}
	create := b.acls.create
	if b.cl != nil {
		create = b.createACLsCluster
	}
	for i, err := range create(bs) {
		resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = b.aclResult(err, "create acls")
	}
	return r.respond(resp), nil
}

// aclResult maps an ACL validation error to INVALID_REQUEST and anything
// else (a write failure) through errorResult.
func (b *Broker) aclResult(err error, what string) (int16, *string) {
	if isInvalidACL(err) {
		return b.errorResult(newAPIError(kerr.InvalidRequest, "%v", err), what)
	}
	return b.errorResult(err, what)
}
