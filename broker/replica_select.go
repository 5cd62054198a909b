package broker

// Fetch from the closest replica (KIP-392), with
// replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector:
//
//	consumer (client.rack=b) ──Fetch v11+ (Rack "b")──▶ leader (rack a)
//	   ◀── partition: no records, PreferredReadReplica = 2 (rack b, in the ISR)
//	consumer ──Fetch v11+──▶ broker 2 (a follower): records up to ITS high
//	   watermark, by the same sendfile path
//
// On the leader (Kafka's ReplicaManager.findPreferredReadReplica and
// RackAwareReplicaSelector): for a consumer's fetch (v11+) naming a rack,
// the candidates are the followers in the ISR whose log end offset has
// reached the fetch offset and whose broker is registered, unfenced and in
// that rack. None, or the leader itself in that rack: the leader serves
// the fetch. Else the one with the highest log end offset (then the most
// recently caught up) is answered as PreferredReadReplica, with no
// records for that partition and at once (no long poll), as Kafka does.
//
// On a follower: a consumer's fetch (v11+) of a partition whose ISR (in
// the metadata image) holds this broker is served from the local log,
// which stops at the follower's high watermark (the leader's, as last
// fetched): an offset between it and the follower's log end gets no
// records, one beyond the log end OFFSET_OUT_OF_RANGE (Kafka's rules). A
// follower out of the ISR, or no replica at all, answers
// NOT_LEADER_OR_FOLLOWER, so the client goes back to the leader, which
// then names another replica or none. ListOffsets, OffsetForLeaderEpoch
// and Produce still need the leader. Without a selector only the leader
// serves consumers (Kafka lets followers serve any v11+ consumer fetch;
// none is ever pointed at them then).

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/partition"
)

// RackAwareReplicaSelector is Kafka's rack-aware replica.selector.class.
const RackAwareReplicaSelector = "org.apache.kafka.common.replica.RackAwareReplicaSelector"

// rackAware reports whether replica.selector.class is the rack-aware one.
func (b *Broker) rackAware() bool { return b.cfg.ReplicaSelector == RackAwareReplicaSelector }

// fetchLog is the log that serves a fetch of t's partition p: the leader's
// (t.partition), or with a selector, for a consumer's fetch (v11+), this
// follower's when the image has it in the ISR. nil: none here.
func (b *Broker) fetchLog(t *topic, p int32, consumerV11 bool) *partition.Log {
	if l := t.partition(p); l != nil || !consumerV11 || !b.rackAware() {
		return l
	}
	if t.meta == nil || p < 0 || int(p) >= len(t.meta.Partitions) || int(p) >= len(t.partitions) {
		return nil
	}
	mp := &t.meta.Partitions[p]
	if mp.Leader == t.self || !slices.Contains(mp.ISR, t.self) {
		return nil
	}
	return t.partitions[p]
}

// selectReadReplicas sets PreferredReadReplica on the partitions of a
// consumer's fetch this broker leads that a follower in the consumer's
// rack should serve.
func (b *Broker) selectReadReplicas(req *kmsg.FetchRequest, topics []fetchTopic) {
	if b.cl == nil || !b.rackAware() || fetchPrivileged(req) || req.Version < 11 || req.Rack == "" {
		return
	}
	if b.cfg.Rack == req.Rack {
		return // the leader is in the client's rack
	}
	im := b.cl.ctl.Image()
	for i := range topics {
		for k := range topics[i].parts {
			fp := &topics[i].parts[k]
			if fp.errCode != 0 || fp.log == nil {
				continue
			}
			st := b.cl.repl.leader(fp.log)
			if st == nil {
				continue // not leading it (a follower serving it)
			}
			fp.redirect = 1 + st.closestReplica(fp.offset, func(id int32) bool {
				br, ok := im.Broker(id)
				return ok && !br.Fenced && br.Rack == req.Rack
			})
		}
	}
}

// closestReplica picks, among the followers in the ISR that reached
// offset and pass inRack, the one with the highest log end offset, then
// the most recently caught up (RackAwareReplicaSelector's order); -1 for
// none.
func (st *leaderState) closestReplica(offset int64, inRack func(int32) bool) int32 {
	st.mu.Lock()
	defer st.mu.Unlock()
	best := int32(-1)
	var bestF *followerState
	for _, r := range st.mu.isr {
		f := st.mu.followers[r]
		if f == nil || f.leo < offset || !inRack(r) {
			continue
		}
		if bestF == nil || f.leo > bestF.leo || f.leo == bestF.leo && f.caughtUp.After(bestF.caughtUp) {
			best, bestF = r, f
		}
	}
	return best
}
