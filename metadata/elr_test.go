package metadata

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
)

// TestPartitionVersion0Decodes: a Partition and a PartitionChange frame
// written before KIP-966 (version 0, spelled out byte by byte here) decode
// with no ELR, and records without one still encode as version 0.
func TestPartitionVersion0Decodes(t *testing.T) {
	var fields []byte
	fields = append(fields, idA[:]...)
	fields = binary.BigEndian.AppendUint32(fields, 0)           // partition
	fields = append(fields, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2) // replicas [1 2]
	fields = append(fields, 0, 0, 0, 1, 0, 0, 0, 1)             // ISR [1]
	fields = binary.BigEndian.AppendUint32(fields, 1)           // leader
	fields = binary.BigEndian.AppendUint32(fields, 3)           // leader epoch
	fields = binary.BigEndian.AppendUint32(fields, 7)           // partition epoch
	frame := append([]byte{byte(TypePartition), 0}, binary.BigEndian.AppendUint32(nil, uint32(len(fields)))...)
	frame = append(frame, fields...)
	rec, rest, err := DecodeRecord(frame)
	if err != nil || len(rest) != 0 {
		t.Fatalf("decode: %v, %d left", err, len(rest))
	}
	want := Partition{TopicID: idA, Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 3, PartitionEpoch: 7}
	if !reflect.DeepEqual(rec, want) {
		t.Fatalf("got %#v", rec)
	}
	if got := AppendRecord(nil, want); string(got) != string(frame) {
		t.Fatal("a partition without an ELR no longer encodes as version 0")
	}
	change := PartitionChange{TopicID: idA, Leader: NoLeaderChange, ISR: []int32{1}}
	if b := AppendRecord(nil, change); b[1] != 0 {
		t.Fatalf("change without an ELR is version %d", b[1])
	}
	change.EligibleLeaderReplicas = []int32{}
	if b := AppendRecord(nil, change); b[1] != 1 {
		t.Fatalf("change clearing the ELR is version %d", b[1])
	}
}

// TestPartitionVersion1Canonical: version 1 must carry an ELR, so every
// frame re-encodes to its own bytes.
func TestPartitionVersion1Canonical(t *testing.T) {
	p := Partition{TopicID: idA, Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, EligibleLeaderReplicas: []int32{2}}
	b := AppendRecord(nil, p)
	if b[1] != 1 {
		t.Fatalf("version %d", b[1])
	}
	// Empty both lists: the last 8 bytes are the two counts.
	empty := AppendRecord(nil, Partition{TopicID: idA, Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, LastKnownElr: []int32{2}})
	empty = append(empty[:len(empty)-4-4-4], 0, 0, 0, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(empty[2:], uint32(len(empty)-frameHeaderSize))
	if _, _, err := DecodeRecord(empty); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("version 1 without an ELR: %v", err)
	}
	c := PartitionChange{TopicID: idA, Leader: NoLeaderChange, LastKnownElr: []int32{2}}
	cb := AppendRecord(nil, c)
	cb = append(cb[:len(cb)-4-4-4-4], 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	binary.BigEndian.PutUint32(cb[2:], uint32(len(cb)-frameHeaderSize))
	if _, _, err := DecodeRecord(cb); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("change version 1 with two nulls: %v", err)
	}
}

func TestApplyELR(t *testing.T) {
	base := []Record{Topic{Name: "a", ID: idA},
		Partition{TopicID: idA, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1}}
	f := func(name string, change PartitionChange, wantErr bool, elr, lke []int32) {
		t.Helper()
		im, err := Empty.Apply(append(base[:2:2], change))
		if wantErr {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("%s: %v, want ErrInvalid", name, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		tp, _ := im.Topic("a")
		p := tp.Partitions[0]
		if !reflect.DeepEqual(p.EligibleLeaderReplicas, elr) || !reflect.DeepEqual(p.LastKnownElr, lke) {
			t.Fatalf("%s: ELR %v, last known %v", name, p.EligibleLeaderReplicas, p.LastKnownElr)
		}
		snap, err := DecodeSnapshot(im.AppendSnapshot(nil))
		if err != nil || !reflect.DeepEqual(snap, im) {
			t.Fatalf("%s: snapshot round trip: %v", name, err)
		}
	}
	change := func(isr, elr, lke []int32) PartitionChange {
		return PartitionChange{TopicID: idA, Leader: NoLeaderChange, ISR: isr, EligibleLeaderReplicas: elr, LastKnownElr: lke}
	}
	f("shrink into the ELR", change([]int32{1}, []int32{2, 3}, nil), false, []int32{2, 3}, nil)
	f("last known", change([]int32{1}, []int32{2}, []int32{3}), false, []int32{2}, []int32{3})
	f("ELR unchanged", change([]int32{1, 2}, nil, nil), false, nil, nil)
	f("ELR in the ISR", change([]int32{1, 2}, []int32{2}, nil), true, nil, nil)
	f("ELR not a replica", change([]int32{1}, []int32{4}, nil), true, nil, nil)
	f("ELR twice", change([]int32{1}, []int32{2, 2}, nil), true, nil, nil)
	f("last known in the ELR", change([]int32{1}, []int32{2}, []int32{2}), true, nil, nil)
}
