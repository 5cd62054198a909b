package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/controller"
	"github.com/sluice/sluice/netio"
)

// UnregisterBroker: v0
//
// Behavior:
// * With an authorizer, the sender needs ALTER on the cluster, else
//   CLUSTER_AUTHORIZATION_FAILED (as Kafka).
// * Removes a broker that is gone for good: the active controller
//   appends an UnregisterBroker record (the broker leaves Metadata,
//   DescribeCluster and sluice cluster info everywhere) and, for a
//   broker-only node, removes its metadata follower from the quorum
//   (raft RemoveServer), so the controllers stop replicating to it.
//   Partitions keep it in their replica lists until reassigned.
// * A node that is not the active controller forwards the request there
//   once (on the inter-broker listener) and relays the answer; with no
//   controller reachable, NOT_CONTROLLER.
// * Errors: BROKER_ID_NOT_REGISTERED for an id the image does not hold
//   (and on a node without a controller quorum); INVALID_REQUEST, with a
//   message, for a broker that is alive (unfenced): stop it first, or wait
//   for its session to end. Kafka unregisters a live broker, which then
//   registers again at once; refusing keeps a mistyped id from
//   disturbing a running broker.

func init() { register(64, 0, 0, handleUnregisterBroker) }

func handleUnregisterBroker(ctx context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.UnregisterBrokerRequest)
	resp := req.ResponseKind().(*kmsg.UnregisterBrokerResponse)
	if resp.ErrorCode = b.denied(r, &chkUnregister, ""); resp.ErrorCode != 0 {
		return r.respond(resp), nil
	}
	if b.cl == nil {
		resp.ErrorCode = kerr.BrokerIDNotRegistered.Code
		resp.ErrorMessage = kmsg.StringPtr("No controller quorum: this broker runs alone and registers nothing.")
		return r.respond(resp), nil
	}
	if !b.cl.ctl.IsLeader() && (r.clientID == nil || *r.clientID != forwardedClientID) {
		if addr, err := b.leaderAddr(b.cl.ctl); err == nil {
			fwd := *req
			fresp := fwd.ResponseKind().(*kmsg.UnregisterBrokerResponse)
			if err := b.callPeer(ctx, addr, forwardedClientID, &fwd, fresp); err == nil {
				fresp.Version = r.version
				return r.respond(fresp), nil
			}
		}
	}
	err := b.cl.ctl.UnregisterBroker(req.BrokerID)
	switch {
	case err == nil:
		b.log.Info("broker unregistered", "broker", req.BrokerID)
	case errors.Is(err, controller.ErrBrokerAlive):
		resp.ErrorCode = kerr.InvalidRequest.Code
		resp.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("Broker %d is alive (registered and unfenced): stop it before removing it.", req.BrokerID))
	case errors.Is(err, controller.ErrUnknownBroker):
		resp.ErrorCode = kerr.BrokerIDNotRegistered.Code
		resp.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("Broker %d is not registered.", req.BrokerID))
	default:
		resp.ErrorCode = controllerError(err)
		resp.ErrorMessage = kmsg.StringPtr(err.Error())
		if resp.ErrorCode == kerr.UnknownServerError.Code {
			b.log.Error("cannot unregister broker", "broker", req.BrokerID, "err", err)
		}
	}
	return r.respond(resp), nil
}
