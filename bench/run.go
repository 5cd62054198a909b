package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// Modes of Run.
const (
	ModeProduce = "produce"
	ModeConsume = "consume"
	ModeE2E     = "e2e"
	ModeFloor   = "floor"
)

const (
	defaultTotal    = 1 << 30 // produce, floor: with neither --duration nor --total-bytes
	defaultE2E      = 10 * time.Second
	e2eCatchUpLimit = 30 * time.Second
)

// Run runs one mode. Floor runs return a Result with only Floor filled
// for tcp-to-file and Produce.Floor for sendfile; see RunFloor.
func Run(ctx context.Context, mode string, cfg Config) (*Result, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	switch mode {
	case ModeProduce:
		return runProduce(ctx, &cfg)
	case ModeConsume:
		return runConsume(ctx, &cfg)
	case ModeE2E:
		return runE2E(ctx, &cfg)
	}
	return nil, fmt.Errorf("%w: unknown mode %q (produce, consume, e2e or floor)", ErrConfig, mode)
}

// RunFloor measures both floors with total bytes each (0: 1 GiB).
func RunFloor(ctx context.Context, cfg Config) ([]*Floor, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	total := cfg.TotalBytes
	if total == 0 {
		total = defaultTotal
	}
	w, err := FloorTCPToFile(ctx, cfg.Dir, total, cfg.Producers)
	if err != nil {
		return nil, err
	}
	s, err := FloorSendfile(ctx, cfg.Dir, total, cfg.Consumers, cfg.FetchBytes)
	if err != nil {
		return nil, err
	}
	return []*Floor{w, s}, nil
}

// withDuration bounds ctx by cfg.Duration when set.
func withDuration(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}

func newResult(mode string, cfg *Config, conns int) *Result {
	return &Result{Mode: mode, Topic: cfg.Topic, RecordSize: cfg.RecordSize, Acks: cfg.Acks,
		Connections: conns, Inflight: cfg.Inflight, Rate: cfg.Rate.String()}
}

func runProduce(ctx context.Context, cfg *Config) (*Result, error) {
	parts, err := EnsureTopic(ctx, cfg.broker(), cfg.TLS, cfg.SASL, cfg.Topic, cfg.Partitions)
	if err != nil {
		return nil, err
	}
	total := cfg.TotalBytes
	if total == 0 && cfg.Duration == 0 {
		total = defaultTotal
	}
	res := newResult(ModeProduce, cfg, cfg.Producers)
	res.Partitions = parts
	if cfg.Floor {
		if res.Floor, err = FloorTCPToFile(ctx, cfg.Dir, floorBytes(total), cfg.Producers); err != nil {
			return nil, err
		}
	}
	m := newMeter()
	err = measure(ctx, cfg, res, m, func(ctx context.Context) error {
		return runProducers(ctx, cfg, parts, m, &budget{total: total})
	})
	return res, err
}

// floorBytes sizes a floor run like the measured run, within [256 MiB, 1 GiB].
func floorBytes(total int64) int64 {
	if total == 0 {
		return defaultTotal
	}
	return min(max(total, 256<<20), defaultTotal)
}

// measure runs body under the duration with a sampler and the broker
// probe, then fills res.
func measure(ctx context.Context, cfg *Config, res *Result, m *meter, body func(context.Context) error) error {
	probe, err := StartUsage(cfg.BrokerPID)
	if err != nil {
		return err
	}
	var self *UsageProbe
	if probe != nil {
		if self, err = StartUsage(os.Getpid()); err != nil {
			return err
		}
	}
	ctx, cancel := withDuration(ctx, cfg.Duration)
	defer cancel()
	smp := startSampler(m, cfg.Live, res.Mode)
	start := time.Now()
	runErr := body(ctx)
	elapsed := time.Since(start)
	res.Series = smp.finish()
	res.setTotals(m, elapsed)
	if res.Floor != nil && res.Floor.MBps > 0 {
		res.FloorRatio = res.MBps / res.Floor.MBps
	}
	res.Broker, err = probe.Finish(res.Bytes)
	var selfErr error
	res.Client, selfErr = self.Finish(res.Bytes)
	return errors.Join(runErr, err, selfErr)
}

func runConsume(ctx context.Context, cfg *Config) (*Result, error) {
	parts, err := EnsureTopic(ctx, cfg.broker(), cfg.TLS, cfg.SASL, cfg.Topic, cfg.Partitions)
	if err != nil {
		return nil, err
	}
	start, latest, err := offsets(ctx, cfg, parts)
	if err != nil {
		return nil, err
	}
	if cfg.FromLatest {
		start = latest
	}
	bounded := cfg.Duration == 0 && cfg.TotalBytes == 0
	ends := make([]*atomic.Int64, parts)
	for p := range ends {
		ends[p] = new(atomic.Int64)
		ends[p].Store(-1)
		if bounded {
			ends[p].Store(latest[p])
		}
	}
	res := newResult(ModeConsume, cfg, min(cfg.Consumers, parts))
	res.Partitions = parts
	if cfg.Floor {
		if res.Floor, err = FloorSendfile(ctx, cfg.Dir, floorBytes(cfg.TotalBytes), res.Connections, cfg.FetchBytes); err != nil {
			return nil, err
		}
	}
	m := newMeter()
	err = measure(ctx, cfg, res, m, func(ctx context.Context) error {
		return runConsumers(ctx, cfg, start, ends, m, &budget{total: cfg.TotalBytes}, false)
	})
	res.RecordSize = m.recordSize() // what was read, not --record-size
	return res, err
}

// offsets returns every partition's earliest and latest offsets.
func offsets(ctx context.Context, cfg *Config, parts int) (earliest, latest []int64, err error) {
	c, err := dial(ctx, cfg.broker(), cfg.TLS, cfg.SASL)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	if earliest, err = listOffsets(c, cfg.Topic, parts, -2); err != nil {
		return nil, nil, err
	}
	if latest, err = listOffsets(c, cfg.Topic, parts, -1); err != nil {
		return nil, nil, err
	}
	return earliest, latest, nil
}

// runE2E produces at cfg.Rate for the duration while consumers read from
// the end; when producing stops, consumers read up to what was produced.
// Latency is consume time minus each batch's maxTimestamp.
func runE2E(ctx context.Context, cfg *Config) (*Result, error) {
	parts, err := EnsureTopic(ctx, cfg.broker(), cfg.TLS, cfg.SASL, cfg.Topic, cfg.Partitions)
	if err != nil {
		return nil, err
	}
	_, latest, err := offsets(ctx, cfg, parts)
	if err != nil {
		return nil, err
	}
	if cfg.Duration == 0 && cfg.TotalBytes == 0 {
		cfg.Duration = defaultE2E
	}
	ends := make([]*atomic.Int64, parts)
	for p := range ends {
		ends[p] = new(atomic.Int64)
		ends[p].Store(-1)
	}
	res := newResult(ModeE2E, cfg, min(cfg.Consumers, parts))
	res.Partitions = parts
	res.Produce = newResult(ModeProduce, cfg, cfg.Producers)
	pm, cm := newMeter(), newMeter()
	err = measure(ctx, cfg, res, cm, func(runCtx context.Context) error {
		consCtx, cancel := context.WithCancel(ctx) // outlives the duration to catch up
		defer cancel()
		consErr := make(chan error, 1)
		go func() { consErr <- runConsumers(consCtx, cfg, latest, ends, cm, &budget{}, true) }()
		start := time.Now()
		prodErr := runProducers(runCtx, cfg, parts, pm, &budget{total: cfg.TotalBytes})
		res.Produce.setTotals(pm, time.Since(start))
		err := setEnds(ctx, cfg, parts, ends)
		timer := time.AfterFunc(e2eCatchUpLimit, cancel)
		defer timer.Stop()
		return errors.Join(prodErr, err, <-consErr)
	})
	return res, err
}

// setEnds makes the consumers stop at the partitions' current ends.
func setEnds(ctx context.Context, cfg *Config, parts int, ends []*atomic.Int64) error {
	_, latest, err := offsets(ctx, cfg, parts)
	if err != nil {
		return err
	}
	for p, e := range latest {
		ends[p].Store(e)
	}
	return nil
}
