package controller

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/sluice/sluice/metadata"
)

// reassignImage is brokers 1-4 (4 fenced) and topic "t" of one partition
// with replicas, ISR and leader as given.
func reassignImage(t *testing.T, replicas, isr []int32, leader int32) *metadata.Image {
	t.Helper()
	recs := []metadata.Record{}
	for id := int32(1); id <= 4; id++ {
		recs = append(recs, metadata.RegisterBroker{BrokerID: id, BrokerEpoch: 1, Fenced: id == 4})
	}
	recs = append(recs, metadata.Topic{Name: "t", ID: metadata.UUID{1}},
		metadata.Partition{TopicID: metadata.UUID{1}, Replicas: replicas, ISR: isr, Leader: leader})
	im, err := metadata.Empty.Apply(recs)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

// partitionString is "replicas/isr/leader/adding/removing".
func partitionString(p metadata.Partition) string {
	return fmt.Sprintf("%v/%v/%d/%v/%v", p.Replicas, p.ISR, p.Leader, p.Adding, p.Removing)
}

func TestReassignDecisions(t *testing.T) {
	// f applies a reassignment to the image of (replicas, isr, leader),
	// then, when isrAfter is not nil, the leader's ISR change to isrAfter,
	// and compares the partition with want.
	f := func(replicas, isr []int32, leader int32, target []int32, isrAfter []int32, want string, wantErr error) {
		t.Helper()
		im := reassignImage(t, replicas, isr, leader)
		rec, err := reassignRecord(im, Reassignment{Topic: "t", Replicas: target})
		if !errors.Is(err, wantErr) {
			t.Fatalf("reassign %v -> %v: err %v, want %v", replicas, target, err, wantErr)
		}
		if err != nil {
			return
		}
		if im, err = im.Apply([]metadata.Record{rec}); err != nil {
			t.Fatalf("reassign %v -> %v: %v", replicas, target, err)
		}
		ti, _ := im.Topic("t")
		p := ti.Partitions[0]
		if isrAfter != nil {
			rec, changed := change(ti.ID, p, p.Leader, isrAfter)
			if done, ok := completeOnISRChange(im, ti.ID, p, isrAfter); ok {
				rec, changed = done, true
			}
			if changed {
				if im, err = im.Apply([]metadata.Record{rec}); err != nil {
					t.Fatalf("ISR %v: %v", isrAfter, err)
				}
			}
			ti, _ = im.Topic("t")
			p = ti.Partitions[0]
		}
		if got := partitionString(p); got != want {
			t.Fatalf("%v -> %v (ISR then %v): got %s, want %s", replicas, target, isrAfter, got, want)
		}
	}
	none := error(nil)
	// Pending: the union, target first; adding out of the ISR.
	f([]int32{1}, []int32{1}, 1, []int32{2}, nil, "[2 1]/[1]/1/[2]/[1]", none)
	f([]int32{1, 2}, []int32{1, 2}, 1, []int32{2, 3}, nil, "[2 3 1]/[1 2]/1/[3]/[1]", none)
	// The adding replica joins the ISR: completed; the removed leader gives
	// way to the first target replica in the ISR.
	f([]int32{1}, []int32{1}, 1, []int32{2}, []int32{1, 2}, "[2]/[2]/2/[]/[]", none)
	f([]int32{1, 2}, []int32{1, 2}, 1, []int32{2, 3}, []int32{1, 2, 3}, "[2 3]/[2 3]/2/[]/[]", none)
	// Not every target replica in the ISR yet: still pending.
	f([]int32{1, 2}, []int32{1}, 1, []int32{2, 3}, []int32{1, 3}, "[2 3 1]/[1 3]/1/[3]/[1]", none)
	// A leader kept by the target stays leader.
	f([]int32{1, 2}, []int32{1, 2}, 2, []int32{3, 2}, []int32{1, 2, 3}, "[3 2]/[2 3]/2/[]/[]", none)
	// Already in the ISR (a reorder or a shrink): completed at once.
	f([]int32{1, 2, 3}, []int32{1, 2, 3}, 1, []int32{3, 2, 1}, nil, "[3 2 1]/[1 2 3]/1/[]/[]", none)
	f([]int32{1, 2, 3}, []int32{1, 2, 3}, 1, []int32{2, 3}, nil, "[2 3]/[2 3]/2/[]/[]", none)
	// A fenced target replica is not elected; a live one is.
	f([]int32{1, 4, 2}, []int32{1, 4, 2}, 1, []int32{4, 2}, nil, "[4 2]/[4 2]/2/[]/[]", none)
	// Refusals.
	f([]int32{1}, []int32{1}, 1, []int32{}, nil, "", ErrInvalidReplicaAssignment)
	f([]int32{1}, []int32{1}, 1, []int32{2, 2}, nil, "", ErrInvalidReplicaAssignment)
	f([]int32{1}, []int32{1}, 1, []int32{9}, nil, "", ErrInvalidReplicaAssignment)
	f([]int32{1}, []int32{1}, 1, nil, nil, "", ErrNoReassignmentInProgress)
}

func TestReassignCancelAndReplace(t *testing.T) {
	im := reassignImage(t, []int32{1, 2}, []int32{1, 2}, 1)
	step := func(r Reassignment, wantErr error, want string) {
		t.Helper()
		r.Topic = "t"
		rec, err := reassignRecord(im, r)
		if !errors.Is(err, wantErr) {
			t.Fatalf("%+v: err %v, want %v", r, err, wantErr)
		}
		if err != nil {
			return
		}
		if im, err = im.Apply([]metadata.Record{rec}); err != nil {
			t.Fatal(err)
		}
		ti, _ := im.Topic("t")
		if got := partitionString(ti.Partitions[0]); got != want {
			t.Fatalf("%+v: got %s, want %s", r, got, want)
		}
	}
	step(Reassignment{Replicas: []int32{2, 3}}, nil, "[2 3 1]/[1 2]/1/[3]/[1]")
	// A new target while one is pending starts from the original replicas.
	step(Reassignment{Replicas: []int32{3, 1}}, nil, "[3 1 2]/[1 2]/1/[3]/[2]")
	// Cancel: back to the original replicas, ISR kept.
	step(Reassignment{}, nil, "[1 2]/[1 2]/1/[]/[]")
	step(Reassignment{}, ErrNoReassignmentInProgress, "")
	step(Reassignment{Partition: 1, Replicas: []int32{1}}, ErrUnknownTopic, "")
}

func TestAlterPartitionReassignmentsCompletes(t *testing.T) {
	ctl, epochs := openSingle(t, 3)
	id, err := ctl.CreateTopic("t", 1, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	tp, _ := ctl.Image().Topic("t")
	from := tp.Partitions[0].Replicas[0]
	to := from%3 + 1
	errs, err := ctl.AlterPartitionReassignments([]Reassignment{
		{Topic: "t", Replicas: []int32{to}},
		{Topic: "nope", Replicas: []int32{to}},
		{Topic: "t", Partition: 0, Replicas: []int32{to, to}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || !errors.Is(errs[1], ErrUnknownTopic) || !errors.Is(errs[2], ErrInvalidReplicaAssignment) {
		t.Fatalf("errors %v", errs)
	}
	pending := PendingReassignments(ctl.Image())
	if len(pending) != 1 || !slices.Equal(pending[0].Adding, []int32{to}) || !slices.Equal(pending[0].Removing, []int32{from}) {
		t.Fatalf("pending %+v", pending)
	}
	tp, _ = ctl.Image().Topic("t")
	p := tp.Partitions[0]
	// The leader reports the new replica caught up: the reassignment
	// completes in the same change, and the new replica leads.
	got, err := ctl.AlterPartition(from, epochs[from], id, 0, p.LeaderEpoch, p.PartitionEpoch, []int32{from, to})
	if err != nil {
		t.Fatal(err)
	}
	if got.Leader != to || got.LeaderEpoch != p.LeaderEpoch+1 || !slices.Equal(got.Replicas, []int32{to}) || got.Reassigning() {
		t.Fatalf("after the expand: %+v", got)
	}
	if n := len(PendingReassignments(ctl.Image())); n != 0 {
		t.Fatalf("%d still pending", n)
	}
}

func TestCreateTopicAssigned(t *testing.T) {
	ctl, _ := openSingle(t, 3)
	if err := ctl.FenceBroker(3); err != nil {
		t.Fatal(err)
	}
	f := func(name string, assignment [][]int32, want error) {
		t.Helper()
		if _, err := ctl.CreateTopicAssigned(name, assignment, map[string]string{"retention.ms": "1000"}); !errors.Is(err, want) {
			t.Fatalf("%s %v: %v, want %v", name, assignment, err, want)
		}
	}
	f("a", [][]int32{{3, 1}, {2, 3}, {1}}, ErrInvalidReplicaAssignment) // lengths differ
	f("a", [][]int32{{1, 9}}, ErrInvalidReplicaAssignment)              // unregistered
	f("a", [][]int32{{1, 1}}, ErrInvalidReplicaAssignment)              // twice
	f("a", [][]int32{{3}}, ErrInvalidReplicaAssignment)                 // all fenced
	f("a", [][]int32{{3, 1}, {2, 3}}, nil)
	f("a", [][]int32{{1}}, ErrTopicExists)
	ti, _ := ctl.Image().Topic("a")
	if got := fmt.Sprintf("%s %s", partitionString(ti.Partitions[0]), partitionString(ti.Partitions[1])); got != "[3 1]/[1]/1/[]/[] [2 3]/[2]/2/[]/[]" {
		t.Fatalf("placed %s", got)
	}
	if c := ctl.Image().Configs(metadata.ResourceTopic, "a"); c["retention.ms"] != "1000" {
		t.Fatalf("configs %v", c)
	}
}
