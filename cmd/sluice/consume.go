package main

// sluice consume TOPIC: print records with a kcat-like --format.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func init() {
	register(&command{
		name:    "consume",
		summary: "print a topic's records (--format '%k %v\\n': %t topic %p partition %o offset %k key %v value %T timestamp)",
		usage:   "consume TOPIC [--from-beginning] [--group G] [--format FMT] [--count N] [--timeout D]",
		flags:   consumeFlags,
	})
}

type consumeOpts struct {
	topic         string
	group         string
	fromBeginning bool
	count         int
	timeout       time.Duration
	format        []formatPart
	json          bool
}

func consumeFlags(fs *flag.FlagSet) func(args []string, stdout, stderr io.Writer) int {
	cf := addClientFlags(fs)
	var o consumeOpts
	format := fs.String("format", `%v\n`, `how to print each record: %t topic, %p partition, %o offset, %k key, %v value, %T timestamp (ms), %% a percent sign; \n, \t and \\ are escapes`)
	fs.BoolVar(&o.fromBeginning, "from-beginning", false, "start at the log start (default: only new records); with --group, only when the group has no committed offset")
	fs.StringVar(&o.group, "group", "", "consume as a member of this consumer group, committing what was printed")
	fs.IntVar(&o.count, "count", 0, "exit after this many records (0: no limit)")
	fs.DurationVar(&o.timeout, "timeout", 0, "exit when no record arrived for this long (0: wait for ever); fewer than --count records is then an error")
	return func(args []string, stdout, stderr io.Writer) int {
		pos, err := parseInterspersed(fs, args)
		if err != nil {
			return 2
		}
		if len(pos) != 1 {
			return exit(stderr, "consume", usagef("want exactly one TOPIC, got %q", pos))
		}
		if err := cf.check(); err != nil {
			return exit(stderr, "consume", usageErr{err})
		}
		if o.format, err = parseFormat(*format); err != nil {
			return exit(stderr, "consume", usageErr{err})
		}
		o.topic, o.json = pos[0], cf.json()
		return exit(stderr, "consume", consume(cf, o, stdout))
	}
}

func consume(cf *clientFlags, o consumeOpts, stdout io.Writer) error {
	start := kgo.NewOffset().AtEnd()
	if o.fromBeginning {
		start = kgo.NewOffset().AtStart()
	}
	opts := []kgo.Opt{kgo.ConsumeTopics(o.topic), kgo.ConsumeResetOffset(start), kgo.FetchMaxWait(500 * time.Millisecond)}
	if o.group != "" {
		opts = append(opts, kgo.ConsumerGroup(o.group), kgo.AutoCommitMarks())
	}
	cl, err := cf.client(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	w := bufio.NewWriter(stdout)
	n, err := consumeLoop(ctx, cl, o, w)
	if ferr := w.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("cannot write: %w", ferr)
	}
	if o.group != "" && n > 0 {
		cctx, cancel := context.WithTimeout(context.Background(), cf.timeout)
		defer cancel()
		if cerr := cl.CommitMarkedOffsets(cctx); cerr != nil && err == nil {
			err = fmt.Errorf("commit offsets of group %s: %w", o.group, cerr)
		}
	}
	return err
}

// consumeLoop prints records until --count, --timeout or a signal, and
// returns how many it printed.
func consumeLoop(ctx context.Context, cl *kgo.Client, o consumeOpts, w *bufio.Writer) (int, error) {
	n := 0
	for o.count == 0 || n < o.count {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if o.timeout > 0 {
			pctx, cancel = context.WithTimeout(ctx, o.timeout)
		}
		want := -1
		if o.count > 0 {
			want = o.count - n
		}
		fetches := cl.PollRecords(pctx, want)
		timedOut := pctx.Err() != nil && ctx.Err() == nil
		cancel()
		if err := fetchError(fetches); err != nil {
			return n, err
		}
		for _, r := range fetches.Records() {
			if err := printRecord(w, o, r); err != nil {
				return n, err
			}
			if o.group != "" {
				cl.MarkCommitRecords(r)
			}
			n++
		}
		if ctx.Err() != nil {
			return n, nil // interrupted: not an error
		}
		if timedOut && len(fetches.Records()) == 0 {
			if o.count > 0 {
				return n, fmt.Errorf("timed out after %v with %d of %d records", o.timeout, n, o.count)
			}
			return n, nil
		}
	}
	return n, nil
}

// fetchError is the first error of fetches other than the end of a poll.
func fetchError(fs kgo.Fetches) error {
	for _, e := range fs.Errors() {
		if errors.Is(e.Err, context.Canceled) || errors.Is(e.Err, context.DeadlineExceeded) {
			continue
		}
		if e.Topic == "" {
			return fmt.Errorf("fetch: %w", e.Err)
		}
		return fmt.Errorf("fetch %s[%d]: %w", e.Topic, e.Partition, e.Err)
	}
	return nil
}

// formatPart is a literal or, when verb is not 0, a record field.
type formatPart struct {
	lit  string
	verb byte
}

// parseFormat compiles a --format string.
func parseFormat(f string) ([]formatPart, error) {
	var parts []formatPart
	lit := []byte{}
	flush := func() {
		if len(lit) > 0 {
			parts = append(parts, formatPart{lit: string(lit)})
			lit = []byte{}
		}
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		if (c != '%' && c != '\\') || i+1 == len(f) {
			lit = append(lit, c)
			continue
		}
		i++
		switch d := f[i]; {
		case c == '\\':
			lit = append(lit, unescapeByte(d))
		case d == '%':
			lit = append(lit, '%')
		case d == 't' || d == 'p' || d == 'o' || d == 'k' || d == 'v' || d == 'T':
			flush()
			parts = append(parts, formatPart{verb: d})
		default:
			return nil, fmt.Errorf("--format: unknown verb %%%c (want %%t %%p %%o %%k %%v %%T or %%%%)", d)
		}
	}
	flush()
	return parts, nil
}

func unescapeByte(d byte) byte {
	switch d {
	case 'n':
		return '\n'
	case 't':
		return '\t'
	case 'r':
		return '\r'
	}
	return d
}

// jsonRecord is a record in --output json (one object per line).
type jsonRecord struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Offset    int64   `json:"offset"`
	Timestamp int64   `json:"timestamp"`
	Key       *string `json:"key"`
	Value     string  `json:"value"`
}

func printRecord(w *bufio.Writer, o consumeOpts, r *kgo.Record) error {
	if o.json {
		jr := jsonRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(), Value: string(r.Value)}
		if r.Key != nil {
			k := string(r.Key)
			jr.Key = &k
		}
		b, err := json.Marshal(jr)
		if err != nil {
			return fmt.Errorf("cannot encode record: %w", err)
		}
		w.Write(b)
		return w.WriteByte('\n')
	}
	for _, p := range o.format {
		switch p.verb {
		case 0:
			w.WriteString(p.lit)
		case 't':
			w.WriteString(r.Topic)
		case 'p':
			w.WriteString(strconv.Itoa(int(r.Partition)))
		case 'o':
			w.WriteString(strconv.FormatInt(r.Offset, 10))
		case 'k':
			w.Write(r.Key)
		case 'v':
			w.Write(r.Value)
		case 'T':
			w.WriteString(strconv.FormatInt(r.Timestamp.UnixMilli(), 10))
		}
	}
	return nil
}
