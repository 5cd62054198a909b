package main

// sluice produce TOPIC: one record per line of standard input (or per
// --delimiter), or one record per --file.

import (
	"bufio"
	"bytes"
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
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	register(&command{
		name:    "produce",
		summary: "produce one record per line of standard input, or one per --file (as kcat -P)",
		usage:   "produce TOPIC [--key-separator SEP] [--header K=V]… [--partition N] [--compression C] [--acks A] [--timestamp T] [--delimiter D | --file F…]",
		flags:   produceFlags,
		more: func(w io.Writer) {
			fmt.Fprint(w, `A topic that does not exist is created when the broker allows it
(auto.create.topics.enable), as kcat does. With --output json|yaml the result
is {topic, records}; the table output prints nothing on success.
`)
		},
	})
}

// maxLine is the longest record produce reads from standard input.
const maxLine = 16 << 20

type produceOpts struct {
	topic       string
	sep         string
	delimiter   string
	partition   int
	headers     []kgo.RecordHeader
	compression string
	acks        string
	timestamp   string
	files       []string
}

func produceFlags(fs *flag.FlagSet) func(args []string, stdout, stderr io.Writer) int {
	cf := addClientFlags(fs)
	var o produceOpts
	fs.StringVar(&o.sep, "key-separator", "", "split each record at the first SEP into key and value (records without it have no key)")
	fs.IntVar(&o.partition, "partition", -1, "produce to this partition (-1: by key hash, or spread when there is no key)")
	fs.Func("header", "add a header KEY=VALUE to every record (repeatable)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return fmt.Errorf("%q: want KEY=VALUE", s)
		}
		o.headers = append(o.headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
		return nil
	})
	fs.StringVar(&o.compression, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	fs.StringVar(&o.acks, "acks", "all", "all (-1), 1 (the leader) or 0 (no answer: nothing is checked)")
	fs.StringVar(&o.timestamp, "timestamp", "", "every record's timestamp: milliseconds since the epoch or RFC 3339 (default: now)")
	fs.StringVar(&o.delimiter, "delimiter", `\n`, `what separates records on standard input (escapes \n \t \r \0); "" reads it all as one record`)
	fs.Func("file", "produce this file's whole content as one record (repeatable; standard input is then not read)", func(s string) error {
		o.files = append(o.files, s)
		return nil
	})
	return func(args []string, stdout, stderr io.Writer) int {
		pos, err := parseInterspersed(fs, args)
		if err != nil {
			return flagError(stderr, "produce", err)
		}
		if len(pos) != 1 {
			return exit(stderr, "produce", usagef("want exactly one TOPIC, got %q", pos))
		}
		o.topic = pos[0]
		n, err := produce(cf, o, stdin)
		if err == nil && cf.output.structured() {
			err = printOut(stdout, cf.output, struct {
				Topic   string `json:"topic"`
				Records int    `json:"records"`
			}{o.topic, n}, nil)
		}
		return exit(stderr, "produce", err)
	}
}

// producerOpts turns the flags into franz-go options.
func (o produceOpts) producerOpts() ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.DefaultProduceTopic(o.topic), kgo.AllowAutoTopicCreation()}
	if o.partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	codec, ok := map[string]kgo.CompressionCodec{"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(),
		"snappy": kgo.SnappyCompression(), "lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression()}[o.compression]
	if !ok {
		return nil, usagef("--compression %q: want none, gzip, snappy, lz4 or zstd", o.compression)
	}
	opts = append(opts, kgo.ProducerBatchCompression(codec))
	switch o.acks {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		return nil, usagef("--acks %q: want all, 1 or 0", o.acks)
	}
	return opts, nil
}

// produce produces every record and waits for all acks. It returns how
// many were acknowledged and the first error.
func produce(cf *clientFlags, o produceOpts, r io.Reader) (int, error) {
	opts, err := o.producerOpts()
	if err != nil {
		return 0, err
	}
	var ts time.Time
	if o.timestamp != "" {
		ms, err := parseTime(o.timestamp)
		if err != nil {
			return 0, usagef("--timestamp %q: %v", o.timestamp, err)
		}
		ts = time.UnixMilli(ms)
	}
	next, err := o.records(r)
	if err != nil {
		return 0, err
	}
	opts = append(opts, kgo.ProduceRequestTimeout(cf.timeout))
	if ts.IsZero() {
		// franz-go measures the delivery timeout from the record's
		// timestamp, so only for records stamped now; the flush below is
		// bounded either way.
		opts = append(opts, kgo.RecordDeliveryTimeout(cf.timeout))
	}
	cl, err := cf.client(opts...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := &pending{}
	for ctx.Err() == nil && p.failed() == nil {
		data, ok, err := next()
		if err != nil {
			p.fail(err)
			break
		}
		if !ok {
			break
		}
		rec := splitKey(data, o.sep)
		rec.Partition, rec.Timestamp = int32(o.partition), ts
		rec.Headers = o.headers
		cl.Produce(ctx, rec, p.done)
	}
	fctx, cancel := context.WithTimeout(ctx, cf.timeout+time.Second)
	defer cancel()
	if err := cl.Flush(fctx); err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted")
		} else if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("not acknowledged within --request-timeout %v", cf.timeout)
		}
		p.fail(fmt.Errorf("flush: %w", err))
		cl.AbortBufferedRecords(context.Background())
	}
	return p.result()
}

// records returns an iterator over the records' bytes: one per --file, or
// standard input split at --delimiter.
func (o produceOpts) records(r io.Reader) (func() ([]byte, bool, error), error) {
	if len(o.files) > 0 {
		i := 0
		return func() ([]byte, bool, error) {
			if i == len(o.files) {
				return nil, false, nil
			}
			b, err := os.ReadFile(o.files[i])
			i++
			if err != nil {
				return nil, false, fmt.Errorf("cannot read --file: %w", err)
			}
			return b, true, nil
		}, nil
	}
	delim := unescape(o.delimiter)
	if delim == "" {
		done := false
		return func() ([]byte, bool, error) {
			if done {
				return nil, false, nil
			}
			done = true
			b, err := io.ReadAll(r)
			if err != nil {
				return nil, false, fmt.Errorf("cannot read standard input: %w", err)
			}
			return b, true, nil
		}, nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	d := []byte(delim)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.Index(data, d); i >= 0 {
			return i + len(d), data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	return func() ([]byte, bool, error) {
		if sc.Scan() {
			return bytes.Clone(sc.Bytes()), true, nil
		}
		if err := sc.Err(); err != nil {
			return nil, false, fmt.Errorf("cannot read standard input: %w", err)
		}
		return nil, false, nil
	}, nil
}

// unescape turns \n \t \r \0 and \\ into their bytes.
func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		if s[i] == '0' {
			b.WriteByte(0)
		} else {
			b.WriteByte(unescapeByte(s[i]))
		}
	}
	return b.String()
}

func splitKey(data []byte, sep string) *kgo.Record {
	if sep != "" {
		if k, v, ok := bytes.Cut(data, []byte(sep)); ok {
			return &kgo.Record{Key: k, Value: v}
		}
	}
	return &kgo.Record{Value: data}
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
