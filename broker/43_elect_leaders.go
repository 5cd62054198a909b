package broker

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/controller"
	"github.com/sluice/sluice/netio"
)

// ElectLeaders: v0-2
//
// Behavior:
// * ALTER on the cluster, else CLUSTER_AUTHORIZATION_FAILED for every
//   partition named and (v1+) at the top, as Kafka.
// * v0 is a preferred election; v1+ ElectionType 0 (PREFERRED) or 1
//   (UNCLEAN); another type: INVALID_REQUEST at the top and for every
//   partition named.
// * PREFERRED: the partition's first replica leads when it is alive
//   (unfenced) and in the ISR; ELECTION_NOT_NEEDED when it leads already,
//   PREFERRED_LEADER_NOT_AVAILABLE when it cannot. UNCLEAN: only for a
//   partition without a live leader (else ELECTION_NOT_NEEDED), a live ISR
//   member if any, else the first live replica outside the ISR, which then
//   is the whole ISR (what only the others held is lost);
//   ELIGIBLE_LEADERS_NOT_AVAILABLE when no replica is alive. Unknown
//   topics and partitions: UNKNOWN_TOPIC_OR_PARTITION.
// * A null topic list means every partition (all versions); the answer
//   then leaves out the partitions that needed no election, as Kafka's.
// * With a controller (clusterops.go) the active controller decides and
//   commits every change in one batch of partition-change records (leader
//   epoch + 1, so followers truncate through DivergingEpoch as after any
//   fail-over); other brokers forward the request to it whole. No
//   controller reachable: NOT_CONTROLLER. The answer leaves once the
//   batch is committed; brokers apply it within tens of milliseconds.
//   TimeoutMillis is not used: a decision does not wait on brokers.
// * Without a controller (one node, no quorum) every partition is led by
//   its only replica: ELECTION_NOT_NEEDED.

func init() { register(43, 0, 2, handleElectLeaders) }

func handleElectLeaders(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	typ := controller.ElectionType(req.ElectionType)
	switch {
	case b.denied(r, &chkElectLeaders, "") != 0:
		electFailedWhole(resp, req, newAPIError(kerr.ClusterAuthorizationFailed, "Authorization failed."))
	case typ != controller.ElectPreferred && typ != controller.ElectUnclean:
		electFailedWhole(resp, req, newAPIError(kerr.InvalidRequest, "Unknown election type %d.", req.ElectionType))
	case b.cl == nil:
		electLocal(b, req, resp)
	case b.cl.ctl.IsLeader():
		electOnController(b, req, resp, typ)
	default:
		fwd := *req
		fresp := fwd.ResponseKind().(*kmsg.ElectLeadersResponse)
		if err := b.forward(&fwd, fresp); err != nil {
			electFailedWhole(resp, req, err)
			break
		}
		resp.ErrorCode, resp.Topics = fresp.ErrorCode, fresp.Topics
	}
	return r.respond(resp), nil
}

// electOnController runs the elections on this node, the active
// controller.
func electOnController(b *Broker, req *kmsg.ElectLeadersRequest, resp *kmsg.ElectLeadersResponse, typ controller.ElectionType) {
	var parts []controller.TopicPartition
	if req.Topics != nil {
		parts = []controller.TopicPartition{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				parts = append(parts, controller.TopicPartition{Topic: t.Topic, Partition: p})
			}
		}
	}
	results, err := b.cl.ctl.ElectLeaders(typ, parts)
	if err != nil && results == nil {
		electFailedWhole(resp, req, ctlTopicError(err, ""))
		return
	}
	for _, res := range results {
		code, msg := b.errorResult(electionError(res.Err, res.TopicPartition), "elect leaders")
		addElectResult(resp, res.Topic, res.Partition, code, msg)
	}
}

// electLocal answers for a node without a controller: one replica, the
// leader, per partition.
func electLocal(b *Broker, req *kmsg.ElectLeadersRequest, resp *kmsg.ElectLeadersResponse) {
	for _, t := range req.Topics {
		lt := b.topics.get(t.Topic)
		for _, p := range t.Partitions {
			err := electionError(controller.ErrElectionNotNeeded, controller.TopicPartition{Topic: t.Topic, Partition: p})
			if lt == nil || p < 0 || int(p) >= len(lt.partitions) {
				err = electionError(controller.ErrUnknownTopic, controller.TopicPartition{Topic: t.Topic, Partition: p})
			}
			code, msg := b.errorResult(err, "elect leaders")
			addElectResult(resp, t.Topic, p, code, msg)
		}
	}
}

// electionError maps one partition's controller outcome onto Kafka's
// error codes and messages.
func electionError(err error, tp controller.TopicPartition) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, controller.ErrElectionNotNeeded):
		return newAPIError(kerr.ElectionNotNeeded, "Leader election not needed for topic partition %s-%d.", tp.Topic, tp.Partition)
	case errors.Is(err, controller.ErrPreferredLeaderNotAvailable):
		return newAPIError(kerr.PreferredLeaderNotAvailable, "The preferred leader of %s-%d is not alive or not in the ISR.", tp.Topic, tp.Partition)
	case errors.Is(err, controller.ErrEligibleLeadersNotAvailable):
		return newAPIError(kerr.EligibleLeadersNotAvailable, "No replica of %s-%d is alive.", tp.Topic, tp.Partition)
	case errors.Is(err, controller.ErrUnknownTopic):
		return newAPIError(kerr.UnknownTopicOrPartition, "No such partition as %s-%d.", tp.Topic, tp.Partition)
	}
	return ctlTopicError(err, tp.Topic)
}

// electFailedWhole answers every partition named (and, v1+, the top) with
// err.
func electFailedWhole(resp *kmsg.ElectLeadersResponse, req *kmsg.ElectLeadersRequest, err error) {
	code := codeOf(err)
	var msg *string
	var ae *apiError
	if errors.As(err, &ae) {
		msg = &ae.msg
	}
	resp.ErrorCode = code
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			addElectResult(resp, t.Topic, p, code, msg)
		}
	}
}

// addElectResult adds one partition's result, under its topic's entry
// (the last one if it is the same topic, else a new one).
func addElectResult(resp *kmsg.ElectLeadersResponse, topic string, p int32, code int16, msg *string) {
	if n := len(resp.Topics); n == 0 || resp.Topics[n-1].Topic != topic {
		t := kmsg.NewElectLeadersResponseTopic()
		t.Topic = topic
		resp.Topics = append(resp.Topics, t)
	}
	rt := &resp.Topics[len(resp.Topics)-1]
	rp := kmsg.NewElectLeadersResponseTopicPartition()
	rp.Partition, rp.ErrorCode, rp.ErrorMessage = p, code, msg
	rt.Partitions = append(rt.Partitions, rp)
}
