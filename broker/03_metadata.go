package broker

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
)

// Metadata: v0-12
//
// Behavior:
// * Brokers: this node, at its advertised host and port (rack null unless
//   configured); ControllerID is this node's id; ClusterID from
//   meta.properties (v2+).
// * Which topics: v0 an empty list means all; v1+ a null list means all and
//   an empty one none. From v10 a topic may be asked for by id (null name):
//   unknown ids get UNKNOWN_TOPIC_ID.
// * Unknown topics are created with the broker's NumPartitions when the
//   broker allows it and (v4+) the request's AllowAutoTopicCreation does;
//   below v4 only the broker decides. The created topic is returned ready
//   (no LEADER_NOT_AVAILABLE round trip). Internal names ("__…") are never
//   auto-created. Otherwise UNKNOWN_TOPIC_OR_PARTITION; illegal names get
//   INVALID_TOPIC_EXCEPTION.
// * Partitions: leader, replicas and ISR are this node, offline empty,
//   LeaderEpoch (v7+) the log's; TopicID (v10+); IsInternal (v1+) for "__"
//   names. An offline partition (its log could not be opened) is shown as
//   Kafka shows one whose only replica is on a failed log directory:
//   LEADER_NOT_AVAILABLE, leader -1, ISR empty, this node in
//   OfflineReplicas; requests for it get KAFKA_STORAGE_ERROR. Authorized operations are not computed (INT32_MIN, "not
//   requested").

func init() { register(3, 0, 12, handleMetadata) }

func handleMetadata(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	resp.Brokers = []kmsg.MetadataResponseBroker{b.brokerMetadata(r.conn)}
	resp.ClusterID = &b.clusterID
	resp.ControllerID = b.cfg.NodeID
	allTopics := req.Topics == nil || (r.version == 0 && len(req.Topics) == 0)
	if allTopics {
		for _, t := range b.topics.all() {
			resp.Topics = append(resp.Topics, b.topicMetadata(t))
		}
		return r.respond(resp), nil
	}
	autoCreate := b.cfg.AutoCreateTopics && (r.version < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		resp.Topics = append(resp.Topics, b.requestedTopicMetadata(rt, autoCreate))
	}
	return r.respond(resp), nil
}

// brokerMetadata describes this node at the advertised address of the
// listener c came in on, as Kafka does.
func (b *Broker) brokerMetadata(c *netio.Conn) kmsg.MetadataResponseBroker {
	br := kmsg.NewMetadataResponseBroker()
	br.NodeID = b.cfg.NodeID
	br.Host, br.Port = b.advertised(c)
	if b.cfg.Rack != "" {
		rack := b.cfg.Rack
		br.Rack = &rack
	}
	return br
}

// requestedTopicMetadata resolves one requested topic, by id when the name
// is null, creating it when allowed.
func (b *Broker) requestedTopicMetadata(rt kmsg.MetadataRequestTopic, autoCreate bool) kmsg.MetadataResponseTopic {
	if rt.Topic == nil {
		if t := b.topics.getByID(rt.TopicID); t != nil {
			return b.topicMetadata(t)
		}
		mt := kmsg.NewMetadataResponseTopic()
		mt.TopicID = rt.TopicID
		mt.ErrorCode = kerr.UnknownTopicID.Code
		return mt
	}
	name := *rt.Topic
	if t := b.topics.get(name); t != nil {
		return b.topicMetadata(t)
	}
	t, err := b.autoCreateTopic(name, autoCreate)
	if err != nil {
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = &name
		mt.IsInternal = isInternalTopic(name)
		mt.ErrorCode = errorCode(err)
		return mt
	}
	return b.topicMetadata(t)
}

// autoCreateTopic creates an unknown topic if allowed; a concurrent
// creation or deletion of the same name is LEADER_NOT_AVAILABLE until done.
func (b *Broker) autoCreateTopic(name string, allowed bool) (*topic, error) {
	if err := validateTopicName(name); err != nil {
		return nil, err
	}
	if !allowed || isInternalTopic(name) {
		return nil, errUnknownTopic
	}
	t, err := b.topics.createTopic(name, b.cfg.NumPartitions, nil)
	if errors.Is(err, errTopicExists) || errorCode(err) == kerr.TopicAlreadyExists.Code {
		if t = b.topics.get(name); t != nil {
			return t, nil
		}
		// Another request is creating it, or its deletion is still
		// removing files: Kafka's retriable answer for a topic not ready.
		return nil, newAPIError(kerr.LeaderNotAvailable, "Topic '%s' is being created or deleted.", name)
	}
	if err != nil && errorCode(err) == kerr.UnknownServerError.Code {
		b.log.Error("cannot auto-create topic", "topic", name, "err", err)
	}
	return t, err
}

// topicMetadata describes an existing topic.
func (b *Broker) topicMetadata(t *topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.name
	mt.Topic = &name
	mt.TopicID = t.id
	mt.IsInternal = t.internal()
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, 0, len(t.partitions))
	for i, l := range t.partitions {
		p := kmsg.NewMetadataResponseTopicPartition()
		p.Partition = int32(i)
		p.Replicas = []int32{b.cfg.NodeID}
		if l == nil {
			// Offline (its log could not be opened): as Kafka shows a
			// partition whose only replica is on a failed log directory.
			p.ErrorCode = kerr.LeaderNotAvailable.Code
			p.Leader, p.LeaderEpoch = -1, -1
			p.ISR = []int32{}
			p.OfflineReplicas = []int32{b.cfg.NodeID}
			mt.Partitions = append(mt.Partitions, p)
			continue
		}
		p.Leader = b.cfg.NodeID
		p.LeaderEpoch = l.LeaderEpoch()
		p.ISR = []int32{b.cfg.NodeID}
		p.OfflineReplicas = []int32{}
		mt.Partitions = append(mt.Partitions, p)
	}
	return mt
}
