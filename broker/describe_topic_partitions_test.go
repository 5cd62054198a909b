package broker

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDescribeTopicPartitionsPaging walks DescribeTopicPartitions' cursor
// over two topics (3 and 2 partitions) as Kafka's admin client does.
func TestDescribeTopicPartitionsPaging(t *testing.T) {
	ts := startServer(t, "")
	ts.createTopic(t, "a", 3, nil)
	ts.createTopic(t, "b", 2, nil)
	rc := dialRaw(t, ts.addr)
	type cursor struct {
		topic     string
		partition int32
	}
	describe := func(topics []string, limit int32, from *cursor) *kmsg.DescribeTopicPartitionsResponse {
		t.Helper()
		req := kmsg.NewPtrDescribeTopicPartitionsRequest()
		req.ResponsePartitionLimit = limit
		for _, name := range topics {
			rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
			rt.Topic = name
			req.Topics = append(req.Topics, rt)
		}
		if from != nil {
			req.Cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: from.topic, Partition: from.partition}
		}
		return rc.roundTrip(req).(*kmsg.DescribeTopicPartitionsResponse)
	}
	// summary is "topic:code:partitions… next=topic/partition".
	summary := func(resp *kmsg.DescribeTopicPartitionsResponse) string {
		var parts []string
		for _, dt := range resp.Topics {
			s := fmt.Sprintf("%s:%d:", *dt.Topic, dt.ErrorCode)
			for _, dp := range dt.Partitions {
				s += fmt.Sprint(dp.Partition)
				if dp.LeaderID != ts.Broker().cfg.NodeID || len(dp.ISR) != 1 || dp.EligibleLeaderReplicas == nil || dp.LastKnownELR == nil {
					t.Fatalf("partition %s-%d: %+v", *dt.Topic, dp.Partition, dp)
				}
			}
			parts = append(parts, s)
		}
		if c := resp.NextCursor; c != nil {
			parts = append(parts, fmt.Sprintf("next=%s/%d", c.Topic, c.Partition))
		}
		return strings.Join(parts, " ")
	}
	f := func(topics []string, limit int32, from *cursor, want string) {
		t.Helper()
		if got := summary(describe(topics, limit, from)); got != want {
			t.Fatalf("topics %v limit %d cursor %v: %q, want %q", topics, limit, from, got, want)
		}
	}
	unknown := fmt.Sprint(kerr.UnknownTopicOrPartition.Code)
	invalid := fmt.Sprint(kerr.InvalidRequest.Code)
	f(nil, 0, nil, "a:0:012 b:0:01")
	f(nil, 2, nil, "a:0:01 next=a/2")
	f(nil, 2, &cursor{"a", 2}, "a:0:2 b:0:0 next=b/1")
	f(nil, 2, &cursor{"b", 1}, "b:0:1")
	f(nil, 3, nil, "a:0:012 next=b/0")
	f([]string{"b", "zz", "a"}, 0, nil, "a:0:012 b:0:01 zz:"+unknown+":")
	f([]string{"b"}, 0, &cursor{"a", 0}, "b:"+invalid+":")
}
