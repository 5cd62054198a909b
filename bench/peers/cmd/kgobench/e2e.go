package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sluice/sluice/bench"
	"github.com/sluice/sluice/bench/peers/internal/peerbench"
	"github.com/twmb/franz-go/pkg/kgo"
)

// e2eCatchUp bounds how long the consumer may lag behind the producer's
// end before the run fails.
const e2eCatchUp = 30 * time.Second

// e2e produces at cfg.rate and consumes concurrently; see the command doc.
func e2e(ctx context.Context, cfg *config) (*bench.Result, error) {
	parts, err := ensureTopic(ctx, cfg)
	if err != nil {
		return nil, err
	}
	cons, err := newConsumer(cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot create consumer: %w", err)
	}
	defer cons.Close()
	prod, err := kgo.NewClient(producerOpts(cfg)...)
	if err != nil {
		return nil, fmt.Errorf("cannot create producer: %w", err)
	}
	defer prod.Close()

	start := time.Now()
	measureFrom := start.Add(cfg.warmup)
	pm, cm := peerbench.NewMeter(), peerbench.NewMeter()
	var producedAll atomic.Int64
	probe, err := peerbench.StartProbe(cfg.brokerPID)
	if err != nil {
		return nil, err
	}
	consCtx, cancelCons := context.WithCancel(ctx)
	defer cancelCons()
	target := new(atomic.Int64) // records to read, once known
	target.Store(-1)
	known := make(chan struct{}) // closed once target is set
	consErr := make(chan error, 1)
	go func() { consErr <- e2eConsume(consCtx, cons, cm, target, known) }()

	sent, prodErr := e2eProduce(ctx, cfg, prod, start, pm, &producedAll)
	target.Store(sent)
	close(known)
	end := time.Now()
	timer := time.AfterFunc(e2eCatchUp, cancelCons)
	defer timer.Stop()
	err = errors.Join(prodErr, <-consErr)

	res := &bench.Result{Mode: bench.ModeE2E, Topic: cfg.topic, Partitions: parts, RecordSize: cfg.recordSize,
		Acks: cfg.acksValue(), Connections: 1, Rate: fmt.Sprintf("%d records/s", cfg.rate)}
	cm.Fill(res, end.Sub(measureFrom))
	res.Produce = &bench.Result{Mode: bench.ModeProduce, Topic: cfg.topic, Partitions: parts, RecordSize: cfg.recordSize,
		Acks: cfg.acksValue(), Connections: 1, Inflight: cfg.inflightValue(), Rate: res.Rate}
	pm.Fill(res.Produce, end.Sub(measureFrom))
	perr := probe.Finish(res, producedAll.Load())
	if err == nil && res.Records < sent {
		err = fmt.Errorf("consumed %d of the %d records sent after the warm-up", res.Records, sent)
	}
	return res, errors.Join(err, perr)
}

// e2eProduce paces records at cfg.rate, rate×(warm-up+duration) in all,
// and returns how many were counted: those after the first rate×warm-up.
// Produce blocks while MaxBufferedBytes are buffered, so a broker slower
// than the rate shows as records/s below it (the run takes longer) rather
// than as a burst counted after the warm-up.
func e2eProduce(ctx context.Context, cfg *config, cl *kgo.Client, start time.Time,
	m *peerbench.Meter, producedAll *atomic.Int64) (int64, error) {
	template := make([]byte, cfg.recordSize)
	fillRandom(template)
	errc := make(chan error, 1)
	warm := int64(cfg.warmup.Seconds() * float64(cfg.rate))
	all := warm + int64(cfg.duration.Seconds()*float64(cfg.rate))
	var total int64
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for total < all && ctx.Err() == nil && len(errc) == 0 {
		due := min(all, int64(time.Since(start).Seconds()*float64(cfg.rate)))
		for ; total < due && ctx.Err() == nil; total++ {
			v := append([]byte(nil), template...)
			sentAt := time.Now()
			counted := total >= warm
			if counted {
				binary.BigEndian.PutUint64(v, uint64(sentAt.UnixNano()))
			} // else 0: the consumer skips it
			cl.Produce(ctx, &kgo.Record{Value: v, Timestamp: sentAt}, func(r *kgo.Record, err error) {
				if err != nil {
					select {
					case errc <- fmt.Errorf("produce to %s/%d: %w", r.Topic, r.Partition, err):
					default:
					}
					return
				}
				producedAll.Add(int64(len(r.Value)))
				if counted {
					m.Latency(time.Since(r.Timestamp))
					m.Add(int64(len(r.Value)), 1)
				}
			})
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	err := cl.Flush(ctx)
	select {
	case e := <-errc:
		err = errors.Join(err, e)
	default:
	}
	return max(0, total-warm), err
}

// e2eConsume reads until target (set before known is closed) counted
// records arrived (their value starts with a non-zero send time),
// recording each one's latency from its send time. A poll that waits
// when known closes returns then: a consumer that already has every
// record would otherwise wait out e2eCatchUp for records that never come.
func e2eConsume(ctx context.Context, cl *kgo.Client, m *peerbench.Meter, target *atomic.Int64, known <-chan struct{}) error {
	untilKnown, wake := context.WithCancel(ctx)
	defer wake()
	go func() {
		select {
		case <-known:
			wake()
		case <-untilKnown.Done():
		}
	}()
	for {
		if t := target.Load(); t >= 0 && m.Records() >= t {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("consumer stopped after %d records: %w", m.Records(), ctx.Err())
		}
		poll := untilKnown
		if poll.Err() != nil { // the target is known: wait for records only
			poll = ctx
		}
		fetches := cl.PollFetches(poll)
		var err error
		fetches.EachError(func(t string, p int32, e error) {
			if !errors.Is(e, context.Canceled) {
				err = errors.Join(err, fmt.Errorf("fetch %s/%d: %w", t, p, e))
			}
		})
		if err != nil {
			return err
		}
		now := time.Now()
		fetches.EachRecord(func(r *kgo.Record) {
			if len(r.Value) < 8 {
				return
			}
			if sent := int64(binary.BigEndian.Uint64(r.Value)); sent > 0 {
				m.Latency(now.Sub(time.Unix(0, sent)))
				m.Add(int64(len(r.Value)), 1)
			}
		})
	}
}
