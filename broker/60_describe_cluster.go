package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
)

// DescribeCluster: v0-1
//
// Behavior:
// * ClusterID from meta.properties; ControllerID is the active controller
//   (the Raft leader; -1 during an election), or this broker when that is
//   a controller-only node (as KRaft names a live broker); Brokers are the registered,
//   unfenced brokers of the metadata image and this node, as in Metadata.
//   Without a controller: this node alone, named controller.
// * ClusterAuthorizedOperations is INT32_MIN unless
//   IncludeClusterAuthorizedOperations asks for it: then the bit field of
//   the cluster operations the principal may perform (all of them without
//   an authorizer), 0 without DESCRIBE on the cluster — as Kafka.
// * EndpointType (v1): 1 (brokers) is served and echoed; 2 (controllers)
//   is UNSUPPORTED_ENDPOINT_TYPE, as a Kafka broker answers; anything else
//   INVALID_REQUEST.

func init() { register(60, 0, 1, handleDescribeCluster) }

const (
	endpointBrokers     = 1
	endpointControllers = 2
	authOpsNotComputed  = -2147483648
)

func handleDescribeCluster(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = endpointBrokers
	resp.ClusterAuthorizedOperations = authOpsNotComputed
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = b.clusterAuthorizedOps(r)
	}
	if err := checkEndpointType(r.version, req.EndpointType); err != nil {
		resp.ErrorCode, resp.ErrorMessage = b.errorResult(err, "describe cluster")
		return r.respond(resp), nil
	}
	resp.ClusterID = b.clusterID
	resp.ControllerID = b.controllerID()
	for _, mb := range b.liveBrokers(r.conn) {
		br := kmsg.NewDescribeClusterResponseBroker()
		br.NodeID, br.Host, br.Port, br.Rack = mb.NodeID, mb.Host, mb.Port, mb.Rack
		resp.Brokers = append(resp.Brokers, br)
	}
	return r.respond(resp), nil
}

// checkEndpointType accepts the brokers endpoint (always so before v1).
func checkEndpointType(version int16, typ int8) error {
	switch {
	case version < 1 || typ == endpointBrokers:
		return nil
	case typ == endpointControllers:
		return newAPIError(kerr.UnsupportedEndpointType,
			"The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER")
	default:
		return newAPIError(kerr.InvalidRequest, "Unknown endpoint type %d.", typ)
	}
}
