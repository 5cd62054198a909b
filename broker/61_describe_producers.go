package broker

import (
	"context"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
)

// DescribeProducers: v0
//
// Behavior:
// * Per partition, the producers the log tracks (idempotent and
//   transactional): id, epoch, last sequence, last batch timestamp, the
//   last marker's coordinator epoch (-1: none) and the first offset of the
//   producer's open transaction (-1: none), sorted by producer id.
//   Unknown topics or partitions: UNKNOWN_TOPIC_OR_PARTITION.
// * With an authorizer (authz.go): READ on the topic, else its partitions
//   get TOPIC_AUTHORIZATION_FAILED (before existence), as Kafka.

func init() { register(61, 0, 0, handleDescribeProducers) }

func handleDescribeProducers(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewDescribeProducersResponseTopic()
		rt.Topic = t.Topic
		tp := b.topics.get(t.Topic)
		denied := b.denied(r, &chkDescProducers, t.Topic)
		for _, p := range t.Partitions {
			rp := kmsg.NewDescribeProducersResponseTopicPartition()
			rp.Partition = p
			if denied != 0 {
				rp.ErrorCode = denied
				rt.Partitions = append(rt.Partitions, rp)
				continue
			}
			if tp == nil || tp.partition(p) == nil {
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				rt.Partitions = append(rt.Partitions, rp)
				continue
			}
			states := tp.partition(p).Producers()
			for _, id := range slices.Sorted(maps.Keys(states)) {
				st := states[id]
				ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
				ap.ProducerID, ap.ProducerEpoch, ap.LastSequence = id, int32(st.Epoch), st.LastSequence
				ap.LastTimestamp, ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = st.LastTimestamp, st.CoordinatorEpoch, st.TxnStartOffset
				rp.ActiveProducers = append(rp.ActiveProducers, ap)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return r.respond(resp), nil
}
