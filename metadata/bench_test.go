package metadata

import (
	"fmt"
	"testing"
)

// bigImage has 3 brokers and topics of 100 partitions, RF=3, totalling
// partitions.
func bigImage(tb testing.TB, partitions int) *Image {
	tb.Helper()
	var recs []Record
	for id := int32(0); id < 3; id++ {
		recs = append(recs, RegisterBroker{BrokerID: id, BrokerEpoch: 1,
			Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: uint16(9092 + id)}}})
	}
	for ti := 0; ti < partitions/100; ti++ {
		id := UUID{byte(ti >> 8), byte(ti), 1}
		name := fmt.Sprintf("topic-%04d", ti)
		recs = append(recs, Topic{Name: name, ID: id},
			Config{ResourceType: ResourceTopic, ResourceName: name, Key: "retention.ms", Value: "86400000"})
		for p := int32(0); p < 100; p++ {
			r := []int32{p % 3, (p + 1) % 3, (p + 2) % 3}
			recs = append(recs, Partition{TopicID: id, Partition: p, Replicas: r, ISR: r, Leader: r[0]})
		}
	}
	im, err := Empty.Apply(recs)
	if err != nil {
		tb.Fatal(err)
	}
	return im
}

// BenchmarkDecodeSnapshot: a broker restoring a full snapshot (decode and
// apply every record).
func BenchmarkDecodeSnapshot(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("partitions=%d", n), func(b *testing.B) {
			snap := bigImage(b, n).AppendSnapshot(nil)
			b.SetBytes(int64(len(snap)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeSnapshot(snap); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkApplyOneChange: one PartitionChange on a 10,000-partition image
// (the copy-on-write cost of a small batch).
func BenchmarkApplyOneChange(b *testing.B) {
	im := bigImage(b, 10000)
	t, _ := im.Topic("topic-0042")
	rec := []Record{PartitionChange{TopicID: t.ID, Partition: 7, Leader: NoLeaderChange, ISR: []int32{1, 2}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := im.Apply(rec); err != nil {
			b.Fatal(err)
		}
	}
}
