package metadata

import (
	"fmt"
	"testing"
)

func TestLocalChangesFor(t *testing.T) {
	brokers := []Record{
		RegisterBroker{BrokerID: 1, BrokerEpoch: 1},
		RegisterBroker{BrokerID: 2, BrokerEpoch: 1},
		RegisterBroker{BrokerID: 3, BrokerEpoch: 1},
	}
	base, err := Empty.Apply(append(brokers,
		Topic{Name: "a", ID: idA},
		Partition{TopicID: idA, Partition: 0, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1},
		Partition{TopicID: idA, Partition: 1, Replicas: []int32{2, 3}, ISR: []int32{2, 3}, Leader: 2},
	))
	if err != nil {
		t.Fatal(err)
	}
	// names renders a list as "topic-partition@leader/leaderEpoch".
	names := func(l []LocalPartition) string {
		s := ""
		for _, p := range l {
			s += fmt.Sprintf("%s-%d@%d/%d ", p.Topic, p.Partition.Partition, p.Leader, p.LeaderEpoch)
		}
		return s
	}
	f := func(prev *Image, recs []Record, broker int32, deletes, leaders, followers string) {
		t.Helper()
		next, err := prev.Apply(recs)
		if err != nil {
			t.Fatal(err)
		}
		c := LocalChangesFor(prev, next, broker)
		if got := names(c.Deletes); got != deletes {
			t.Fatalf("deletes %q, want %q", got, deletes)
		}
		if got := names(c.Leaders); got != leaders {
			t.Fatalf("leaders %q, want %q", got, leaders)
		}
		if got := names(c.Followers); got != followers {
			t.Fatalf("followers %q, want %q", got, followers)
		}
	}
	// From nothing: broker 2 leads a-1 and follows a-0.
	f(Empty, base.Records(), 2, "", "a-1@2/0 ", "a-0@1/0 ")
	f(Empty, base.Records(), 3, "", "", "a-1@2/0 ")
	// Leadership moves 1 → 2: 2 becomes leader; 1 is not a replica of a-1.
	move := []Record{PartitionChange{TopicID: idA, Partition: 0, Leader: 2, ISR: []int32{2}}}
	f(base, move, 2, "", "a-0@2/1 ", "")
	f(base, move, 1, "", "", "a-0@2/1 ")
	f(base, move, 3, "", "", "")
	// A reassignment drops broker 1 from a-0.
	f(base, []Record{PartitionChange{TopicID: idA, Partition: 0, Leader: 2, ISR: []int32{2}, Replicas: []int32{2, 3}}}, 1, "a-0@0/0 ", "", "")
	// Topic deleted, one of the same name created: delete the old, make the new.
	f(base, []Record{RemoveTopic{TopicID: idA}, Topic{Name: "a", ID: idB},
		Partition{TopicID: idB, Partition: 0, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}},
		1, "a-0@0/0 ", "a-0@1/0 ", "")
	// An unrelated topic changes nothing here.
	f(base, []Record{Topic{Name: "b", ID: idB}, Partition{TopicID: idB, Replicas: []int32{3}, ISR: []int32{3}, Leader: 3}}, 1, "", "", "")
	// No change, no work.
	if c := LocalChangesFor(base, base, 1); !c.Empty() {
		t.Fatalf("%+v", c)
	}
}
