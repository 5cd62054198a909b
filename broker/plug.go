package broker

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/partition"
)

// The plug: a Produce handled while more requests of its connection wait
// (netio.Conn.Plugged) queues its appends on their logs without starting
// a writer (partition.Log.SubmitPlugged) and answers netio.Deferred. Once
// the connection's last waiting frame was handled, its request goroutine
// runs the deferred waits in order: each becomes its logs' writer where
// nobody is, writing with one pwritev per log everything queued there —
// the connection's plugged requests and any other connection's appends
// that arrived meanwhile — and the responses leave in request order. An
// append of another connection that finds a plugged queue and no writer
// writes the plugged appends with its own. No goroutine is started or
// woken for it: the plug trades a few requests' latency (at most
// netio's MaxPending, plugMaxBytes each) for fewer, larger pwritevs.

// plugMaxBytes bounds the records of a request that may be plugged, and
// pipelineSmallBytes their average per partition: a larger request is
// written at once (its pwritevs are large already).
const plugMaxBytes = 4 << 20

// plugs reports whether the request's appends are plugged: acks=1, more
// requests of the connection wait, no transactional id, no partition that
// fsyncs each append or waits for replicas, at most appendWorkers
// partitions and plugMaxBytes of records. acks=0 is not plugged: a failed
// acks=0 produce closes the connection before the next request is
// handled. acks=-1 waits for replicas or is answered when written like
// acks=1; it is left to the pipelined path.
func (b *Broker) plugs(r *request, req *kmsg.ProduceRequest, jobs []*produceJob) bool {
	if req.Acks != 1 || req.TransactionID != nil || r.conn == nil {
		return false
	}
	n, size := 0, 0
	for _, j := range jobs {
		if j.out.ErrorCode != 0 {
			continue
		}
		if j.log.Config().Flush == partition.FlushAlways {
			return false
		}
		n, size = n+1, size+len(j.records)
	}
	if n == 0 || n > appendWorkers || size > plugMaxBytes || size > n*pipelineSmallBytes {
		return false
	}
	return r.conn.Plugged()
}

// plugAppends queues every job's records on its log, in order, without a
// writer (Log.SubmitPlugged); each job's wait writes its log unless
// another writer took the append first.
func (b *Broker) plugAppends(jobs []*produceJob) {
	for _, j := range jobs {
		if j.out.ErrorCode != 0 {
			continue
		}
		l := j.log
		if hook := produceBeforeAppend.Load(); hook != nil {
			(*hook)(l)
		}
		records, err := applyProducePolicy(l.Config(), j.records, time.Time{})
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
			j.pending = l.SubmitPlugged(records, epoch, j.pre)
		}
	}
}
