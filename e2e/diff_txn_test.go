package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// scTransactions: the transaction coordinator's answers, step by step,
// with raw requests: FindCoordinator(TRANSACTION), InitProducerId with a
// transactional id (and a timeout above transaction.max.timeout.ms),
// AddPartitionsToTxn (unknown topic, stale epoch, a real partition), a
// transactional Produce to a partition added and to one not added, EndTxn
// (commit, its retry, the opposite decision), DescribeTransactions, the
// end offset after the marker, and fencing by a second InitProducerId.
func scTransactions(ctx context.Context, tg *diffTarget, rec recordFunc) {
	const id, topic = "diff-tx", "diff-tx-out"
	createTopic1(ctx, tg, topic, 2, nil)
	// Retried as clients retry while the coordinator loads
	// (COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS).
	retry := func(f func() int16) int16 {
		deadline := time.Now().Add(30 * time.Second)
		for {
			code := f()
			if !kerr.IsRetriable(kerr.ErrorForCode(code)) || time.Now().After(deadline) {
				return code
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	rec("FindCoordinator(TRANSACTION)", errName(retry(func() int16 {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorType, req.CoordinatorKey, req.CoordinatorKeys = 1, id, []string{id}
		resp, err := tg.request(ctx, req)
		if err != nil {
			return kerr.UnknownServerError.Code
		}
		r := resp.(*kmsg.FindCoordinatorResponse)
		if len(r.Coordinators) == 1 {
			return r.Coordinators[0].ErrorCode
		}
		return r.ErrorCode
	})))
	initPID := func(timeout int32) *kmsg.InitProducerIDResponse {
		var out *kmsg.InitProducerIDResponse
		retry(func() int16 {
			req := kmsg.NewPtrInitProducerIDRequest()
			req.TransactionalID = kmsg.StringPtr(id)
			req.TransactionTimeoutMillis = timeout
			resp, err := tg.request(ctx, req)
			if err != nil {
				out = &kmsg.InitProducerIDResponse{ErrorCode: kerr.UnknownServerError.Code}
			} else {
				out = resp.(*kmsg.InitProducerIDResponse)
			}
			return out.ErrorCode
		})
		return out
	}
	ip := initPID(60000)
	rec("InitProducerId", fmt.Sprintf("%s, epoch %d", errName(ip.ErrorCode), ip.ProducerEpoch))
	rec("InitProducerId timeout 16 min", errName(initPID(16*60*1000).ErrorCode))
	pid, epoch := ip.ProducerID, ip.ProducerEpoch
	add := func(topic string, epoch int16) string {
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
		rt := kmsg.NewAddPartitionsToTxnRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{0}
		req.Topics = append(req.Topics, rt)
		resp, err := tg.requestAt(ctx, req, 3) // v4+ is broker to broker
		if err != nil {
			return tg.reqErr(err)
		}
		r := resp.(*kmsg.AddPartitionsToTxnResponse)
		if r.ErrorCode != 0 {
			return errName(r.ErrorCode)
		}
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				return errName(p.ErrorCode)
			}
		}
		for _, tx := range r.Transactions {
			for _, t := range tx.Topics {
				for _, p := range t.Partitions {
					return errName(p.ErrorCode)
				}
			}
		}
		return "no partition in the response"
	}
	rec("AddPartitionsToTxn unknown topic", add("diff-tx-nope", epoch))
	rec("AddPartitionsToTxn stale epoch", add(topic, epoch+1))
	rec("AddPartitionsToTxn", add(topic, epoch))
	batch := txnBatch(tsBatch([]int64{1000}, []byte("t")), pid, epoch)
	rec("transactional Produce to the partition added", produceTxn(ctx, tg, id, topic, 0, batch))
	rec("transactional Produce to a partition not added", produceTxn(ctx, tg, id, topic, 1, batch))
	end := func(commit bool, epoch int16) string {
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
		code := retry(func() int16 {
			resp, err := tg.request(ctx, req)
			if err != nil {
				return kerr.UnknownServerError.Code
			}
			return resp.(*kmsg.EndTxnResponse).ErrorCode
		})
		return errName(code)
	}
	rec("EndTxn commit", end(true, epoch))
	describe := func() string {
		var d kmsg.DescribeTransactionsResponseTransactionState
		deadline := time.Now().Add(15 * time.Second)
		for {
			req := kmsg.NewPtrDescribeTransactionsRequest()
			req.TransactionalIDs = []string{id}
			resp, err := tg.request(ctx, req)
			if err != nil {
				return tg.reqErr(err)
			}
			d = resp.(*kmsg.DescribeTransactionsResponse).TransactionStates[0]
			if (d.State != "PrepareCommit" && d.State != "PrepareAbort") || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond) // Kafka writes the markers after answering EndTxn
		}
		return fmt.Sprintf("%s, state %s, epoch %d, %d topics", errName(d.ErrorCode), d.State, d.ProducerEpoch, len(d.Topics))
	}
	rec("DescribeTransactions after commit", describe())
	rec("EndTxn commit again", end(true, epoch))
	rec("EndTxn abort after commit", end(false, epoch))
	rec("then ListOffsets latest (record + marker)", listOffset(ctx, tg, topic, 0, -1))
	ip2 := initPID(60000)
	rec("second InitProducerId", fmt.Sprintf("%s, same producer id: %v, epoch %d", errName(ip2.ErrorCode), ip2.ProducerID == pid, ip2.ProducerEpoch))
	rec("AddPartitionsToTxn of the fenced instance", add(topic, epoch))
}

// txnBatch is batch with producer id and epoch, sequence 0 and the
// transactional attribute (CRC recomputed).
func txnBatch(batch []byte, id int64, epoch int16) []byte {
	b := withProducer(batch, id, epoch, 0)
	binary.BigEndian.PutUint16(b[21:], binary.BigEndian.Uint16(b[21:])|0x10)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[batchCRCStart:], castagnoli))
	return b
}

// produceTxn sends batch to topic/partition with acks=-1 and a
// transactional id, and describes the answer.
func produceTxn(ctx context.Context, tg *diffTarget, id, topic string, partition int32, batch []byte) string {
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis, req.TransactionID = -1, 10000, kmsg.StringPtr(id)
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = topic, tg.topicID(ctx, topic)
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := tg.request(ctx, req)
	if err != nil {
		return tg.reqErr(err)
	}
	r := resp.(*kmsg.ProduceResponse)
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		return "not one partition in the response"
	}
	p := r.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		return errName(p.ErrorCode)
	}
	return fmt.Sprintf("NONE, base offset %d", p.BaseOffset)
}
