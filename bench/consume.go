package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchWaitMillis is the long poll at the end of a partition.
const fetchWaitMillis = 200

// partState is one partition as a consumer sees it.
type partState struct {
	id     int32
	offset int64
	end    *atomic.Int64 // stop at this offset; -1: never
	busy   bool
	// retryAt: after a retriable error, the next Fetch waits until then.
	retryAt time.Time
	failing failingRun
}

func (s *partState) done() bool {
	end := s.end.Load()
	return end >= 0 && s.offset >= end
}

// consumer is one connection fetching its partitions, one Fetch per
// partition at a time, up to Inflight partitions in flight.
type consumer struct {
	c      *conn
	cfg    *Config
	m      *meter
	e2e    bool // latency = now - batch maxTimestamp; else the fetch's round trip
	budget *budget
	parts  []*partState
	queue  []inflightFetch
	resp   *kmsg.FetchResponse
}

type inflightFetch struct {
	corr int32
	part *partState
	sent time.Time
}

// run fetches until every partition reached its end, the budget is spent
// or ctx ends (which closes the connection).
func (k *consumer) run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { k.c.Close() })
	defer stop()
	for {
		if err := k.fill(); err != nil {
			return k.quiet(ctx, err)
		}
		if len(k.queue) == 0 {
			wait, ok := k.nextRetry()
			if !ok {
				return nil
			}
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		if err := k.receive(); err != nil {
			return k.quiet(ctx, err)
		}
	}
}

// quiet drops errors caused by the run ending.
func (k *consumer) quiet(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// fill sends Fetches for idle partitions while there is room in flight.
func (k *consumer) fill() error {
	for _, s := range k.parts {
		if len(k.queue) >= k.cfg.Inflight {
			return nil
		}
		if s.busy || s.done() || k.budget.spent() || time.Now().Before(s.retryAt) {
			continue
		}
		corr, err := k.c.writeRequest(k.fetchRequest(s))
		if err != nil {
			return err
		}
		s.busy = true
		k.queue = append(k.queue, inflightFetch{corr: corr, part: s, sent: time.Now()})
	}
	return nil
}

func (k *consumer) fetchRequest(s *partState) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(fetchVersion)
	req.ReplicaID = -1
	req.MaxWaitMillis = fetchWaitMillis
	req.MinBytes = 1
	req.MaxBytes = int32(k.cfg.FetchBytes)
	req.SessionEpoch = -1
	t := kmsg.NewFetchRequestTopic()
	t.Topic = k.cfg.Topic
	p := kmsg.NewFetchRequestTopicPartition()
	p.Partition, p.FetchOffset, p.PartitionMaxBytes = s.id, s.offset, int32(k.cfg.FetchBytes)
	p.CurrentLeaderEpoch, p.LogStartOffset = -1, -1
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	return req
}

// receive reads the oldest response and walks its batches.
func (k *consumer) receive() error {
	f := k.queue[0]
	k.queue = k.queue[1:]
	f.part.busy = false
	body, err := k.c.readFrame(f.corr, false)
	if err != nil {
		return err
	}
	k.resp.Default()
	k.resp.SetVersion(fetchVersion)
	if err := k.resp.ReadFrom(body); err != nil {
		return fmt.Errorf("bench: cannot decode fetch response: %w", err)
	}
	if err := kerr.ErrorForCode(k.resp.ErrorCode); err != nil {
		return fmt.Errorf("%w: fetch: %w", errBroker, err)
	}
	if !k.e2e {
		k.m.latency(time.Since(f.sent))
	}
	for _, t := range k.resp.Topics {
		for _, p := range t.Partitions {
			if err := k.partition(f.part, &p); err != nil {
				return err
			}
		}
	}
	return nil
}

// nextRetry is how long until the first partition waiting to fetch again
// after a retriable error may; false when none waits (nothing left to do).
func (k *consumer) nextRetry() (time.Duration, bool) {
	var first time.Time
	for _, s := range k.parts {
		if s.done() || k.budget.spent() || s.retryAt.IsZero() {
			continue
		}
		if first.IsZero() || s.retryAt.Before(first) {
			first = s.retryAt
		}
	}
	return max(time.Until(first), 0), !first.IsZero()
}

func (k *consumer) partition(s *partState, p *kmsg.FetchResponseTopicPartition) error {
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		if !kerr.IsRetriable(err) {
			return fmt.Errorf("%w: fetch %s-%d at %d: %w", errBroker, k.cfg.Topic, p.Partition, s.offset, err)
		}
		// As a Kafka consumer does: fetch it again after a back-off, for
		// at most the retry window (a new topic's leaders starting, a
		// fail-over).
		if err := s.failing.again(fmt.Sprintf("fetch %s-%d at %d", k.cfg.Topic, p.Partition, s.offset), err); err != nil {
			return err
		}
		s.retryAt = time.Now().Add(retryBackoff)
		k.m.retries.Add(1)
		return nil
	}
	s.failing.ok()
	s.retryAt = time.Time{}
	nowMS := time.Now().UnixMilli()
	var bytes, records int64
	err := walkBatches(p.RecordBatches, k.cfg.VerifyCRC, func(b batchInfo) {
		next := b.baseOffset + int64(b.lastDelta) + 1
		if next <= s.offset {
			return // a batch before the fetch offset
		}
		s.offset = next
		bytes += int64(b.size)
		records += int64(b.records)
		if b.valueLen >= 0 {
			k.m.value(b.valueLen)
		}
		if k.e2e {
			k.m.latency(time.Duration(nowMS-b.maxTS) * time.Millisecond)
		}
	})
	if err != nil {
		return fmt.Errorf("fetch %s-%d: %w", k.cfg.Topic, p.Partition, err)
	}
	k.m.add(bytes, records)
	k.budget.claimed.Add(bytes)
	return nil
}

// spent reports whether a total was set and reached.
func (b *budget) spent() bool {
	return b.total > 0 && b.claimed.Load() >= b.total
}

// runConsumers fetches every partition from start[p] until end[p]
// (negative: until ctx ends) with cfg.Consumers connections, partitions
// spread round-robin.
func runConsumers(ctx context.Context, cfg *Config, start []int64, end []*atomic.Int64, m *meter, bg *budget, e2e bool) error {
	n := min(cfg.Consumers, len(start))
	cons := make([]*consumer, n)
	for i := range cons {
		c, err := dial(ctx, cfg.broker(), cfg.TLS, cfg.SASL)
		if err != nil {
			closeConsumers(cons)
			return err
		}
		cons[i] = &consumer{c: c, cfg: cfg, m: m, e2e: e2e, budget: bg, resp: kmsg.NewPtrFetchResponse()}
	}
	for p := range start {
		k := cons[p%n]
		k.parts = append(k.parts, &partState{id: int32(p), offset: start[p], end: end[p]})
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, k := range cons {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer k.c.Close()
			errs[i] = k.run(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func closeConsumers(cons []*consumer) {
	for _, k := range cons {
		if k != nil {
			k.c.Close()
		}
	}
}
