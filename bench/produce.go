package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// producer is one connection sending to every partition in turn.
type producer struct {
	c       *conn
	cfg     *Config
	id      int // spreads connections over the partitions
	m       *meter
	lim     *Limiter
	budget  *budget
	batches []*Batch // by partition
	prefix  [][]byte // by partition: the request bytes before the batch
	iov     net.Buffers
	// retry holds the partitions whose batch got a retriable error and
	// is to be sent again (the reader adds, the sender takes).
	retry struct {
		sync.Mutex
		parts []int
	}
	failing failingRun // reader only
}

// retryWindow bounds how long a producer sends a batch again, and a
// consumer fetches a partition again, after retriable errors
// (NOT_LEADER_OR_FOLLOWER while a new topic's leaders start,
// UNKNOWN_TOPIC_OR_PARTITION while its metadata spreads, a leader's
// fail-over) before the run fails with the error, as delivery.timeout.ms
// bounds a Kafka producer's retries (120 s there). A variable for the
// tests.
var retryWindow = 30 * time.Second

// retryBackoff is the wait before sending a batch or a Fetch again
// (Kafka's retry.backoff.ms default).
const retryBackoff = 100 * time.Millisecond

// failingRun is a run of retriable errors on one stream of requests.
type failingRun struct{ since time.Time } // the first error's time; zero: none

// again records a retriable error err of what (as "produce to t-0") and
// returns nil while the retry window allows another try, else the error
// that ends the run.
func (f *failingRun) again(what string, err error) error {
	now := time.Now()
	if f.since.IsZero() {
		f.since = now
	}
	if d := now.Sub(f.since); d >= retryWindow {
		return fmt.Errorf("%w: %s: %w (still failing after %s of retries)", errBroker, what, err, d.Round(time.Second))
	}
	return nil
}

// ok ends the run: the request succeeded.
func (f *failingRun) ok() { f.since = time.Time{} }

// budget ends a run after total bytes (0: no limit) have been claimed.
type budget struct {
	total   int64
	claimed atomic.Int64
}

// claim takes n bytes; false once the total was reached before this claim.
func (b *budget) claim(n int64) bool {
	if b.total == 0 {
		return true
	}
	return b.claimed.Add(n)-n < b.total
}

// inflightReq is what the response reader needs of a sent request.
type inflightReq struct {
	corr    int32
	sent    time.Time
	bytes   int64
	records int64
	part    int
}

func newProducer(c *conn, cfg *Config, id, partitions int, m *meter, lim *Limiter, bg *budget) (*producer, error) {
	p := &producer{c: c, cfg: cfg, id: id, m: m, lim: lim, budget: bg}
	n := RecordsPerBatch(cfg.RecordSize, cfg.BatchBytes)
	for part := 0; part < partitions; part++ {
		b, err := NewBatch(n, cfg.RecordSize, uint64(id)<<32|uint64(part))
		if err != nil {
			return nil, err
		}
		p.batches = append(p.batches, b)
		p.prefix = append(p.prefix, producePrefix(cfg.Topic, int32(part), cfg.Acks, len(b.Bytes)))
	}
	return p, nil
}

// producePrefix frames a Produce v7 request around a batch of batchLen
// bytes (see doc.go); the correlation id at [8:12] is set per send.
func producePrefix(topic string, partition int32, acks int16, batchLen int) []byte {
	b := make([]byte, 4, 64+len(topic))
	b = binary.BigEndian.AppendUint16(b, 0) // Produce
	b = binary.BigEndian.AppendUint16(b, produceVersion)
	b = binary.BigEndian.AppendUint32(b, 0) // correlation id
	b = appendString(b, clientID)
	b = binary.BigEndian.AppendUint16(b, 0xffff) // transactional id: null
	b = binary.BigEndian.AppendUint16(b, uint16(acks))
	b = binary.BigEndian.AppendUint32(b, 30000) // timeout ms
	b = binary.BigEndian.AppendUint32(b, 1)
	b = appendString(b, topic)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint32(b, uint32(partition))
	b = binary.BigEndian.AppendUint32(b, uint32(batchLen))
	binary.BigEndian.PutUint32(b, uint32(len(b)-4+batchLen))
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// run sends until ctx ends or the budget is spent, then waits for the
// responses in flight.
func (p *producer) run(ctx context.Context) error {
	if p.cfg.Acks == 0 {
		if err := p.sendLoop(ctx, nil, nil); err != nil {
			return err
		}
		return p.barrier()
	}
	queue := make(chan inflightReq, p.cfg.Inflight)
	slots := make(chan struct{}, p.cfg.Inflight)
	readErr := make(chan error, 1)
	go func() { readErr <- p.readLoop(queue, slots) }()
	sendErr := p.sendLoop(ctx, queue, slots)
	close(queue)
	// A dead broker must not hang the drain.
	_ = p.c.setDeadline(time.Now().Add(30 * time.Second))
	rerr := <-readErr
	if sendErr != nil {
		return errors.Join(sendErr, rerr)
	}
	return rerr
}

// barrier waits, after acks=0 sends, for one answered request: responses
// leave in request order, so every produce before it was handled. Closing
// at once would let the broker drop requests it had not read yet.
func (p *producer) barrier() error {
	_ = p.c.setDeadline(time.Now().Add(30 * time.Second))
	if _, err := supports(p.c, 0); err != nil {
		return fmt.Errorf("bench: acks=0 barrier: %w", err)
	}
	return nil
}

func (p *producer) sendLoop(ctx context.Context, queue chan<- inflightReq, slots chan struct{}) error {
	for i := 0; ; {
		part, again := p.takeRetry()
		switch {
		case again:
			select {
			case <-time.After(retryBackoff):
			case <-ctx.Done():
				return nil
			}
		case ctx.Err() != nil:
			return nil
		default:
			part = (p.id + i) % len(p.batches)
			b := p.batches[part]
			if !p.budget.claim(int64(len(b.Bytes))) {
				// Spent: send again what failed, once every answer is in.
				if slots == nil || !p.drain(ctx, slots) || !p.retryPending() {
					return nil
				}
				continue
			}
			i++
			if err := p.lim.Wait(ctx, p.tokens(b)); err != nil {
				return nil // the run ended while waiting
			}
		}
		if slots != nil {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return nil
			}
		}
		req, err := p.send(part)
		if err != nil {
			return err
		}
		if queue == nil {
			p.m.add(req.bytes, req.records)
			continue
		}
		queue <- req
	}
}

// drain waits until no request is in flight (it holds every slot, so
// each answer has been read and each retriable failure listed), then
// frees the slots. False: the run ended first.
func (p *producer) drain(ctx context.Context, slots chan struct{}) bool {
	held := 0
	defer func() {
		for ; held > 0; held-- {
			<-slots
		}
	}()
	for held < cap(slots) {
		select {
		case slots <- struct{}{}:
			held++
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// takeRetry returns a partition whose batch is to be sent again.
func (p *producer) takeRetry() (int, bool) {
	p.retry.Lock()
	defer p.retry.Unlock()
	if len(p.retry.parts) == 0 {
		return 0, false
	}
	part := p.retry.parts[0]
	p.retry.parts = p.retry.parts[1:]
	return part, true
}

func (p *producer) retryPending() bool {
	p.retry.Lock()
	defer p.retry.Unlock()
	return len(p.retry.parts) > 0
}

func (p *producer) tokens(b *Batch) float64 {
	if p.cfg.Rate.Records {
		return float64(b.Records)
	}
	return float64(len(b.Bytes))
}

// send re-stamps the partition's batch and writes prefix+batch with one
// writev.
func (p *producer) send(part int) (inflightReq, error) {
	b, prefix := p.batches[part], p.prefix[part]
	now := time.Now()
	b.Stamp(now.UnixMilli())
	corr := p.c.nextCorr()
	binary.BigEndian.PutUint32(prefix[8:], uint32(corr))
	p.iov = append(p.iov[:0], prefix, b.Bytes)
	if _, err := p.iov.WriteTo(p.c.nc); err != nil {
		return inflightReq{}, fmt.Errorf("bench: cannot send produce request: %w", err)
	}
	return inflightReq{corr: corr, sent: now, bytes: int64(len(b.Bytes)), records: int64(b.Records), part: part}, nil
}

// readLoop reads one response per queued request, in order.
func (p *producer) readLoop(queue <-chan inflightReq, slots <-chan struct{}) error {
	var err error
	resp := kmsg.NewPtrProduceResponse()
	for req := range queue {
		if err == nil {
			err = p.readResponse(req, resp)
			if err != nil {
				p.c.Close() // unblocks the sender
			}
		}
		<-slots
	}
	return err
}

func (p *producer) readResponse(req inflightReq, resp *kmsg.ProduceResponse) error {
	body, err := p.c.readFrame(req.corr, false)
	if err != nil {
		return err
	}
	resp.Default()
	resp.SetVersion(produceVersion)
	if err := resp.ReadFrom(body); err != nil {
		return fmt.Errorf("bench: cannot decode produce response: %w", err)
	}
	for _, t := range resp.Topics {
		for _, pr := range t.Partitions {
			e := kerr.ErrorForCode(pr.ErrorCode)
			if e == nil {
				continue
			}
			if !kerr.IsRetriable(e) {
				return fmt.Errorf("%w: produce to %s-%d: %w", errBroker, t.Topic, pr.Partition, e)
			}
			if err := p.failing.again(fmt.Sprintf("produce to %s-%d", t.Topic, pr.Partition), e); err != nil {
				return err
			}
			p.m.retries.Add(1)
			p.retry.Lock()
			p.retry.parts = append(p.retry.parts, req.part)
			p.retry.Unlock()
			return nil
		}
	}
	p.failing.ok()
	p.m.latency(time.Since(req.sent))
	p.m.add(req.bytes, req.records)
	return nil
}

// runProducers opens cfg.Producers connections and runs them until ctx
// ends or the budget is spent.
func runProducers(ctx context.Context, cfg *Config, partitions int, m *meter, bg *budget) error {
	var lim *Limiter
	if cfg.Rate.Per > 0 {
		burst := max(cfg.Rate.Per/100, float64(cfg.BatchBytes))
		if cfg.Rate.Records {
			burst = max(cfg.Rate.Per/100, float64(RecordsPerBatch(cfg.RecordSize, cfg.BatchBytes)))
		}
		lim = NewLimiter(cfg.Rate.Per, burst, nil)
	}
	prods := make([]*producer, 0, cfg.Producers)
	for i := 0; i < cfg.Producers; i++ {
		p, err := openProducer(ctx, cfg, i, partitions, m, lim, bg)
		if err != nil {
			for _, p := range prods {
				p.c.Close()
			}
			return err
		}
		prods = append(prods, p)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(prods))
	for i, p := range prods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer p.c.Close()
			errs[i] = p.run(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func openProducer(ctx context.Context, cfg *Config, id, partitions int, m *meter, lim *Limiter, bg *budget) (*producer, error) {
	c, err := dial(ctx, cfg.broker(), cfg.TLS, cfg.SASL)
	if err != nil {
		return nil, err
	}
	p, err := newProducer(c, cfg, id, partitions, m, lim, bg)
	if err != nil {
		c.Close()
		return nil, err
	}
	return p, nil
}
