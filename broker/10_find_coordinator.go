package broker

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/group"
	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/txn"
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
//   broker that has not loaded the group's partition get NOT_COORDINATOR
//   (COORDINATOR_LOAD_IN_PROGRESS while it loads: coordinators.go).
//   Without a controller this node is every group's coordinator. The first
//   request creates __consumer_offsets and loads the coordinator; if that
//   fails, COORDINATOR_NOT_AVAILABLE. A group whose __consumer_offsets
//   partition is offline (its log could not be opened) also gets
//   COORDINATOR_NOT_AVAILABLE; other groups are unaffected.
// * Transaction keys (type 1), with a controller: the leader of the id's
//   __transaction_state partition, as for groups; without one this node
//   is every transactional id's coordinator. The first request creates
//   __transaction_state and opens the transaction coordinator; if that
//   fails, or the id's partition is offline, COORDINATOR_NOT_AVAILABLE.
//   Other types INVALID_REQUEST.
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

func (b *Broker) findCoordinator(r *request, keyType int8, key string) kmsg.FindCoordinatorResponseCoordinator {
	c0 := r.conn
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
		gc := b.coordinatorOr() // creates __consumer_offsets on first use
		if leader, ok := b.partitionCoordinator(c0, group.TopicName, key); ok {
			if leader.NodeID < 0 {
				return fail(kerr.CoordinatorNotAvailable)
			}
			c.NodeID, c.Host, c.Port = leader.NodeID, leader.Host, leader.Port
			return c
		}
		if gc == nil || errors.Is(gc.Available(key), kerr.CoordinatorNotAvailable) { // offline partition
			return fail(kerr.CoordinatorNotAvailable)
		}
	case 1:
		if e := b.denied(r, &chkFindTxn, key); e != 0 {
			return fail(kerr.TransactionalIDAuthorizationFailed)
		}
		tc := b.txnCoordinatorOr() // creates __transaction_state on first use
		if leader, ok := b.partitionCoordinator(c0, txn.TopicName, key); ok {
			if leader.NodeID < 0 {
				return fail(kerr.CoordinatorNotAvailable)
			}
			c.NodeID, c.Host, c.Port = leader.NodeID, leader.Host, leader.Port
			return c
		}
		if tc == nil || errors.Is(tc.Available(key), kerr.CoordinatorNotAvailable) {
			return fail(kerr.CoordinatorNotAvailable)
		}
	default:
		return fail(kerr.InvalidRequest)
	}
	c.NodeID = b.cfg.NodeID
	c.Host, c.Port = b.advertised(c0)
	return c
}
