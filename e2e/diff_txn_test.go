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
// Transactions v1: Produce up to v11, EndTxn up to v4 (scTransactionsV2
// drives v2).
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
	rec("transactional Produce to the partition added", produceTxnAt(ctx, tg, id, topic, 0, batch, 11))
	rec("transactional Produce to a partition not added", produceTxnAt(ctx, tg, id, topic, 1, batch, 11))
	end := func(commit bool, epoch int16) string {
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
		code := retry(func() int16 {
			resp, err := tg.requestAt(ctx, req, 4)
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

// produceTxnAt sends batch to topic/partition with acks=-1 and a
// transactional id, at a version up to maxVersion, and describes the answer.
func produceTxnAt(ctx context.Context, tg *diffTarget, id, topic string, partition int32, batch []byte, maxVersion int16) string {
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis, req.TransactionID = -1, 10000, kmsg.StringPtr(id)
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = topic, tg.topicID(ctx, topic)
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := tg.requestAt(ctx, req, maxVersion)
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

// scTransactionsV2: transactions v2 (KIP-890 part 2) with raw requests:
// the finalized transaction.version, a Produce v12 to a partition no
// AddPartitionsToTxn added, a Produce v11 to another, TxnOffsetCommit v5
// without AddOffsetsToTxn, EndTxn v5 (the epoch it answers, its retry with
// the old epoch, the opposite decision), Produce at the old and the new
// epoch, an abort, and EndTxn v5 with no transaction open.
func scTransactionsV2(ctx context.Context, tg *diffTarget, rec recordFunc) {
	const id, topic = "diff-tx2", "diff-tx2-out"
	createTopic1(ctx, tg, topic, 2, nil)
	av := kmsg.NewPtrApiVersionsRequest()
	av.ClientSoftwareName, av.ClientSoftwareVersion = "diff", "1"
	if resp, err := tg.requestAt(ctx, av, 4); err != nil {
		rec("ApiVersions transaction.version", tg.reqErr(err))
	} else {
		level := "not finalized"
		for _, f := range resp.(*kmsg.ApiVersionsResponse).FinalizedFeatures {
			if f.Name == "transaction.version" {
				level = fmt.Sprintf("finalized %d-%d", f.MinVersionLevel, f.MaxVersionLevel)
			}
		}
		rec("ApiVersions transaction.version", level)
	}
	var ip *kmsg.InitProducerIDResponse
	deadline := time.Now().Add(30 * time.Second)
	for {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr(id), 60000
		resp, err := tg.request(ctx, req)
		ip = &kmsg.InitProducerIDResponse{ErrorCode: kerr.UnknownServerError.Code}
		if err == nil {
			ip = resp.(*kmsg.InitProducerIDResponse)
		}
		if !kerr.IsRetriable(kerr.ErrorForCode(ip.ErrorCode)) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	rec("InitProducerId", fmt.Sprintf("%s, epoch %d", errName(ip.ErrorCode), ip.ProducerEpoch))
	pid, epoch := ip.ProducerID, ip.ProducerEpoch
	produce := func(p int32, epoch int16, seq int32, maxVersion int16) string {
		b := withProducer(tsBatch([]int64{1000}, []byte("t")), pid, epoch, seq)
		binary.BigEndian.PutUint16(b[21:], binary.BigEndian.Uint16(b[21:])|0x10)
		binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[batchCRCStart:], castagnoli))
		return produceTxnAt(ctx, tg, id, topic, p, b, maxVersion)
	}
	rec("Produce v12 to a partition not added", produce(0, epoch, 0, 12))
	rec("Produce v11 to a partition not added", produce(1, epoch, 0, 11))
	// The group's coordinator first (it creates __consumer_offsets).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey, req.CoordinatorKeys = "diff-tx2-group", []string{"diff-tx2-group"}
		resp, err := tg.request(ctx, req)
		if err == nil {
			r := resp.(*kmsg.FindCoordinatorResponse)
			if len(r.Coordinators) == 1 && r.Coordinators[0].ErrorCode == 0 || time.Now().After(deadline) {
				break
			}
		} else if time.Now().After(deadline) {
			break
		}
	}
	oc := kmsg.NewPtrTxnOffsetCommitRequest()
	oc.TransactionalID, oc.Group, oc.ProducerID, oc.ProducerEpoch, oc.Generation = id, "diff-tx2-group", pid, epoch, -1
	ot := kmsg.NewTxnOffsetCommitRequestTopic()
	ot.Topic = topic
	op := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	op.Partition, op.Offset, op.LeaderEpoch = 0, 1, -1
	ot.Partitions = append(ot.Partitions, op)
	oc.Topics = append(oc.Topics, ot)
	// Retried while the group coordinator loads, as clients retry.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := tg.requestAt(ctx, oc, 5)
		if err != nil {
			rec("TxnOffsetCommit v5 without AddOffsetsToTxn", tg.reqErr(err))
			break
		}
		code := resp.(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
		if !kerr.IsRetriable(kerr.ErrorForCode(code)) || time.Now().After(deadline) {
			rec("TxnOffsetCommit v5 without AddOffsetsToTxn", errName(code))
			break
		}
	}
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
		n := 0
		for _, t := range d.Topics {
			n += len(t.Partitions)
		}
		return fmt.Sprintf("%s, state %s, epoch +%d, %d partitions", errName(d.ErrorCode), d.State, d.ProducerEpoch-epoch, n)
	}
	rec("DescribeTransactions after the implicit adds", describe())
	end := func(commit bool, at int16) string {
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, at, commit
		var r *kmsg.EndTxnResponse
		deadline := time.Now().Add(15 * time.Second)
		for {
			resp, err := tg.requestAt(ctx, req, 5)
			if err != nil {
				return tg.reqErr(err)
			}
			r = resp.(*kmsg.EndTxnResponse)
			retriable := kerr.IsRetriable(kerr.ErrorForCode(r.ErrorCode)) || r.ErrorCode == kerr.ConcurrentTransactions.Code
			if !retriable || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if r.ErrorCode != 0 {
			return errName(r.ErrorCode)
		}
		return fmt.Sprintf("NONE, same producer id: %v, epoch +%d", r.ProducerID == pid, r.ProducerEpoch-epoch)
	}
	rec("EndTxn v5 commit", end(true, epoch))
	rec("DescribeTransactions after commit", describe())
	rec("EndTxn v5 commit again at the old epoch", end(true, epoch))
	rec("EndTxn v5 abort at the old epoch", end(false, epoch))
	rec("Produce v12 at the old epoch", produce(1, epoch, 1, 12))
	rec("Produce v12 at the new epoch, sequence 0", produce(0, epoch+1, 0, 12))
	rec("EndTxn v5 abort", end(false, epoch+1))
	rec("DescribeTransactions after abort", describe())
	rec("EndTxn v5 commit with no transaction open", end(true, epoch+2))
	rec("EndTxn v5 abort with no transaction open", end(false, epoch+2))
	rec("DescribeTransactions at the end", describe())
}
