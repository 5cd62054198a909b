package broker

import (
	"context"
	"errors"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/acl"
	"github.com/sluice/sluice/netio"
)

// Metadata: v0-12
//
// Behavior:
// * Brokers: every registered, unfenced broker of the metadata image at
//   its PLAINTEXT endpoint, and always this node at its advertised host and
//   port (rack null unless configured); ControllerID is the active
//   controller (the Raft leader, -1 while an election runs), or this
//   broker when that is a controller-only node, which clients cannot reach
//   (KRaft names a live broker, which forwards admin requests); without a
//   controller, this node alone and its id. ClusterID from meta.properties
//   (v2+).
// * Which topics: v0 an empty list means all; v1+ a null list means all and
//   an empty one none. From v10 a topic may be asked for by id (null name):
//   unknown ids get UNKNOWN_TOPIC_ID.
// * Unknown topics are created with the broker's NumPartitions when the
//   broker allows it and (v4+) the request's AllowAutoTopicCreation does;
//   below v4 only the broker decides. The created topic is returned ready
//   (no LEADER_NOT_AVAILABLE round trip). Internal names ("__…") are never
//   auto-created. Otherwise UNKNOWN_TOPIC_OR_PARTITION; illegal names get
//   INVALID_TOPIC_EXCEPTION.
// * Partitions, with a controller (reconcile.go): leader, leader epoch
//   (v7+), replicas and ISR from the metadata image (the ISR as the
//   leaders' AlterPartitions and the controller's fencing left it),
//   replicas on fenced brokers in OfflineReplicas (v5+), a
//   partition with no leader LEADER_NOT_AVAILABLE. A broker that just
//   started waits (5 s at most) until its logs follow the image and it is
//   unfenced before answering. Without a controller: leader, replicas and
//   ISR are this node, offline empty, LeaderEpoch the log's. TopicID
//   (v10+); IsInternal (v1+) for "__" names. An offline partition (its log could not be opened) is shown as
//   Kafka shows one whose only replica is on a failed log directory:
//   LEADER_NOT_AVAILABLE, leader -1, ISR empty, this node in
//   OfflineReplicas; requests for it get KAFKA_STORAGE_ERROR.
// * Authorized operations (v8+), when the request includes them: each
//   described topic's bit field of allowed topic operations, and (v8-10)
//   the cluster's (0 without DESCRIBE on the cluster); otherwise INT32_MIN.
// * With an authorizer (as KafkaApis): a request for all topics lists only
//   those the principal may DESCRIBE; a named topic it may not DESCRIBE
//   gets TOPIC_AUTHORIZATION_FAILED whether it exists or not (by id: with
//   a null name); auto-creating needs CREATE on the topic or the cluster,
//   else TOPIC_AUTHORIZATION_FAILED.

func init() { register(3, 0, 12, handleMetadata) }

func handleMetadata(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	_ = b.awaitReady(startWait) // in a cluster: topics once the logs follow the image
	resp.Brokers = b.liveBrokers(r.conn)
	resp.ClusterID = &b.clusterID
	resp.ControllerID = b.controllerID()
	if r.version <= 10 && req.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = b.clusterAuthorizedOps(r)
	}
	allTopics := req.Topics == nil || (r.version == 0 && len(req.Topics) == 0)
	if allTopics {
		for _, t := range b.topics.all() {
			if b.allowed(r, &chkMetadataTopic, t.name) {
				resp.Topics = append(resp.Topics, b.topicMetadata(t))
			}
		}
		b.fillTopicAuthorizedOps(r, req, resp)
		return r.respond(resp), nil
	}
	autoCreate := b.cfg.AutoCreateTopics && (r.version < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		resp.Topics = append(resp.Topics, b.requestedTopicMetadata(r, rt, autoCreate))
	}
	b.fillTopicAuthorizedOps(r, req, resp)
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
func (b *Broker) requestedTopicMetadata(r *request, rt kmsg.MetadataRequestTopic, autoCreate bool) kmsg.MetadataResponseTopic {
	if rt.Topic == nil {
		mt := kmsg.NewMetadataResponseTopic()
		mt.TopicID = rt.TopicID
		mt.ErrorCode = kerr.UnknownTopicID.Code
		if t := b.topics.getByID(rt.TopicID); t != nil {
			if mt.ErrorCode = b.denied(r, &chkMetadataTopic, t.name); mt.ErrorCode == 0 {
				return b.topicMetadata(t)
			}
		}
		return mt
	}
	name := *rt.Topic
	denied := b.denied(r, &chkMetadataTopic, name)
	if t := b.topics.get(name); t != nil && denied == 0 {
		return b.topicMetadata(t)
	}
	if denied == 0 && autoCreate && validateTopicName(name) == nil && !isInternalTopic(name) {
		denied = b.denied(r, &chkMetadataCreate, name)
	}
	if denied != 0 {
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = &name
		mt.IsInternal = isInternalTopic(name)
		mt.ErrorCode = denied
		return mt
	}
	t, err := b.autoCreateTopic(name, autoCreate)
	if err != nil {
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = &name
		mt.IsInternal = isInternalTopic(name)
		mt.ErrorCode = codeOf(err)
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
	t, err := b.createTopicAny(name, b.cfg.NumPartitions, -1, nil, clusterWait)
	if errors.Is(err, errTopicExists) || codeOf(err) == kerr.TopicAlreadyExists.Code {
		if t = b.topics.get(name); t != nil {
			return t, nil
		}
		// Another request is creating it, or its deletion is still
		// removing files: Kafka's retriable answer for a topic not ready.
		return nil, newAPIError(kerr.LeaderNotAvailable, "Topic '%s' is being created or deleted.", name)
	}
	if errors.Is(err, errNotReconciled) {
		return nil, newAPIError(kerr.LeaderNotAvailable, "Topic '%s' is being created.", name)
	}
	if err != nil && codeOf(err) == kerr.UnknownServerError.Code {
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
	if t.meta != nil {
		mt.Partitions = imagePartitions(t, b.liveSet())
		return mt
	}
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

// fillTopicAuthorizedOps sets the authorized operations of every described
// topic when the request asks for them.
func (b *Broker) fillTopicAuthorizedOps(r *request, req *kmsg.MetadataRequest, resp *kmsg.MetadataResponse) {
	if r.version < 8 || !req.IncludeTopicAuthorizedOperations {
		return
	}
	for i := range resp.Topics {
		if mt := &resp.Topics[i]; mt.ErrorCode == 0 && mt.Topic != nil {
			mt.AuthorizedOperations = b.authorizedOps(r, acl.Topic, *mt.Topic)
		}
	}
}

// imagePartitions describes t's partitions from the metadata image:
// leader, leader epoch, replicas and ISR as the image holds them (ISR
// changes come from AlterPartition and fencing); a replica on a fenced
// broker is offline, and a partition without a leader LEADER_NOT_AVAILABLE.
func imagePartitions(t *topic, live map[int32]bool) []kmsg.MetadataResponseTopicPartition {
	out := make([]kmsg.MetadataResponseTopicPartition, 0, len(t.meta.Partitions))
	for i, ip := range t.meta.Partitions {
		p := kmsg.NewMetadataResponseTopicPartition()
		p.Partition = int32(i)
		p.Leader, p.LeaderEpoch = ip.Leader, ip.LeaderEpoch
		p.Replicas, p.ISR = slices.Clone(ip.Replicas), slices.Clone(ip.ISR)
		p.OfflineReplicas = []int32{}
		for _, r := range ip.Replicas {
			if !live[r] {
				p.OfflineReplicas = append(p.OfflineReplicas, r)
			}
		}
		if ip.Leader < 0 {
			p.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		out = append(out, p)
	}
	return out
}

// liveSet is the unfenced brokers of the image, this broker among them.
func (b *Broker) liveSet() map[int32]bool {
	live := map[int32]bool{b.cfg.NodeID: true}
	if b.cl != nil {
		for _, br := range b.cl.ctl.Image().Brokers() {
			if !br.Fenced {
				live[br.ID] = true
			}
		}
	}
	return live
}
