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
// * ClusterID from meta.properties; ControllerID is this node's id; Brokers
//   is this node at its advertised host and port (rack null unless
//   configured).
// * ClusterAuthorizedOperations is INT32_MIN ("not computed": Sluice has
//   no ACLs), whatever IncludeClusterAuthorizedOperations says.
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
	if err := checkEndpointType(r.version, req.EndpointType); err != nil {
		resp.ErrorCode, resp.ErrorMessage = b.errorResult(err, "describe cluster")
		return r.respond(resp), nil
	}
	resp.ClusterID = b.clusterID
	resp.ControllerID = b.cfg.NodeID
	br := kmsg.NewDescribeClusterResponseBroker()
	br.NodeID = b.cfg.NodeID
	br.Host, br.Port = b.advertised(r.conn)
	br.Rack = nilIfEmpty(b.cfg.Rack)
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{br}
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
