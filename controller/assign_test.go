package controller

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/sluice/sluice/metadata"
)

// imageOf builds an image with brokers id→rack (all unfenced except those
// in fenced) and the given records after.
func imageOf(t *testing.T, racks map[int32]string, fenced []int32, recs ...metadata.Record) *metadata.Image {
	t.Helper()
	var all []metadata.Record
	for _, id := range slices.Sorted(maps.Keys(racks)) {
		all = append(all, metadata.RegisterBroker{BrokerID: id, BrokerEpoch: 1, Rack: racks[id], Fenced: slices.Contains(fenced, id)})
	}
	im, err := metadata.Empty.Apply(append(all, recs...))
	if err != nil {
		t.Fatal(err)
	}
	return im
}

func TestAssign(t *testing.T) {
	f := func(racks map[int32]string, fenced []int32, partitions int32, rf int16, check func([][]int32) string) {
		t.Helper()
		got, err := assign(imageOf(t, racks, fenced), partitions, rf)
		if err != nil {
			t.Fatal(err)
		}
		for p, replicas := range got {
			if len(replicas) != int(rf) {
				t.Fatalf("partition %d replicas %v", p, replicas)
			}
			seen := map[int32]bool{}
			for _, r := range replicas {
				if seen[r] || slices.Contains(fenced, r) {
					t.Fatalf("partition %d replicas %v (fenced %v)", p, replicas, fenced)
				}
				seen[r] = true
			}
		}
		if msg := check(got); msg != "" {
			t.Fatalf("%s: %v", msg, got)
		}
	}
	leadersEven := func(n int) func([][]int32) string {
		return func(a [][]int32) string {
			m := map[int32]int{}
			for _, r := range a {
				m[r[0]]++
			}
			for _, c := range m {
				if c != n {
					return fmt.Sprintf("leaders %v", m)
				}
			}
			return ""
		}
	}
	distinctRacks := func(racks map[int32]string, want int) func([][]int32) string {
		return func(a [][]int32) string {
			for _, r := range a {
				used := map[string]bool{}
				for _, b := range r {
					used[racks[b]] = true
				}
				if len(used) != want {
					return fmt.Sprintf("replicas %v on %d racks", r, len(used))
				}
			}
			return ""
		}
	}
	three := map[int32]string{1: "", 2: "", 3: ""}
	f(three, nil, 12, 3, leadersEven(4))
	f(three, nil, 6, 1, leadersEven(2))
	f(map[int32]string{1: "", 2: "", 3: "", 4: ""}, []int32{4}, 9, 2, leadersEven(3))
	sixRacks := map[int32]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}
	f(sixRacks, nil, 12, 3, distinctRacks(sixRacks, 3))
	f(sixRacks, nil, 12, 2, distinctRacks(sixRacks, 2))
	f(sixRacks, nil, 12, 3, leadersEven(2))
	twoRacks := map[int32]string{1: "a", 2: "a", 3: "b"}
	f(twoRacks, nil, 6, 3, distinctRacks(twoRacks, 2))

	if _, err := assign(imageOf(t, three, []int32{3}), 1, 3); !errors.Is(err, ErrInvalidReplication) {
		t.Fatalf("RF 3 on two live brokers: %v", err)
	}
}

func TestElectOnFence(t *testing.T) {
	id := metadata.UUID{1}
	part := func(replicas, isr []int32, leader int32) metadata.Record {
		return metadata.Partition{TopicID: id, Replicas: replicas, ISR: isr, Leader: leader}
	}
	f := func(fenced []int32, p metadata.Record, lost int32, unclean bool, want []metadata.Record) {
		t.Helper()
		im := imageOf(t, map[int32]string{1: "", 2: "", 3: ""}, fenced, metadata.Topic{Name: "t", ID: id}, p)
		got := electOnFence(im, lost, func(string) bool { return unclean }, false)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v\nwant %+v", got, want)
		}
		if _, err := im.Apply(append([]metadata.Record{metadata.FenceBroker{BrokerID: lost, BrokerEpoch: 1}}, got...)); err != nil {
			t.Fatalf("changes do not apply: %v", err)
		}
	}
	pc := func(leader int32, isr []int32) []metadata.Record {
		return []metadata.Record{metadata.PartitionChange{TopicID: id, Leader: leader, ISR: isr}}
	}
	// The leader goes: the next ISR replica in replica order leads.
	f(nil, part([]int32{1, 2, 3}, []int32{1, 2, 3}, 1), 1, false, pc(2, []int32{2, 3}))
	// Replica order, not ISR order, picks the leader; fenced ones skipped.
	f([]int32{3}, part([]int32{1, 3, 2}, []int32{1, 3, 2}, 1), 1, false, pc(2, []int32{3, 2}))
	// A follower goes: it leaves the ISR, the leader stays.
	f(nil, part([]int32{1, 2, 3}, []int32{1, 2, 3}, 1), 3, false, pc(metadata.NoLeaderChange, []int32{1, 2}))
	// The last ISR member goes: no leader, the ISR keeps it.
	f(nil, part([]int32{1, 2}, []int32{1}, 1), 1, false, pc(metadata.NoLeader, nil))
	// … unless unclean election is on: a live replica leads alone.
	f(nil, part([]int32{1, 2}, []int32{1}, 1), 1, true, pc(2, []int32{2}))
	// Not a replica: nothing.
	f(nil, part([]int32{1, 2}, []int32{1, 2}, 1), 3, false, nil)
}
