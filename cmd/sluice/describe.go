package main

// sluice topics describe: what kafka-topics.sh --describe shows, plus each
// partition's log start offset and high watermark.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type topicDescription struct {
	topicSummary
	Configs    map[string]string      `json:"configs"`
	Partitions []partitionDescription `json:"partition_details"`
	Error      string                 `json:"error,omitempty"`
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
	all := fs.Bool("all-configs", false, "show every config, not only the topic's overrides")
	return func(ctx context.Context, adm *kadm.Client, cf *clientFlags, args []string, stdout io.Writer) error {
		descs, err := describeTopics(ctx, adm, args, *all)
		if err != nil {
			return err
		}
		var errs []error
		for _, d := range descs {
			if d.Error != "" {
				errs = append(errs, fmt.Errorf("%s: %s", d.Topic, d.Error))
			}
		}
		if cf.json() {
			err = writeJSON(stdout, descs)
		} else {
			err = printDescriptions(stdout, descs)
		}
		return errors.Join(append([]error{err}, errs...)...)
	}
}

// describeTopics gathers metadata, configs and offsets of topics (all
// topics when none is named), sorted by name.
func describeTopics(ctx context.Context, adm *kadm.Client, topics []string, allConfigs bool) ([]topicDescription, error) {
	details, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("describe topics: %w", err)
	}
	names := details.Names()
	sort.Strings(names)
	if len(names) == 0 {
		return []topicDescription{}, nil
	}
	configs, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("describe configs: %w", err)
	}
	starts, err := adm.ListStartOffsets(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("list end offsets: %w", err)
	}
	out := make([]topicDescription, 0, len(names))
	for _, name := range names {
		d := details[name]
		td := topicDescription{topicSummary: summarize(d), Configs: topicConfigs(configs, name, allConfigs), Error: errText(d.Err, "")}
		for _, p := range d.Partitions.Sorted() {
			td.Partitions = append(td.Partitions, describePartition(p, starts, ends))
		}
		out = append(out, td)
	}
	return out, nil
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

// topicConfigs returns the topic's overrides (or every config).
func topicConfigs(rcs kadm.ResourceConfigs, topic string, all bool) map[string]string {
	out := map[string]string{}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		return out
	}
	for _, c := range rc.Configs {
		if c.Value != nil && (all || c.Source == kmsg.ConfigSourceDynamicTopicConfig) {
			out[c.Key] = *c.Value
		}
	}
	return out
}

func printDescriptions(w io.Writer, descs []topicDescription) error {
	for i, d := range descs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		tw := table(w)
		fmt.Fprintf(tw, "TOPIC\t%s\nID\t%s\nPARTITIONS\t%d\nREPLICAS\t%d\nCONFIGS\t%s\n", d.Topic, d.ID, d.topicSummary.Partitions, d.ReplicationFactor, configList(d.Configs))
		if d.Error != "" {
			fmt.Fprintf(tw, "ERROR\t%s\n", d.Error)
		}
		tw.Flush()
		if len(d.Partitions) == 0 {
			continue
		}
		fmt.Fprintln(w)
		tw = table(w)
		fmt.Fprintln(tw, "PARTITION\tLEADER\tEPOCH\tREPLICAS\tISR\tLOG-START\tHIGH-WATERMARK")
		for _, p := range d.Partitions {
			fmt.Fprintf(tw, "%d\t%d\t%d\t%v\t%v\t%d\t%d\n", p.Partition, p.Leader, p.LeaderEpoch, p.Replicas, p.ISR, p.LogStartOffset, p.HighWatermark)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func configList(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}
