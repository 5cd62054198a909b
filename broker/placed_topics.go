package broker

import (
	"errors"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/controller"
)

// createTopicPlaced creates a topic with a manual replica assignment
// (assignment[p] is partition p's replicas) through the active
// controller, forwarded to it as CreateTopics v7 with ReplicaAssignment
// when this node does not lead the quorum, and waits until this broker
// applied it (as createTopicAny does).
func (b *Broker) createTopicPlaced(name string, assignment [][]int32, configs map[string]string, timeout time.Duration) (*topic, error) {
	if err := b.awaitReady(timeout); err != nil {
		return nil, err
	}
	var id [16]byte
	var err error
	if ctl := b.cl.ctl; ctl.IsLeader() {
		id, err = ctl.CreateTopicAssigned(name, assignment, configs)
		if errors.Is(err, controller.ErrInvalidReplicaAssignment) {
			_, why, _ := strings.Cut(err.Error(), controller.ErrInvalidReplicaAssignment.Error()+": ")
			err = newAPIError(kerr.InvalidReplicaAssignment, "Invalid replica assignment for topic %s: %s.", name, why)
		}
		err = ctlTopicError(err, name)
	} else {
		id, err = b.forwardPlacedTopic(name, assignment, configs)
	}
	if err != nil {
		return nil, err
	}
	return b.awaitTopic(name, time.Now().Add(timeout), func(t *topic) bool { return t != nil && t.id == id && t.meta != nil })
}

func (b *Broker) forwardPlacedTopic(name string, assignment [][]int32, configs map[string]string) ([16]byte, error) {
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, -1, -1
	for p, replicas := range assignment {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = int32(p), replicas
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	}
	return b.forwardCreateTopic(rt, configs)
}
