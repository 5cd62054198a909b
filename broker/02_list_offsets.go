package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/partition"
)

// ListOffsets: v0-9
//
// Behavior:
// * With a controller, a partition this broker does not lead (metadata
//   image) gets NOT_LEADER_OR_FOLLOWER, and a CurrentLeaderEpoch is
//   checked against the image's leader epoch (older: FENCED_LEADER_EPOCH,
//   newer: UNKNOWN_LEADER_EPOCH) instead of the log's.
// * v0 (sarama before V0_10_1, Burrow) answers the old offsets array
//   (OldStyleOffsets), at most MaxNumOffsets long: latest gives the high
//   watermark, earliest the log start offset, a timestamp >= 0 the first
//   offset at or after it (Kafka 3.9 listed segment base offsets there;
//   clients take the first entry). Nothing found, or MaxNumOffsets 0, is
//   an empty array.
// * Timestamp -2 (earliest) and -4 (earliest local, v8+): the log start
//   offset. -1 (latest): the high watermark, or with IsolationLevel
//   READ_COMMITTED (v2+) the last stable offset. -3 (max timestamp, v7+):
//   the offset and timestamp of the record with the largest timestamp.
//   >= 0: the first offset whose timestamp is >= it; none is offset -1,
//   timestamp -1. With READ_COMMITTED an offset found at or past the last
//   stable offset is none, as in Kafka. Special timestamps answer
//   timestamp -1.
// * LeaderEpoch (v4+) is the partition's current leader epoch (Log has no
//   epoch-for-offset lookup yet; on one node without leader changes they
//   agree). CurrentLeaderEpoch (v4+) older than the log's:
//   FENCED_LEADER_EPOCH; newer: UNKNOWN_LEADER_EPOCH.
// * With an authorizer, each topic needs DESCRIBE, else its partitions get
//   TOPIC_AUTHORIZATION_FAILED (answered, not filtered out, as Kafka).
// * Unknown topics or partitions: UNKNOWN_TOPIC_OR_PARTITION. Other
//   negative timestamps (-5, latest tiered, is v9+) match nothing: offset
//   -1, timestamp -1.

func init() { register(2, 0, 9, handleListOffsets) }

const (
	listLatest        = -1
	listEarliest      = -2
	listMaxTimestamp  = -3
	listEarliestLocal = -4
	readCommitted     = 1
)

func handleListOffsets(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t := b.topics.get(rt.Topic)
		denied := b.denied(r, &chkListOffsets, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			var l *partition.Log
			if t != nil {
				l = t.partition(rp.Partition)
			}
			if denied != 0 {
				sp.ErrorCode = denied
			} else if l == nil {
				sp.ErrorCode = t.missingCode(rp.Partition)
			} else if r.version < 4 {
				b.listOffset(l, r.version, req.IsolationLevel, rp, &sp)
			} else if sp.ErrorCode = t.imageEpochCode(rp.Partition, &rp.CurrentLeaderEpoch); sp.ErrorCode == 0 {
				b.listOffset(l, r.version, req.IsolationLevel, rp, &sp)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return r.respond(resp), nil
}

// listOffset answers one partition.
func (b *Broker) listOffset(l *partition.Log, version int16, isolation int8,
	rp kmsg.ListOffsetsRequestTopicPartition, sp *kmsg.ListOffsetsResponseTopicPartition) {
	epoch := l.LeaderEpoch()
	if code := checkLeaderEpoch(version >= 4, rp.CurrentLeaderEpoch, epoch); code != 0 {
		sp.ErrorCode = code
		return
	}
	offset, ts, err := lookupOffset(l, version, isolation, rp.Timestamp)
	if err != nil {
		sp.ErrorCode = errorCode(err)
		b.log.Error("list offsets failed", "topic", l.Topic(), "partition", l.Partition(), "err", err)
		return
	}
	sp.Offset, sp.Timestamp = offset, ts
	if version == 0 && offset >= 0 && rp.MaxNumOffsets > 0 {
		sp.OldStyleOffsets = []int64{offset}
	}
	if offset >= 0 {
		sp.LeaderEpoch = epoch
	}
}

// lookupOffset resolves a ListOffsets timestamp to (offset, timestamp).
func lookupOffset(l *partition.Log, version int16, isolation int8, ts int64) (int64, int64, error) {
	switch {
	case ts == listEarliest, ts == listEarliestLocal && version >= 8:
		return l.LogStartOffset(), -1, nil
	case ts == listLatest:
		if isolation == readCommitted {
			return lastStableOffset(l), -1, nil
		}
		return l.HighWatermark(), -1, nil
	case ts == listMaxTimestamp && version >= 7:
		off, mts, ok, err := l.MaxTimestamp()
		if err != nil || !ok || !fetchable(l, isolation, off) {
			return -1, -1, err
		}
		return off, mts, nil
	case ts >= 0:
		off, fts, ok, err := l.OffsetForTimestamp(ts)
		if err != nil || !ok || !fetchable(l, isolation, off) {
			return -1, -1, err
		}
		return off, fts, nil
	}
	return -1, -1, nil
}

// fetchable reports whether a consumer of the isolation level may read
// off: with read_committed, only below the LSO (Kafka's
// fetchOffsetForTimestamp filter; the lookups already stop at the high
// watermark).
func fetchable(l *partition.Log, isolation int8, off int64) bool {
	return isolation != readCommitted || off < lastStableOffset(l)
}

// lastStableOffset is the partition's LSO: read_committed consumers read
// below it.
func lastStableOffset(l *partition.Log) int64 { return l.LastStableOffset() }

// checkLeaderEpoch compares a request's CurrentLeaderEpoch (-1: unchecked)
// with the log's.
func checkLeaderEpoch(applies bool, requested, current int32) int16 {
	switch {
	case !applies || requested < 0:
		return 0
	case requested < current:
		return kerr.FencedLeaderEpoch.Code
	case requested > current:
		return kerr.UnknownLeaderEpoch.Code
	}
	return 0
}
