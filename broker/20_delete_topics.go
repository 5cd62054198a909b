package broker

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
)

// DeleteTopics: v0-6
//
// Behavior:
// * With an authorizer (as Kafka): DESCRIBE on each topic, else
//   TOPIC_AUTHORIZATION_FAILED; then a missing topic is
//   UNKNOWN_TOPIC_OR_PARTITION and an existing one needs DELETE, else
//   TOPIC_AUTHORIZATION_FAILED (an unknown topic id stays UNKNOWN_TOPIC_ID).
// * With a controller (clusterops.go): the active controller removes the
//   topic from the metadata image (forwarded to it from other brokers) and
//   every broker's reconciler then hides it and removes its files; a
//   success means it is gone from this broker. Without a controller:
// * Every named topic is first hidden from Metadata, produce and fetch,
//   before any file work, so none is listed once the response leaves (nor
//   while it is being prepared). Their logs are then removed in parallel
//   (directories renamed "-delete" and removed by partition.Store); a
//   success means they are gone. TimeoutMillis is honoured as in Kafka: a
//   topic whose files are not removed by then is answered
//   REQUEST_TIMED_OUT and the removal goes on in the background (the topic
//   stays hidden; re-creating the name meanwhile gets TOPIC_ALREADY_EXISTS
//   "marked for deletion"). TimeoutMillis <= 0 answers at once, success
//   for a topic whose deletion started (Kafka's documented meaning). A topic
//   with a CreatePartitions in progress: REASSIGNMENT_IN_PROGRESS. One
//   durable step (topicops.go): a crash part way leaves the topic, at the
//   next start, wholly gone.
// * By name (v0-5 TopicNames, v6 Topics) or, from v6, by topic id. An
//   unknown name: UNKNOWN_TOPIC_OR_PARTITION; an unknown id:
//   UNKNOWN_TOPIC_ID. Both or neither of name and id, or the same topic
//   twice: INVALID_REQUEST.
// * Internal topics ("__" names, e.g. __consumer_offsets) are refused with
//   TOPIC_DELETION_DISABLED (v3+; INVALID_REQUEST below, as Kafka answers
//   a disabled deletion). Kafka's brokers would delete them (only
//   kafka-topics.sh refuses, client-side); Sluice keeps its group
//   coordinator's storage safe instead.
// * ErrorMessage from v5; TopicID from v6.

func init() { register(20, 0, 6, handleDeleteTopics) }

// deleteDenied applies Kafka's order: without DESCRIBE the topic is
// TOPIC_AUTHORIZATION_FAILED whether it exists or not; with it, a missing
// topic is UNKNOWN_TOPIC_OR_PARTITION and an existing one needs DELETE.
func (b *Broker) deleteDenied(r *request, name string) bool {
	if b.denied(r, &chkDeleteTopicDsc, name) != 0 {
		return true
	}
	return b.topics.get(name) != nil && b.denied(r, &chkDeleteTopic, name) != 0
}

// deleteTargetName is the name of the topic a deletion names, by name or
// by a known id (false: an unknown id, answered UNKNOWN_TOPIC_ID).
func (b *Broker) deleteTargetName(rt kmsg.DeleteTopicsRequestTopic) (string, bool) {
	if rt.Topic != nil {
		return *rt.Topic, true
	}
	if t := b.topics.getByID(rt.TopicID); t != nil {
		return t.name, true
	}
	return "", false
}

func handleDeleteTopics(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	targets := req.Topics
	if r.version < 6 {
		targets = make([]kmsg.DeleteTopicsRequestTopic, 0, len(req.TopicNames))
		for _, name := range req.TopicNames {
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = &name
			targets = append(targets, rt)
		}
	}
	resp.Topics = make([]kmsg.DeleteTopicsResponseTopic, 0, len(targets)) // never moved: answers point into it
	var jobs []func()
	var finish []func(done bool)
	eachDistinct(len(targets), func(i int) deleteKey { return keyOf(targets[i]) }, func(i int, dup bool) {
		rt := targets[i]
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		resp.Topics = append(resp.Topics, st)
		st2 := &resp.Topics[len(resp.Topics)-1]
		if dup {
			st2.ErrorCode, st2.ErrorMessage = b.errorResult(newAPIError(kerr.InvalidRequest, "Duplicate topic."), "delete topic")
			return
		}
		if name, ok := b.deleteTargetName(rt); ok && b.deleteDenied(r, name) {
			st2.ErrorCode, st2.ErrorMessage = b.errorResult(newAPIError(kerr.TopicAuthorizationFailed, "Authorization failed."), "")
			return
		}
		t, err := b.markFromRequest(rt, r.version, st2)
		if err != nil {
			st2.ErrorCode, st2.ErrorMessage = b.errorResult(err, "delete topic")
			return
		}
		jobs = append(jobs, func() {
			if b.cl != nil {
				err = b.deleteTopicAny(t, max(millis(req.TimeoutMillis), clusterWait))
				return
			}
			err = b.topics.removeTopic(t)
		})
		finish = append(finish, func(done bool) {
			switch {
			case !done && req.TimeoutMillis <= 0:
				err = nil // "<= 0 will trigger topic deletion and return immediately"
			case !done:
				err = timedOut("Deletion", t.name, req.TimeoutMillis)
			}
			st2.ErrorCode, st2.ErrorMessage = b.errorResult(err, "delete topic")
		})
	})
	for i, done := range runWithin(time.Duration(req.TimeoutMillis)*time.Millisecond, jobs) {
		finish[i](done)
	}
	return r.respond(resp), nil
}

// deleteKey identifies one requested deletion for duplicate detection.
type deleteKey struct {
	name string
	id   [16]byte
}

func keyOf(rt kmsg.DeleteTopicsRequestTopic) deleteKey {
	if rt.Topic != nil {
		return deleteKey{name: *rt.Topic}
	}
	return deleteKey{id: rt.TopicID}
}

// markFromRequest resolves one topic, fills st's name and id, and hides
// the topic (topics.markDeleted) for removeTopic.
func (b *Broker) markFromRequest(rt kmsg.DeleteTopicsRequestTopic, version int16, st *kmsg.DeleteTopicsResponseTopic) (*topic, error) {
	t, err := b.resolveDeleteTarget(rt)
	if err != nil {
		return nil, err
	}
	name := t.name
	st.Topic, st.TopicID = &name, t.id
	if t.internal() {
		code := kerr.TopicDeletionDisabled
		if version < 3 {
			code = kerr.InvalidRequest
		}
		return nil, newAPIError(code, "Internal topic %s cannot be deleted.", name)
	}
	if b.cl != nil {
		return t, nil // the controller decides; the reconciler removes the files
	}
	t, err = b.topics.markDeleted(name, t.id)
	if errors.Is(err, errUnknownTopic) { // deleted meanwhile
		return nil, newAPIError(kerr.UnknownTopicOrPartition, "This server does not host this topic-partition.")
	}
	return t, err
}

// resolveDeleteTarget finds the topic named or identified by rt.
func (b *Broker) resolveDeleteTarget(rt kmsg.DeleteTopicsRequestTopic) (*topic, error) {
	hasID := rt.TopicID != [16]byte{}
	switch {
	case rt.Topic != nil && hasID:
		return nil, newAPIError(kerr.InvalidRequest, "You may not specify both topic name and topic id.")
	case rt.Topic == nil && !hasID:
		return nil, newAPIError(kerr.InvalidRequest, "Neither topic name nor id were specified.")
	case hasID:
		if t := b.topics.getByID(rt.TopicID); t != nil {
			return t, nil
		}
		return nil, newAPIError(kerr.UnknownTopicID, "This server does not host this topic ID.")
	}
	if t := b.topics.get(*rt.Topic); t != nil {
		return t, nil
	}
	return nil, newAPIError(kerr.UnknownTopicOrPartition, "This server does not host this topic-partition.")
}
