package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// sluice groups: Kafka's kafka-consumer-groups.sh for the common cases,
// through franz-go's kadm.
//
//	sluice groups list
//	sluice groups describe GROUP
//	sluice groups delete GROUP
//	sluice groups reset-offsets GROUP --topic T --to-earliest|--to-latest|--to-offset N|--to-datetime TS [--execute]

func init() {
	register(&command{
		name:    "groups",
		summary: "list, describe (with lag), delete consumer groups and reset their offsets",
		usage: "groups [--brokers B] list | describe GROUP | delete GROUP |\n" +
			"       reset-offsets GROUP --topic T (--to-earliest|--to-latest|--to-offset N|--to-datetime TS) [--execute]",
		flags: groupsFlags,
		more:  groupsSubList,
	})
}

func groupsSubList(w io.Writer) {
	fmt.Fprint(w, `subcommands:
  list            groups with their state and protocol type
  describe GROUP  each partition's committed offset, end offset, lag and member
  delete GROUP    delete a group with no active members and its offsets
  reset-offsets   show, and with --execute commit, new offsets for a topic
`)
}

// groupsOpts are the flags of every groups subcommand (they may come before
// or after the subcommand and its arguments).
type groupsOpts struct {
	*clientFlags
	topic      string
	toEarliest bool
	toLatest   bool
	toOffset   int64
	toDatetime string
	execute    bool
}

func (o *groupsOpts) register(fs *flag.FlagSet) {
	o.clientFlags = addClientFlags(fs)
	fs.StringVar(&o.topic, "topic", "", "reset-offsets: the topic whose offsets to reset")
	fs.BoolVar(&o.toEarliest, "to-earliest", false, "reset-offsets: to each partition's log start offset")
	fs.BoolVar(&o.toLatest, "to-latest", false, "reset-offsets: to each partition's end offset")
	fs.Int64Var(&o.toOffset, "to-offset", -1, "reset-offsets: to this offset (clamped to each partition's range)")
	fs.StringVar(&o.toDatetime, "to-datetime", "", "reset-offsets: to the first offset at or after this time (RFC 3339, e.g. 2024-01-02T15:04:05Z)")
	fs.BoolVar(&o.execute, "execute", false, "reset-offsets: commit the plan (without it nothing changes)")
}

func groupsFlags(fs *flag.FlagSet) func(args []string, stdout, stderr io.Writer) int {
	var o groupsOpts
	o.register(fs)
	return func(args []string, stdout, stderr io.Writer) int {
		err := runGroups(fs, &o, args, stdout)
		if errors.Is(err, flag.ErrHelp) {
			return codeHelp
		}
		var fe flagErr
		if errors.As(err, &fe) {
			return flagError(stderr, "groups", fe.error)
		}
		return exit(stderr, "groups", err)
	}
}

// runGroups parses the subcommand and its arguments and runs it.
func runGroups(fs *flag.FlagSet, o *groupsOpts, args []string, stdout io.Writer) error {
	args, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return flagErr{err}
	}
	if err := o.check(); err != nil {
		return usageErr{err}
	}
	if len(args) == 0 {
		return usagef("no subcommand (list, describe, delete, reset-offsets)")
	}
	sub, rest := args[0], args[1:]
	run, want := groupsSubcommand(sub)
	if run == nil {
		return usagef("unknown subcommand %q", sub)
	}
	if len(rest) != want {
		return usagef("%s: want %d argument(s), got %d", sub, want, len(rest))
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	adm, err := o.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	if err := run(ctx, adm, o, rest, stdout); err != nil {
		return fmt.Errorf("%s: %w", sub, err)
	}
	return nil
}

type groupsRun func(ctx context.Context, adm *kadm.Client, o *groupsOpts, args []string, w io.Writer) error

// groupsSubcommand returns the subcommand and its argument count.
func groupsSubcommand(name string) (groupsRun, int) {
	switch name {
	case "list":
		return groupsList, 0
	case "describe":
		return groupsDescribe, 1
	case "delete":
		return groupsDelete, 1
	case "reset-offsets":
		return groupsResetOffsets, 1
	}
	return nil, 0
}

// flagErr is a flag parsing error of a groups subcommand.
type flagErr struct{ error }

// groupRow is one row of `groups list`.
type groupRow struct {
	Group        string `json:"group"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
}

// groupsList prints each group with its state and protocol type (as
// kafka-consumer-groups.sh --list --state).
func groupsList(ctx context.Context, adm *kadm.Client, o *groupsOpts, _ []string, w io.Writer) error {
	gs, err := adm.ListGroups(ctx)
	if err != nil {
		return fmt.Errorf("cannot list groups: %w", err)
	}
	rows := []groupRow{}
	for _, g := range gs.Sorted() {
		rows = append(rows, groupRow{g.Group, g.State, g.ProtocolType})
	}
	return printOut(w, o.output, rows, func(w io.Writer) error {
		tw := table(w)
		fmt.Fprintln(tw, "GROUP\tSTATE\tPROTOCOL-TYPE")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Group, r.State, dashIfEmpty(r.ProtocolType))
		}
		return tw.Flush()
	})
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// groupsDescribe prints kafka-consumer-groups.sh --describe's table.
func groupsDescribe(ctx context.Context, adm *kadm.Client, o *groupsOpts, args []string, w io.Writer) error {
	lags, err := adm.Lag(ctx, args[0])
	if err != nil {
		return fmt.Errorf("cannot describe group %q: %w", args[0], err)
	}
	l, ok := lags[args[0]]
	if !ok {
		return fmt.Errorf("group %q: no answer", args[0])
	}
	if err := l.Error(); err != nil {
		return fmt.Errorf("cannot describe group %q: %w", args[0], err)
	}
	if l.State == "Dead" {
		return fmt.Errorf("group %q does not exist", args[0])
	}
	if o.json() {
		rows := []lagRow{}
		for _, r := range l.Lag.Sorted() {
			rows = append(rows, describeObject(l.Group, r))
		}
		return printOut(w, o.output, rows, nil)
	}
	tw := table(w)
	fmt.Fprintln(tw, strings.Join(describeHeader, "\t"))
	for _, r := range l.Lag.Sorted() {
		fmt.Fprintln(tw, strings.Join(describeRow(l.Group, r), "\t"))
	}
	return tw.Flush()
}

// lagRow is a describe row for --output json|yaml: the columns in
// snake_case, numbers as numbers and unknown values ("-") as null.
type lagRow struct {
	Group         string  `json:"group"`
	Topic         string  `json:"topic"`
	Partition     int32   `json:"partition"`
	CurrentOffset *int64  `json:"current_offset"`
	LogEndOffset  *int64  `json:"log_end_offset"`
	Lag           *int64  `json:"lag"`
	ConsumerID    *string `json:"consumer_id"`
	Host          *string `json:"host"`
	ClientID      *string `json:"client_id"`
}

func describeObject(group string, r kadm.GroupMemberLag) lagRow {
	num := func(ok bool, v int64) *int64 {
		if !ok {
			return nil
		}
		return &v
	}
	row := lagRow{Group: group, Topic: r.Topic, Partition: r.Partition,
		CurrentOffset: num(r.Commit.At >= 0, r.Commit.At), LogEndOffset: num(r.End.Err == nil, r.End.Offset),
		Lag: num(r.Lag >= 0 && r.Commit.At >= 0, r.Lag)}
	if r.Member != nil {
		row.ConsumerID, row.Host, row.ClientID = &r.Member.MemberID, &r.Member.ClientHost, &r.Member.ClientID
	}
	return row
}

// describeHeader is kafka-consumer-groups.sh --describe's header.
var describeHeader = []string{"GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"}

// describeRow is one partition's row; "-" marks what is unknown.
func describeRow(group string, r kadm.GroupMemberLag) []string {
	dash := func(ok bool, v int64) string {
		if !ok {
			return "-"
		}
		return strconv.FormatInt(v, 10)
	}
	consumer, host, client := "-", "-", "-"
	if r.Member != nil {
		consumer, host, client = r.Member.MemberID, r.Member.ClientHost, r.Member.ClientID
	}
	return []string{group, r.Topic, strconv.Itoa(int(r.Partition)),
		dash(r.Commit.At >= 0, r.Commit.At), dash(r.End.Err == nil, r.End.Offset),
		dash(r.Lag >= 0 && r.Commit.At >= 0, r.Lag), consumer, host, client}
}

func groupsDelete(ctx context.Context, adm *kadm.Client, o *groupsOpts, args []string, w io.Writer) error {
	r, err := adm.DeleteGroup(ctx, args[0])
	if err == nil {
		err = r.Err
	}
	if err != nil {
		return fmt.Errorf("cannot delete group %q: %w", args[0], err)
	}
	row := struct {
		Group  string `json:"group"`
		Status string `json:"status"`
	}{args[0], "deleted"}
	return printOut(w, o.output, row, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "Deletion of requested consumer groups ('%s') was successful.\n", args[0])
		return err
	})
}

// resetRow is one row of the reset-offsets plan.
type resetRow struct {
	Group     string `json:"group"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	NewOffset int64  `json:"new_offset"`
}

// groupsResetOffsets shows (and with --execute commits) new offsets for
// every partition of one topic.
func groupsResetOffsets(ctx context.Context, adm *kadm.Client, o *groupsOpts, args []string, w io.Writer) error {
	group := args[0]
	if o.topic == "" {
		return usagef("--topic is required")
	}
	targets, err := resetTargets(ctx, adm, o)
	if err != nil {
		return err
	}
	offsets := kadm.Offsets{}
	rows := []resetRow{}
	for _, p := range sortedPartitions(targets) {
		rows = append(rows, resetRow{group, o.topic, p, targets[p]})
		offsets.Add(kadm.Offset{Topic: o.topic, Partition: p, At: targets[p], LeaderEpoch: -1})
	}
	if o.execute {
		if err := adm.CommitAllOffsets(ctx, group, offsets); err != nil {
			return fmt.Errorf("cannot commit offsets of group %q (it must have no active members): %w", group, err)
		}
	}
	plan := struct {
		Executed bool       `json:"executed"`
		Offsets  []resetRow `json:"offsets"`
	}{o.execute, rows}
	return printOut(w, o.output, plan, func(w io.Writer) error {
		tw := table(w)
		fmt.Fprintln(tw, "GROUP\tTOPIC\tPARTITION\tNEW-OFFSET")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", r.Group, r.Topic, r.Partition, r.NewOffset)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if !o.execute {
			fmt.Fprintln(w, "\nDry run: nothing changed (add --execute to commit these offsets).")
		} else {
			fmt.Fprintln(w, "\nOffsets committed.")
		}
		return nil
	})
}

// resetTargets computes each partition's new offset.
func resetTargets(ctx context.Context, adm *kadm.Client, o *groupsOpts) (map[int32]int64, error) {
	n := 0
	for _, set := range []bool{o.toEarliest, o.toLatest, o.toOffset >= 0, o.toDatetime != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, usagef("give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime")
	}
	starts, err := adm.ListStartOffsets(ctx, o.topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("cannot list start offsets of %q: %w", o.topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, o.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("cannot list end offsets of %q: %w", o.topic, err)
	}
	var at kadm.ListedOffsets
	if o.toDatetime != "" {
		ts, err := time.Parse(time.RFC3339, o.toDatetime)
		if err != nil {
			return nil, usagef("--to-datetime %q: %v", o.toDatetime, err)
		}
		if at, err = adm.ListOffsetsAfterMilli(ctx, ts.UnixMilli(), o.topic); err != nil {
			return nil, fmt.Errorf("cannot list offsets of %q after %s: %w", o.topic, o.toDatetime, err)
		}
	}
	out := map[int32]int64{}
	for p, end := range ends[o.topic] {
		start := starts[o.topic][p].Offset
		switch {
		case o.toEarliest:
			out[p] = start
		case o.toLatest:
			out[p] = end.Offset
		case o.toOffset >= 0:
			out[p] = min(max(o.toOffset, start), end.Offset)
		default:
			out[p] = end.Offset // no record at or after the time: the end
			if lo, ok := at.Lookup(o.topic, p); ok && lo.Err == nil && lo.Offset >= 0 {
				out[p] = lo.Offset
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("topic %q has no partitions", o.topic)
	}
	return out, nil
}

func sortedPartitions(m map[int32]int64) []int32 {
	ps := make([]int32, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}
