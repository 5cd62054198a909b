package main

// sluice cluster balance: plan partition moves so that every live broker
// holds an even share of the replicas, weighted by their size on disk, and
// of the preferred leaders (first replicas); print the plan, write it as
// kafka-reassign-partitions JSON with --save-plan, apply it with
// --execute (as `sluice topics reassign --plan` would).
//
// The planner is greedy and deterministic. Loads are Σ (size + 1) over a
// broker's replicas, the size being the largest replica's in bytes
// (DescribeLogDirs), so bytes decide and empty partitions count one each.
//
//  1. While some replica on a more loaded broker a can move to a less
//     loaded broker b (not already a replica) with weight < load(a) −
//     load(b), move the one that brings the two loads closest, trying the
//     most loaded a and least loaded b first. Each move lowers Σ load², so
//     this ends.
//  2. While a broker leads (first replica) two or more partitions more
//     than another that is among one of its partitions' replicas, swap the
//     two in that partition's list: leadership moves, no data does.
//
// Internal topics (__consumer_offsets, __transaction_state) and partitions
// with a replica on a broker that Metadata does not list (fenced, down)
// are left where they are.

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
)

// balancePartition is one partition as the planner sees it.
type balancePartition struct {
	Topic     string
	Partition int32
	Replicas  []int32
	Size      int64
}

func (p balancePartition) weight() int64 { return p.Size + 1 }

// balanceMove is one partition whose replicas the plan changes.
type balanceMove struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Size      int64   `json:"size"`
	From      []int32 `json:"from"`
	To        []int32 `json:"to"`
}

// brokerShare is one broker's share before and after the plan.
type brokerShare struct {
	Broker         int32 `json:"broker"`
	ReplicasBefore int   `json:"replicas_before"`
	ReplicasAfter  int   `json:"replicas_after"`
	BytesBefore    int64 `json:"bytes_before"`
	BytesAfter     int64 `json:"bytes_after"`
	LeadersBefore  int   `json:"leaders_before"`
	LeadersAfter   int   `json:"leaders_after"`
}

// balanceResult is what `cluster balance` prints.
type balanceResult struct {
	Moves    []balanceMove `json:"moves"`
	Brokers  []brokerShare `json:"brokers"`
	Executed []reassignRow `json:"executed,omitempty"`
}

// planBalance returns the moves that even out brokers' shares of parts.
func planBalance(brokers []int32, parts []balancePartition) []balanceMove {
	plan := make([]balancePartition, len(parts))
	for i, p := range parts {
		plan[i] = p
		plan[i].Replicas = slices.Clone(p.Replicas)
	}
	movable := func(p balancePartition) bool {
		for _, r := range p.Replicas {
			if !slices.Contains(brokers, r) {
				return false
			}
		}
		return true
	}
	for moveReplica(brokers, plan, movable) {
	}
	for moveLeader(brokers, plan, movable) {
	}
	var moves []balanceMove
	for i, p := range parts {
		if !slices.Equal(p.Replicas, plan[i].Replicas) {
			moves = append(moves, balanceMove{p.Topic, p.Partition, p.Size, p.Replicas, plan[i].Replicas})
		}
	}
	return moves
}

// byLoad returns brokers ordered by load, ascending (ties by id).
func byLoad(brokers []int32, load map[int32]int64) []int32 {
	out := slices.Clone(brokers)
	slices.SortFunc(out, func(a, b int32) int { return cmp.Or(cmp.Compare(load[a], load[b]), cmp.Compare(a, b)) })
	return out
}

// moveReplica makes the best replica move of step 1; false if none helps.
func moveReplica(brokers []int32, plan []balancePartition, movable func(balancePartition) bool) bool {
	load := map[int32]int64{}
	for _, p := range plan {
		for _, r := range p.Replicas {
			load[r] += p.weight()
		}
	}
	order := byLoad(brokers, load)
	for i := len(order) - 1; i > 0; i-- {
		hi := order[i]
		for _, lo := range order[:i] {
			gap := load[hi] - load[lo]
			best, bestScore := -1, int64(0)
			for k, p := range plan {
				w := p.weight()
				if w >= gap || !movable(p) || !slices.Contains(p.Replicas, hi) || slices.Contains(p.Replicas, lo) {
					continue
				}
				if score := abs(gap - 2*w); best < 0 || score < bestScore {
					best, bestScore = k, score
				}
			}
			if best >= 0 {
				rs := plan[best].Replicas
				rs[slices.Index(rs, hi)] = lo
				return true
			}
		}
	}
	return false
}

// moveLeader makes one preferred-leader swap of step 2; false if none.
func moveLeader(brokers []int32, plan []balancePartition, movable func(balancePartition) bool) bool {
	leads := map[int32]int64{}
	for _, p := range plan {
		leads[p.Replicas[0]]++
	}
	order := byLoad(brokers, leads)
	for i := len(order) - 1; i > 0; i-- {
		hi := order[i]
		for _, lo := range order[:i] {
			if leads[hi]-leads[lo] < 2 {
				break
			}
			for k, p := range plan {
				if j := slices.Index(p.Replicas, lo); p.Replicas[0] == hi && j > 0 && movable(p) {
					plan[k].Replicas[0], plan[k].Replicas[j] = lo, hi
					return true
				}
			}
		}
	}
	return false
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// shares counts each broker's replicas, bytes and preferred leaders
// before and after moves.
func shares(brokers []int32, parts []balancePartition, moves []balanceMove) []brokerShare {
	after := map[string][]int32{}
	for _, m := range moves {
		after[fmt.Sprintf("%s-%d", m.Topic, m.Partition)] = m.To
	}
	idx := map[int32]*brokerShare{}
	out := make([]brokerShare, len(brokers))
	for i, b := range slices.Sorted(slices.Values(brokers)) {
		out[i].Broker = b
		idx[b] = &out[i]
	}
	for _, p := range parts {
		to, ok := after[fmt.Sprintf("%s-%d", p.Topic, p.Partition)]
		if !ok {
			to = p.Replicas
		}
		for k, r := range p.Replicas {
			if s := idx[r]; s != nil {
				s.ReplicasBefore++
				s.BytesBefore += p.Size
				if k == 0 {
					s.LeadersBefore++
				}
			}
		}
		for k, r := range to {
			if s := idx[r]; s != nil {
				s.ReplicasAfter++
				s.BytesAfter += p.Size
				if k == 0 {
					s.LeadersAfter++
				}
			}
		}
	}
	return out
}

// readBalanceInput reads the live brokers, the partitions of the
// non-internal topics and their sizes.
func readBalanceInput(ctx context.Context, adm *kadm.Client) ([]int32, []balancePartition, error) {
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read metadata: %w", err)
	}
	var brokers []int32
	for _, b := range md.Brokers {
		brokers = append(brokers, b.NodeID)
	}
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot list topics: %w", err)
	}
	dirs, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot describe the log directories: %w", err)
	}
	sizes := map[string]int64{}
	dirs.Each(func(d kadm.DescribedLogDir) {
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			k := fmt.Sprintf("%s-%d", p.Topic, p.Partition)
			sizes[k] = max(sizes[k], p.Size)
		})
	})
	var parts []balancePartition
	for _, t := range topics.Sorted() {
		if t.IsInternal || t.Err != nil {
			continue
		}
		for _, p := range t.Partitions.Sorted() {
			parts = append(parts, balancePartition{t.Topic, p.Partition, slices.Clone(p.Replicas),
				sizes[fmt.Sprintf("%s-%d", t.Topic, p.Partition)]})
		}
	}
	return brokers, parts, nil
}

// clusterBalance plans (and with execute applies) the moves.
func clusterBalance(cf *clientFlags, execute, wait bool, savePlan string, stdout io.Writer) error {
	adm, err := cf.admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), cf.timeout)
	defer cancel()
	brokers, parts, err := readBalanceInput(ctx, adm)
	if err != nil {
		return err
	}
	res := balanceResult{Moves: planBalance(brokers, parts)}
	if res.Moves == nil {
		res.Moves = []balanceMove{}
	}
	res.Brokers = shares(brokers, parts, res.Moves)
	plan := reassignPlan{Version: 1, Partitions: []planPartition{}}
	for _, m := range res.Moves {
		plan.Partitions = append(plan.Partitions, planPartition{Topic: m.Topic, Partition: m.Partition, Replicas: m.To})
	}
	if savePlan != "" {
		b, err := json.Marshal(plan)
		if err != nil {
			return err
		}
		if err := os.WriteFile(savePlan, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("cannot write the plan: %w", err)
		}
	}
	var applyErr error
	if execute && len(plan.Partitions) > 0 {
		res.Executed, applyErr = applyPlan(ctx, adm, plan, false)
		if applyErr == nil && wait {
			applyErr = awaitReassigned(ctx, adm, plan)
		}
	}
	if err := printOut(stdout, cf.output, res, func(w io.Writer) error { return printBalance(w, res, execute) }); err != nil {
		return err
	}
	return applyErr
}

func printBalance(w io.Writer, res balanceResult, execute bool) error {
	if len(res.Moves) == 0 {
		fmt.Fprintln(w, "balanced: no move needed")
	} else {
		tw := table(w)
		fmt.Fprintln(tw, "TOPIC\tPARTITION\tSIZE\tFROM\tTO")
		for _, m := range res.Moves {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", m.Topic, m.Partition, m.Size, ids(m.From), ids(m.To))
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	tw := table(w)
	fmt.Fprintln(tw, "BROKER\tREPLICAS\tBYTES\tLEADERS")
	for _, s := range res.Brokers {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Broker, change(s.ReplicasBefore, s.ReplicasAfter),
			change(s.BytesBefore, s.BytesAfter), change(s.LeadersBefore, s.LeadersAfter))
	}
	tw.Flush()
	switch {
	case len(res.Moves) == 0:
	case !execute:
		fmt.Fprintln(w, "\nplan only: run again with --execute to apply it")
	default:
		fmt.Fprintln(w)
		tw = table(w)
		fmt.Fprintln(tw, "TOPIC\tPARTITION\tREPLICAS\tSTATUS")
		for _, r := range res.Executed {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", r.Topic, r.Partition, ids(r.Replicas), r.Status)
		}
		tw.Flush()
	}
	return nil
}

// change is "a -> b", or "a" when equal.
func change[T int | int64](a, b T) string {
	if a == b {
		return strconv.FormatInt(int64(a), 10)
	}
	return fmt.Sprintf("%d -> %d", a, b)
}
