package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/group"
	"github.com/sluice/sluice/netio"
)

// DeleteGroups: v0-2
//
// Behavior:
// * With an authorizer: DELETE on each group, else GROUP_AUTHORIZATION_FAILED
//   for it (the others are deleted).
// * An Empty group is deleted with its committed offsets (tombstones in
//   __consumer_offsets) before the response. A group with members:
//   NON_EMPTY_GROUP; an unknown one: GROUP_ID_NOT_FOUND.

func init() { register(42, 0, 2, handleDeleteGroups) }

func handleDeleteGroups(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.DeleteGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	c := b.coordinatorOr()
	denied := make([]int16, len(req.Groups))
	var allowed []string
	for i, id := range req.Groups {
		if denied[i] = b.denied(r, &chkDeleteGroups, id); denied[i] == 0 {
			allowed = append(allowed, id)
		}
	}
	var errs []error
	if c != nil {
		errs = c.DeleteGroups(allowed)
	}
	k := 0
	for i, id := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = id
		if denied[i] != 0 {
			rg.ErrorCode = denied[i]
		} else if c == nil {
			rg.ErrorCode = kerr.CoordinatorNotAvailable.Code
		} else {
			rg.ErrorCode = group.ErrorCode(errs[k])
			k++
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return r.respond(resp), nil
}
