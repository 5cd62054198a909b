package broker

// Topic operations with a controller go to the active controller: straight
// to it when this node leads the quorum, else forwarded, one topic per
// request, to the leader's broker listener as the same Kafka request
// (CreateTopics v7, DeleteTopics v6, CreatePartitions v3), as Kafka
// forwards admin requests to its controller. The answer waits until this
// broker's reconciler has applied the change (reconcile.go), so a client
// that reads Metadata from the broker it asked sees the result.
// ElectLeaders (43_elect_leaders.go) is forwarded the same way, whole, at
// v2; its answer leaves once the controller committed the changes.

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/controller"
)

// clusterWait bounds the wait for a committed change to be applied here
// when the request gives no timeout (auto-creation, group topics).
const clusterWait = 10 * time.Second

// createTopicAny creates a topic through the controller when there is
// one, else in the local registry. rf -1 is the default (1).
func (b *Broker) createTopicAny(name string, n int32, rf int16, configs map[string]string, timeout time.Duration) (*topic, error) {
	if b.cl == nil {
		return b.topics.createTopic(name, n, configs)
	}
	if rf == -1 {
		rf = 1
	}
	if err := b.awaitReady(timeout); err != nil {
		return nil, err
	}
	id, err := b.ctlCreateTopic(name, n, rf, configs)
	if err != nil {
		return nil, err
	}
	return b.awaitTopic(name, time.Now().Add(timeout), func(t *topic) bool { return t != nil && t.id == id && t.meta != nil })
}

func (b *Broker) ctlCreateTopic(name string, n int32, rf int16, configs map[string]string) ([16]byte, error) {
	ctl := b.cl.ctl
	if ctl.IsLeader() {
		id, err := ctl.CreateTopic(name, n, rf, configs)
		return id, ctlTopicError(err, name)
	}
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, n, rf
	return b.forwardCreateTopic(rt, configs)
}

// forwardCreateTopic sends a CreateTopics request for the one topic rt, with
// configs added, to the controller and returns the new topic's ID.
func (b *Broker) forwardCreateTopic(rt kmsg.CreateTopicsRequestTopic, configs map[string]string) ([16]byte, error) {
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, &v
		rt.Configs = append(rt.Configs, c)
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = int32(clusterWait / time.Millisecond)
	req.Topics = append(req.Topics, rt)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	if err := b.forward(req, resp); err != nil {
		return [16]byte{}, err
	}
	if len(resp.Topics) != 1 {
		return [16]byte{}, newAPIError(kerr.UnknownServerError, "The controller answered %d topics.", len(resp.Topics))
	}
	st := resp.Topics[0]
	if err := forwardedError(st.ErrorCode, st.ErrorMessage); err != nil {
		return [16]byte{}, err
	}
	return st.TopicID, nil
}

// deleteTopicAny deletes t through the controller and waits until it is
// gone here.
func (b *Broker) deleteTopicAny(t *topic, timeout time.Duration) error {
	if err := b.awaitReady(timeout); err != nil {
		return err
	}
	ctl := b.cl.ctl
	var err error
	if ctl.IsLeader() {
		err = ctlTopicError(ctl.DeleteTopic(t.name), t.name)
	} else {
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.TimeoutMillis = int32(clusterWait / time.Millisecond)
		rt := kmsg.NewDeleteTopicsRequestTopic()
		name := t.name
		rt.Topic = &name
		req.Topics, req.TopicNames = append(req.Topics, rt), []string{name}
		resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
		if err = b.forward(req, resp); err == nil {
			if len(resp.Topics) != 1 {
				return newAPIError(kerr.UnknownServerError, "The controller answered %d topics.", len(resp.Topics))
			}
			err = forwardedError(resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage)
		}
	}
	if err != nil {
		return err
	}
	_, err = b.awaitTopic(t.name, time.Now().Add(timeout), func(cur *topic) bool { return cur == nil || cur.id != t.id })
	return err
}

// addPartitionsAny grows a topic through the controller when there is
// one, else locally.
func (b *Broker) addPartitionsAny(name string, total int32, timeout time.Duration) error {
	if b.cl == nil {
		_, err := b.topics.addPartitions(name, total)
		return err
	}
	if err := b.awaitReady(timeout); err != nil {
		return err
	}
	ctl := b.cl.ctl
	var err error
	if ctl.IsLeader() {
		err = ctlTopicError(ctl.CreatePartitions(name, total), name)
	} else {
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.TimeoutMillis = int32(clusterWait / time.Millisecond)
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = name, total
		req.Topics = append(req.Topics, rt)
		resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
		if err = b.forward(req, resp); err == nil {
			if len(resp.Topics) != 1 {
				return newAPIError(kerr.UnknownServerError, "The controller answered %d topics.", len(resp.Topics))
			}
			err = forwardedError(resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage)
		}
	}
	if err != nil {
		return err
	}
	_, err = b.awaitTopic(name, time.Now().Add(timeout), func(t *topic) bool {
		return t != nil && t.meta != nil && int32(len(t.meta.Partitions)) >= total
	})
	return err
}

// forward sends req to the active controller's broker, at its
// inter-broker listener (peer.go), authenticated as that listener demands.
func (b *Broker) forward(req kmsg.Request, resp kmsg.Response) error {
	addr, err := b.leaderAddr(b.cl.ctl)
	if err != nil {
		return newAPIError(kerr.NotController, "No active controller is known yet: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterWait+peerTimeout)
	defer cancel()
	if err := b.callPeer(ctx, addr, b.peerClientID(), req, resp); err != nil {
		return newAPIError(kerr.NotController, "Cannot forward to the active controller: %v", err)
	}
	return nil
}

// forwardedError is the error a forwarded request's answer carries.
func forwardedError(code int16, msg *string) error {
	if code == 0 {
		return nil
	}
	k, ok := kerr.ErrorForCode(code).(*kerr.Error)
	if !ok {
		k = kerr.UnknownServerError
	}
	text := k.Message
	if msg != nil {
		text = *msg
	}
	return newAPIError(k, "%s", text)
}

// ctlTopicError maps the controller's topic errors onto Kafka's.
func ctlTopicError(err error, name string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, controller.ErrTopicExists):
		return newAPIError(kerr.TopicAlreadyExists, "Topic '%s' already exists.", name)
	case errors.Is(err, controller.ErrUnknownTopic):
		return newAPIError(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", name)
	case errors.Is(err, controller.ErrInvalidReplication):
		return newAPIError(kerr.InvalidReplicationFactor, "%v", err)
	case errors.Is(err, controller.ErrInvalidPartitions):
		return newAPIError(kerr.InvalidPartitions, "%v", err)
	case errors.Is(err, controller.ErrInvalidTopic):
		return newAPIError(kerr.InvalidTopicException, "%v", err)
	case errors.Is(err, controller.ErrNotLeader), errors.Is(err, controller.ErrClosed):
		return newAPIError(kerr.NotController, "%v", err)
	}
	return err
}

// checkClusterReplicas checks one manual replica list against the
// registered brokers (the controller checks again as it places them:
// createTopicPlaced).
func (b *Broker) checkClusterReplicas(replicas []int32) error {
	if len(replicas) == 0 {
		return newAPIError(kerr.InvalidReplicaAssignment, "The manual partition assignment includes an empty replica list.")
	}
	im := b.cl.ctl.Image()
	for i, r := range replicas {
		if _, ok := im.Broker(r); !ok {
			return newAPIError(kerr.InvalidReplicaAssignment,
				"The manual partition assignment includes broker %d, but no such broker is registered.", r)
		}
		if slices.Contains(replicas[:i], r) {
			return newAPIError(kerr.InvalidReplicaAssignment,
				"The manual partition assignment includes the broker %d more than once.", r)
		}
	}
	return nil
}

// offsetsReplicationFactor is __consumer_offsets' replication factor:
// Kafka's offsets.topic.replication.factor (3) bounded by the unfenced
// brokers; -1 (one node) without a controller.
func (b *Broker) offsetsReplicationFactor() int16 {
	if b.cl == nil {
		return -1
	}
	live := int16(0)
	for _, br := range b.cl.ctl.Image().Brokers() {
		if !br.Fenced {
			live++
		}
	}
	return max(min(live, 3), 1)
}

// codeOf is err's Kafka code, an apiError's own included.
func codeOf(err error) int16 {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.code
	}
	return errorCode(err)
}

// produceLeaderHints fills KIP-951's CurrentLeader of every partition
// answered NOT_LEADER_OR_FOLLOWER (Produce v10+) and the NodeEndpoints of
// those leaders at the listener the client came in on, so the client
// moves to the new leader without a Metadata round trip.
func (b *Broker) produceLeaderHints(r *request, resp *kmsg.ProduceResponse) {
	if r.version < 10 || b.cl == nil {
		return
	}
	want := map[int32]bool{}
	for i := range resp.Topics {
		st := &resp.Topics[i]
		t := b.topics.get(st.Topic)
		for k := range st.Partitions {
			sp := &st.Partitions[k]
			if sp.ErrorCode != kerr.NotLeaderForPartition.Code || t == nil || t.meta == nil ||
				sp.Partition < 0 || int(sp.Partition) >= len(t.meta.Partitions) {
				continue
			}
			ip := t.meta.Partitions[sp.Partition]
			sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = ip.Leader, ip.LeaderEpoch
			if ip.Leader >= 0 {
				want[ip.Leader] = true
			}
		}
	}
	if len(want) == 0 {
		return // no partition moved: no broker list to build (nearly every answer)
	}
	for _, br := range b.liveBrokers(r.conn) {
		if want[br.NodeID] {
			nb := kmsg.NewProduceResponseBroker()
			nb.NodeID, nb.Host, nb.Port, nb.Rack = br.NodeID, br.Host, br.Port, br.Rack
			resp.Brokers = append(resp.Brokers, nb)
		}
	}
}
