package broker

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/partition"
)

// inlineMaxRecords bounds the records of a produce served on an event
// loop: the loop serves other connections meanwhile, and the append's
// copy, CRC and any recompression are paid there.
const inlineMaxRecords = 64 << 10

// HandleInline serves, on the netio event loop that read it, a Produce
// that costs only CPU and one page-cache write (netio.InlineHandler): no
// transactional id, acks 0 or 1, one partition of at most
// inlineMaxRecords bytes, led here, on a log whose append now needs no
// roll, no new file, no fsync and no wait for another writer
// (partition.Log.AppendIsCheap), on a connection without SASL, on a
// broker without an authorizer (which may wait for the metadata log).
// Anything else is declined before any side effect and served by
// Handle on the connection's request goroutine as before. What it serves
// is served exactly as Handle serves it (handleProduce, appended in
// place, answered at once).
func (b *Broker) HandleInline(ctx context.Context, c *netio.Conn, frame []byte) (*netio.Response, bool, error) {
	if authOf(c) != nil || b.acls.auth != nil || !b.Quick(c, frame) {
		return nil, false, nil
	}
	h, body, err := parseHeaderAfter(frame, stateOf(c).clientID)
	if err != nil {
		return nil, false, nil // Handle closes the connection, as before
	}
	a, _ := lookupAPI(h.key)
	if h.version < a.min || h.version > a.max {
		return nil, false, nil
	}
	pc := getProduceCall()
	if pc.decode(h, body) != nil || !b.inlineable(&pc.req) {
		putProduceCall(pc)
		return nil, false, nil
	}
	stateOf(c).clientID = h.clientID
	pc.r = request{conn: c, key: h.key, version: h.version, corrID: h.corrID, clientID: h.clientID, kreq: &pc.req, call: pc}
	pc.pre = produceScanOf(c, frame)
	if hook := produceScanned.Load(); hook != nil {
		(*hook)(pc.pre)
	}
	if evloopStage && c.Loop() != nil {
		return b.stageProduce(ctx, pc, frame), true, nil
	}
	acks := pc.req.Acks
	resp, err := a.fn(ctx, b, &pc.r)
	putProduceCall(pc)
	netio.RecycleFrame(frame)
	if resp.IsPending() {
		panic(fmt.Sprintf("BUG: broker: a produce served on the event loop was pipelined (acks %d)", acks))
	}
	return resp, true, err
}

// inlineable reports whether req may be served on an event loop
// (HandleInline): checked from the decoded request and the log's state
// alone, before anything is appended.
func (b *Broker) inlineable(req *kmsg.ProduceRequest) bool {
	if req.TransactionID != nil || (req.Acks != 0 && req.Acks != 1) ||
		len(req.Topics) != 1 || len(req.Topics[0].Partitions) != 1 {
		return false
	}
	rt := &req.Topics[0]
	rp := &rt.Partitions[0]
	if len(rp.Records) == 0 || len(rp.Records) > inlineMaxRecords {
		return false
	}
	t := b.topics.get(rt.Topic)
	if t == nil || t.internal() {
		return false
	}
	l := t.partition(rp.Partition)
	if l == nil || l.Config().Flush == partition.FlushAlways {
		return false
	}
	if b.cl != nil && b.cl.repl.leader(l) == nil {
		return false
	}
	return l.AppendIsCheap(len(rp.Records)) && (evloopStage || !l.WriterBusy())
}

var _ netio.InlineHandler = (*Broker)(nil)

// evloopStage: SLUICE_EVLOOP=2, produces served on the event loop are
// staged on their logs (partition.Stager) and written by the loop at the
// end of its batch of events, one pwritev per log for every connection's
// appends (FlushLoop); their responses are completed then (Deferred).
var evloopStage = os.Getenv("SLUICE_EVLOOP") == "2"

// stagerOf is the loop's partition.Stager, made on first use.
func stagerOf(l *netio.Loop) *partition.Stager {
	st, _ := l.State().(*partition.Stager)
	if st == nil {
		st = new(partition.Stager)
		l.SetState(st)
	}
	return st
}

// FlushLoop writes what produces served on the loop staged
// (netio.LoopFlusher).
func (b *Broker) FlushLoop(l *netio.Loop) {
	if st, _ := l.State().(*partition.Stager); st != nil {
		st.Flush()
	}
}

var _ netio.LoopFlusher = (*Broker)(nil)

// stageProduce is handleProduce for a produce HandleInline serves with
// its appends staged on the loop's Stager: the response is completed
// once the loop flushed them (pc is the netio.DeferredWork).
func (b *Broker) stageProduce(ctx context.Context, pc *produceCall, frame []byte) *netio.Response {
	r := &pc.r
	req := &pc.req
	resp := pc.response()
	jobs := b.produceJobs(ctx, r, req, resp)
	st := stagerOf(r.conn.Loop())
	for _, j := range jobs {
		if j.out.ErrorCode != 0 {
			continue
		}
		records, err := applyProducePolicy(j.log.Config(), j.records, time.Time{})
		epoch := int32(-1)
		if j.st != nil {
			epoch = j.st.epoch
		}
		switch {
		case err != nil:
			j.perr = err
		case j.st != nil && j.st.lost():
			j.perr = fmt.Errorf("%w: the leadership of %s-%d at epoch %d ended", partition.ErrNotLeaderEpoch, j.topic, j.out.Partition, j.st.epoch)
		default:
			j.staged = j.log.StageOn(st, records, epoch, j.pre)
			j.pending = &j.staged
		}
	}
	pc.b, pc.ctx, pc.frame = b, ctx, frame
	pc.dresp.Defer(pc)
	return &pc.dresp
}

// Ready reports whether the staged appends of a produce served on the
// event loop are written (netio.DeferredWork).
func (pc *produceCall) Ready() bool {
	for _, j := range pc.ptrs {
		if j.pending != nil && !j.pending.Ready() {
			return false
		}
	}
	return true
}

// Complete answers a produce served on the event loop once its staged
// appends are written (netio.DeferredWork), and recycles the call and its
// frame.
func (pc *produceCall) Complete() (*netio.Response, error) {
	for _, j := range pc.ptrs {
		j.wait()
	}
	b, ctx, frame := pc.b, pc.ctx, pc.frame
	out, err := b.finishProduce(ctx, &pc.r, &pc.req, &pc.resp, pc.ptrs)
	putProduceCall(pc)
	netio.RecycleFrame(frame)
	return out, err
}
