package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
)

// FindCoordinator: v0-5
//
// Behavior:
// * Group keys (type 0): this node is every group's coordinator. The first
//   request creates __consumer_offsets and loads the coordinator; if that
//   fails, COORDINATOR_NOT_AVAILABLE.
// * Transaction keys (type 1): UNSUPPORTED_VERSION (35) with an error
//   message saying transactions are not served yet, until the transaction
//   coordinator exists (txnUnsupported); other types INVALID_REQUEST.
// * v0-3 ask for one key (answered in the top-level fields); v4+ for several
//   (one Coordinators entry each).

func init() { register(10, 0, 5, handleFindCoordinator) }

func handleFindCoordinator(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if r.version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	for _, key := range keys {
		resp.Coordinators = append(resp.Coordinators, b.findCoordinator(req.CoordinatorType, key))
	}
	if r.version < 4 {
		c := resp.Coordinators[0]
		resp.Coordinators = nil
		resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
		resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
	}
	return r.respond(resp), nil
}

// txnUnsupported is the error message of UNSUPPORTED_VERSION answers to
// transactional requests until transactions are built.
//
// Why UNSUPPORTED_VERSION: it is the code a Kafka client gets from a broker
// that lacks a feature, and clients treat it as non-retriable: franz-go's
// kerr and kafkajs mark it so (a franz-go transactional producer fails in
// about 2 ms, TestTransactionalProducerFailsFast), and Java's
// TransactionManager fails the producer on any non-retriable error from
// FindCoordinator or InitProducerId. The retriable COORDINATOR_NOT_AVAILABLE
// made producers wait 5-45 s for a misleading timeout;
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED would blame ACLs, INVALID_REQUEST a
// client bug. The error message says what is missing.
var txnUnsupported = "transactions are not supported by this broker yet (Sluice has no transaction coordinator)"

func (b *Broker) findCoordinator(keyType int8, key string) kmsg.FindCoordinatorResponseCoordinator {
	c := kmsg.NewFindCoordinatorResponseCoordinator()
	c.Key = key
	c.NodeID, c.Port = -1, -1
	fail := func(e *kerr.Error) kmsg.FindCoordinatorResponseCoordinator {
		c.ErrorCode = e.Code
		msg := e.Message
		c.ErrorMessage = &msg
		return c
	}
	switch keyType {
	case 0:
	case 1:
		c.ErrorCode = kerr.UnsupportedVersion.Code
		c.ErrorMessage = &txnUnsupported
		return c
	default:
		return fail(kerr.InvalidRequest)
	}
	if b.coordinatorOr() == nil {
		return fail(kerr.CoordinatorNotAvailable)
	}
	c.NodeID = b.cfg.NodeID
	c.Host = b.cfg.AdvertisedHost
	c.Port = b.advertisedPort()
	return c
}
