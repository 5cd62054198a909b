package metadata

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

var (
	idA = UUID{1}
	idB = UUID{2}
)

func sampleRecords() []Record {
	return []Record{
		RegisterBroker{BrokerID: 0, Incarnation: UUID{9}, BrokerEpoch: 1, Rack: "r1", Fenced: true,
			Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092}}},
		RegisterBroker{BrokerID: 1, Incarnation: UUID{8}, BrokerEpoch: 2, Fenced: true},
		UnfenceBroker{BrokerID: 0, BrokerEpoch: 1},
		Topic{Name: "a", ID: idA},
		Partition{TopicID: idA, Partition: 0, Replicas: []int32{0, 1}, ISR: []int32{0, 1}, Leader: 0},
		Partition{TopicID: idA, Partition: 1, Replicas: []int32{1, 0}, ISR: []int32{1}, Leader: 1},
		PartitionChange{TopicID: idA, Partition: 0, Leader: 1, ISR: []int32{1}},
		PartitionChange{TopicID: idA, Partition: 1, Leader: NoLeader, ISR: []int32{}, Replicas: nil},
		PartitionChange{TopicID: idA, Partition: 1, Leader: NoLeaderChange, EligibleLeaderReplicas: []int32{1}, LastKnownElr: []int32{0}},
		Partition{TopicID: idA, Partition: 2, Replicas: []int32{1, 0, 2}, ISR: []int32{1, 0}, Leader: 1,
			Adding: []int32{2}, Removing: []int32{0}},
		PartitionChange{TopicID: idA, Partition: 2, Leader: NoLeaderChange, Adding: []int32{2}, Removing: []int32{}},
		Config{ResourceType: ResourceTopic, ResourceName: "a", Key: "retention.ms", Value: "1000"},
		Config{ResourceType: ResourceBroker, ResourceName: "", Key: "x", Delete: true},
		ProducerIdsBlock{BrokerID: 0, BrokerEpoch: 1, FirstID: 0, Size: 1000},
		ProducerIdsBlock{BrokerID: 1, BrokerEpoch: 2, FirstID: 1000, Size: 1000},
		FenceBroker{BrokerID: 1, BrokerEpoch: 2},
		AccessControlEntry{ID: UUID{1}, ResourceType: 2, ResourceName: "a", PatternType: 3,
			Principal: "User:alice", Host: "*", Operation: 3, Permission: 3},
		AccessControlEntry{ID: UUID{2}, ResourceType: 4, ResourceName: "kafka-cluster", PatternType: 3,
			Principal: "User:bob", Host: "10.0.0.1", Operation: 2, Permission: 2},
		RemoveAccessControlEntry{ID: UUID{2}},
		UserScramCredential{Name: "alice", Mechanism: 2, Salt: []byte("s1"), StoredKey: []byte("k1"),
			ServerKey: []byte("v1"), Iterations: 4096},
		UserScramCredential{Name: "bob", Mechanism: 1, Salt: []byte("s2"), StoredKey: []byte("k2"),
			ServerKey: []byte("v2"), Iterations: 8192},
		RemoveUserScramCredential{Name: "bob", Mechanism: 1},
		RemoveTopic{TopicID: idB},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, rec := range sampleRecords() {
		b := AppendRecord(nil, rec)
		got, rest, err := DecodeRecord(b)
		if err != nil || len(rest) != 0 {
			t.Fatalf("%T: err %v, %d left", rec, err, len(rest))
		}
		if !reflect.DeepEqual(got, rec) {
			t.Fatalf("round trip:\n got %#v\nwant %#v", got, rec)
		}
		if b2 := AppendRecord(nil, got); !bytes.Equal(b, b2) {
			t.Fatalf("%T re-encodes differently", rec)
		}
	}
	batch := EncodeBatch(sampleRecords())
	got, err := DecodeBatch(batch)
	if err != nil || !reflect.DeepEqual(got, sampleRecords()) {
		t.Fatalf("batch round trip: %v", err)
	}
}

func TestDecodeCorrupt(t *testing.T) {
	good := AppendRecord(nil, Partition{TopicID: idA, Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1})
	f := func(name string, b []byte) {
		t.Helper()
		if _, _, err := DecodeRecord(b); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: err %v, want ErrCorrupt", name, err)
		}
	}
	f("empty", nil)
	f("short header", good[:5])
	f("cut fields", good[:len(good)-1])
	f("unknown type", append([]byte{200}, good[1:]...))
	f("unknown version", append([]byte{good[0], 7}, good[2:]...))
	long := bytes.Clone(good)
	long[5]++ // length one more than the fields: the frame runs past the end
	f("length past end", long)
	extra := append(bytes.Clone(good), 0)
	extra[5]++ // a byte after the last field inside the frame
	f("trailing field bytes", extra)
	huge := bytes.Clone(good)
	copy(huge[6+16+4:], []byte{0x7f, 0xff, 0xff, 0xff}) // replica count
	f("count past end", huge)
	neg := bytes.Clone(good)
	copy(neg[6+16+4:], []byte{0xff, 0xff, 0xff, 0xfe})
	f("negative count", neg)
	fb := AppendRecord(nil, RegisterBroker{Fenced: true})
	fb[len(fb)-1] = 2
	f("bool 2", fb)
	// Version 1 with empty adding and removing lists: version 0's record,
	// not canonical.
	v1 := append([]byte{good[0], 1}, good[2:]...)
	v1 = append(v1, 0, 0, 0, 0, 0, 0, 0, 0)
	v1[5] += 8
	f("partition v1 without a reassignment", v1)
	c1 := AppendRecord(nil, PartitionChange{TopicID: idA, Leader: NoLeaderChange})
	c1 = append([]byte{c1[0], 1}, c1[2:]...)
	c1 = append(c1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	c1[5] += 8
	f("partition change v1 keeping both", c1)
}

func TestApply(t *testing.T) {
	base, err := Empty.Apply([]Record{
		RegisterBroker{BrokerID: 0, BrokerEpoch: 1},
		RegisterBroker{BrokerID: 1, BrokerEpoch: 1},
		Topic{Name: "a", ID: idA},
		Partition{TopicID: idA, Partition: 0, Replicas: []int32{0, 1}, ISR: []int32{0, 1}, Leader: 0},
	})
	if err != nil {
		t.Fatal(err)
	}
	f := func(name string, recs []Record, wantErr bool, check func(im *Image) string) {
		t.Helper()
		before := base.AppendSnapshot(nil)
		im, err := base.Apply(recs)
		if !bytes.Equal(before, base.AppendSnapshot(nil)) {
			t.Fatalf("%s: Apply changed the old image", name)
		}
		if wantErr {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("%s: err %v, want ErrInvalid", name, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if msg := check(im); msg != "" {
			t.Fatalf("%s: %s", name, msg)
		}
	}
	part := func(im *Image, name string, p int) Partition {
		tp, ok := im.Topic(name)
		if !ok {
			return Partition{Leader: -100}
		}
		return tp.Partitions[p]
	}
	none := func(*Image) string { return "" }

	f("leader change bumps both epochs",
		[]Record{PartitionChange{TopicID: idA, Partition: 0, Leader: 1, ISR: []int32{1}}}, false,
		func(im *Image) string {
			p := part(im, "a", 0)
			if p.Leader != 1 || p.LeaderEpoch != 1 || p.PartitionEpoch != 1 || !reflect.DeepEqual(p.ISR, []int32{1}) {
				return fmt.Sprintf("%+v", p)
			}
			return ""
		})
	f("ISR shrink keeps the leader epoch",
		[]Record{PartitionChange{TopicID: idA, Partition: 0, Leader: NoLeaderChange, ISR: []int32{0}}}, false,
		func(im *Image) string {
			if p := part(im, "a", 0); p.Leader != 0 || p.LeaderEpoch != 0 || p.PartitionEpoch != 1 {
				return fmt.Sprintf("%+v", p)
			}
			return ""
		})
	f("reassignment begins and completes", []Record{
		PartitionChange{TopicID: idA, Partition: 0, Leader: NoLeaderChange, Replicas: []int32{0, 1, 2},
			Adding: []int32{2}, Removing: []int32{0}},
		PartitionChange{TopicID: idA, Partition: 0, Leader: NoLeaderChange, ISR: []int32{0, 1, 2}},
	}, false, func(im *Image) string {
		p := part(im, "a", 0)
		if !p.Reassigning() || !reflect.DeepEqual(p.Target(), []int32{1, 2}) || !reflect.DeepEqual(p.Original(), []int32{0, 1}) {
			return fmt.Sprintf("%+v", p)
		}
		next, err := im.Apply([]Record{PartitionChange{TopicID: idA, Partition: 0, Leader: 1, Replicas: []int32{1, 2},
			ISR: []int32{1, 2}, Adding: []int32{}, Removing: []int32{}}})
		if err != nil {
			return err.Error()
		}
		if p := part(next, "a", 0); p.Reassigning() || p.Leader != 1 || p.LeaderEpoch != 1 || !reflect.DeepEqual(p.Replicas, []int32{1, 2}) {
			return fmt.Sprintf("completed: %+v", p)
		}
		return ""
	})
	f("adding outside replicas", []Record{PartitionChange{TopicID: idA, Partition: 0, Leader: NoLeaderChange, Adding: []int32{2}}}, true, none)
	f("adding and removing overlap", []Record{PartitionChange{TopicID: idA, Partition: 0, Leader: NoLeaderChange,
		Adding: []int32{1}, Removing: []int32{1}}}, true, none)
	f("removing every replica", []Record{PartitionChange{TopicID: idA, Partition: 0, Leader: NoLeaderChange,
		Removing: []int32{0, 1}}}, true, none)
	f("fence and unfence", []Record{FenceBroker{BrokerID: 1, BrokerEpoch: 1}}, false, func(im *Image) string {
		if b, _ := im.Broker(1); !b.Fenced {
			return "not fenced"
		}
		return ""
	})
	f("remove topic drops its configs", []Record{
		Config{ResourceType: ResourceTopic, ResourceName: "a", Key: "k", Value: "v"},
		RemoveTopic{TopicID: idA},
	}, false, func(im *Image) string {
		if _, ok := im.Topic("a"); ok || len(im.Configs(ResourceTopic, "a")) != 0 {
			return "topic or configs left"
		}
		return ""
	})
	f("config set then delete", []Record{
		Config{ResourceType: ResourceBroker, ResourceName: "0", Key: "k", Value: "v"},
		Config{ResourceType: ResourceBroker, ResourceName: "0", Key: "j", Value: "w"},
		Config{ResourceType: ResourceBroker, ResourceName: "0", Key: "k", Delete: true},
	}, false, func(im *Image) string {
		if m := im.Configs(ResourceBroker, "0"); !reflect.DeepEqual(m, map[string]string{"j": "w"}) {
			return fmt.Sprint(m)
		}
		return ""
	})
	f("producer id blocks in order", []Record{
		ProducerIdsBlock{BrokerID: 0, FirstID: 0, Size: 1000},
		ProducerIdsBlock{BrokerID: 1, FirstID: 1000, Size: 1000},
	}, false, func(im *Image) string {
		if im.NextProducerID() != 2000 {
			return fmt.Sprint(im.NextProducerID())
		}
		return ""
	})
	f("overlapping producer ids", []Record{ProducerIdsBlock{FirstID: 0, Size: 1000}, ProducerIdsBlock{FirstID: 500, Size: 10}}, true, none)
	f("partition of unknown topic", []Record{Partition{TopicID: idB, Replicas: []int32{0}}}, true, none)
	f("partition gap", []Record{Partition{TopicID: idA, Partition: 2, Replicas: []int32{0}}}, true, none)
	f("duplicate topic name", []Record{Topic{Name: "a", ID: idB}}, true, none)
	f("duplicate topic id", []Record{Topic{Name: "b", ID: idA}}, true, none)
	f("leader outside ISR", []Record{PartitionChange{TopicID: idA, Partition: 0, Leader: 1, ISR: []int32{0}}}, true, none)
	f("ISR outside replicas", []Record{PartitionChange{TopicID: idA, Partition: 0, Leader: NoLeaderChange, ISR: []int32{0, 5}}}, true, none)
	f("fence at a stale epoch", []Record{FenceBroker{BrokerID: 1, BrokerEpoch: 0}}, true, none)
	f("re-register at an old epoch", []Record{RegisterBroker{BrokerID: 1, BrokerEpoch: 1}}, true, none)
	f("config of unknown topic", []Record{Config{ResourceType: ResourceTopic, ResourceName: "zz", Key: "k"}}, true, none)
	f("batch refused whole", []Record{Topic{Name: "b", ID: idB}, RemoveTopic{TopicID: UUID{7}}}, true, none)
}

func TestSnapshotRoundTrip(t *testing.T) {
	recs := sampleRecords()
	recs = recs[:len(recs)-1] // RemoveTopic of an unknown topic does not apply
	im, err := Empty.Apply(recs)
	if err != nil {
		t.Fatal(err)
	}
	snap := im.AppendSnapshot(nil)
	got, err := DecodeSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, im) {
		t.Fatalf("snapshot round trip differs:\n got %+v\nwant %+v", got, im)
	}
	if !bytes.Equal(got.AppendSnapshot(nil), snap) {
		t.Fatal("snapshot bytes differ after a round trip")
	}
	if ti, _ := got.Topic("a"); !ti.Partitions[2].Reassigning() {
		t.Fatalf("the pending reassignment did not survive the snapshot: %+v", ti.Partitions[2])
	}
	if _, err := DecodeSnapshot(snap[:len(snap)-1]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("torn snapshot: %v", err)
	}
	if _, err := DecodeSnapshot([]byte("XXXX")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("bad magic: %v", err)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	for _, rec := range sampleRecords() {
		f.Add(AppendRecord(nil, rec))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, rest, err := DecodeRecord(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error without ErrCorrupt: %v", err)
			}
			return
		}
		frame := b[:len(b)-len(rest)]
		if got := AppendRecord(nil, rec); !bytes.Equal(got, frame) {
			t.Fatalf("re-encode differs:\n got %x\nwant %x", got, frame)
		}
	})
}

func FuzzDecodeSnapshot(f *testing.F) {
	recs := sampleRecords()
	im, _ := Empty.Apply(recs[:len(recs)-1])
	f.Add(im.AppendSnapshot(nil))
	f.Add(Empty.AppendSnapshot(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		im, err := DecodeSnapshot(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error without ErrCorrupt: %v", err)
			}
			return
		}
		again, err := DecodeSnapshot(im.AppendSnapshot(nil))
		if err != nil || !reflect.DeepEqual(again, im) {
			t.Fatalf("re-decoded snapshot differs: %v", err)
		}
	})
}

// FuzzApply applies a fuzzed batch to an image: the old image never
// changes (copy-on-write), and a new image survives a snapshot round trip.
func FuzzApply(f *testing.F) {
	recs := sampleRecords()
	base, err := Empty.Apply(recs[:len(recs)-1])
	if err != nil {
		f.Fatal(err)
	}
	baseSnap := base.AppendSnapshot(nil)
	f.Add(EncodeBatch([]Record{PartitionChange{TopicID: idA, Partition: 1, Leader: 1, ISR: []int32{1}}}))
	f.Add(EncodeBatch([]Record{RemoveTopic{TopicID: idA}, Topic{Name: "a", ID: idB}}))
	f.Add(EncodeBatch([]Record{UnfenceBroker{BrokerID: 1, BrokerEpoch: 2}, ProducerIdsBlock{FirstID: 5000, Size: 1}}))
	f.Add(EncodeBatch([]Record{UnregisterBroker{BrokerID: 1, BrokerEpoch: 2}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		batch, err := DecodeBatch(b)
		if err != nil {
			return
		}
		next, err := base.Apply(batch)
		if !bytes.Equal(base.AppendSnapshot(nil), baseSnap) {
			t.Fatal("Apply changed the old image")
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error without ErrInvalid: %v", err)
			}
			return
		}
		again, err := DecodeSnapshot(next.AppendSnapshot(nil))
		if err != nil || !reflect.DeepEqual(again, next) {
			t.Fatalf("snapshot round trip: %v", err)
		}
		for id := int32(0); id < 3; id++ {
			LocalChangesFor(base, next, id)
		}
	})
}

// UnregisterBroker removes a registration at its epoch only; the old image
// keeps it, the record round-trips, and the id can register again.
func TestUnregisterBroker(t *testing.T) {
	base, err := Empty.Apply([]Record{
		RegisterBroker{BrokerID: 4, Incarnation: UUID{4}, BrokerEpoch: 3, Fenced: true},
		RegisterBroker{BrokerID: 5, Incarnation: UUID{5}, BrokerEpoch: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := base.Apply([]Record{UnregisterBroker{BrokerID: 4, BrokerEpoch: 2}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unregister at another epoch: %v", err)
	}
	if _, err := base.Apply([]Record{UnregisterBroker{BrokerID: 9, BrokerEpoch: 1}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unregister an unknown broker: %v", err)
	}
	rec := UnregisterBroker{BrokerID: 4, BrokerEpoch: 3}
	batch, err := DecodeBatch(EncodeBatch([]Record{rec}))
	if err != nil || len(batch) != 1 || batch[0] != Record(rec) {
		t.Fatalf("round trip: %+v, %v", batch, err)
	}
	next, err := base.Apply(batch)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := next.Broker(4); ok {
		t.Fatal("broker 4 still registered")
	}
	if _, ok := base.Broker(4); !ok {
		t.Fatal("Apply changed the old image")
	}
	if _, ok := next.Broker(5); !ok {
		t.Fatal("broker 5 lost")
	}
	if _, err := next.Apply([]Record{RegisterBroker{BrokerID: 4, Incarnation: UUID{6}, BrokerEpoch: 1}}); err != nil {
		t.Fatalf("register again: %v", err)
	}
}
