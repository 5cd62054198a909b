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
// * With an authorizer: DESCRIBE on the group (type 0) or transactional id
//   (type 1), else GROUP_AUTHORIZATION_FAILED or
//   TRANSACTIONAL_ID_AUTHORIZATION_FAILED for that key.
// * Group keys (type 0), with a controller: the leader of the group's
//   __consumer_offsets partition (created with replication factor up to
//   3, the live brokers), at the listener the client came in on;
//   COORDINATOR_NOT_AVAILABLE while it has no leader. Group calls to a
//   broker that does not lead the group's partition get NOT_COORDINATOR.
//   Without a controller this node is every group's coordinator. The first
//   request creates __consumer_offsets and loads the coordinator; if that
//   fails, COORDINATOR_NOT_AVAILABLE. A group whose __consumer_offsets
//   partition is offline (its log could not be opened) also gets
//   COORDINATOR_NOT_AVAILABLE; other groups are unaffected.
// * Transaction keys (type 1), until the transaction coordinator exists: a
//   non-retriable error with a message saying transactions are not served
//   (txnUnsupported): UNSUPPORTED_VERSION (35) on v4+, and
//   TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53) on v1-3, the only code
//   librdkafka stops on (see txnUnsupportedCode). Other types
//   INVALID_REQUEST.
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
		resp.Coordinators = append(resp.Coordinators, b.findCoordinator(r, req.CoordinatorType, key))
	}
	if r.version < 4 {
		c := resp.Coordinators[0]
		resp.Coordinators = nil
		resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
		resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
	}
	return r.respond(resp), nil
}

// txnUnsupported is the error message of the answers to transactional
// requests until transactions are built.
var txnUnsupported = "transactions are not supported by this broker yet (Sluice has no transaction coordinator)"

// txnUnsupportedCode is the error a FindCoordinator(TRANSACTION) of
// version gets. The code must be one the client stops on at once; the
// retriable COORDINATOR_NOT_AVAILABLE made producers wait 5-45 s for a
// misleading timeout. What clients do with FindCoordinator errors:
//
//   - Java (v4+ lookups): any non-retriable code other than 53 is fatal
//     and shows the error message ("Could not find a coordinator with type
//     TRANSACTION ... due to unexpected error: <message>"), 1.3 s; 53 is
//     fatal too but reported as an ACL failure without the message.
//   - franz-go (v4+): any non-retriable code is fatal (2 ms).
//   - librdkafka (kcat, confluent-kafka; v1-3 lookups): only 53 is fatal;
//     every other code is retried until init_transactions times out. With
//     53 it prints "Failed to find transaction coordinator: ...:
//     Transactional Id authorization failed: <message>".
//   - kafkajs (v1-2): any error ends in a non-retriable "Failed to find
//     group coordinator" at once.
//
// So v4+ gets UNSUPPORTED_VERSION (what a broker lacking a feature
// answers; INVALID_REQUEST would blame the client) and v1-3 gets 53, each
// with txnUnsupported.
func txnUnsupportedCode(version int16) int16 {
	if version >= 4 {
		return kerr.UnsupportedVersion.Code
	}
	return kerr.TransactionalIDAuthorizationFailed.Code
}

func (b *Broker) findCoordinator(r *request, keyType int8, key string) kmsg.FindCoordinatorResponseCoordinator {
	version, c0 := r.version, r.conn
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
		if e := b.denied(r, &chkFindGroup, key); e != 0 {
			return fail(kerr.GroupAuthorizationFailed)
		}
	case 1:
		if e := b.denied(r, &chkFindTxn, key); e != 0 {
			return fail(kerr.TransactionalIDAuthorizationFailed)
		}
		c.ErrorCode = txnUnsupportedCode(version)
		c.ErrorMessage = &txnUnsupported
		return c
	default:
		return fail(kerr.InvalidRequest)
	}
	gc := b.coordinatorOr() // creates __consumer_offsets on first use
	if leader, ok := b.remoteCoordinator(c0, key); ok {
		if leader.NodeID < 0 {
			return fail(kerr.CoordinatorNotAvailable)
		}
		c.NodeID, c.Host, c.Port = leader.NodeID, leader.Host, leader.Port
		return c
	}
	if gc == nil || gc.Available(key) != nil { // nil: the group's __consumer_offsets partition is online
		return fail(kerr.CoordinatorNotAvailable)
	}
	c.NodeID = b.cfg.NodeID
	c.Host, c.Port = b.advertised(c0)
	return c
}
