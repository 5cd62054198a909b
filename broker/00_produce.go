package broker

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/internal/lanes"
	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/partition"
	"github.com/sluice/sluice/segment"
)

// Produce: v0-12
//
// Behavior:
// * v0-2 carry legacy message sets (magic 0 and 1): each partition's set is
//   up-converted to one RecordBatch v2 before the append, as Kafka's
//   LogValidator does (segment.UpConvert: the wrappers' codec is kept, magic
//   0 messages get timestamp -1); a malformed set is CORRUPT_MESSAGE. The
//   converted bytes are counted (TopicTraffic.ConvertedIn). A v0-2 request
//   carrying RecordBatch v2 is appended as it is; a v3+ request carrying a
//   legacy set gets INVALID_RECORD, as in Kafka.
// * With a controller, a partition this broker does not lead (metadata
//   image) gets NOT_LEADER_OR_FOLLOWER; from v10 with the current leader
//   and its epoch (CurrentLeader) and that leader's endpoint at the
//   client's listener (NodeEndpoints), as KIP-951. So does one whose
//   leadership has not started yet, or has ended by the time of the
//   append: the append is made in the leadership's epoch
//   (Log.AppendAsLeader) and refused once the log is at another.
// * Acks must be 0, 1 or -1, else every partition gets
//   INVALID_REQUIRED_ACKS (21). acks=1 completes when the append is
//   written (and fsync'd under --fsync always). acks=-1 (all),
//   in a cluster (replication.go): NOT_ENOUGH_REPLICAS before the append
//   when the partition's ISR is smaller than min.insync.replicas; after
//   it, the response waits until each partition's high watermark passes
//   its last offset (for one replica at once), then answers
//   NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below
//   min.insync.replicas meanwhile, NOT_LEADER_OR_FOLLOWER if this broker
//   stopped leading it, or REQUEST_TIMED_OUT once TimeoutMillis passed.
// * acks=0 sends no response; if any partition failed, the connection is
//   closed instead, as Kafka does, so the client notices.
// * With an authorizer (authz.go): a request with transactional batches
//   needs WRITE on its transactional id, else every partition gets
//   TRANSACTIONAL_ID_AUTHORIZATION_FAILED (as Kafka, which does not check
//   the id of a request without transactional batches); each
//   topic needs WRITE, else its partitions get TOPIC_AUTHORIZATION_FAILED
//   (before the topic's existence is looked at, as Kafka).
// * Unknown topics and partitions: UNKNOWN_TOPIC_OR_PARTITION (produce never
//   auto-creates). Internal topics ("__…"): INVALID_TOPIC_EXCEPTION.
// * A client's record set first gets Kafka's checks that read only the
//   batch header (produce_shape.go): no zstd before v7, one batch per
//   partition, baseOffset 0, the size, then (CRC intact)
//   LogValidator.validateBatch's offset range, record count, control and
//   sequence checks and its refusal of a producer's LogAppendTime batch
//   (UNSUPPORTED_COMPRESSION_TYPE, INVALID_RECORD, MESSAGE_TOO_LARGE,
//   INVALID_TIMESTAMP).
// * A request large enough to be read from the socket in pieces has each
//   batch's CRC-32C computed and its records walked as its bytes arrive,
//   while they are still in cache (produce_scan.go); the append's
//   validation uses those results for the very bytes they were computed
//   over and checks in full whatever the scan did not (same errors).
// * Records are validated by Log.Append (CRC, sizes, sequences); its
//   errors map through errors.go: CORRUPT_MESSAGE, MESSAGE_TOO_LARGE,
//   INVALID_RECORD, INVALID_TIMESTAMP, OUT_OF_ORDER_SEQUENCE_NUMBER,
//   INVALID_PRODUCER_EPOCH, UNKNOWN_PRODUCER_ID, KAFKA_STORAGE_ERROR. An
//   empty records field is INVALID_RECORD. A duplicate idempotent retry
//   returns its original offsets and no error.
// * Transactional batches (attribute bit 4, txn_produce.go): without a
//   transaction coordinator (no TxnVerifier set) a request with a
//   TransactionalID, or a transactional batch, gets INVALID_TXN_STATE (48)
//   for the partition, what Kafka answers (KIP-890 verification) for a
//   transactional write no coordinator has begun. With one, a
//   transactional batch without a TransactionalID gets
//   TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53), as in Kafka; otherwise the
//   verifier decides (the partition must be in the producer's
//   transaction), then Log.Append applies Kafka's producer-state rules
//   (INVALID_TXN_STATE for a plain batch inside an open transaction,
//   INVALID_PRODUCER_EPOCH, sequences) and opens the transaction. From
//   v11 (KIP-890) the verifier's INVALID_TXN_STATE is answered as
//   TRANSACTION_ABORTABLE (120), as Kafka does.
// * v12 is transactions v2 (KIP-890 part 2): the producer sent no
//   AddPartitionsToTxn, so before the appends every partition of the
//   request with a transactional batch is added to the transaction on the
//   coordinator, in one call (txn_produce.go, implicitTxnAdds; a
//   CONCURRENT_TRANSACTIONS is retried for a while, as Kafka's leader
//   retries it). A failed add gives its partitions INVALID_PRODUCER_EPOCH
//   (fenced), INVALID_PRODUCER_ID_MAPPING, TRANSACTION_ABORTABLE or
//   NOT_ENOUGH_REPLICAS (retriable: the coordinator is unavailable). The
//   verification above then runs as for v11. v0-11 never add.
// * Before the append, the topic's compression.type and
//   message.timestamp.* configs apply (produce_policy.go): batches in
//   another codec are recompressed, out-of-range CreateTime timestamps get
//   INVALID_TIMESTAMP.
// * Pipelining (netio.Pending): when a partition of the request fsyncs
//   every append (--fsync always), acks=-1 waits for replicas in a
//   cluster, or (acks 1 or -1) the request appends to more than
//   appendWorkers (64) partitions, or to several of little data each
//   (below), the handler queues the appends in
//   request order (Log.SubmitTo; on a cluster leadership in its epoch, as
//   the append above) and answers Pending; the wait for the fsync, the
//   write or the high watermark runs while the connection's next produces
//   are appended (at most netio's MaxPending, 5, pending per connection),
//   so one fsync covers all of them; responses leave in request order.
//   Under fsync=always the wait writes the request's first append itself
//   (Log.SubmitForWait) when it is the connection's next wait or under
//   128 KiB; the others get a writer goroutine each, so partitions'
//   copies and fsyncs overlap (submitAppends). Appends that do not fsync
//   each are written by the broker's partition.WritePool (half the cores
//   as workers, writePoolWorkers): while it is behind, a partition's batches from several requests in
//   flight queue and are written with one pwritev (1,000 partitions x ~5
//   KB per request: fewer, larger writes), and a request spawns no
//   goroutine per partition. So are produces of several partitions of
//   less than 128 KiB each on average (pipelineSmallBytes; 16 x 100 B
//   records): a goroutine per partition grew its stack on the append
//   path, ~5% of the broker's CPU. A request of one partition is
//   appended in Handle, with no hand-off; a few large batches on one
//   goroutine per core. A request whose append fails
//   fails alone, in its place: an idempotent producer's later requests
//   then fail the sequence check (OUT_OF_ORDER_SEQUENCE_NUMBER), as when
//   Kafka serves them one at a time. acks=0 produces are not pipelined:
//   one that fails closes the connection before the next request is
//   read, as Kafka. Every other request kind waits for the pending
//   produces first (dispatch.go: Conn.WaitPending), as when one request
//   was served at a time.
// * Partitions of one request are appended concurrently (they are
//   independent logs): by the pool, or on one goroutine per core, the
//   request goroutine's among them (runAppends). Success fills
//   BaseOffset, LogAppendTime (-1 unless the topic uses LogAppendTime)
//   and LogStartOffset (v5+); errors fill BaseOffset -1, LogStartOffset
//   -1 and (v8+) ErrorMessage.

const produceKey = 0

func init() { register(produceKey, 0, 12, handleProduce) }

func handleProduce(ctx context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.ProduceRequest)
	if r.call == nil { // not from dispatchProduce: a call of its own
		r.call = &produceCall{req: *req}
	}
	resp := r.call.response()
	jobs := b.produceJobs(ctx, r, req, resp)
	if b.pipelines(req, jobs) {
		// The appends are queued now, in request order; the wait for their
		// fsync or their replicas runs while netio handles this
		// connection's next requests (netio.Pending).
		g := new(partition.SubmitGroup)
		b.submitAppends(jobs, g, r.conn)
		return netio.Pending(func() (*netio.Response, error) {
			g.Wait() // one wake-up for the pool's appends
			for _, j := range jobs {
				j.wait()
			}
			return b.finishProduce(ctx, r, req, resp, jobs)
		}), nil
	}
	runAppends(jobs)
	return b.finishProduce(ctx, r, req, resp, jobs)
}

// finishProduce completes a produce whose appends are done: acks=all's
// wait for the high watermark, the leader hints, and the response (none
// for acks=0).
func (b *Broker) finishProduce(ctx context.Context, r *request, req *kmsg.ProduceRequest,
	resp *kmsg.ProduceResponse, jobs []*produceJob) (*netio.Response, error) {
	if req.Acks == -1 {
		awaitReplication(ctx, jobs, time.Duration(max(req.TimeoutMillis, 0))*time.Millisecond)
	}
	b.produceLeaderHints(r, resp)
	if req.Acks == 0 {
		for _, j := range jobs {
			if j.out.ErrorCode != 0 {
				return nil, errClose("acks=0 produce to %s-%d failed with error %d", j.topic, j.out.Partition, j.out.ErrorCode)
			}
		}
		return nil, nil
	}
	return r.respondSized(resp, produceResponseSize(resp)), nil
}

// produceResponseSize is about the encoded size of resp (a little more
// than a v8 response), for respondSized.
func produceResponseSize(resp *kmsg.ProduceResponse) int {
	n := 16 // header, counts, throttle, tags
	for i := range resp.Topics {
		t := &resp.Topics[i]
		n += 4 + len(t.Topic) + 36*len(t.Partitions)
		for k := range t.Partitions {
			if m := t.Partitions[k].ErrorMessage; m != nil {
				n += len(*m)
			}
		}
	}
	return n
}

// produceJob is one partition's append and where its result goes.
type produceJob struct {
	b       *Broker
	topic   string
	records []byte
	t       *topic
	out     *kmsg.ProduceResponseTopicPartition // ErrorCode preset: skip append
	// pre is what was checked of the request's batches as they arrived
	// (produce_scan.go; nil: nothing), for the append's validation.
	pre segment.Prechecks
	// log is the partition's log as precheck found it led here: later
	// steps use it, not a new lookup, which finds nil once the leadership
	// moved mid-request.
	log *partition.Log

	// A partition this broker leads in a cluster: its replica state, and
	// (acks=all) the last offset appended (-1: nothing to wait for).
	st   *leaderState
	last int64

	// pending is the append submitted by submitAppends (pipelined
	// produce), perr the error that kept it from being submitted.
	pending *partition.PendingAppend
	perr    error
}

// produceJobs builds the response skeleton and one job per partition that
// passed the request-level checks (others get their error code now). The
// response's slices and the jobs are r.call's, reused from an earlier
// request where they fit.
func (b *Broker) produceJobs(ctx context.Context, r *request, req *kmsg.ProduceRequest, resp *kmsg.ProduceResponse) []*produceJob {
	n := 0
	for i := range req.Topics {
		n += len(req.Topics[i].Partitions)
	}
	jobs := r.call.newJobs(n)[:0]
	acksOK := req.Acks == 0 || req.Acks == 1 || req.Acks == -1
	var txnDenied int16
	if req.TransactionID != nil && hasTransactionalRecords(req) {
		txnDenied = b.denied(r, &chkProduceTxn, *req.TransactionID)
	}
	added := b.implicitTxnAdds(ctx, r, req, txnDenied)
	resp.Topics = grow(resp.Topics, len(req.Topics))
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		parts := st.Partitions
		*st = kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = grow(parts, len(rt.Partitions))
		t := b.topics.get(rt.Topic)
		denied := txnDenied
		if denied == 0 {
			denied = b.denied(r, &chkProduceTopic, rt.Topic)
		}
		for k := range rt.Partitions {
			rp := &rt.Partitions[k]
			sp := &st.Partitions[k]
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogStartOffset = -1, -1
			j := r.call.ptrs[len(jobs)]
			*j = produceJob{b: b, topic: rt.Topic, records: rp.Records, t: t, out: sp, last: -1, pre: r.call.pre}
			sp.ErrorCode = denied
			if sp.ErrorCode == 0 && added != nil {
				sp.ErrorCode = added[TopicPartition{rt.Topic, rp.Partition}]
			}
			if sp.ErrorCode == 0 {
				sp.ErrorCode = j.precheck(acksOK, req.TransactionID)
			}
			if sp.ErrorCode == kerr.InvalidTxnState.Code && req.Version >= 11 {
				// KIP-890: v11+ clients get TRANSACTION_ABORTABLE for a
				// write their transaction did not add, as Kafka answers.
				sp.ErrorCode = kerr.TransactionAbortable.Code
			}
			if sp.ErrorCode == 0 {
				sp.ErrorCode = j.messageFormat(req.Version)
			}
			if sp.ErrorCode == 0 {
				sp.ErrorCode = j.clientBatchCheck(req.Version) // produce_shape.go
			}
			if sp.ErrorCode == 0 && b.cl != nil {
				// In a cluster the image can name this broker leader a moment
				// before its leadership starts (epoch assigned, fetcher
				// stopped, ISR known): until then the client retries, as
				// Kafka answers a broker that has not become leader yet.
				j.st = b.cl.repl.leader(j.log)
				switch {
				case j.st == nil:
					sp.ErrorCode = kerr.NotLeaderForPartition.Code
				case req.Acks == -1 && !b.cl.repl.minInsync(j.st):
					sp.ErrorCode = kerr.NotEnoughReplicas.Code
				}
			}
			jobs = append(jobs, j)
		}
	}
	return jobs
}

// grow returns s resized to n, reusing its array (and what its elements
// hold beyond the length, for the caller to reset) when it is large enough.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// precheck returns the error code a partition gets before any append.
func (j *produceJob) precheck(acksOK bool, txnID *string) int16 {
	if j.t != nil {
		j.log = j.t.partition(j.out.Partition)
	}
	switch {
	case !acksOK:
		return kerr.InvalidRequiredAcks.Code
	case j.log == nil:
		return j.t.missingCode(j.out.Partition)
	case j.t.internal():
		return kerr.InvalidTopicException.Code
	case len(j.records) == 0:
		return kerr.InvalidRecord.Code
	case txnID != nil || hasTransactionalBatch(j.records):
		return j.checkTxn(txnID)
	}
	return 0
}

// messageFormat up-converts a legacy message set on v0-2 and refuses one
// on v3+ (INVALID_RECORD, Kafka's ProduceRequest.validateRecords).
func (j *produceJob) messageFormat(version int16) int16 {
	if version < 3 {
		return j.upConvert()
	}
	if m := segment.LegacyMagic(j.records); m == 0 || m == 1 {
		msg := fmt.Sprintf("Produce requests with version %d are only allowed to contain record batches with magic version 2", version)
		j.out.ErrorMessage = &msg
		return kerr.InvalidRecord.Code
	}
	return 0
}

// upConvert replaces a legacy (magic 0/1) message set by one RecordBatch
// v2 and returns the error code for a malformed set.
func (j *produceJob) upConvert() int16 {
	if segment.LegacyMagic(j.records) >= 2 {
		return 0
	}
	batch, _, err := segment.UpConvert(j.records)
	if err != nil {
		msg := err.Error()
		j.out.ErrorMessage = &msg
		return kerr.CorruptMessage.Code
	}
	j.b.traffic.counters(j.topic).convertedIn.Add(int64(len(j.records)))
	j.records = batch
	return 0
}

// hasTransactionalRecords reports whether any partition of req carries a
// transactional batch (Kafka's ProduceRequest.hasTransactionalRecords).
func hasTransactionalRecords(req *kmsg.ProduceRequest) bool {
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			if hasTransactionalBatch(p.Records) {
				return true
			}
		}
	}
	return false
}

// hasTransactionalBatch reports whether any RecordBatch in records has the
// transactional attribute (bit 4). Malformed framing (a length overrunning
// the records, a magic other than 2) reports false: Append rejects it with
// the precise error.
func hasTransactionalBatch(records []byte) bool {
	const lengthAt, magicAt, attrAt, minHeader = 8, 16, 21, 61
	txn := false
	for len(records) > 0 {
		if len(records) < minHeader || records[magicAt] != 2 {
			return false
		}
		n := int64(binary.BigEndian.Uint32(records[lengthAt:])) + 12
		if n > int64(len(records)) || n < minHeader {
			return false
		}
		txn = txn || binary.BigEndian.Uint16(records[attrAt:])&0x10 != 0
		records = records[n:]
	}
	return txn
}

// runAppends appends every job that passed its prechecks, concurrently
// when there are several (runAppendsConcurrently): a produce that is not
// pipelined (one partition, a few large batches, or acks=0).
func runAppends(jobs []*produceJob) {
	var one *produceJob
	n := 0
	for _, j := range jobs {
		if j.out.ErrorCode == 0 {
			one, n = j, n+1
		}
	}
	switch n {
	case 0:
		return
	case 1: // no goroutine, nor the WaitGroup and slice below
		one.append()
		return
	}
	runAppendsConcurrently(jobs, n)
}

// runAppendsConcurrently appends the n jobs that passed their prechecks
// on several goroutines, the caller's among them, each taking the next
// job in turn: up to appendWorkers jobs on one goroutine per core
// (GOMAXPROCS), more on appendWorkers. A goroutine per job grew its stack
// twice on the append path (2 to 8 KiB): 16 partitions x 1 KiB made ~2,800
// morestacks per 512 MiB, one per core ~260. Under fsync=always each job
// still gets a goroutine of its own, so that their fsyncs overlap.
func runAppendsConcurrently(jobs []*produceJob, n int) {
	todo := make([]*produceJob, 0, n)
	for _, j := range jobs {
		if j.out.ErrorCode == 0 {
			todo = append(todo, j)
		}
	}
	if anyFlushAlways(todo) {
		var wg sync.WaitGroup
		for _, j := range todo {
			wg.Go(j.append)
		}
		wg.Wait()
		return
	}
	workers := appendWorkers
	if len(todo) <= appendWorkers {
		workers = runtime.GOMAXPROCS(0)
	}
	lanes.Run(len(todo), workers, func(i int) { todo[i].append() }) // the request goroutine is a lane too
}

// appendWorkers bounds the goroutines of one request's appends: a
// goroutine per partition costs its creation and its stack's growth on the
// append path, ~10% of the broker's CPU at 1,000 partitions x 1 KiB; 64
// goroutines, each taking the next partition in turn, keep both cores
// busy (such produces are now pipelined unless acks=0). Under
// fsync=always every partition still gets its own goroutine
// (anyFlushAlways): their fsyncs then overlap instead of queueing.
const appendWorkers = 64

// anyFlushAlways reports whether any job's log fsyncs every append.
func anyFlushAlways(jobs []*produceJob) bool {
	for _, j := range jobs {
		if j.log.Config().Flush == partition.FlushAlways {
			return true
		}
	}
	return false
}

// pipelines reports whether the request's appends are split from the wait
// for their outcome (netio.Pending): when a partition fsyncs every append
// (the wait is the fsync), acks=all waits for replicas, more than
// appendWorkers partitions are appended, or several partitions of less
// than pipelineSmallBytes each on average. The pool then writes them with
// no goroutine per partition, and each partition's batches of several
// requests in flight with one pwritev. A produce to one partition is
// appended in Handle and answered once written (no hand-off at all); one
// to a few partitions of large batches (4 x 1 MiB) on one goroutine per
// core, whose writes overlap on the cores instead of queueing for the
// pool's worker (pipelined, 4 x 16 KiB records cost ~14% more CPU).
// acks=0 is never pipelined: a failed acks=0 produce closes the connection
// with nothing after it read, as Kafka (a pipelined one would fail only in
// its wait, after the connection's next requests were appended).
func (b *Broker) pipelines(req *kmsg.ProduceRequest, jobs []*produceJob) bool {
	if req.Acks == 0 {
		return false
	}
	n, size := 0, 0
	for _, j := range jobs {
		if j.out.ErrorCode != 0 {
			continue
		}
		// j.st is set for every acks in a cluster (the leadership check):
		// only acks=all waits for replicas.
		if (req.Acks == -1 && j.st != nil) || j.log.Config().Flush == partition.FlushAlways {
			return true
		}
		n, size = n+1, size+len(j.records)
	}
	return n > appendWorkers || (n > 1 && size < n*pipelineSmallBytes)
}

// pipelineSmallBytes is the average bytes per partition under which a
// produce of several partitions is pipelined (pipelines): a goroutine per
// partition costs its creation, its stack's growth on the append path and
// a wake-up, which at 16 partitions x 100 B records (~45 KB per partition
// per request) was ~5% of the broker's CPU; at ~1 MB per partition it is
// lost in the copy.
const pipelineSmallBytes = 128 << 10

// submitAppends queues every job's records on its log, in order, without
// waiting (Log.Submit): a later request's appends to the same partition
// queue behind these, which keeps an idempotent producer's sequences in
// order. c is the request's connection (nil in-process), asked whether an
// earlier request's wait is still running (netio.Conn.PendingAhead).
func (b *Broker) submitAppends(jobs []*produceJob, g *partition.SubmitGroup, c *netio.Conn) {
	waited := false // a FlushAlways job went to SubmitForWait
	for _, j := range jobs {
		if j.out.ErrorCode != 0 {
			continue
		}
		l := j.log
		if hook := produceBeforeAppend.Load(); hook != nil {
			(*hook)(l)
		}
		records, err := applyProducePolicy(l.Config(), j.records, time.Time{}) // produce_policy.go; the zero time: time.Now() if needed
		epoch := int32(-1)                                                     // unchecked
		if j.st != nil {
			// As append: made in the leadership's epoch (Log.AppendAsLeader).
			epoch = j.st.epoch
		}
		switch {
		case err != nil:
			j.perr = err
		case j.st != nil && j.st.lost():
			j.perr = fmt.Errorf("%w: the leadership of %s-%d at epoch %d ended", partition.ErrNotLeaderEpoch, j.topic, j.out.Partition, j.st.epoch)
		case l.Config().Flush == partition.FlushAlways && !waited && (len(records) < pipelineSmallBytes || !c.PendingAhead()):
			// The first such job's fsync is run by the goroutine that
			// waits for it (the Pending below waits for this job first),
			// not by a writer goroutine started and woken for it: when
			// that Pending is the completer's next wait, or the job is
			// small (below).
			waited = true
			j.pending = l.SubmitForWait(records, epoch, j.pre)
		case l.Config().Flush == partition.FlushAlways:
			// The others get a writer goroutine each: their fsyncs
			// overlap the first's. So does a large first one when the
			// completer is still waiting for an earlier request: left to
			// it, this log's round would start only once those are done,
			// and producers that send to the partitions in the same order
			// then find every partition's round waiting on the one before
			// (one partition's copy and fsync at a time). Under
			// pipelineSmallBytes the round is mostly its fsync, and the
			// writer goroutine's start and wake-up cost more than the
			// wait (docs/BENCHMARKS.md, "Then: under fsync=always, a
			// large produce behind another gets its own writer").
			j.pending = l.SubmitTo(nil, nil, records, epoch, j.pre)
		default:
			j.pending = l.SubmitTo(b.writes, g, records, epoch, j.pre)
		}
	}
}

// wait completes a job queued by submitAppends and fills its response.
func (j *produceJob) wait() {
	switch {
	case j.pending != nil:
		j.done(j.pending.Wait())
		j.pending = nil
	case j.perr != nil:
		j.done(partition.AppendResult{}, j.perr)
	}
}

// produceBeforeAppend, when set (tests), is called by each job between
// its leadership check and its append.
var produceBeforeAppend atomic.Pointer[func(l *partition.Log)]

// append appends the job's records and fills its response.
func (j *produceJob) append() {
	l := j.log
	if hook := produceBeforeAppend.Load(); hook != nil {
		(*hook)(l)
	}
	records, err := applyProducePolicy(l.Config(), j.records, time.Time{}) // produce_policy.go; the zero time: time.Now() if needed
	var res partition.AppendResult
	switch {
	case err != nil:
	case j.st == nil:
		res, err = l.AppendPrechecked(records, -1, j.pre)
	case j.st.lost():
		err = fmt.Errorf("%w: the leadership of %s-%d at epoch %d ended", partition.ErrNotLeaderEpoch, j.topic, j.out.Partition, j.st.epoch)
	default:
		// Made in the leadership's epoch: refused if the log has moved
		// to a newer one meanwhile (a follower of the next leader).
		res, err = j.appendAsLeader(records)
	}
	j.done(res, err)
}

// appendAsLeader is Log.AppendAsLeader in the job's leadership epoch,
// using what was checked of records as they arrived.
func (j *produceJob) appendAsLeader(records []byte) (partition.AppendResult, error) {
	if j.st.epoch < 0 { // refused, as AppendAsLeader refuses it
		return j.log.AppendAsLeader(records, j.st.epoch)
	}
	return j.log.AppendPrechecked(records, j.st.epoch, j.pre)
}

// done fills the job's response with its append's outcome.
func (j *produceJob) done(res partition.AppendResult, err error) {
	if err != nil {
		j.out.ErrorCode = errorCode(err)
		msg := err.Error()
		j.out.ErrorMessage = &msg
		// A storage error took the log offline, which logged it once; every
		// later append gets it at once (no I/O), as KAFKA_STORAGE_ERROR.
		if j.out.ErrorCode == kerr.UnknownServerError.Code {
			j.b.log.Error("append failed", "topic", j.topic, "partition", j.out.Partition, "err", err)
		}
		return
	}
	j.out.BaseOffset = res.BaseOffset
	if j.st != nil {
		j.last = res.LastOffset // the HW moved after the append (replicaManager.appended)
	}
	j.out.LogAppendTime = res.LogAppendTime
	j.out.LogStartOffset = res.LogStartOffset
	if !res.Duplicate {
		j.b.traffic.counters(j.topic).in.Add(int64(len(j.records)))
	}
}

// awaitReplication completes acks=all: it waits, as one waiter for the
// whole request, on the Wait channels of the logs it appended to (closed
// by their HW and LEO moves) and on their leaderships, until every
// partition's HW passes its last offset or timeout passes (replication.go).
func awaitReplication(ctx context.Context, jobs []*produceJob, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if hook := produceAwaitLooks.Load(); hook != nil {
			(*hook)()
		}
		var waits []<-chan struct{}
		for _, j := range jobs {
			if j.last < 0 || j.out.ErrorCode != 0 {
				continue
			}
			l := j.st.log
			ch := l.Wait() // before looking: no wake-up missed
			// The high watermark is read before the leadership is looked
			// at, and a leadership never comes back: a HW that passed
			// j.last with the leadership still held was this leader's,
			// so every ISR member holds the records and they are
			// committed, whatever happens to the leadership next. A HW
			// read after the leadership ended may be a follower's, over
			// other records at those offsets
			// (TestAcksAllAfterResignIsNotAnsweredByAFollowersHW). A log
			// without other replicas is the exception: its HW is its
			// end, no other broker can take it over, so what it holds
			// is answered as written even after its leadership ended
			// (a controlled shutdown), not NOT_LEADER_OR_FOLLOWER,
			// which an idempotent producer would retry into a duplicate
			// once a restart forgot all but its last batch
			// (TestResignMidAppendAnswersTheAppend).
			hw := l.HighWatermark()
			lost := j.st.lost()
			switch {
			case hw > j.last && (!lost || !l.Replicated()):
				if !j.b.cl.repl.minInsync(j.st) {
					j.fail(kerr.NotEnoughReplicasAfterAppend.Code)
				}
				j.last = -1
			case lost:
				j.fail(kerr.NotLeaderForPartition.Code)
			default:
				waits = append(waits, ch, j.st.gone)
			}
		}
		if len(waits) == 0 {
			return
		}
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			for _, j := range jobs {
				if j.last >= 0 && j.out.ErrorCode == 0 {
					j.fail(kerr.RequestTimedOut.Code)
				}
			}
			return
		}
		if timer == nil {
			timer = time.NewTimer(time.Until(deadline))
		}
		waitAny(ctx, timer.C, waits)
	}
}

// produceAwaitLooks, when set (tests), is called by awaitReplication
// each time before it looks at its partitions' HWs and leaderships.
var produceAwaitLooks atomic.Pointer[func()]

// fail answers the job's partition with code after its append.
func (j *produceJob) fail(code int16) {
	j.out.ErrorCode, j.last = code, -1
	j.out.BaseOffset, j.out.LogStartOffset, j.out.LogAppendTime = -1, -1, -1
}

// writePoolWorkers is the most goroutines the broker's WritePool runs
// (it writes the appends of pipelined produces that do not fsync each
// append): one per core. The pool starts the second and later only while
// many logs wait (partition.WritePool's workerBacklog). On 2 cores,
// 1,000 partitions x 1 KiB: a second worker made 1-31% more MB/s than
// one, in 9 of 9 pairs; two workers at once at 16 x 1 KiB cost 6-25% more
// CPU per GB in 4 of 4 pairs, hence the backlog rule, under which 16
// partitions keep one (docs/BENCHMARKS.md). Before, half the cores: one
// worker made 62-73 k pwritevs per 512 MB, two 79-84 k, the 64 goroutines
// per request before 110-125 k.
func writePoolWorkers() int { return max(1, runtime.GOMAXPROCS(0)) }
