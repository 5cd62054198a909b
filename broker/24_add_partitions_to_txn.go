package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/txn"
)

// AddPartitionsToTxn: v0-5
//
// Behavior:
// * v0-3 (clients): the partitions join the transactional id's
//   transaction, which becomes Ongoing (written to __transaction_state
//   before the response). Every partition gets the same error, except
//   that unknown topics or partitions (and internal topics) get
//   UNKNOWN_TOPIC_OR_PARTITION and then the others OPERATION_NOT_ATTEMPTED,
//   as Kafka answers. Errors: INVALID_PRODUCER_ID_MAPPING (unknown id or
//   another producer id), PRODUCER_FENCED (another epoch;
//   INVALID_PRODUCER_EPOCH before v2), CONCURRENT_TRANSACTIONS (the
//   previous transaction is completing).
// * v4-5 (broker to broker, KIP-890 part 1): several transactions, each
//   answered as above; with VerifyOnly nothing is added: each partition
//   is NONE if in the ongoing transaction, else INVALID_TXN_STATE.

func init() { register(24, 0, 5, handleAddPartitionsToTxn) }

func handleAddPartitionsToTxn(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	tc := b.txnCoordinatorOr()
	if r.version < 4 {
		one := kmsg.NewAddPartitionsToTxnRequestTransaction()
		one.TransactionalID, one.ProducerID, one.ProducerEpoch = req.TransactionalID, req.ProducerID, req.ProducerEpoch
		for _, t := range req.Topics {
			rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
			rt.Topic, rt.Partitions = t.Topic, t.Partitions
			one.Topics = append(one.Topics, rt)
		}
		res := b.addPartitionsToTxn(tc, r.version, &one)
		for _, t := range res.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, p.ErrorCode
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return r.respond(resp), nil
	}
	for i := range req.Transactions {
		resp.Transactions = append(resp.Transactions, b.addPartitionsToTxn(tc, r.version, &req.Transactions[i]))
	}
	return r.respond(resp), nil
}

// addPartitionsToTxn answers one transaction of the request.
func (b *Broker) addPartitionsToTxn(tc *txn.Coordinator, version int16, t *kmsg.AddPartitionsToTxnRequestTransaction) kmsg.AddPartitionsToTxnResponseTransaction {
	var tps []txn.TopicPartition
	unknown := map[txn.TopicPartition]bool{}
	for _, rt := range t.Topics {
		for _, p := range rt.Partitions {
			tp := txn.TopicPartition{Topic: rt.Topic, Partition: p}
			tps = append(tps, tp)
			if isInternalTopic(rt.Topic) || !b.partitionExists(rt.Topic, p) {
				unknown[tp] = true
			}
		}
	}
	codes := make(map[txn.TopicPartition]int16, len(tps))
	all := func(code int16) {
		for _, tp := range tps {
			codes[tp] = code
		}
	}
	switch {
	case tc == nil:
		all(kerr.CoordinatorNotAvailable.Code)
	case len(unknown) > 0:
		for _, tp := range tps {
			codes[tp] = kerr.OperationNotAttempted.Code
			if unknown[tp] {
				codes[tp] = kerr.UnknownTopicOrPartition.Code
			}
		}
	case t.VerifyOnly:
		res, err := tc.VerifyPartitions(t.TransactionalID, t.ProducerID, t.ProducerEpoch, tps)
		if err != nil {
			all(fencedCode(err, true))
			break
		}
		for tp, e := range res {
			codes[tp] = txn.ErrorCode(e)
		}
	default:
		all(fencedCode(tc.AddPartitions(t.TransactionalID, t.ProducerID, t.ProducerEpoch, tps), version >= 2))
	}
	out := kmsg.NewAddPartitionsToTxnResponseTransaction()
	out.TransactionalID = t.TransactionalID
	for _, rt := range t.Topics {
		ot := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
		ot.Topic = rt.Topic
		for _, p := range rt.Partitions {
			op := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
			op.Partition, op.ErrorCode = p, codes[txn.TopicPartition{Topic: rt.Topic, Partition: p}]
			ot.Partitions = append(ot.Partitions, op)
		}
		out.Topics = append(out.Topics, ot)
	}
	return out
}
