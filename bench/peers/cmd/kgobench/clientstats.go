package main

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// clientStats counts what the producer sent and read, by kgo's hooks:
// produce requests, their bytes, the batches and records in them, and
// the responses' bytes.
type clientStats struct {
	reqs, reqBytes, respBytes, batches, records atomic.Int64
	otherReqs                                   atomic.Int64
	readWait                                    atomic.Int64
}

func (s *clientStats) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, _ error) {
	if key != 0 {
		s.otherReqs.Add(1)
		return
	}
	s.reqs.Add(1)
	s.reqBytes.Add(int64(n))
}

func (s *clientStats) OnBrokerRead(_ kgo.BrokerMetadata, key int16, n int, wait, _ time.Duration, _ error) {
	if key == 0 {
		s.respBytes.Add(int64(n))
		s.readWait.Add(int64(wait))
	}
}

func (s *clientStats) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	s.batches.Add(1)
	s.records.Add(int64(m.NumRecords))
}

func (s *clientStats) print(w io.Writer) {
	r := max(s.reqs.Load(), 1)
	fmt.Fprintf(w, "client: produce requests=%d bytes/request=%d batches/request=%.1f records/batch=%.1f response bytes/request=%d other requests=%d read wait/request=%v\n",
		s.reqs.Load(), s.reqBytes.Load()/r, float64(s.batches.Load())/float64(r),
		float64(s.records.Load())/float64(max(s.batches.Load(), 1)), s.respBytes.Load()/r,
		s.otherReqs.Load(), time.Duration(s.readWait.Load()/r))
}
