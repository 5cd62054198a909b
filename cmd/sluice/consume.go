package main

// sluice consume TOPIC: print records as they arrive, with a kcat-like
// --format or as JSON lines.
//
// Output is written as records arrive: flushed after every record when
// stdout is a terminal, after every fetched batch otherwise (a pipe), so
// `sluice consume T | grep x` and a terminal tail both show records within
// a fetch wait (500 ms) of their production.

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sys/unix"
)

func init() {
	register(&command{
		name:    "consume",
		summary: "print a topic's records as they arrive (as kcat -C)",
		usage:   "consume TOPIC [--offset beginning|end|stored|N|-N|@TIME] [--partition N] [--group G] [-e] [--num N] [--format FMT] [--timeout D]",
		flags:   consumeFlags,
		more: func(w io.Writer) {
			io.WriteString(w, `--format verbs (kcat's): %t topic, %p partition, %o offset, %k key, %v or %s value,
%K key size, %S value size, %T timestamp (ms), %d timestamp (RFC 3339, UTC),
%y timestamp type (CreateTime or LogAppendTime), %h headers (k=v,k2=v2), %% a
percent sign; \n, \t, \r and \\ are escapes.

--output json prints one JSON object a line: topic, partition, offset,
timestamp, timestamp_type, key, value, headers ([{key, value}]) and encoding:
"utf8", or "base64" when the key, the value or a header value is not valid
UTF-8 (then all three are base64).

--timeout D ends the command when no record arrived for D: like grep, the
exit status is then 1 if no record at all was printed (and stderr says so),
0 otherwise. An unknown topic is an error (exit 1).
`)
		},
	})
}

type consumeOpts struct {
	topic     string
	group     string
	offset    string
	partition int
	count     int
	exitAtEnd bool
	isolation string
	timeout   time.Duration
	format    []formatPart
	output    outputFlag
	flushEach bool // stdout is a terminal: flush after every record
}

func consumeFlags(fs *flag.FlagSet) func(args []string, stdout, stderr io.Writer) int {
	cf := addClientFlags(fs)
	var o consumeOpts
	var fromBeginning bool
	format := fs.String("format", `%v\n`, "how to print each record (verbs above)")
	fs.StringVar(&o.offset, "offset", "", "where to start: beginning, end, stored (a group's committed offset), N (an offset), -N (N before the end), @MS or @RFC3339 (the first record at or after that time) (default: end, or stored with --group)")
	fs.BoolVar(&fromBeginning, "from-beginning", false, "same as --offset beginning")
	fs.IntVar(&o.partition, "partition", -1, "consume only this partition (-1: all)")
	fs.StringVar(&o.group, "group", "", "consume as a member of this consumer group, committing what was printed")
	fs.IntVar(&o.count, "num", 0, "exit after this many records (0: no limit)")
	fs.IntVar(&o.count, "count", 0, "same as --num")
	fs.BoolVar(&o.exitAtEnd, "exit", false, "exit once every partition's end offset (taken at start) is reached")
	fs.BoolVar(&o.exitAtEnd, "e", false, "same as --exit")
	fs.StringVar(&o.isolation, "isolation", "read_uncommitted", "read_uncommitted or read_committed (stop at the last stable offset)")
	fs.DurationVar(&o.timeout, "timeout", 0, "exit when no record arrived for this long (0: wait for ever)")
	return func(args []string, stdout, stderr io.Writer) int {
		pos, err := parseInterspersed(fs, args)
		if err != nil {
			return flagError(stderr, "consume", err)
		}
		if len(pos) != 1 {
			return exit(stderr, "consume", usagef("want exactly one TOPIC, got %q", pos))
		}
		if fromBeginning {
			if o.offset != "" && o.offset != "beginning" {
				return exit(stderr, "consume", usagef("--from-beginning and --offset %s contradict", o.offset))
			}
			o.offset = "beginning"
		}
		if o.format, err = parseFormat(*format); err != nil {
			return exit(stderr, "consume", usageErr{err})
		}
		if o.isolation != "read_uncommitted" && o.isolation != "read_committed" {
			return exit(stderr, "consume", usagef("--isolation %q: want read_uncommitted or read_committed", o.isolation))
		}
		if o.group != "" && o.partition >= 0 {
			return exit(stderr, "consume", usagef("--partition and --group do not go together: the group assigns partitions"))
		}
		o.topic, o.output = pos[0], cf.output
		if f, ok := stdout.(*os.File); ok && isTerminal(f) {
			o.flushEach = true
		}
		n, err := consume(cf, o, stdout)
		var idle errIdle
		if errors.As(err, &idle) && n > 0 {
			err = nil // an idle end after some records is the normal end of --timeout
		}
		return exit(stderr, "consume", err)
	}
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// errIdle is --timeout passing with no record.
type errIdle struct{ d time.Duration }

func (e errIdle) Error() string { return fmt.Sprintf("no record arrived within %v", e.d) }

// startOffset parses --offset into a franz-go offset.
func startOffset(s string) (kgo.Offset, error) {
	o := kgo.NewOffset()
	switch s {
	case "beginning", "start", "earliest":
		return o.AtStart(), nil
	case "end", "latest", "":
		return o.AtEnd(), nil
	case "stored":
		return o.AtCommitted(), nil
	}
	if t, ok := strings.CutPrefix(s, "@"); ok {
		ms, err := parseTime(t)
		if err != nil {
			return o, usagef("--offset %s: %v", s, err)
		}
		return o.AfterMilli(ms), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return o, usagef("--offset %q: want beginning, end, stored, N, -N or @TIME", s)
	}
	if n < 0 {
		return o.AtEnd().Relative(n), nil
	}
	return o.At(n), nil
}

// parseTime reads milliseconds since the epoch or an RFC 3339 time.
func parseTime(s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("want milliseconds since the epoch or an RFC 3339 time (2024-01-02T15:04:05Z)")
	}
	return t.UnixMilli(), nil
}

func consume(cf *clientFlags, o consumeOpts, stdout io.Writer) (int, error) {
	start, err := startOffset(o.offset)
	if err != nil {
		return 0, err
	}
	if o.offset == "stored" && o.group == "" {
		return 0, usagef("--offset stored needs --group")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	targets, err := prepareConsume(ctx, cf, o)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil // interrupted while starting: not an error
		}
		return 0, err
	}
	opts := []kgo.Opt{kgo.FetchMaxWait(500 * time.Millisecond)}
	if o.isolation == "read_committed" {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	switch {
	case o.group != "":
		reset := start
		if o.offset == "stored" || o.offset == "" {
			reset = kgo.NewOffset().AtEnd()
		}
		opts = append(opts, kgo.ConsumeTopics(o.topic), kgo.ConsumeStartOffset(reset), kgo.ConsumerGroup(o.group), kgo.AutoCommitMarks())
	default: // exact positions, so that an offset out of the log starts at its nearest end
		at := map[int32]kgo.Offset{}
		for p, t := range targets {
			at[p] = kgo.NewOffset().At(t.next)
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.topic: at}))
	}
	cl, err := cf.client(opts...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	w := bufio.NewWriter(stdout)
	n, err := consumeLoop(ctx, cl, o, targets, w)
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
	return n, err
}

// prepareConsume checks that the topic (and partition) exist and returns
// each consumed partition's start position and end offset (without a
// group, or with --exit).
func prepareConsume(ctx context.Context, cf *clientFlags, o consumeOpts) (map[int32]*target, error) {
	adm, err := cf.admin()
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	details, err := adm.ListTopics(ctx, o.topic)
	if err != nil {
		return nil, fmt.Errorf("cannot describe topic %q: %w", o.topic, err)
	}
	d, ok := details[o.topic]
	if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
		return nil, fmt.Errorf("topic %q does not exist", o.topic)
	}
	if d.Err != nil {
		return nil, fmt.Errorf("topic %q: %w", o.topic, d.Err)
	}
	if _, ok := d.Partitions[int32(o.partition)]; o.partition >= 0 && !ok {
		return nil, fmt.Errorf("topic %q has no partition %d (it has %d)", o.topic, o.partition, len(d.Partitions))
	}
	if !o.exitAtEnd && o.group != "" {
		return nil, nil
	}
	return exitTargets(ctx, adm, o)
}

// target is where one partition starts and where --exit stops it.
type target struct{ next, end int64 }

// exitTargets computes each partition's start position (--offset clamped
// to the log, as kcat) and its end offset now (the last stable offset with
// read_committed), where --exit stops.
func exitTargets(ctx context.Context, adm *kadm.Client, o consumeOpts) (map[int32]*target, error) {
	starts, err := adm.ListStartOffsets(ctx, o.topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("cannot list start offsets of %q: %w", o.topic, err)
	}
	list := adm.ListEndOffsets
	if o.isolation == "read_committed" {
		list = adm.ListCommittedOffsets
	}
	ends, err := list(ctx, o.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("cannot list end offsets of %q: %w", o.topic, err)
	}
	var committed kadm.OffsetResponses
	if o.group != "" {
		if committed, err = adm.FetchOffsets(ctx, o.group); err != nil {
			return nil, fmt.Errorf("cannot fetch offsets of group %q: %w", o.group, err)
		}
	}
	var after kadm.ListedOffsets
	if ts, ok := strings.CutPrefix(o.offset, "@"); ok {
		ms, _ := parseTime(ts)
		if after, err = adm.ListOffsetsAfterMilli(ctx, ms, o.topic); err != nil {
			return nil, fmt.Errorf("cannot list offsets of %q after %s: %w", o.topic, ts, err)
		}
	}
	out := map[int32]*target{}
	for p, e := range ends[o.topic] {
		if o.partition >= 0 && p != int32(o.partition) {
			continue
		}
		ls := starts[o.topic][p].Offset
		t := &target{end: e.Offset}
		if c, ok := committed.Lookup(o.topic, p); ok && c.Err == nil && c.At >= 0 {
			t.next = c.At
		} else {
			t.next = resetPosition(o.offset, ls, e.Offset, after, o.topic, p)
		}
		out[p] = t
	}
	return out, nil
}

// resetPosition is where --offset puts a partition whose log spans
// [logStart, end).
func resetPosition(offset string, logStart, end int64, after kadm.ListedOffsets, topic string, p int32) int64 {
	switch {
	case offset == "beginning" || offset == "start" || offset == "earliest":
		return logStart
	case strings.HasPrefix(offset, "@"):
		if lo, ok := after.Lookup(topic, p); ok && lo.Err == nil && lo.Offset >= 0 {
			return lo.Offset
		}
		return end
	}
	n, err := strconv.ParseInt(offset, 10, 64)
	if err != nil {
		return end
	}
	if n < 0 {
		return max(end+n, logStart)
	}
	return min(max(n, logStart), end)
}

// allDone reports whether every partition reached its --exit end.
func allDone(ts map[int32]*target) bool {
	for _, t := range ts {
		if t.next < t.end {
			return false
		}
	}
	return true
}

// consumeLoop prints records until --num, --exit's ends, --timeout or a
// signal, and returns how many it printed.
func consumeLoop(ctx context.Context, cl *kgo.Client, o consumeOpts, targets map[int32]*target, w *bufio.Writer) (int, error) {
	n := 0
	for o.count == 0 || n < o.count {
		if o.exitAtEnd && allDone(targets) {
			return n, nil
		}
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
			if o.flushEach {
				if err := w.Flush(); err != nil {
					return n, fmt.Errorf("cannot write: %w", err)
				}
			}
			if o.group != "" {
				cl.MarkCommitRecords(r)
			}
			if t := targets[r.Partition]; t != nil {
				t.next = max(t.next, r.Offset+1)
			}
			n++
		}
		if err := w.Flush(); err != nil {
			return n, fmt.Errorf("cannot write: %w", err)
		}
		if ctx.Err() != nil {
			return n, nil // interrupted: not an error
		}
		if timedOut && len(fetches.Records()) == 0 {
			if o.count > 0 && n > 0 {
				return n, fmt.Errorf("timed out after %v with %d of %d records", o.timeout, n, o.count)
			}
			return n, errIdle{o.timeout}
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

// formatVerbs are the verbs of --format.
const formatVerbs = "tpokvsKSTdyh"

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
		case strings.IndexByte(formatVerbs, d) >= 0:
			flush()
			parts = append(parts, formatPart{verb: d})
		default:
			return nil, fmt.Errorf("--format: unknown verb %%%c (see sluice consume --help)", d)
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
	Topic         string       `json:"topic"`
	Partition     int32        `json:"partition"`
	Offset        int64        `json:"offset"`
	Timestamp     int64        `json:"timestamp"`
	TimestampType string       `json:"timestamp_type"`
	Key           *string      `json:"key"`
	Value         *string      `json:"value"`
	Headers       []jsonHeader `json:"headers"`
	Encoding      string       `json:"encoding"` // utf8, or base64 for key, value and header values
}

type jsonHeader struct {
	Key   string  `json:"key"`
	Value *string `json:"value"`
}

func toJSONRecord(r *kgo.Record) jsonRecord {
	enc := "utf8"
	valid := utf8.Valid(r.Key) && utf8.Valid(r.Value)
	for _, h := range r.Headers {
		valid = valid && utf8.Valid(h.Value)
	}
	str := func(b []byte) *string {
		if b == nil {
			return nil
		}
		s := string(b)
		if !valid {
			s = base64.StdEncoding.EncodeToString(b)
		}
		return &s
	}
	if !valid {
		enc = "base64"
	}
	jr := jsonRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(),
		TimestampType: timestampType(r), Key: str(r.Key), Value: str(r.Value), Headers: []jsonHeader{}, Encoding: enc}
	for _, h := range r.Headers {
		jr.Headers = append(jr.Headers, jsonHeader{Key: h.Key, Value: str(h.Value)})
	}
	return jr
}

func timestampType(r *kgo.Record) string {
	if r.Attrs.TimestampType() == 1 {
		return "LogAppendTime"
	}
	return "CreateTime"
}

func printRecord(w *bufio.Writer, o consumeOpts, r *kgo.Record) error {
	switch o.output {
	case outJSON:
		b, err := json.Marshal(toJSONRecord(r))
		if err != nil {
			return fmt.Errorf("cannot encode record: %w", err)
		}
		w.Write(b)
		return w.WriteByte('\n')
	case outYAML:
		w.WriteString("---\n")
		return writeYAML(w, toJSONRecord(r))
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
		case 'v', 's':
			w.Write(r.Value)
		case 'K':
			w.WriteString(strconv.Itoa(len(r.Key)))
		case 'S':
			w.WriteString(strconv.Itoa(len(r.Value)))
		case 'T':
			w.WriteString(strconv.FormatInt(r.Timestamp.UnixMilli(), 10))
		case 'd':
			w.WriteString(r.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
		case 'y':
			w.WriteString(timestampType(r))
		case 'h':
			for i, h := range r.Headers {
				if i > 0 {
					w.WriteByte(',')
				}
				w.WriteString(h.Key)
				w.WriteByte('=')
				w.Write(h.Value)
			}
		}
	}
	return nil
}
