package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
)

// DeleteRecords: v0-2
//
// Behavior:
// * With an authorizer: DELETE on each topic, else its partitions get
//   TOPIC_AUTHORIZATION_FAILED (low watermark -1).
// * Moves each partition's log start offset up to Offset (-1: the high
//   watermark) with partition.Log.DeleteRecordsBefore, which also deletes
//   the segments wholly below it; LowWatermark is the resulting log start
//   offset. An Offset below the current start changes nothing and answers
//   the current start.
// * Offset above the high watermark or below -1: OFFSET_OUT_OF_RANGE.
//   Unknown topics or partitions: UNKNOWN_TOPIC_OR_PARTITION. On error
//   LowWatermark is -1.
// * Synchronous: TimeoutMillis is ignored.

func init() { register(21, 0, 2, handleDeleteRecords) }

func handleDeleteRecords(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		t := b.topics.get(rt.Topic)
		denied := b.denied(r, &chkDeleteRecords, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			if sp.LowWatermark, sp.ErrorCode = -1, denied; denied == 0 {
				sp.LowWatermark, sp.ErrorCode = b.deleteRecords(t, rp)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return r.respond(resp), nil
}

// deleteRecords answers one partition: the new low watermark, or -1 and an
// error code.
func (b *Broker) deleteRecords(t *topic, rp kmsg.DeleteRecordsRequestTopicPartition) (int64, int16) {
	if t == nil || t.partition(rp.Partition) == nil {
		return -1, t.missingCode(rp.Partition)
	}
	l := t.partition(rp.Partition)
	start, err := l.DeleteRecordsBefore(rp.Offset)
	if err != nil {
		code := errorCode(err)
		if code == kerr.UnknownServerError.Code || code == kerr.KafkaStorageError.Code {
			b.log.Error("delete records failed", "topic", t.name, "partition", rp.Partition, "offset", rp.Offset, "err", err)
		}
		return -1, code
	}
	return start, 0
}
