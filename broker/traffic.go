package broker

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/sluice/sluice/group"
)

// TopicTraffic is the record bytes appended to (In) and sent from (Out) a
// topic since the broker started. Duplicates of idempotent retries are not
// counted in; Out counts what Fetch responses carried. ConvertedIn counts
// the legacy (magic 0/1) message-set bytes Produce v0-2 up-converted, and
// ConvertedOut the RecordBatch bytes Fetch v0-3 down-converted (copied
// instead of sent by sendfile): Kafka's Produce/FetchMessageConversions.
type TopicTraffic struct{ In, Out, ConvertedIn, ConvertedOut int64 }

// traffic holds a counter pair per topic; the hot paths only do an atomic
// add after a map load.
type traffic struct{ m sync.Map } // topic name → *trafficCounters

type trafficCounters struct{ in, out, convertedIn, convertedOut atomic.Int64 }

func (t *traffic) counters(topic string) *trafficCounters {
	if c, ok := t.m.Load(topic); ok {
		return c.(*trafficCounters)
	}
	c, _ := t.m.LoadOrStore(topic, new(trafficCounters))
	return c.(*trafficCounters)
}

// Traffic returns the bytes in and out per topic (for metrics).
func (b *Broker) Traffic() map[string]TopicTraffic {
	out := make(map[string]TopicTraffic)
	b.traffic.m.Range(func(k, v any) bool {
		c := v.(*trafficCounters)
		out[k.(string)] = TopicTraffic{In: c.in.Load(), Out: c.out.Load(),
			ConvertedIn: c.convertedIn.Load(), ConvertedOut: c.convertedOut.Load()}
		return true
	})
	return out
}

// countFetched adds what a Fetch response carries to each topic's Out.
func (b *Broker) countFetched(topics []fetchTopic) {
	for i := range topics {
		var n int64
		for k := range topics[i].parts {
			n += topics[i].parts[k].res.Bytes
		}
		if n > 0 {
			b.traffic.counters(topics[i].name).out.Add(n)
		}
	}
}

// PartitionLag is one group's position on one partition.
type PartitionLag struct {
	Group     string
	Topic     string
	Partition int32
	Committed int64 // the group's committed offset
	LogEnd    int64 // the partition's high watermark
	Lag       int64 // LogEnd - Committed, at least 0
}

// ConsumerLag returns every group's lag on every partition it committed,
// sorted by group, topic and partition (for metrics). Empty while the group
// coordinator is not open.
func (b *Broker) ConsumerLag() []PartitionLag { return b.consumerLag(false) }

// GroupCommits is ConsumerLag with also the partitions that have no log on
// this broker (LogEnd and Lag -1): the web console asks their leaders.
func (b *Broker) GroupCommits() []PartitionLag { return b.consumerLag(true) }

func (b *Broker) consumerLag(all bool) []PartitionLag {
	b.gr.mu.Lock()
	c := b.gr.c
	b.gr.mu.Unlock()
	if c == nil {
		return nil
	}
	groups, err := c.List(nil, nil)
	if err != nil {
		return nil
	}
	var out []PartitionLag
	for _, g := range groups {
		out = append(out, b.groupLag(c, g.Group, all)...)
	}
	sort.Slice(out, func(i, j int) bool {
		a, z := out[i], out[j]
		if a.Group != z.Group {
			return a.Group < z.Group
		}
		if a.Topic != z.Topic {
			return a.Topic < z.Topic
		}
		return a.Partition < z.Partition
	})
	return out
}

func (b *Broker) groupLag(c *group.Coordinator, id string, all bool) []PartitionLag {
	committed, err := c.Fetch(id, nil)
	if err != nil {
		return nil
	}
	out := make([]PartitionLag, 0, len(committed))
	for _, cm := range committed {
		if !cm.Found {
			continue
		}
		t := b.topics.get(cm.Topic)
		if t == nil || t.partition(cm.Partition) == nil {
			if all {
				out = append(out, PartitionLag{Group: id, Topic: cm.Topic, Partition: cm.Partition,
					Committed: cm.Offset.Offset, LogEnd: -1, Lag: -1})
			}
			continue
		}
		l := t.partition(cm.Partition)
		end := l.HighWatermark()
		out = append(out, PartitionLag{Group: id, Topic: cm.Topic, Partition: cm.Partition,
			Committed: cm.Offset.Offset, LogEnd: end, Lag: max(end-cm.Offset.Offset, 0)})
	}
	return out
}
