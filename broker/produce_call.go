package broker

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/segment"
)

// produceCall is the state of one Produce request from its decoding to its
// encoded response: the request as handlers see it, the decoded request,
// the response and one job per partition. It is pooled (getProduceCall,
// putProduceCall) so that a small produce reuses the slices of an earlier
// one instead of allocating them: allocations per request drive the
// garbage collector, ~20% of the broker's CPU for 100 connections of
// small requests. Nothing may refer to a produceCall, nor to what its
// slices hold, once its response is encoded.
type produceCall struct {
	r    request
	req  kmsg.ProduceRequest
	resp kmsg.ProduceResponse
	jobs []produceJob  // one per partition of req, in request order
	ptrs []*produceJob // &jobs[i]: what the handler's functions take
	// pre is what was checked of the frame's batches as it arrived
	// (produce_scan.go); nil: nothing.
	pre segment.Prechecks
}

// maxPooledPartitions bounds what a pooled produceCall keeps: the calls of
// larger requests are left to the garbage collector, so that one request
// of many partitions does not pin its slices in the pool.
const maxPooledPartitions = 256

var produceCalls = sync.Pool{New: func() any { return new(produceCall) }}

func getProduceCall() *produceCall { return produceCalls.Get().(*produceCall) }

// putProduceCall drops what pc refers to (frames, logs, strings) and
// returns it to the pool, unless it grew too large to keep.
func putProduceCall(pc *produceCall) {
	if pc.reset() {
		produceCalls.Put(pc)
	}
}

// reset drops what pc refers to and reports whether it is small enough to
// be kept.
func (pc *produceCall) reset() bool {
	if len(pc.jobs) > maxPooledPartitions || len(pc.req.Topics) > maxPooledPartitions {
		return false
	}
	for i := range pc.req.Topics {
		clear(pc.req.Topics[i].Partitions) // the records point into the frame
	}
	clear(pc.jobs)
	clear(pc.ptrs)
	pc.r = request{}
	pc.pre = nil
	return true
}

// decode decodes a Produce body (header h) into pc.req, reusing its
// topics, their partitions and names (decodeProduceReusing), or with
// kmsg where that declines.
func (pc *produceCall) decode(h header, body []byte) error {
	pc.req = kmsg.ProduceRequest{Version: h.version, Topics: pc.req.Topics[:0]}
	if pc.req.IsFlexible() {
		var err error
		if body, err = skipHeaderTags(body); err != nil {
			return err
		}
	}
	if decodeProduceReusing(&pc.req, body) {
		return nil
	}
	pc.req = kmsg.ProduceRequest{Version: h.version, Topics: pc.req.Topics[:0]}
	if err := pc.req.ReadFrom(body); err != nil {
		return errClose("cannot decode api key %d v%d: %v", h.key, h.version, err)
	}
	return nil
}

// response returns pc.resp reset for req's version, reusing its slices.
func (pc *produceCall) response() *kmsg.ProduceResponse {
	pc.resp = kmsg.ProduceResponse{Version: pc.req.Version, Topics: pc.resp.Topics[:0], Brokers: pc.resp.Brokers[:0]}
	pc.resp.Default()
	return &pc.resp
}

// newJobs returns n zeroed jobs and their pointers, reusing pc's slices.
func (pc *produceCall) newJobs(n int) []*produceJob {
	if cap(pc.jobs) < n {
		pc.jobs = make([]produceJob, n)
		pc.ptrs = make([]*produceJob, n)
	}
	pc.jobs, pc.ptrs = pc.jobs[:n], pc.ptrs[:n]
	for i := range pc.jobs {
		pc.jobs[i] = produceJob{}
		pc.ptrs[i] = &pc.jobs[i]
	}
	return pc.ptrs
}
