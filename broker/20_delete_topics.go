package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
)

// DeleteTopics: v0-6
//
// Behavior:
// * Synchronous: the topic's logs are gone (their directories renamed
//   "-delete" and removed by partition.Store) when the response leaves;
//   TimeoutMillis is ignored. One durable step (topicops.go): a crash
//   part way leaves the topic, at the next start, wholly gone.
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
	eachDistinct(len(targets), func(i int) deleteKey { return keyOf(targets[i]) }, func(i int, dup bool) {
		rt := targets[i]
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		err := newAPIError(kerr.InvalidRequest, "Duplicate topic.")
		if !dup {
			err = b.deleteTopicFromRequest(rt, r.version, &st)
		}
		st.ErrorCode, st.ErrorMessage = b.errorResult(err, "delete topic")
		resp.Topics = append(resp.Topics, st)
	})
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

// deleteTopicFromRequest resolves and deletes one topic, filling st's name
// and id.
func (b *Broker) deleteTopicFromRequest(rt kmsg.DeleteTopicsRequestTopic, version int16, st *kmsg.DeleteTopicsResponseTopic) error {
	t, err := b.resolveDeleteTarget(rt)
	if err != nil {
		return err
	}
	name := t.name
	st.Topic, st.TopicID = &name, t.id
	if t.internal() {
		code := kerr.TopicDeletionDisabled
		if version < 3 {
			code = kerr.InvalidRequest
		}
		return newAPIError(code, "Internal topic %s cannot be deleted.", name)
	}
	return b.topics.deleteTopic(name)
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
