package broker

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
)

// CreatePartitions: v0-3
//
// Behavior:
// * With an authorizer: ALTER on each topic, else TOPIC_AUTHORIZATION_FAILED.
// * Grows a topic to Count partitions; new partitions take the topic's
//   configs. The topics of one request grow in parallel, beside any other
//   topic operation. TimeoutMillis is honoured as in Kafka: a topic not
//   grown by then is answered REQUEST_TIMED_OUT and the growth goes on in
//   the background (Metadata shows the new partitions once all exist);
//   TimeoutMillis <= 0 answers at once. A topic with another CreatePartitions
//   or a deletion in progress: REASSIGNMENT_IN_PROGRESS.
// * With a controller (clusterops.go): the active controller places the new
//   partitions with the replication factor of partition 0 (forwarded to it
//   from other brokers); the answer waits until this broker applied them.
// * Only increases: Count equal to or below the current count is
//   INVALID_PARTITIONS (with Kafka's messages), as is a count above the
//   broker's limit (10000). Unknown topics: UNKNOWN_TOPIC_OR_PARTITION. A
//   topic named twice: INVALID_REQUEST.
// * Assignment, when given, must hold one list per new partition, each
//   exactly [nodeID]; else INVALID_REPLICA_ASSIGNMENT.
// * ValidateOnly: every check, nothing created.

func init() { register(37, 0, 3, handleCreatePartitions) }

func handleCreatePartitions(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	resp.Topics = make([]kmsg.CreatePartitionsResponseTopic, 0, len(req.Topics)) // never moved: answers point into it
	var jobs []func()
	var finish []func(done bool)
	eachDistinct(len(req.Topics), func(i int) string { return req.Topics[i].Topic }, func(i int, dup bool) {
		rt := &req.Topics[i]
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		resp.Topics = append(resp.Topics, st)
		st2 := &resp.Topics[len(resp.Topics)-1]
		err := newAPIError(kerr.InvalidRequest, "Duplicate topic name.")
		if !dup {
			if err = b.checkPartitionsRequest(rt); b.denied(r, &chkCreateParts, rt.Topic) != 0 {
				err = newAPIError(kerr.TopicAuthorizationFailed, "Authorization failed.")
			}
		}
		if err != nil || req.ValidateOnly {
			st2.ErrorCode, st2.ErrorMessage = b.errorResult(err, "create partitions")
			return
		}
		jobs = append(jobs, func() { err = b.addPartitionsAny(rt.Topic, rt.Count, max(millis(req.TimeoutMillis), clusterWait)) })
		finish = append(finish, func(done bool) {
			if !done {
				err = timedOut("Adding partitions", rt.Topic, req.TimeoutMillis)
			}
			st2.ErrorCode, st2.ErrorMessage = b.errorResult(err, "create partitions")
		})
	})
	for i, done := range runWithin(time.Duration(req.TimeoutMillis)*time.Millisecond, jobs) {
		finish[i](done)
	}
	return r.respond(resp), nil
}

// checkPartitionsRequest checks one topic's growth.
func (b *Broker) checkPartitionsRequest(rt *kmsg.CreatePartitionsRequestTopic) error {
	t := b.topics.get(rt.Topic)
	if t == nil {
		return newAPIError(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", rt.Topic)
	}
	have := int32(len(t.partitions))
	switch {
	case rt.Count == have:
		return newAPIError(kerr.InvalidPartitions, "Topic already has %d partition(s).", have)
	case rt.Count < have:
		return newAPIError(kerr.InvalidPartitions,
			"The topic %s currently has %d partition(s); %d would not be an increase.", rt.Topic, have, rt.Count)
	case rt.Count > maxPartitions:
		return newAPIError(kerr.InvalidPartitions, "Number of partitions %d is above this broker's limit of %d.", rt.Count, maxPartitions)
	}
	return b.checkGrowAssignment(rt.Assignment, rt.Count-have)
}

// checkGrowAssignment checks the lists of the added partitions (nil: none
// given).
func (b *Broker) checkGrowAssignment(as []kmsg.CreatePartitionsRequestTopicAssignment, added int32) error {
	if as == nil {
		return nil
	}
	if int32(len(as)) != added {
		return newAPIError(kerr.InvalidReplicaAssignment,
			"Attempted to add %d additional partition(s), but only %d assignment(s) were specified.", added, len(as))
	}
	for _, a := range as {
		if err := b.checkReplicas(a.Replicas); err != nil {
			return err
		}
	}
	return nil
}
