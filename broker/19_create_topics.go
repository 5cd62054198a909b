package broker

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
)

// CreateTopics: v0-7
//
// Behavior:
// * With an authorizer: CREATE on the cluster or on the topic, else
//   TOPIC_AUTHORIZATION_FAILED for that topic; without DESCRIBE_CONFIGS on
//   it, its configs are left out and (v5+) TopicConfigErrorCode is
//   TOPIC_AUTHORIZATION_FAILED, as Kafka.
// * A created topic is ready when its success leaves. The topics of one
//   request are created in parallel, and beside any other request's: one
//   big creation never holds up another. TimeoutMillis is honoured as in
//   Kafka: a topic not created by then is answered REQUEST_TIMED_OUT and
//   its creation goes on in the background (Metadata lists it once
//   whole); TimeoutMillis <= 0 answers at once. A name whose creation is
//   in progress: TOPIC_ALREADY_EXISTS; one whose deletion is still
//   removing files: TOPIC_ALREADY_EXISTS "Topic 'x' is marked for
//   deletion." (Kafka's ZooKeeper-mode answer). One durable step
//   (topicops.go): a crash part way leaves the topic, at the next start,
//   whole with its configs.
// * Names follow Kafka's rules (1-249 of [a-zA-Z0-9._-], not "." or "..")
//   else INVALID_TOPIC_EXCEPTION, as is a name that differs from an
//   existing one only by '.' versus '_'. An existing topic:
//   TOPIC_ALREADY_EXISTS. A name given twice in one request:
//   INVALID_REQUEST, once.
// * NumPartitions -1 is the broker's num.partitions; 0 or below -1:
//   INVALID_PARTITIONS. ReplicationFactor: with a controller (clusterops.go)
//   the active controller places the replicas on the unfenced brokers
//   (-1 is 1; more than the unfenced brokers: INVALID_REPLICATION_FACTOR),
//   the request is forwarded to it from the other brokers, and the answer
//   waits until this broker applied the topic. Without one it must be -1
//   or 1, else INVALID_REPLICATION_FACTOR.
// * ReplicaAssignment: NumPartitions and ReplicationFactor must then be -1
//   (INVALID_REQUEST); partitions must be 0..n-1 and each list exactly
//   [nodeID] (with a controller: registered brokers, none twice, every
//   list of one length; the controller places the replicas as listed, the
//   ISR the unfenced ones, the first of them the leader), else
//   INVALID_REPLICA_ASSIGNMENT.
// * Configs: the topic configs of topicconfig.go; an unknown key, a bad
//   value or a null value is INVALID_CONFIG with a message naming the key
//   (and the value). A key given twice: the last wins.
// * ValidateOnly (v1+): every check, nothing created, the response as if
//   created (TopicID zero).
// * ErrorMessage from v1. From v5: NumPartitions, ReplicationFactor and
//   every topic config with its value and source (-1, -1 and none on
//   error). From v7: TopicID.

func init() { register(19, 0, 7, handleCreateTopics) }

func handleCreateTopics(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	resp.Topics = make([]kmsg.CreateTopicsResponseTopic, 0, len(req.Topics)) // never moved: answers point into it
	var jobs []func()
	var finish []func(done bool)
	eachDistinct(len(req.Topics), func(i int) string { return req.Topics[i].Topic }, func(i int, dup bool) {
		rt := &req.Topics[i]
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		resp.Topics = append(resp.Topics, st)
		st2 := &resp.Topics[len(resp.Topics)-1]
		if dup {
			st2.ErrorCode, st2.ErrorMessage = b.errorResult(newAPIError(kerr.InvalidRequest, "Duplicate topic name."), "")
			return
		}
		if code := b.denied(r, &chkCreateTopic, rt.Topic); code != 0 {
			st2.ErrorCode, st2.ErrorMessage = b.errorResult(newAPIError(kerr.TopicAuthorizationFailed, "Authorization failed."), "")
			return
		}
		job, fin := b.createTopicFromRequest(rt, req.ValidateOnly, req.TimeoutMillis)
		cfgDenied := b.denied(r, &chkCreateTopicCfg, rt.Topic)
		fin2 := func(done bool) {
			if fin(done, st2); cfgDenied != 0 {
				st2.Configs, st2.ConfigErrorCode = nil, cfgDenied
			}
		}
		if job != nil {
			jobs = append(jobs, job)
			finish = append(finish, fin2)
		} else {
			fin2(true)
		}
	})
	for i, done := range runWithin(time.Duration(req.TimeoutMillis)*time.Millisecond, jobs) {
		finish[i](done)
	}
	return r.respond(resp), nil
}

// topicPlan is a validated CreateTopics entry.
type topicPlan struct {
	partitions int32
	rf         int16 // -1: the default
	configs    map[string]string
	assignment [][]int32 // with a controller: the manual assignment, by partition (nil: none)
}

// createTopicFromRequest validates one topic and returns the creation to
// run (nil if there is nothing to create: an invalid topic or
// validateOnly) and the function that fills its answer once the creation
// is done (done) or the request's timeout passed.
func (b *Broker) createTopicFromRequest(rt *kmsg.CreateTopicsRequestTopic, validateOnly bool, timeoutMs int32) (func(), func(done bool, st *kmsg.CreateTopicsResponseTopic)) {
	plan, err := b.planTopic(rt)
	var created *topic
	var job func()
	if err == nil && !validateOnly {
		job = func() {
			timeout := max(millis(timeoutMs), clusterWait)
			if plan.assignment != nil {
				created, err = b.createTopicPlaced(rt.Topic, plan.assignment, plan.configs, timeout)
				return
			}
			created, err = b.createTopicAny(rt.Topic, plan.partitions, plan.rf, plan.configs, timeout)
		}
	}
	return job, func(done bool, st *kmsg.CreateTopicsResponseTopic) {
		if !done {
			st.ErrorCode, st.ErrorMessage = b.errorResult(timedOut("Creation", rt.Topic, timeoutMs), "")
			return
		}
		if err != nil {
			st.ErrorCode, st.ErrorMessage = b.errorResult(err, "create topic "+rt.Topic)
			return
		}
		if created != nil {
			st.TopicID = created.id
		}
		st.NumPartitions = plan.partitions
		st.ReplicationFactor = max(plan.rf, 1)
		for _, e := range b.topicConfigEntries(plan.configs) {
			c := kmsg.NewCreateTopicsResponseTopicConfig()
			c.Name, c.Value, c.Source = e.name, e.value, int8(e.source)
			st.Configs = append(st.Configs, c)
		}
	}
}

// planTopic runs every check of one CreateTopics entry.
func (b *Broker) planTopic(rt *kmsg.CreateTopicsRequestTopic) (topicPlan, error) {
	var plan topicPlan
	if err := b.checkNewTopicName(rt.Topic); err != nil {
		return plan, err
	}
	n, err := b.plannedPartitions(rt)
	if err != nil {
		return plan, err
	}
	configs, err := requestedConfigs(rt.Configs)
	if err != nil {
		return plan, err
	}
	if _, err := checkTopicConfigs(b.topics.defaults.get(), configs); err != nil {
		return plan, err
	}
	rf := rt.ReplicationFactor
	var assignment [][]int32
	if len(rt.ReplicaAssignment) > 0 {
		rf = int16(len(rt.ReplicaAssignment[0].Replicas))
		if b.cl != nil {
			assignment = make([][]int32, n)
			for _, a := range rt.ReplicaAssignment {
				assignment[a.Partition] = a.Replicas
			}
		}
	}
	return topicPlan{partitions: n, rf: rf, configs: configs, assignment: assignment}, nil
}

// checkNewTopicName checks the name's syntax, existence and collisions.
func (b *Broker) checkNewTopicName(name string) error {
	if err := validateTopicName(name); err != nil {
		return err
	}
	if b.topics.get(name) != nil {
		return newAPIError(kerr.TopicAlreadyExists, "Topic '%s' already exists.", name)
	}
	return b.topics.checkNewName(name) // pending and colliding names; createTopic checks again as it reserves
}

// plannedPartitions resolves the partition count from NumPartitions,
// ReplicationFactor and ReplicaAssignment.
func (b *Broker) plannedPartitions(rt *kmsg.CreateTopicsRequestTopic) (int32, error) {
	if len(rt.ReplicaAssignment) > 0 {
		if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
			return 0, newAPIError(kerr.InvalidRequest, "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.")
		}
		return b.checkCreateAssignment(rt.ReplicaAssignment)
	}
	if err := b.checkReplicationFactor(rt.ReplicationFactor); err != nil {
		return 0, err
	}
	switch n := rt.NumPartitions; {
	case n == -1:
		return b.cfg.NumPartitions, nil
	case n <= 0:
		return 0, newAPIError(kerr.InvalidPartitions, "Number of partitions was set to an invalid non-positive value.")
	case n > maxPartitions:
		return 0, newAPIError(kerr.InvalidPartitions, "Number of partitions %d is above this broker's limit of %d.", n, maxPartitions)
	default:
		return n, nil
	}
}

// checkReplicationFactor accepts -1 (the default, 1) and factors up to
// the unfenced brokers (one without a controller; the controller checks
// again as it places the replicas).
func (b *Broker) checkReplicationFactor(rf int16) error {
	brokers := int16(len(b.liveSet()))
	switch {
	case rf == -1 || rf >= 1 && rf <= brokers:
		return nil
	case rf <= 0:
		return newAPIError(kerr.InvalidReplicationFactor, "Replication factor must be larger than 0, or -1 to use the default value.")
	default:
		return newAPIError(kerr.InvalidReplicationFactor,
			"Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only %d broker(s) are registered.", rf, rf, brokers)
	}
}

// checkCreateAssignment checks a manual assignment and returns its
// partition count.
func (b *Broker) checkCreateAssignment(as []kmsg.CreateTopicsRequestTopicReplicaAssignment) (int32, error) {
	parts := make([]int32, 0, len(as))
	for _, a := range as {
		if err := b.checkReplicas(a.Replicas); err != nil {
			return 0, err
		}
		parts = append(parts, a.Partition)
	}
	slices.Sort(parts)
	for i, p := range parts {
		if p != int32(i) {
			return 0, newAPIError(kerr.InvalidReplicaAssignment, "partitions should be a consecutive 0-based integer sequence")
		}
	}
	if len(parts) > maxPartitions {
		return 0, newAPIError(kerr.InvalidPartitions, "Number of partitions %d is above this broker's limit of %d.", len(parts), maxPartitions)
	}
	return int32(len(parts)), nil
}

// requestedConfigs turns the request's configs into overrides; null values
// are refused as Kafka does.
func requestedConfigs(cs []kmsg.CreateTopicsRequestTopicConfig) (map[string]string, error) {
	out := make(map[string]string, len(cs))
	for _, c := range cs {
		if c.Value == nil {
			return nil, nullConfigError(c.Name)
		}
		out[c.Name] = *c.Value
	}
	return out, nil
}
