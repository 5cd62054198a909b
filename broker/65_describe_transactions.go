package broker

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/group"
	"github.com/sluice/sluice/netio"
)

// DescribeTransactions: v0
//
// Behavior:
// * Each transactional id's state, producer id and epoch, timeout, start
//   time (-1 without a transaction) and partitions (those of an ongoing or
//   prepared transaction). An unknown id: TRANSACTIONAL_ID_NOT_FOUND.
//   COORDINATOR_NOT_AVAILABLE when the coordinator cannot be loaded.
// * With an authorizer (authz.go), as Kafka: an id without DESCRIBE on it
//   gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED (before its existence is
//   looked at); the topics of a transaction are those the principal may
//   DESCRIBE (__consumer_offsets always kept).

func init() { register(65, 0, 0, handleDescribeTransactions) }

func handleDescribeTransactions(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.DescribeTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	var ids []string
	for _, id := range req.TransactionalIDs {
		if b.allowed(r, &chkDescTxn, id) {
			ids = append(ids, id)
			continue
		}
		s := kmsg.NewDescribeTransactionsResponseTransactionState()
		s.TransactionalID, s.ErrorCode = id, chkDescTxn.err.Code
		s.ProducerID, s.ProducerEpoch, s.StartTimestamp = -1, -1, -1
		resp.TransactionStates = append(resp.TransactionStates, s)
	}
	if len(ids) == 0 {
		return r.respond(resp), nil
	}
	tc := b.txnCoordinatorOr()
	if tc == nil {
		for _, id := range ids {
			s := kmsg.NewDescribeTransactionsResponseTransactionState()
			s.TransactionalID, s.ErrorCode = id, kerr.CoordinatorNotAvailable.Code
			resp.TransactionStates = append(resp.TransactionStates, s)
		}
		return r.respond(inRequestOrder(req, resp)), nil
	}
	for _, d := range tc.Describe(ids) {
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
			if tp.Topic != group.TopicName && !b.allowed(r, &chkDescTxnTopic, tp.Topic) {
				continue
			}
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
	return r.respond(inRequestOrder(req, resp)), nil
}

// inRequestOrder sorts the answers as the ids were asked (the denied ones
// were answered first).
func inRequestOrder(req *kmsg.DescribeTransactionsRequest, resp *kmsg.DescribeTransactionsResponse) *kmsg.DescribeTransactionsResponse {
	pos := make(map[string]int, len(req.TransactionalIDs))
	for i, id := range req.TransactionalIDs {
		if _, ok := pos[id]; !ok {
			pos[id] = i
		}
	}
	slices.SortStableFunc(resp.TransactionStates, func(a, b kmsg.DescribeTransactionsResponseTransactionState) int {
		return pos[a.TransactionalID] - pos[b.TransactionalID]
	})
	return resp
}
