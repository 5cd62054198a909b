package main

// sluice topics elect-leaders, with kadm's ElectLeaders (API 43).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func init() {
	topicsSubs["elect-leaders"] = topicsSub{
		"elect-leaders [TOPIC…] [--partition N] [--type preferred|unclean]",
		"give partitions back to their preferred leader, or (unclean) a leader to partitions without one",
		electFlags,
	}
}

// election is one partition's outcome.
type election struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Status    string `json:"status"` // elected, not needed, or the error
	failed    bool
}

func electFlags(fs *flag.FlagSet) topicsBody {
	partition := fs.Int("partition", -1, "only this partition of the one TOPIC given (-1: every partition)")
	typ := fs.String("type", "preferred", "preferred: the first replica leads if alive and in the ISR; unclean: for partitions without a live leader, a live replica even outside the ISR (may lose acknowledged records)")
	return func(ctx context.Context, adm *kadm.Client, cf *clientFlags, args []string, stdout io.Writer) error {
		how := kadm.ElectPreferredReplica
		switch *typ {
		case "preferred":
		case "unclean":
			how = kadm.ElectLiveReplica
		default:
			return usagef("--type %q: want preferred or unclean", *typ)
		}
		if *partition >= 0 && len(args) != 1 {
			return usagef("--partition needs exactly one TOPIC")
		}
		set, missing, err := electionSet(ctx, adm, args, int32(*partition))
		if err != nil {
			return err
		}
		var out []election
		if len(args) == 0 || len(set) > 0 {
			res, err := adm.ElectLeaders(ctx, how, set)
			if err != nil {
				return fmt.Errorf("elect leaders: %w", err)
			}
			out = elections(res)
		}
		return printElections(stdout, cf, append(out, missing...))
	}
}

// electionSet is the partitions to elect: nil (every partition) without
// topics, else each topic's partitions (or the one asked for); unknown
// topics are answered here.
func electionSet(ctx context.Context, adm *kadm.Client, topics []string, partition int32) (kadm.TopicsSet, []election, error) {
	if len(topics) == 0 {
		return nil, nil, nil
	}
	details, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return nil, nil, fmt.Errorf("list topics: %w", err)
	}
	set := kadm.TopicsSet{}
	var missing []election
	for _, t := range topics {
		d, ok := details[t]
		switch {
		case !ok || d.Err != nil:
			missing = append(missing, election{Topic: t, Partition: -1, Status: errText(kerr.UnknownTopicOrPartition, ""), failed: true})
		case partition >= 0:
			set.Add(t, partition)
		default:
			set.Add(t, d.Partitions.Numbers()...)
		}
	}
	return set, missing, nil
}

// elections flattens kadm's results.
func elections(res kadm.ElectLeadersResults) []election {
	var out []election
	for _, ps := range res {
		for _, r := range ps {
			e := election{Topic: r.Topic, Partition: r.Partition, Status: "elected"}
			switch {
			case r.Err == nil:
			case errors.Is(r.Err, kerr.ElectionNotNeeded):
				e.Status = "not needed"
			default:
				e.Status, e.failed = errText(r.Err, r.ErrMessage), true
			}
			out = append(out, e)
		}
	}
	return out
}

// printElections writes the outcomes by topic and partition and returns
// an error naming each failure ("not needed" is no failure).
func printElections(w io.Writer, cf *clientFlags, es []election) error {
	sort.Slice(es, func(i, j int) bool {
		if es[i].Topic != es[j].Topic {
			return es[i].Topic < es[j].Topic
		}
		return es[i].Partition < es[j].Partition
	})
	var errs []error
	for _, e := range es {
		switch {
		case !e.failed:
		case e.Partition < 0:
			errs = append(errs, fmt.Errorf("%s: %s", e.Topic, e.Status))
		default:
			errs = append(errs, fmt.Errorf("%s-%d: %s", e.Topic, e.Partition, e.Status))
		}
	}
	if es == nil {
		es = []election{}
	}
	if cf.json() {
		if err := printOut(w, cf.output, es, nil); err != nil {
			return err
		}
		return errors.Join(errs...)
	}
	if len(es) == 0 {
		fmt.Fprintln(w, "no partition needed an election")
		return nil
	}
	tw := table(w)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tSTATUS")
	for _, e := range es {
		p := "-"
		if e.Partition >= 0 {
			p = strconv.Itoa(int(e.Partition))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Topic, p, e.Status)
	}
	tw.Flush()
	return errors.Join(errs...)
}
