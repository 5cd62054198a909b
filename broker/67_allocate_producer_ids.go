package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
)

// AllocateProducerIds: v0
//
// Behavior:
// * With an authorizer, the sender needs CLUSTER_ACTION on the cluster
//   (brokers are in super.users), else CLUSTER_AUTHORIZATION_FAILED.
// * Served (not listed in ApiVersions) on the broker listener of a
//   combined node, as BrokerHeartbeat: a broker whose block of producer
//   ids ran out asks the active controller for the next one (a
//   ProducerIdsBlock record in the metadata log), so producer ids are
//   unique across brokers, restarts and controller changes.
// * Errors: NOT_CONTROLLER on a node that is not the active controller,
//   STALE_BROKER_EPOCH for another epoch than the registered one,
//   BROKER_ID_NOT_REGISTERED for an unknown broker.

func init() { registerHidden(67, 0, 0, handleAllocateProducerIDs) }

func handleAllocateProducerIDs(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.AllocateProducerIDsRequest)
	resp := req.ResponseKind().(*kmsg.AllocateProducerIDsResponse)
	if resp.ErrorCode = b.denied(r, &chkBrokerAction, ""); resp.ErrorCode != 0 {
		return r.respond(resp), nil
	}
	if b.cl == nil {
		resp.ErrorCode = kerr.NotController.Code
		return r.respond(resp), nil
	}
	block, err := b.cl.ctl.AllocateProducerIDs(req.BrokerID, req.BrokerEpoch)
	if resp.ErrorCode = controllerError(err); resp.ErrorCode == 0 {
		resp.ProducerIDStart, resp.ProducerIDLen = block.FirstID, block.Size
	} else if resp.ErrorCode == kerr.UnknownServerError.Code {
		b.log.Error("cannot allocate producer ids", "broker", req.BrokerID, "err", err)
	}
	return r.respond(resp), nil
}

// errNoProducerIDs says no block of producer ids could be had from the
// controller now (not registered yet, no controller): InitProducerId
// answers COORDINATOR_LOAD_IN_PROGRESS, which clients retry, as Kafka's
// RPCProducerIdManager does while it waits for a block.
var errNoProducerIDs = errors.New("broker: no block of producer ids from the controller yet")

// reserveProducerIDs gets the next block of producer ids from the active
// controller: from the local one when it leads, else with
// AllocateProducerIds forwarded to the leader's broker listener. It waits
// (up to clusterWait) for this broker's registration first.
func (b *Broker) reserveProducerIDs() (first, size int64, err error) {
	select {
	case <-b.Registered():
	case <-time.After(clusterWait):
		return 0, 0, fmt.Errorf("%w: not registered with the controller", errNoProducerIDs)
	}
	id, epoch := b.cfg.NodeID, b.cl.epoch.Load()
	if b.cl.ctl.IsLeader() {
		block, err := b.cl.ctl.AllocateProducerIDs(id, epoch)
		if err != nil {
			return 0, 0, fmt.Errorf("%w: %w", errNoProducerIDs, err)
		}
		return block.FirstID, int64(block.Size), nil
	}
	req := kmsg.NewPtrAllocateProducerIDsRequest()
	req.BrokerID, req.BrokerEpoch = id, epoch
	resp := req.ResponseKind().(*kmsg.AllocateProducerIDsResponse)
	if err := b.forward(req, resp); err != nil {
		return 0, 0, fmt.Errorf("%w: %w", errNoProducerIDs, err)
	}
	if resp.ErrorCode != 0 {
		return 0, 0, fmt.Errorf("%w: the controller answered %w", errNoProducerIDs, kerr.ErrorForCode(resp.ErrorCode))
	}
	if resp.ProducerIDStart < 0 || resp.ProducerIDLen <= 0 {
		return 0, 0, fmt.Errorf("%w: the controller answered the block [%d, +%d)", errNoProducerIDs, resp.ProducerIDStart, resp.ProducerIDLen)
	}
	return resp.ProducerIDStart, int64(resp.ProducerIDLen), nil
}
