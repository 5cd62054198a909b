package main

// sluice topics create|list|describe|delete|alter-config, with kadm.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
)

func init() {
	register(&command{
		name:    "topics",
		summary: "create, list, describe and delete topics, and alter their configs",
		usage:   "topics create|list|describe|delete|alter-config [FLAGS] [TOPIC…]",
		flags:   topicsFlags,
	})
}

// topicsSub is one `sluice topics` subcommand: flags binds its own flags
// and returns its body.
type topicsSub struct {
	usage, summary string
	flags          func(fs *flag.FlagSet) topicsBody
}

type topicsBody func(ctx context.Context, adm *kadm.Client, cf *clientFlags, args []string, stdout io.Writer) error

var topicsSubs = map[string]topicsSub{
	"create":       {"create TOPIC… [--partitions N] [--replication-factor N] [--config KEY=VALUE]…", "create topics", createFlags},
	"list":         {"list", "list topics with partition counts", listFlags},
	"describe":     {"describe [TOPIC…] [--all-configs]", "partitions, leaders, offsets and config overrides", describeFlags},
	"delete":       {"delete TOPIC…", "delete topics and their data", deleteFlags},
	"alter-config": {"alter-config TOPIC… [--set KEY=VALUE]… [--delete KEY]…", "set or remove topic config overrides", alterFlags},
}

func topicsFlags(*flag.FlagSet) func(args []string, stdout, stderr io.Writer) int {
	return func(args []string, stdout, stderr io.Writer) int {
		if len(args) == 0 {
			topicsUsage(stderr)
			return 2
		}
		sub, ok := topicsSubs[args[0]]
		if !ok {
			fmt.Fprintf(stderr, "sluice topics: unknown subcommand %q\n", args[0])
			topicsUsage(stderr)
			return 2
		}
		return runTopicsSub(args[0], sub, args[1:], stdout, stderr)
	}
}

func topicsUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: sluice topics SUBCOMMAND [FLAGS] [TOPIC…]\n\nsubcommands:")
	names := make([]string, 0, len(topicsSubs))
	for n := range topicsSubs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-13s %s\n", n, topicsSubs[n].summary)
	}
}

func runTopicsSub(name string, sub topicsSub, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sluice topics "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs)
	body := sub.flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sluice topics %s\n\n%s\n", sub.usage, sub.summary)
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	if err := cf.check(); err != nil {
		return exit(stderr, "topics "+name, usageErr{err})
	}
	adm, err := cf.admin()
	if err != nil {
		return exit(stderr, "topics "+name, err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), cf.timeout)
	defer cancel()
	return exit(stderr, "topics "+name, body(ctx, adm, cf, pos, stdout))
}

// needTopics is a usage error unless args names at least one topic.
func needTopics(args []string) error {
	if len(args) == 0 {
		return usagef("no topic given")
	}
	return nil
}

// keyValues is a repeatable KEY=VALUE flag.
type keyValues map[string]*string

func (kv keyValues) String() string { return "" }

func (kv keyValues) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want KEY=VALUE", s)
	}
	kv[k] = &v
	return nil
}

// status is one topic's outcome, for create, delete and alter-config.
type status struct {
	Topic      string `json:"topic"`
	Partitions int32  `json:"partitions,omitempty"`
	Error      string `json:"error,omitempty"`
}

// printStatuses writes statuses sorted by topic and returns an error
// naming each failure.
func printStatuses(w io.Writer, cf *clientFlags, st []status, withPartitions bool) error {
	sort.Slice(st, func(i, j int) bool { return st[i].Topic < st[j].Topic })
	var errs []error
	for _, s := range st {
		if s.Error != "" {
			errs = append(errs, fmt.Errorf("%s: %s", s.Topic, s.Error))
		}
	}
	if cf.json() {
		if err := writeJSON(w, st); err != nil {
			return err
		}
		return errors.Join(errs...)
	}
	tw := table(w)
	if withPartitions {
		fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tSTATUS")
	} else {
		fmt.Fprintln(tw, "TOPIC\tSTATUS")
	}
	for _, s := range st {
		state := "OK"
		if s.Error != "" {
			state = s.Error
		}
		if withPartitions {
			parts := "-"
			if s.Partitions > 0 {
				parts = strconv.Itoa(int(s.Partitions))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Topic, parts, state)
		} else {
			fmt.Fprintf(tw, "%s\t%s\n", s.Topic, state)
		}
	}
	tw.Flush()
	return errors.Join(errs...)
}

func createFlags(fs *flag.FlagSet) topicsBody {
	partitions := fs.Int("partitions", -1, "partitions of each topic (-1: the broker's num.partitions)")
	replication := fs.Int("replication-factor", -1, "replicas of each partition (-1: the broker's default; sluice has one)")
	configs := keyValues{}
	fs.Var(configs, "config", "a topic config KEY=VALUE (repeatable), e.g. retention.ms=3600000")
	return func(ctx context.Context, adm *kadm.Client, cf *clientFlags, args []string, stdout io.Writer) error {
		if err := needTopics(args); err != nil {
			return err
		}
		resp, err := adm.CreateTopics(ctx, int32(*partitions), int16(*replication), configs, args...)
		if err != nil {
			return fmt.Errorf("create topics: %w", err)
		}
		var st []status
		for _, r := range resp {
			s := status{Topic: r.Topic, Error: errText(r.Err, r.ErrMessage)}
			if r.Err == nil {
				s.Partitions = r.NumPartitions
			}
			st = append(st, s)
		}
		return printStatuses(stdout, cf, st, true)
	}
}

func deleteFlags(*flag.FlagSet) topicsBody {
	return func(ctx context.Context, adm *kadm.Client, cf *clientFlags, args []string, stdout io.Writer) error {
		if err := needTopics(args); err != nil {
			return err
		}
		resp, err := adm.DeleteTopics(ctx, args...)
		if err != nil {
			return fmt.Errorf("delete topics: %w", err)
		}
		var st []status
		for _, r := range resp {
			st = append(st, status{Topic: r.Topic, Error: errText(r.Err, r.ErrMessage)})
		}
		return printStatuses(stdout, cf, st, false)
	}
}

func alterFlags(fs *flag.FlagSet) topicsBody {
	set := keyValues{}
	fs.Var(set, "set", "set a topic config KEY=VALUE (repeatable)")
	var del []string
	fs.Func("delete", "remove a topic config override KEY, back to the broker default (repeatable)", func(k string) error {
		del = append(del, k)
		return nil
	})
	return func(ctx context.Context, adm *kadm.Client, cf *clientFlags, args []string, stdout io.Writer) error {
		if err := needTopics(args); err != nil {
			return err
		}
		if len(set)+len(del) == 0 {
			return usagef("nothing to alter: give --set KEY=VALUE or --delete KEY")
		}
		var alter []kadm.AlterConfig
		for k, v := range set {
			alter = append(alter, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: v})
		}
		for _, k := range del {
			alter = append(alter, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
		}
		sort.Slice(alter, func(i, j int) bool { return alter[i].Name < alter[j].Name })
		resp, err := adm.AlterTopicConfigs(ctx, alter, args...)
		if err != nil {
			return fmt.Errorf("alter configs: %w", err)
		}
		var st []status
		for _, r := range resp {
			st = append(st, status{Topic: r.Name, Error: errText(r.Err, r.ErrMessage)})
		}
		return printStatuses(stdout, cf, st, false)
	}
}

// topicSummary is one row of `topics list`.
type topicSummary struct {
	Topic             string `json:"topic"`
	ID                string `json:"id"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
	Internal          bool   `json:"internal,omitempty"`
}

func summarize(d kadm.TopicDetail) topicSummary {
	s := topicSummary{Topic: d.Topic, ID: d.ID.String(), Partitions: len(d.Partitions), Internal: d.IsInternal}
	if p, ok := d.Partitions[0]; ok {
		s.ReplicationFactor = len(p.Replicas)
	}
	return s
}

func listFlags(*flag.FlagSet) topicsBody {
	return func(ctx context.Context, adm *kadm.Client, cf *clientFlags, args []string, stdout io.Writer) error {
		if len(args) > 0 {
			return usagef("list takes no topics (describe does)")
		}
		details, err := adm.ListTopics(ctx)
		if err != nil {
			return fmt.Errorf("list topics: %w", err)
		}
		rows := []topicSummary{}
		for _, d := range details.Sorted() {
			rows = append(rows, summarize(d))
		}
		if cf.json() {
			return writeJSON(stdout, rows)
		}
		tw := table(stdout)
		fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tREPLICAS")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%d\t%d\n", r.Topic, r.Partitions, r.ReplicationFactor)
		}
		return tw.Flush()
	}
}
