package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/controller"
	"github.com/sluice/sluice/netio"
)

// AddRaftVoter: v0
//
// Behavior:
// * With an authorizer, the sender needs ALTER on the cluster, else
//   CLUSTER_AUTHORIZATION_FAILED (as Kafka).
// * Adds VoterID as a voter of the controller quorum at the first of
//   Listeners (its CONTROLLER listener): the active controller calls raft
//   AddVoter, and the new voter catches up from the log. A controller
//   started with controller.quorum.bootstrap.servers naming other
//   controllers sends it for itself until it is a voter (joinLoop below),
//   as Kafka's controller.quorum.auto.join.enable does. A voter already
//   at that address is a success.
// * A node that is not the active controller forwards the request there
//   once and relays the answer; with none reachable,
//   NOT_LEADER_OR_FOLLOWER (as Kafka's raft client answers).
// * Errors: INCONSISTENT_CLUSTER_ID for another ClusterID; DUPLICATE_VOTER
//   for a voter id already at another address; INVALID_REQUEST without a
//   listener or without a controller quorum. VoterDirectoryID and
//   AckWhenCommitted (v1, not served) are not used: the answer comes once
//   the new configuration is committed.

func init() { register(80, 0, 0, handleAddRaftVoter) }

func handleAddRaftVoter(ctx context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.AddRaftVoterRequest)
	resp := req.ResponseKind().(*kmsg.AddRaftVoterResponse)
	fail := func(e *kerr.Error, format string, args ...any) (*netio.Response, error) {
		resp.ErrorCode, resp.ErrorMessage = e.Code, kmsg.StringPtr(fmt.Sprintf(format, args...))
		return r.respond(resp), nil
	}
	if resp.ErrorCode = b.denied(r, &chkAlterQuorum, ""); resp.ErrorCode != 0 {
		return r.respond(resp), nil
	}
	switch {
	case b.cl == nil:
		return fail(kerr.InvalidRequest, "No controller quorum: this broker runs alone.")
	case req.ClusterID != nil && *req.ClusterID != b.clusterID:
		return fail(kerr.InconsistentClusterID, "Cluster %q, not %q.", *req.ClusterID, b.clusterID)
	case len(req.Listeners) == 0:
		return fail(kerr.InvalidRequest, "No listener for voter %d.", req.VoterID)
	}
	if !b.cl.ctl.IsLeader() && (r.clientID == nil || *r.clientID != forwardedClientID) {
		if addr, err := b.leaderAddr(b.cl.ctl); err == nil {
			fwd := *req
			fresp := fwd.ResponseKind().(*kmsg.AddRaftVoterResponse)
			if err := b.callPeerAt(ctx, addr, forwardedClientID, &fwd, fresp, 0); err == nil {
				fresp.Version = r.version
				return r.respond(fresp), nil
			}
		}
	}
	l := req.Listeners[0]
	addr := net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))
	err := b.cl.ctl.AddVoter(req.VoterID, addr)
	switch {
	case err == nil:
		b.log.Info("controller added to the quorum as a voter", "node_id", req.VoterID, "addr", addr)
		return r.respond(resp), nil
	case errors.Is(err, controller.ErrDuplicateVoter):
		return fail(kerr.DuplicateVoter, "%v", err)
	case errors.Is(err, controller.ErrNotLeader), errors.Is(err, controller.ErrClosed):
		return fail(kerr.NotLeaderForPartition, "%v", err)
	}
	b.log.Error("cannot add a voter to the quorum", "node_id", req.VoterID, "addr", addr, "err", err)
	return fail(kerr.UnknownServerError, "%v", err)
}

// joinRetry is how often a joining controller asks to be added.
const joinRetry = 500 * time.Millisecond

// joinLoop runs on a node whose controller joins a running quorum
// (Config.JoinQuorum): until the quorum's configuration names it as a
// voter, it sends AddRaftVoter for itself to the active controller, found
// through Config.QuorumAddrs as the broker's registration is (peer.go).
func (m *clusterMember) joinLoop() {
	defer close(m.joinDone)
	timer := time.NewTimer(0)
	defer timer.Stop()
	warned := false
	for {
		select {
		case <-m.quit:
			return
		case <-timer.C:
		}
		if m.ctl.IsVoter() {
			m.b.log.Info("this controller is a voter of the quorum", "node_id", m.b.cfg.NodeID)
			return
		}
		if err := m.askToJoin(); err != nil && !warned {
			warned = true
			m.b.log.Warn("cannot join the controller quorum yet; retrying", "err", err)
		}
		timer.Reset(joinRetry)
	}
}

// askToJoin sends one AddRaftVoter for this node.
func (m *clusterMember) askToJoin() error {
	addr, err := m.b.leaderAddr(m.ctl)
	if err != nil {
		return err
	}
	host, port, ok := splitHostPort(m.ctl.Addr())
	if !ok {
		return fmt.Errorf("broker: bad controller address %q", m.ctl.Addr())
	}
	req := kmsg.NewPtrAddRaftVoterRequest()
	req.ClusterID, req.VoterID = kmsg.StringPtr(m.b.clusterID), m.b.cfg.NodeID
	req.TimeoutMillis = int32(peerTimeout / time.Millisecond)
	l := kmsg.NewAddRaftVoterRequestListener()
	l.Name, l.Host, l.Port = m.b.cfg.ControllerClient.Listener, host, port
	if l.Name == "" {
		l.Name = "CONTROLLER"
	}
	req.Listeners = append(req.Listeners, l)
	resp := req.ResponseKind().(*kmsg.AddRaftVoterResponse)
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	defer cancel()
	if err := m.b.callPeerAt(ctx, addr, m.b.peerClientID(), req, resp, 0); err != nil {
		return err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		msg := ""
		if resp.ErrorMessage != nil {
			msg = ": " + *resp.ErrorMessage
		}
		return fmt.Errorf("broker: AddRaftVoter at %s: %w%s", addr, err, msg)
	}
	return nil
}
