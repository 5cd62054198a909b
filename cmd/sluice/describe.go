package main

// sluice topics describe: what kafka-topics.sh --describe shows, each
// partition's log start offset and high watermark, and every config with
// its source (as kafka-configs.sh --describe --all).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

type topicDescription struct {
	topicSummary
	Configs    []configEntry          `json:"configs"`
	Partitions []partitionDescription `json:"partition_details"`
}

// configEntry is one row of the CONFIG table.
type configEntry struct {
	Name   string  `json:"config"`
	Value  *string `json:"value"` // nil for a sensitive or unset value
	Source string  `json:"source"`
}

type partitionDescription struct {
	Partition      int32   `json:"partition"`
	Leader         int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leader_epoch"`
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	LogStartOffset int64   `json:"log_start_offset"`
	HighWatermark  int64   `json:"high_watermark"`
	Error          string  `json:"error,omitempty"`
}

func describeFlags(fs *flag.FlagSet) topicsBody {
	fs.Bool("all-configs", true, "ignored: every config is shown, with its source")
	overrides := fs.Bool("overrides", false, "show only the topic's own config overrides (source DYNAMIC_TOPIC_CONFIG)")
	return func(ctx context.Context, adm *kadm.Client, cf *clientFlags, args []string, stdout io.Writer) error {
		descs, errs, err := describeTopics(ctx, adm, args, *overrides)
		if err != nil {
			return err
		}
		if len(descs) > 0 || len(errs) == 0 {
			err = printOut(stdout, cf.output, descs, func(w io.Writer) error { return printDescriptions(w, descs) })
		}
		return errors.Join(append([]error{err}, errs...)...)
	}
}

// describeTopics gathers metadata, configs and offsets of topics (all
// topics when none is named), sorted by name. A topic that cannot be
// described (it does not exist) is left out and named in errs.
func describeTopics(ctx context.Context, adm *kadm.Client, topics []string, overrides bool) (out []topicDescription, errs []error, err error) {
	details, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return nil, nil, fmt.Errorf("describe topics: %w", err)
	}
	var names []string
	for _, name := range details.Names() {
		if derr := details[name].Err; derr != nil {
			if errors.Is(derr, kerr.UnknownTopicOrPartition) {
				derr = errors.New("topic does not exist")
			}
			errs = append(errs, fmt.Errorf("%s: %w", name, derr))
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	out = []topicDescription{}
	if len(names) == 0 {
		return out, errs, nil
	}
	configs, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return nil, nil, fmt.Errorf("describe configs: %w", err)
	}
	starts, err := adm.ListStartOffsets(ctx, names...)
	if err != nil {
		return nil, nil, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, names...)
	if err != nil {
		return nil, nil, fmt.Errorf("list end offsets: %w", err)
	}
	for _, name := range names {
		d := details[name]
		td := topicDescription{topicSummary: summarize(d), Configs: topicConfigs(configs, name, overrides)}
		for _, p := range d.Partitions.Sorted() {
			td.Partitions = append(td.Partitions, describePartition(p, starts, ends))
		}
		out = append(out, td)
	}
	return out, errs, nil
}

func describePartition(p kadm.PartitionDetail, starts, ends kadm.ListedOffsets) partitionDescription {
	pd := partitionDescription{Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
		Replicas: p.Replicas, ISR: p.ISR, LogStartOffset: -1, HighWatermark: -1, Error: errText(p.Err, "")}
	if o, ok := starts.Lookup(p.Topic, p.Partition); ok && o.Err == nil {
		pd.LogStartOffset = o.Offset
	}
	if o, ok := ends.Lookup(p.Topic, p.Partition); ok && o.Err == nil {
		pd.HighWatermark = o.Offset
	}
	return pd
}

// topicConfigs returns every config of the topic with its source (or only
// the overrides), sorted by name.
func topicConfigs(rcs kadm.ResourceConfigs, topic string, overridesOnly bool) []configEntry {
	out := []configEntry{}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		return out
	}
	for _, c := range rc.Configs {
		src := c.Source.String()
		if overridesOnly && src != "DYNAMIC_TOPIC_CONFIG" {
			continue
		}
		e := configEntry{Name: c.Key, Value: c.Value, Source: src}
		if c.Sensitive {
			e.Value = nil
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func printDescriptions(w io.Writer, descs []topicDescription) error {
	for i, d := range descs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		tw := table(w)
		fmt.Fprintf(tw, "TOPIC\t%s\nID\t%s\nPARTITIONS\t%d\nREPLICAS\t%d\n", d.Topic, d.ID, d.topicSummary.Partitions, d.Replicas)
		tw.Flush()
		if len(d.Partitions) > 0 {
			fmt.Fprintln(w)
			tw = table(w)
			fmt.Fprintln(tw, "PARTITION\tLEADER\tLEADER-EPOCH\tREPLICAS\tISR\tLOG-START-OFFSET\tHIGH-WATERMARK")
			for _, p := range d.Partitions {
				fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\t%d\t%d\n", p.Partition, p.Leader, p.LeaderEpoch, ints(p.Replicas), ints(p.ISR), p.LogStartOffset, p.HighWatermark)
			}
			tw.Flush()
		}
		if len(d.Configs) > 0 {
			fmt.Fprintln(w)
			tw = table(w)
			fmt.Fprintln(tw, "CONFIG\tVALUE\tSOURCE")
			for _, c := range d.Configs {
				v := "(sensitive)"
				if c.Value != nil {
					v = *c.Value
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, v, c.Source)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// ints is a replica list as Kafka's tools print it: 1,2,3.
func ints(v []int32) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}
