package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/group"
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
//   is NONE if in the ongoing transaction, else INVALID_TXN_STATE. In a
//   cluster the partition leaders send them to the id's coordinator
//   (coordinators.go): VerifyOnly for a v11 transactional Produce, an add
//   for the implicit adds of transactions v2 (Produce v12, and
//   TxnOffsetCommit v5, whose __consumer_offsets partition a broker may
//   add).
// * With an authorizer (authz.go), as Kafka: v0-3 need WRITE on the
//   transactional id (else every partition gets
//   TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and WRITE on each topic (else
//   its partitions get TOPIC_AUTHORIZATION_FAILED, checked before
//   existence, and the other partitions OPERATION_NOT_ATTEMPTED); v4+ need
//   CLUSTER_ACTION on the cluster, else the top-level error is
//   CLUSTER_AUTHORIZATION_FAILED. For v0-3 an internal topic gets
//   TOPIC_AUTHORIZATION_FAILED, with or without an authorizer (Kafka
//   leaves internal topics out of the authorized set).

func init() { register(24, 0, 5, handleAddPartitionsToTxn) }

func handleAddPartitionsToTxn(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if r.version >= 4 && !b.allowed(r, &chkAddPartsCluster, "") {
		resp.ErrorCode = chkAddPartsCluster.err.Code
		return r.respond(resp), nil
	}
	tc := b.txnCoordinatorOr()
	if r.version < 4 {
		one := kmsg.NewAddPartitionsToTxnRequestTransaction()
		one.TransactionalID, one.ProducerID, one.ProducerEpoch = req.TransactionalID, req.ProducerID, req.ProducerEpoch
		for _, t := range req.Topics {
			rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
			rt.Topic, rt.Partitions = t.Topic, t.Partitions
			one.Topics = append(one.Topics, rt)
		}
		res := b.addPartitionsToTxn(r, tc, &one)
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
		resp.Transactions = append(resp.Transactions, b.addPartitionsToTxn(r, tc, &req.Transactions[i]))
	}
	return r.respond(resp), nil
}

// addPartitionsToTxn answers one transaction of the request.
// Requests from clients (v0-3) are authorized here; v4+ were authorized
// as a whole by the handler.
func (b *Broker) addPartitionsToTxn(r *request, tc *txn.Coordinator, t *kmsg.AddPartitionsToTxnRequestTransaction) kmsg.AddPartitionsToTxnResponseTransaction {
	version := r.version
	client := version < 4
	txnDenied := client && !b.allowed(r, &chkAddPartsTxn, t.TransactionalID)
	var tps []txn.TopicPartition
	failed := map[txn.TopicPartition]int16{} // partitions that fail the request
	for _, rt := range t.Topics {
		topicDenied := client && !txnDenied && (isInternalTopic(rt.Topic) || !b.allowed(r, &chkAddPartsTopic, rt.Topic))
		for _, p := range rt.Partitions {
			tp := txn.TopicPartition{Topic: rt.Topic, Partition: p}
			tps = append(tps, tp)
			switch {
			case topicDenied:
				failed[tp] = chkAddPartsTopic.err.Code
			case isInternalTopic(rt.Topic) && (client || rt.Topic != group.TopicName) || !b.partitionExists(rt.Topic, p):
				// A broker (v4+) may add a group's __consumer_offsets
				// partition: TxnOffsetCommit v5's implicit add.
				failed[tp] = kerr.UnknownTopicOrPartition.Code
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
	case txnDenied:
		all(chkAddPartsTxn.err.Code)
	case len(failed) > 0:
		for _, tp := range tps {
			codes[tp] = kerr.OperationNotAttempted.Code
			if c, ok := failed[tp]; ok {
				codes[tp] = c
			}
		}
	case tc == nil:
		all(kerr.CoordinatorNotAvailable.Code)
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
