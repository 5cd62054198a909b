package bench

import (
	"context"
	"crypto/tls"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Versions used; all non-flexible, so response headers carry no tags.
const (
	produceVersion     = 7
	fetchVersion       = 11
	listOffsetsVersion = 4
	metadataVersion    = 7
	createTopicsVer    = 4
)

// topicPartitions returns the topic's partition count (0: no such topic).
// autoCreate asks the broker to create a missing topic.
func topicPartitions(c *conn, topic string, autoCreate bool) (int, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(metadataVersion)
	req.AllowAutoTopicCreation = autoCreate
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, t)
	resp := kmsg.NewPtrMetadataResponse()
	if err := c.roundTrip(req, resp); err != nil {
		return 0, err
	}
	for _, rt := range resp.Topics {
		if rt.Topic == nil || *rt.Topic != topic {
			continue
		}
		if rt.ErrorCode == kerr.UnknownTopicOrPartition.Code {
			return 0, nil
		}
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil {
			return 0, fmt.Errorf("%w: metadata for topic %q: %w", errBroker, topic, err)
		}
		return len(rt.Partitions), nil
	}
	return 0, nil
}

// EnsureTopic creates topic with partitions partitions unless it exists,
// and returns its partition count (which may differ when it existed).
// tc is the TLS configuration for SSL and SASL_SSL listeners (nil:
// plaintext); s authenticates on SASL listeners.
func EnsureTopic(ctx context.Context, addr string, tc *tls.Config, s SASL, topic string, partitions int) (int, error) {
	c, err := dial(ctx, addr, tc, s)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	n, err := topicPartitions(c, topic, false)
	if err != nil || n > 0 {
		return n, err
	}
	canCreate, err := supports(c, 19)
	if err != nil {
		return 0, err
	}
	if !canCreate { // auto-create: the broker's default partition count
		return topicPartitions(c, topic, true)
	}
	if err := createTopic(c, topic, partitions); err != nil {
		return 0, err
	}
	return topicPartitions(c, topic, false)
}

// supports reports whether the broker serves API key.
func supports(c *conn, key int16) (bool, error) {
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(0)
	resp := kmsg.NewPtrApiVersionsResponse()
	if err := c.roundTrip(req, resp); err != nil {
		return false, err
	}
	for _, k := range resp.ApiKeys {
		if k.ApiKey == key {
			return true, nil
		}
	}
	return false, nil
}

func createTopic(c *conn, topic string, partitions int) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.SetVersion(createTopicsVer)
	req.TimeoutMillis = 30000
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = topic, int32(partitions), -1
	req.Topics = append(req.Topics, t)
	resp := kmsg.NewPtrCreateTopicsResponse()
	if err := c.roundTrip(req, resp); err != nil {
		return fmt.Errorf("bench: cannot create topic %q: %w", topic, err)
	}
	for _, rt := range resp.Topics {
		if rt.ErrorCode == kerr.TopicAlreadyExists.Code {
			continue
		}
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil {
			return fmt.Errorf("%w: cannot create topic %q: %w", errBroker, topic, err)
		}
	}
	return nil
}

// listOffsets returns each partition's earliest (ts -2) or latest (ts -1)
// offset.
func listOffsets(c *conn, topic string, partitions int, ts int64) ([]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(listOffsetsVersion)
	req.ReplicaID = -1
	t := kmsg.NewListOffsetsRequestTopic()
	t.Topic = topic
	for p := 0; p < partitions; p++ {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = int32(p), ts, -1
		t.Partitions = append(t.Partitions, rp)
	}
	req.Topics = append(req.Topics, t)
	resp := kmsg.NewPtrListOffsetsResponse()
	if err := c.roundTrip(req, resp); err != nil {
		return nil, err
	}
	out := make([]int64, partitions)
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				return nil, fmt.Errorf("%w: list offsets %s-%d: %w", errBroker, topic, rp.Partition, err)
			}
			if rp.Partition >= 0 && int(rp.Partition) < partitions {
				out[rp.Partition] = rp.Offset
			}
		}
	}
	return out, nil
}
