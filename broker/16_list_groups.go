package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/group"
	"github.com/sluice/sluice/netio"
)

// ListGroups: v0-5
//
// Behavior:
// * With an authorizer: DESCRIBE on the cluster lists every group; without
//   it, only the groups the principal may DESCRIBE are listed.
// * Every group this node coordinates that is not Dead, including groups
//   that only hold committed offsets (protocol type ""). While one of its
//   __consumer_offsets partitions loads (a cluster: coordinators.go), the
//   groups loaded so far with COORDINATOR_LOAD_IN_PROGRESS, as Kafka.
// * StatesFilter (v4+) and TypesFilter (v5+, every group is "classic")
//   keep matching groups when not empty.

func init() { register(16, 0, 5, handleListGroups) }

func handleListGroups(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	c := b.coordinatorOr()
	if c == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return r.respond(resp), nil
	}
	gs, err := c.List(req.StatesFilter, req.TypesFilter)
	resp.ErrorCode = group.ErrorCode(err)
	for _, g := range gs {
		if !b.allowed(r, &chkListGroups, g.Group) {
			continue
		}
		rg := kmsg.NewListGroupsResponseGroup()
		rg.Group, rg.ProtocolType, rg.GroupState, rg.GroupType = g.Group, g.ProtocolType, g.State, g.Type
		resp.Groups = append(resp.Groups, rg)
	}
	return r.respond(resp), nil
}
