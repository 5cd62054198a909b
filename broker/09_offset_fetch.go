package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/group"
	"github.com/sluice/sluice/netio"
)

// OffsetFetch: v0-9
//
// Behavior:
// * v0-7 ask for one group, v8+ for several (Groups). Topics null (v2+)
//   means every offset the group committed.
// * A partition without a committed offset (or of an unknown group or
//   topic): offset -1, leader epoch -1, metadata "", no error.
// * RequireStable (v7+, KIP-447): a partition with an offset pending in a
//   transaction (TxnOffsetCommit not yet ended) gets
//   UNSTABLE_OFFSET_COMMIT and offset -1; the client retries. Without it
//   the last committed offset is answered. v9's member id and epoch
//   (KIP-848 groups) are not checked.
// * Group errors (coordinator unavailable): per partition in v0-1, the
//   top-level ErrorCode in v2-7, per group from v8.
// * With an authorizer: DESCRIBE on the group, else
//   GROUP_AUTHORIZATION_FAILED (as a group error); DESCRIBE on each topic
//   named, else its partitions get TOPIC_AUTHORIZATION_FAILED; a request
//   for every offset leaves out the topics the principal may not DESCRIBE.

func init() { register(9, 0, 9, handleOffsetFetch) }

func handleOffsetFetch(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.OffsetFetchRequest)
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if r.version >= 8 {
		for _, rg := range req.Groups {
			resp.Groups = append(resp.Groups, b.fetchGroupOffsets(r, rg, req.RequireStable))
		}
		return r.respond(resp), nil
	}
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = req.Group
	if req.Topics != nil {
		rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{}
	}
	for _, t := range req.Topics {
		gt := kmsg.NewOffsetFetchRequestGroupTopic()
		gt.Topic, gt.Partitions = t.Topic, t.Partitions
		rg.Topics = append(rg.Topics, gt)
	}
	g := b.fetchGroupOffsets(r, rg, r.version >= 7 && req.RequireStable)
	resp.ErrorCode = g.ErrorCode
	for _, t := range g.Topics {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata
			rp.ErrorCode = p.ErrorCode
			if r.version <= 1 && g.ErrorCode != 0 {
				rp.ErrorCode = g.ErrorCode
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return r.respond(resp), nil
}

// fetchGroupOffsets answers one group (v8+ shape).
func (b *Broker) fetchGroupOffsets(r *request, rg kmsg.OffsetFetchRequestGroup, requireStable bool) kmsg.OffsetFetchResponseGroup {
	sg := kmsg.NewOffsetFetchResponseGroup()
	sg.Group = rg.Group
	if sg.ErrorCode = b.denied(r, &chkOffFetchGroup, rg.Group); sg.ErrorCode != 0 {
		return sg
	}
	var tps []group.TopicPartition
	if rg.Topics != nil {
		tps = []group.TopicPartition{}
	}
	var deniedTopics []kmsg.OffsetFetchResponseGroupTopic
	for _, t := range rg.Topics {
		if code := b.denied(r, &chkOffFetchTopic, t.Topic); code != 0 {
			st := kmsg.NewOffsetFetchResponseGroupTopic()
			st.Topic = t.Topic
			for _, p := range t.Partitions {
				sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				sp.Partition, sp.Offset, sp.LeaderEpoch, sp.ErrorCode = p, -1, -1, code
				st.Partitions = append(st.Partitions, sp)
			}
			deniedTopics = append(deniedTopics, st)
			continue
		}
		for _, p := range t.Partitions {
			tps = append(tps, group.TopicPartition{Topic: t.Topic, Partition: p})
		}
	}
	c := b.coordinatorOr()
	if c == nil {
		sg.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return sg
	}
	got, err := c.Fetch(rg.Group, tps)
	if err != nil {
		sg.ErrorCode = group.ErrorCode(err)
		return sg
	}
	byTopic := map[string]int{}
	for _, cm := range got {
		if rg.Topics == nil && !b.allowed(r, &chkOffFetchTopic, cm.Topic) {
			continue
		}
		i, ok := byTopic[cm.Topic]
		if !ok {
			i = len(sg.Topics)
			byTopic[cm.Topic] = i
			st := kmsg.NewOffsetFetchResponseGroupTopic()
			st.Topic = cm.Topic
			sg.Topics = append(sg.Topics, st)
		}
		sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		sp.Partition, sp.Offset, sp.LeaderEpoch = cm.Partition, cm.Offset.Offset, cm.LeaderEpoch
		md := cm.Metadata
		sp.Metadata = &md
		if requireStable && cm.Unstable {
			sp.Offset, sp.LeaderEpoch, sp.ErrorCode = -1, -1, kerr.UnstableOffsetCommit.Code
		}
		sg.Topics[i].Partitions = append(sg.Topics[i].Partitions, sp)
	}
	sg.Topics = append(sg.Topics, deniedTopics...)
	return sg
}
