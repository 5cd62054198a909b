package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
)

// BrokerHeartbeat: v0-2
//
// Behavior:
// * With an authorizer, the sender needs CLUSTER_ACTION on the cluster
//   (brokers are in super.users), else CLUSTER_AUTHORIZATION_FAILED.
// * Served (not listed in ApiVersions) on the broker listener of a
//   combined node, as BrokerRegistration (see cluster.go). The active controller renews the
//   broker's session (broker.session.timeout.ms), unfences it on its first
//   heartbeat, and records CurrentMetadataOffset (DescribeQuorum's log end
//   offset for that node). IsFenced says whether it is still fenced;
//   IsCaughtUp is true, ShouldShutdown false.
// * WantShutdown fences the broker at once (controlled shutdown).
//   WantFence and the log-directory fields are ignored.
// * Errors: NOT_CONTROLLER on a node that is not the active controller,
//   STALE_BROKER_EPOCH for another epoch than the registered one,
//   BROKER_ID_NOT_REGISTERED for an unknown broker.

func init() { registerHidden(63, 0, 2, handleBrokerHeartbeat) }

func handleBrokerHeartbeat(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.BrokerHeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.BrokerHeartbeatResponse)
	if resp.ErrorCode = b.denied(r, &chkBrokerAction, ""); resp.ErrorCode != 0 {
		return r.respond(resp), nil
	}
	if b.cl == nil {
		resp.ErrorCode = kerr.NotController.Code
		return r.respond(resp), nil
	}
	fenced, err := localHeartbeat(b.cl.ctl, req.BrokerID, req.BrokerEpoch, req.CurrentMetadataOffset, req.WantShutdown)
	resp.ErrorCode = controllerError(err)
	resp.IsFenced, resp.IsCaughtUp = fenced, err == nil
	if err != nil && resp.ErrorCode == kerr.UnknownServerError.Code {
		b.log.Error("cannot record broker heartbeat", "broker", req.BrokerID, "err", err)
	}
	return r.respond(resp), nil
}
