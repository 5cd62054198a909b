package main

// sluice topics create|list|describe|delete|alter-config|add-partitions,
// with kadm (elect-leaders: elect.go).
// with kadm; reassign is reassign.go.

import (
	"context"
	"encoding/base64"
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
		summary: "create, list, describe and delete topics, alter their configs, elect their leaders",
		usage:   "topics create|list|describe|delete|alter-config|add-partitions|elect-leaders|reassign [FLAGS] [TOPIC…]",
		flags:   topicsFlags,
		more:    topicsSubList,
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
	"create":         {"create TOPIC… [--partitions N] [--replication-factor N] [--config KEY=VALUE]…", "create topics", createFlags},
	"list":           {"list", "list topics with partition counts", listFlags},
	"describe":       {"describe [TOPIC…]", "partitions, leaders, offsets, and every config with its source", describeFlags},
	"delete":         {"delete TOPIC…", "delete topics and their data", deleteFlags},
	"alter-config":   {"alter-config TOPIC… [--set KEY=VALUE]… [--delete KEY]…", "set or remove topic config overrides", alterFlags},
	"add-partitions": {"add-partitions TOPIC… (--num N | --total N)", "add partitions to topics (never removes any)", addPartitionsFlags},
	"reassign": {"reassign (--topic T --partition N (--replicas IDS | --cancel) | --plan FILE [--cancel] | --list [--topic T]) [--wait]",
		"move partitions between brokers, list the moves in progress, cancel them", reassignFlags},
}

func topicsFlags(*flag.FlagSet) func(args []string, stdout, stderr io.Writer) int {
	return func(args []string, stdout, stderr io.Writer) int {
		if len(args) == 0 {
			topicsUsage(stderr)
			return 2
		}
		sub, ok := topicsSubs[args[0]]
		if !ok {
			fmt.Fprintf(stderr, "sluice topics: unknown subcommand %q (see 'sluice topics --help')\n", args[0])
			return 2
		}
		return runTopicsSub(args[0], sub, args[1:], stdout, stderr)
	}
}

func topicsUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: sluice topics SUBCOMMAND [FLAGS] [TOPIC…]")
	fmt.Fprintln(w)
	topicsSubList(w)
	fmt.Fprintln(w, "\n'sluice topics SUBCOMMAND --help' shows a subcommand's flags.")
}

// topicsSubList lists the subcommands of `sluice topics`.
func topicsSubList(w io.Writer) {
	fmt.Fprintln(w, "subcommands:")
	names := make([]string, 0, len(topicsSubs))
	for n := range topicsSubs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-15s %s\n", n, topicsSubs[n].summary)
	}
}

func runTopicsSub(name string, sub topicsSub, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("sluice topics " + name)
	cf := addClientFlags(fs)
	body := sub.flags(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if code := flagError(stderr, "topics "+name, err); code != codeHelp {
			return code
		}
		fmt.Fprintf(stdout, "usage: sluice topics %s\n\n%s\n\nflags:\n", sub.usage, sub.summary)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return 0
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

// status is one topic's outcome, for create, delete, alter-config and
// add-partitions.
type status struct {
	Topic      string `json:"topic"`
	Partitions int32  `json:"partitions,omitempty"`
	Status     string `json:"status"` // OK or the error
	err        bool
}

// printStatuses writes statuses sorted by topic and returns an error
// naming each failure.
func printStatuses(w io.Writer, cf *clientFlags, st []status, withPartitions bool) error {
	sort.Slice(st, func(i, j int) bool { return st[i].Topic < st[j].Topic })
	var errs []error
	for i, s := range st {
		if s.Status != "" {
			st[i].err = true
			errs = append(errs, fmt.Errorf("%s: %s", s.Topic, s.Status))
		} else {
			st[i].Status = "OK"
		}
	}
	if cf.json() {
		if err := printOut(w, cf.output, st, nil); err != nil {
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
		state := s.Status
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
			s := status{Topic: r.Topic, Status: errText(r.Err, r.ErrMessage)}
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
			st = append(st, status{Topic: r.Topic, Status: errText(r.Err, r.ErrMessage)})
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
		alter, err := alterOps(set, del)
		if err != nil {
			return err
		}
		resp, err := adm.AlterTopicConfigs(ctx, alter, args...)
		if err != nil {
			return fmt.Errorf("alter configs: %w", err)
		}
		var st []status
		for _, r := range resp {
			st = append(st, status{Topic: r.Name, Status: errText(r.Err, r.ErrMessage)})
		}
		return printStatuses(stdout, cf, st, false)
	}
}

// topicSummary is one row of `topics list`.
type topicSummary struct {
	Topic      string `json:"topic"`
	ID         string `json:"id"`
	Partitions int    `json:"partitions"`
	Replicas   int    `json:"replicas"` // the replication factor
	Internal   bool   `json:"internal,omitempty"`
}

// topicID is a topic id as Kafka's tools print it (Uuid.toString):
// URL-safe base64 without padding, 22 characters.
func topicID(id kadm.TopicID) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

func summarize(d kadm.TopicDetail) topicSummary {
	s := topicSummary{Topic: d.Topic, ID: topicID(d.ID), Partitions: len(d.Partitions), Internal: d.IsInternal}
	if p, ok := d.Partitions[0]; ok {
		s.Replicas = len(p.Replicas)
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
		return printOut(stdout, cf.output, rows, func(w io.Writer) error {
			tw := table(w)
			fmt.Fprintln(tw, "TOPIC\tID\tPARTITIONS\tREPLICAS")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", r.Topic, r.ID, r.Partitions, r.Replicas)
			}
			return tw.Flush()
		})
	}
}

func addPartitionsFlags(fs *flag.FlagSet) topicsBody {
	num := fs.Int("num", 0, "partitions to add to each topic (as rpk topic add-partitions)")
	total := fs.Int("total", 0, "the partition count each topic should have (as kafka-topics --alter --partitions)")
	return func(ctx context.Context, adm *kadm.Client, cf *clientFlags, args []string, stdout io.Writer) error {
		if err := needTopics(args); err != nil {
			return err
		}
		if (*num > 0) == (*total > 0) {
			return usagef("give one of --num N (partitions to add) or --total N (the new count), N > 0")
		}
		var resp kadm.CreatePartitionsResponses
		var err error
		if *num > 0 {
			resp, err = adm.CreatePartitions(ctx, *num, args...)
		} else {
			resp, err = adm.UpdatePartitions(ctx, *total, args...)
		}
		if err != nil {
			return fmt.Errorf("add partitions: %w", err)
		}
		details, err := adm.ListTopics(ctx, args...)
		if err != nil {
			return fmt.Errorf("list topics: %w", err)
		}
		var st []status
		for _, r := range resp.Sorted() {
			s := status{Topic: r.Topic, Status: errText(r.Err, r.ErrMessage)}
			if d, ok := details[r.Topic]; ok && r.Err == nil {
				s.Partitions = int32(len(d.Partitions))
			}
			st = append(st, s)
		}
		return printStatuses(stdout, cf, st, true)
	}
}
