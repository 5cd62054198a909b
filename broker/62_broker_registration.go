package broker

import (
	"context"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/controller"
	"github.com/sluice/sluice/metadata"
	"github.com/sluice/sluice/netio"
)

// BrokerRegistration: v0-4
//
// Behavior:
// * With an authorizer, the sender needs CLUSTER_ACTION on the cluster
//   (brokers are in super.users), else CLUSTER_AUTHORIZATION_FAILED.
// * Served (not listed in ApiVersions) on the broker listener of a
//   combined node, as Kafka serves it on the CONTROLLER listener (here
//   Raft's own; see cluster.go): the active controller registers the
//   broker (fenced, broker epoch + 1 for a new incarnation) and answers
//   its broker epoch.
// * A new incarnation (IncarnationID) of a broker id whose registration
//   is alive (unfenced, heard from within broker.session.timeout.ms) gets
//   DUPLICATE_BROKER_REGISTRATION, as in Kafka: two processes were
//   started with one node.id. The refused broker logs it and retries (as
//   Kafka's BrokerLifecycleManager does) until the other's session ends.
// * A node that is not the active controller, or has no controller,
//   answers NOT_CONTROLLER; a ClusterID other than this cluster's gets
//   INCONSISTENT_CLUSTER_ID. Features and LogDirs are not checked.
//   PreviousBrokerEpoch (v3+; -1 before) is the epoch the broker's
//   clean-shutdown marker named: a new incarnation whose value is not the
//   epoch it held registers as after an unclean shutdown and leaves every
//   eligible-leader-replica set (KIP-966; controller/elr.go).
// * A broker-only node adds a listener named SLUICE_METADATA_OBSERVER:
//   the address of its metadata-log follower. The active controller makes
//   it a raft non-voter there (so the broker follows the metadata log)
//   before registering it, and does not register that endpoint.
// * Also served behind the CONTROLLER listener (controller/mux.go), where
//   brokers reach a controller-only node.

func init() { registerHidden(62, 0, 4, handleBrokerRegistration) }

func handleBrokerRegistration(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.BrokerRegistrationRequest)
	resp := req.ResponseKind().(*kmsg.BrokerRegistrationResponse)
	if resp.ErrorCode = b.denied(r, &chkBrokerAction, ""); resp.ErrorCode != 0 {
		return r.respond(resp), nil
	}
	switch {
	case b.cl == nil:
		resp.ErrorCode = kerr.NotController.Code
	case req.ClusterID != b.clusterID:
		resp.ErrorCode = kerr.InconsistentClusterID.Code
	default:
		reg := controller.BrokerRegistration{BrokerID: req.BrokerID, Incarnation: req.IncarnationID,
			PreviousBrokerEpoch: req.PreviousBrokerEpoch}
		if req.Rack != nil {
			reg.Rack = *req.Rack
		}
		observer := ""
		for _, l := range req.Listeners {
			if l.Name == observerEndpoint {
				observer = net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))
				continue
			}
			reg.Endpoints = append(reg.Endpoints, metadata.Endpoint{
				Name: l.Name, Host: l.Host, Port: l.Port, SecurityProtocol: l.SecurityProtocol,
			})
		}
		var epoch int64
		err := b.cl.ctl.CheckRegistration(reg) // before a duplicate's follower replaces the live one's
		if err == nil && observer != "" {
			err = b.cl.ctl.AddObserver(req.BrokerID, observer)
		}
		if err == nil {
			epoch, err = b.cl.ctl.RegisterBroker(reg)
		}
		resp.ErrorCode, resp.BrokerEpoch = controllerError(err), epoch
		if err != nil && resp.ErrorCode == kerr.UnknownServerError.Code {
			b.log.Error("cannot register broker", "broker", req.BrokerID, "err", err)
		}
	}
	return r.respond(resp), nil
}
