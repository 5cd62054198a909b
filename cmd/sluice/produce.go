package main

// sluice produce TOPIC: one record per line of standard input.

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	register(&command{
		name:    "produce",
		summary: "produce one record per line of standard input (acks=all)",
		usage:   "produce TOPIC [--key-separator SEP] [--partition N]",
		flags:   produceFlags,
	})
}

// maxLine is the longest line produce reads (a record's key and value).
const maxLine = 16 << 20

func produceFlags(fs *flag.FlagSet) func(args []string, stdout, stderr io.Writer) int {
	cf := addClientFlags(fs)
	sep := fs.String("key-separator", "", "split each line at the first SEP into key and value (lines without it have no key)")
	partition := fs.Int("partition", -1, "produce to this partition (-1: by key hash, or spread when there is no key)")
	return func(args []string, stdout, stderr io.Writer) int {
		pos, err := parseInterspersed(fs, args)
		if err != nil {
			return 2
		}
		if len(pos) != 1 {
			return exit(stderr, "produce", usagef("want exactly one TOPIC, got %q", pos))
		}
		if err := cf.check(); err != nil {
			return exit(stderr, "produce", usageErr{err})
		}
		n, err := produceLines(cf, pos[0], *sep, int32(*partition), stdin)
		if err == nil && cf.json() {
			err = writeJSON(stdout, map[string]any{"topic": pos[0], "records": n})
		}
		return exit(stderr, "produce", err)
	}
}

// produceLines produces every line of r and waits for all acks. It
// returns how many were acknowledged and the first error.
func produceLines(cf *clientFlags, topic, sep string, partition int32, r io.Reader) (int, error) {
	opts := []kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks())}
	if partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	cl, err := cf.client(opts...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := &pending{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() && ctx.Err() == nil && p.failed() == nil {
		rec := lineRecord(sc.Text(), sep)
		rec.Partition = partition
		cl.Produce(ctx, rec, p.done)
	}
	readErr := sc.Err()
	if err := cl.Flush(ctx); err != nil {
		p.fail(fmt.Errorf("flush: %w", err))
	}
	if readErr != nil {
		p.fail(fmt.Errorf("cannot read standard input: %w", readErr))
	}
	return p.result()
}

func lineRecord(line, sep string) *kgo.Record {
	if sep != "" {
		if k, v, ok := strings.Cut(line, sep); ok {
			return &kgo.Record{Key: []byte(k), Value: []byte(v)}
		}
	}
	return &kgo.Record{Value: []byte(line)}
}

// pending counts acknowledgements and keeps the first error.
type pending struct {
	mu    sync.Mutex
	acked int
	err   error
}

func (p *pending) done(r *kgo.Record, err error) {
	if err != nil {
		p.fail(fmt.Errorf("produce to %s: %w", r.Topic, err))
		return
	}
	p.mu.Lock()
	p.acked++
	p.mu.Unlock()
}

func (p *pending) fail(err error) {
	p.mu.Lock()
	if p.err == nil || errors.Is(p.err, context.Canceled) {
		p.err = err
	}
	p.mu.Unlock()
}

func (p *pending) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *pending) result() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acked, p.err
}
