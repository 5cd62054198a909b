package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
)

// DescribeTransactions: v0
//
// Behavior:
// * Each transactional id's state, producer id and epoch, timeout, start
//   time (-1 without a transaction) and partitions (those of an ongoing or
//   prepared transaction). An unknown id: TRANSACTIONAL_ID_NOT_FOUND.
//   COORDINATOR_NOT_AVAILABLE when the coordinator cannot be loaded.

func init() { register(65, 0, 0, handleDescribeTransactions) }

func handleDescribeTransactions(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.DescribeTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	tc := b.txnCoordinatorOr()
	if tc == nil {
		for _, id := range req.TransactionalIDs {
			s := kmsg.NewDescribeTransactionsResponseTransactionState()
			s.TransactionalID, s.ErrorCode = id, kerr.CoordinatorNotAvailable.Code
			resp.TransactionStates = append(resp.TransactionStates, s)
		}
		return r.respond(resp), nil
	}
	for _, d := range tc.Describe(req.TransactionalIDs) {
		s := kmsg.NewDescribeTransactionsResponseTransactionState()
		s.TransactionalID = d.TransactionalID
		if !d.Found {
			s.ErrorCode = kerr.TransactionalIDNotFound.Code
			s.ProducerID, s.ProducerEpoch, s.StartTimestamp = -1, -1, -1
			resp.TransactionStates = append(resp.TransactionStates, s)
			continue
		}
		s.State, s.ProducerID, s.ProducerEpoch = d.State.String(), d.ProducerID, d.ProducerEpoch
		s.TimeoutMillis = int32(d.Timeout.Milliseconds())
		s.StartTimestamp = -1
		if !d.Start.IsZero() {
			s.StartTimestamp = d.Start.UnixMilli()
		}
		byTopic := map[string]int{}
		for _, tp := range d.Partitions {
			i, ok := byTopic[tp.Topic]
			if !ok {
				i = len(s.Topics)
				byTopic[tp.Topic] = i
				t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
				t.Topic = tp.Topic
				s.Topics = append(s.Topics, t)
			}
			s.Topics[i].Partitions = append(s.Topics[i].Partitions, tp.Partition)
		}
		resp.TransactionStates = append(resp.TransactionStates, s)
	}
	return r.respond(resp), nil
}
