package broker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/controller"
	"github.com/sluice/sluice/metadata"
	"github.com/sluice/sluice/netio"
)

// AlterPartitionReassignments: v0-1
//
// Behavior:
//   - With an authorizer: ALTER on the cluster, else
//     CLUSTER_AUTHORIZATION_FAILED at the top and on every partition.
//   - With a controller: the active controller decides every partition of
//     the request in one batch (controller/reassign.go; forwarded to it from
//     other brokers, as CreateTopics is). A list of replicas starts (or
//     replaces) a reassignment: the partition's replicas become the union
//     of the target and the original replicas until every target replica is
//     in the ISR, then the target. A null list cancels the pending one:
//     NO_REASSIGNMENT_IN_PROGRESS when there is none. An empty or duplicated
//     list, or an unregistered broker: INVALID_REPLICA_ASSIGNMENT; an
//     unknown topic or partition: UNKNOWN_TOPIC_OR_PARTITION. v1's
//     AllowReplicationFactorChange false refuses a list whose length is not
//     the current replication factor with INVALID_REPLICATION_FACTOR
//     (KIP-860). The answer waits (up to TimeoutMillis, at least 10 s) until
//     this broker's image shows the changes.
//   - Without a controller (one node): the only broker is this one, so a
//     list of exactly [node.id] is answered ok (nothing moves), any other
//     INVALID_REPLICA_ASSIGNMENT, and a cancel NO_REASSIGNMENT_IN_PROGRESS.
//   - A partition named twice: INVALID_REQUEST for both, neither applied.

func init() { register(45, 0, 1, handleAlterPartitionReassignments) }

// reassignItem is one partition of the request and its answer.
type reassignItem struct {
	topic     string
	partition int32
	replicas  []int32
	err       error
	answer    *kmsg.AlterPartitionAssignmentsResponseTopicPartition
}

func handleAlterPartitionReassignments(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
	items := reassignItems(req, resp)
	if code := b.denied(r, &chkReassign, ""); code != 0 {
		resp.ErrorCode = code
		resp.ErrorMessage = strPtr(kerr.ClusterAuthorizationFailed.Message)
		for _, it := range items {
			it.err = newAPIError(kerr.ClusterAuthorizationFailed, "%s", kerr.ClusterAuthorizationFailed.Message)
		}
	} else if b.cl == nil {
		b.reassignSingle(items)
	} else if err := b.reassignCluster(req, items); err != nil {
		resp.ErrorCode, resp.ErrorMessage = b.errorResult(err, "reassign partitions")
		for _, it := range items {
			if it.err == nil {
				it.err = err
			}
		}
	}
	for _, it := range items {
		it.answer.ErrorCode, it.answer.ErrorMessage = b.errorResult(it.err, "reassign partitions")
	}
	return r.respond(resp), nil
}

// reassignItems lays out the response, one answer per requested
// partition, and marks the partitions named twice.
func reassignItems(req *kmsg.AlterPartitionAssignmentsRequest, resp *kmsg.AlterPartitionAssignmentsResponse) []*reassignItem {
	type key struct {
		topic string
		p     int32
	}
	seen := map[key]int{}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			seen[key{rt.Topic, rp.Partition}]++
		}
	}
	var items []*reassignItem
	resp.Topics = make([]kmsg.AlterPartitionAssignmentsResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		st := &resp.Topics[i]
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.AlterPartitionAssignmentsResponseTopicPartition, len(rt.Partitions))
		for k, rp := range rt.Partitions {
			sp := &st.Partitions[k]
			sp.Partition = rp.Partition
			it := &reassignItem{topic: rt.Topic, partition: rp.Partition, replicas: rp.Replicas, answer: sp}
			if seen[key{rt.Topic, rp.Partition}] > 1 {
				it.err = newAPIError(kerr.InvalidRequest, "Duplicate partition %s-%d.", rt.Topic, rp.Partition)
			}
			items = append(items, it)
		}
	}
	return items
}

// reassignSingle answers a broker without a controller: it is the only
// replica there can be.
func (b *Broker) reassignSingle(items []*reassignItem) {
	for _, it := range items {
		if it.err != nil {
			continue
		}
		t := b.topics.get(it.topic)
		switch {
		case t == nil || it.partition < 0 || int(it.partition) >= len(t.partitions):
			it.err = newAPIError(kerr.UnknownTopicOrPartition, "The partition %s-%d does not exist.", it.topic, it.partition)
		case it.replicas == nil:
			it.err = newAPIError(kerr.NoReassignmentInProgress, "No reassignment is in progress for %s-%d.", it.topic, it.partition)
		case !slices.Equal(it.replicas, []int32{b.cfg.NodeID}):
			it.err = newAPIError(kerr.InvalidReplicaAssignment,
				"The replica list %v is not this single broker (node %d).", it.replicas, b.cfg.NodeID)
		}
	}
}

// reassignCluster has the active controller decide the items still
// unanswered and waits until this broker's image shows the changes. Its
// error is one of the whole request.
func (b *Broker) reassignCluster(req *kmsg.AlterPartitionAssignmentsRequest, items []*reassignItem) error {
	timeout := max(millis(req.TimeoutMillis), clusterWait)
	if err := b.awaitReady(timeout); err != nil {
		return err
	}
	im := b.cl.ctl.Image()
	var todo []*reassignItem
	for _, it := range items {
		if it.err == nil && !req.AllowReplicationFactorChange && it.replicas != nil {
			if t, ok := im.Topic(it.topic); ok && it.partition >= 0 && int(it.partition) < len(t.Partitions) {
				if rf := len(t.Partitions[it.partition].Original()); rf != len(it.replicas) {
					it.err = newAPIError(kerr.InvalidReplicationFactor,
						"The replication factor of %s-%d is %d; the new replica list has %d and replication factor changes are not allowed.",
						it.topic, it.partition, rf, len(it.replicas))
				}
			}
		}
		if it.err == nil {
			todo = append(todo, it)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	before := map[*reassignItem]int32{}
	for _, it := range todo {
		before[it] = partitionEpochOf(im, it.topic, it.partition)
	}
	var err error
	if b.cl.ctl.IsLeader() {
		err = b.reassignLocal(todo)
	} else {
		err = b.reassignForward(todo)
	}
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	ok := b.cl.rec.awaitApplied(deadline, func(im *metadata.Image) bool {
		for _, it := range todo {
			if it.err == nil && partitionEpochOf(im, it.topic, it.partition) <= before[it] {
				return false
			}
		}
		return true
	})
	if !ok {
		for _, it := range todo {
			if it.err == nil {
				it.err = errNotReconciled
			}
		}
	}
	return nil
}

// partitionEpochOf is a partition's epoch in im, -1 if it has none.
func partitionEpochOf(im *metadata.Image, topic string, partition int32) int32 {
	t, ok := im.Topic(topic)
	if !ok || partition < 0 || int(partition) >= len(t.Partitions) {
		return -1
	}
	return t.Partitions[partition].PartitionEpoch
}

// reassignLocal decides items on this node, the active controller.
func (b *Broker) reassignLocal(items []*reassignItem) error {
	reqs := make([]controller.Reassignment, len(items))
	for i, it := range items {
		reqs[i] = controller.Reassignment{Topic: it.topic, Partition: it.partition, Replicas: it.replicas}
	}
	errs, err := b.cl.ctl.AlterPartitionReassignments(reqs)
	if err != nil {
		return ctlTopicError(err, "")
	}
	for i, it := range items {
		it.err = ctlReassignError(errs[i], it.topic, it.partition)
	}
	return nil
}

// reassignForward sends items to the active controller's broker as one
// AlterPartitionReassignments request.
func (b *Broker) reassignForward(items []*reassignItem) error {
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	req.TimeoutMillis = int32(clusterWait / time.Millisecond)
	req.AllowReplicationFactorChange = true // checked here already
	byTopic := map[string]int{}
	for _, it := range items {
		i, ok := byTopic[it.topic]
		if !ok {
			i = len(req.Topics)
			byTopic[it.topic] = i
			rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
			rt.Topic = it.topic
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		rp.Partition, rp.Replicas = it.partition, it.replicas
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	if err := b.forward(req, resp); err != nil {
		return err
	}
	if err := forwardedError(resp.ErrorCode, resp.ErrorMessage); err != nil {
		return err
	}
	answered := map[string]map[int32]error{}
	for _, st := range resp.Topics {
		m := answered[st.Topic]
		if m == nil {
			m = map[int32]error{}
			answered[st.Topic] = m
		}
		for _, sp := range st.Partitions {
			m[sp.Partition] = forwardedError(sp.ErrorCode, sp.ErrorMessage)
		}
	}
	for _, it := range items {
		err, ok := answered[it.topic][it.partition]
		if !ok {
			err = newAPIError(kerr.UnknownServerError, "The controller did not answer %s-%d.", it.topic, it.partition)
		}
		it.err = err
	}
	return nil
}

// ctlReassignError maps the controller's reassignment errors onto Kafka's.
func ctlReassignError(err error, topic string, partition int32) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, controller.ErrUnknownTopic):
		return newAPIError(kerr.UnknownTopicOrPartition, "The partition %s-%d does not exist.", topic, partition)
	case errors.Is(err, controller.ErrInvalidReplicaAssignment):
		_, why, _ := strings.Cut(err.Error(), controller.ErrInvalidReplicaAssignment.Error()+": ")
		return newAPIError(kerr.InvalidReplicaAssignment, "Invalid replica assignment for %s-%d: %s.", topic, partition, why)
	case errors.Is(err, controller.ErrNoReassignmentInProgress):
		return newAPIError(kerr.NoReassignmentInProgress, "No reassignment is in progress for %s-%d.", topic, partition)
	}
	return ctlTopicError(err, topic)
}
