package main

// sluice topics reassign: move partitions between brokers
// (AlterPartitionReassignments, KIP-455), list the pending moves
// (ListPartitionReassignments) and cancel them, as
// kafka-reassign-partitions.sh --execute/--verify/--cancel do. A plan file
// is that tool's JSON:
//
//	{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[2,3,1]}]}

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// reassignPlan is kafka-reassign-partitions' JSON plan.
type reassignPlan struct {
	Version    int             `json:"version"`
	Partitions []planPartition `json:"partitions"`
}

// planPartition is one partition's target replicas (log_dirs, when a
// Kafka plan has them, must be "any": Sluice has one data directory).
type planPartition struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Replicas  []int32  `json:"replicas"`
	LogDirs   []string `json:"log_dirs,omitempty"`
}

// readPlan reads and checks a plan file.
func readPlan(path string) (reassignPlan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return reassignPlan{}, fmt.Errorf("cannot read the plan: %w", err)
	}
	return parsePlan(b)
}

func parsePlan(b []byte) (reassignPlan, error) {
	var plan reassignPlan
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&plan); err != nil {
		return plan, fmt.Errorf("the plan is not kafka-reassign-partitions JSON: %w", err)
	}
	if plan.Version != 1 {
		return plan, fmt.Errorf("the plan's version is %d, want 1", plan.Version)
	}
	if len(plan.Partitions) == 0 {
		return plan, errors.New("the plan has no partitions")
	}
	for _, p := range plan.Partitions {
		if p.Topic == "" || p.Partition < 0 {
			return plan, fmt.Errorf("the plan names partition %q-%d", p.Topic, p.Partition)
		}
		for _, d := range p.LogDirs {
			if d != "any" {
				return plan, fmt.Errorf("%s-%d: log_dirs %q: only \"any\" is supported (one data directory per broker)", p.Topic, p.Partition, d)
			}
		}
	}
	return plan, nil
}

// parseReplicas parses "2,3,1".
func parseReplicas(s string) ([]int32, error) {
	var out []int32
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--replicas %q: want broker ids like 2,3,1", s)
		}
		out = append(out, int32(n))
	}
	return out, nil
}

// reassignRow is one partition's outcome.
type reassignRow struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Replicas  []int32 `json:"replicas"` // the target; null for a cancel
	Status    string  `json:"status"`
}

// pendingRow is one pending reassignment.
type pendingRow struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Replicas  []int32 `json:"replicas"`
	Adding    []int32 `json:"adding"`
	Removing  []int32 `json:"removing"`
}

func reassignFlags(fs *flag.FlagSet) topicsBody {
	topic := fs.String("topic", "", "the topic of the partition to move")
	partition := fs.Int("partition", -1, "the partition to move")
	replicas := fs.String("replicas", "", "the partition's new replicas, preferred leader first: `IDS` such as 2,3,1")
	planPath := fs.String("plan", "", "a kafka-reassign-partitions JSON `FILE`: {\"version\":1,\"partitions\":[{\"topic\":…,\"partition\":…,\"replicas\":[…]}]}")
	list := fs.Bool("list", false, "list the pending reassignments (of --topic only, when given) instead")
	cancel := fs.Bool("cancel", false, "cancel the pending reassignment of --topic/--partition, or of every partition of --plan")
	wait := fs.Bool("wait", false, "after starting them, wait (up to --request-timeout) until the moves complete")
	return func(ctx context.Context, adm *kadm.Client, cf *clientFlags, args []string, stdout io.Writer) error {
		if len(args) > 0 {
			return usagef("reassign takes no positional arguments (give --topic, --partition, --replicas or --plan)")
		}
		if *list {
			if *planPath != "" || *replicas != "" || *cancel {
				return usagef("--list takes only --topic")
			}
			return listReassignments(ctx, adm, cf, *topic, stdout)
		}
		plan, err := reassignTargets(*topic, int32(*partition), *replicas, *planPath, *cancel)
		if err != nil {
			return err
		}
		rows, err := applyPlan(ctx, adm, plan, *cancel)
		if rows == nil {
			return err
		}
		if perr := printReassign(stdout, cf, rows); perr != nil || err != nil {
			return errors.Join(perr, err)
		}
		if *wait && !*cancel {
			return awaitReassigned(ctx, adm, plan)
		}
		return nil
	}
}

// reassignTargets builds the plan from the flags.
func reassignTargets(topic string, partition int32, replicas, planPath string, cancel bool) (reassignPlan, error) {
	if planPath != "" {
		if topic != "" || partition >= 0 || replicas != "" {
			return reassignPlan{}, usagef("give either --plan or --topic/--partition/--replicas")
		}
		plan, err := readPlan(planPath)
		if err != nil {
			return plan, usageErr{err}
		}
		return plan, nil
	}
	if topic == "" || partition < 0 {
		return reassignPlan{}, usagef("give --topic and --partition (or --plan FILE, or --list)")
	}
	p := planPartition{Topic: topic, Partition: partition}
	switch {
	case cancel && replicas != "":
		return reassignPlan{}, usagef("--cancel takes no --replicas")
	case !cancel && replicas == "":
		return reassignPlan{}, usagef("give --replicas IDS (or --cancel)")
	case !cancel:
		rs, err := parseReplicas(replicas)
		if err != nil {
			return reassignPlan{}, usageErr{err}
		}
		p.Replicas = rs
	}
	return reassignPlan{Version: 1, Partitions: []planPartition{p}}, nil
}

// applyPlan sends the plan (its replicas as null when cancelling) and
// returns each partition's outcome, sorted.
func applyPlan(ctx context.Context, adm *kadm.Client, plan reassignPlan, cancel bool) ([]reassignRow, error) {
	var req kadm.AlterPartitionAssignmentsReq
	for _, p := range plan.Partitions {
		rs := p.Replicas
		if cancel {
			rs = nil
		} else if rs == nil {
			rs = []int32{} // an empty list, for the broker to refuse
		}
		req.Assign(p.Topic, p.Partition, rs)
	}
	resp, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("reassign partitions: %w", err)
	}
	var rows []reassignRow
	var errs []error
	for _, r := range resp.Sorted() {
		row := reassignRow{Topic: r.Topic, Partition: r.Partition, Status: "OK"}
		if !cancel {
			row.Replicas = req[r.Topic][r.Partition]
		}
		if r.Err != nil {
			row.Status = errText(r.Err, r.ErrMessage)
			errs = append(errs, fmt.Errorf("%s-%d: %s", r.Topic, r.Partition, row.Status))
		}
		rows = append(rows, row)
	}
	return rows, errors.Join(errs...)
}

func printReassign(w io.Writer, cf *clientFlags, rows []reassignRow) error {
	return printOut(w, cf.output, rows, func(w io.Writer) error {
		tw := table(w)
		fmt.Fprintln(tw, "TOPIC\tPARTITION\tREPLICAS\tSTATUS")
		for _, r := range rows {
			rs := "(cancel)"
			if r.Replicas != nil {
				rs = ids(r.Replicas)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", r.Topic, r.Partition, rs, r.Status)
		}
		return tw.Flush()
	})
}

// ids is "2,3,1" ("-" for none).
func ids(v []int32) string {
	if len(v) == 0 {
		return "-"
	}
	s := make([]string, len(v))
	for i, id := range v {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}

// pendingMoves lists every pending reassignment (of topic only, when
// not ""), asking for every partition of the topics Metadata lists.
func pendingMoves(ctx context.Context, adm *kadm.Client, topic string) ([]pendingRow, error) {
	var topics []string
	if topic != "" {
		topics = []string{topic}
	}
	md, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	set := kadm.TopicsSet{}
	for _, d := range md.Sorted() {
		if d.Err != nil {
			return nil, fmt.Errorf("topic %q: %w", d.Topic, d.Err)
		}
		for p := range d.Partitions {
			set.Add(d.Topic, p)
		}
	}
	rows := []pendingRow{}
	if len(set) == 0 {
		return rows, nil
	}
	resp, err := adm.ListPartitionReassignments(ctx, set)
	if err != nil {
		return nil, fmt.Errorf("list reassignments: %w", err)
	}
	for _, r := range resp.Sorted() {
		rows = append(rows, pendingRow{r.Topic, r.Partition, r.Replicas, r.AddingReplicas, r.RemovingReplicas})
	}
	return rows, nil
}

func listReassignments(ctx context.Context, adm *kadm.Client, cf *clientFlags, topic string, stdout io.Writer) error {
	rows, err := pendingMoves(ctx, adm, topic)
	if err != nil {
		return err
	}
	return printOut(stdout, cf.output, rows, func(w io.Writer) error {
		if len(rows) == 0 {
			fmt.Fprintln(w, "no reassignment in progress")
			return nil
		}
		tw := table(w)
		fmt.Fprintln(tw, "TOPIC\tPARTITION\tREPLICAS\tADDING\tREMOVING")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", r.Topic, r.Partition, ids(r.Replicas), ids(r.Adding), ids(r.Removing))
		}
		return tw.Flush()
	})
}

// awaitReassigned polls until no partition of the plan is pending.
func awaitReassigned(ctx context.Context, adm *kadm.Client, plan reassignPlan) error {
	want := map[string]bool{}
	for _, p := range plan.Partitions {
		want[fmt.Sprintf("%s-%d", p.Topic, p.Partition)] = true
	}
	for {
		rows, err := pendingMoves(ctx, adm, "")
		if err != nil {
			return err
		}
		left := 0
		for _, r := range rows {
			if want[fmt.Sprintf("%s-%d", r.Topic, r.Partition)] {
				left++
			}
		}
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d reassignment(s) still in progress (see sluice topics reassign --list)", left)
		case <-time.After(200 * time.Millisecond): // polling the pending list, bounded by the context
		}
	}
}
