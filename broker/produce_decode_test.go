package broker

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceBodies returns Produce request bodies of version v: one topic and
// partition, several of each, null and empty records, a transactional id
// (declined), and the same request with another topic name.
func produceBodies(v int16) map[string][]byte {
	req := func(txn *string, topics ...kmsg.ProduceRequestTopic) []byte {
		r := kmsg.ProduceRequest{Version: v, TransactionID: txn, Acks: 1, TimeoutMillis: 30000, Topics: topics}
		return r.AppendTo(nil) // the body alone: no request header
	}
	part := func(i int32, rec []byte) kmsg.ProduceRequestTopicPartition {
		return kmsg.ProduceRequestTopicPartition{Partition: i, Records: rec}
	}
	topic := func(name string, parts ...kmsg.ProduceRequestTopicPartition) kmsg.ProduceRequestTopic {
		return kmsg.ProduceRequestTopic{Topic: name, Partitions: parts}
	}
	rec := bytes.Repeat([]byte{7}, 200) // past a one-byte compact length
	txn := "tx"
	return map[string][]byte{
		"one":      req(nil, topic("matrix", part(3, rec))),
		"other":    req(nil, topic("other-topic", part(0, rec[:5]))),
		"many":     req(nil, topic("a", part(0, rec), part(1, nil), part(2, []byte{})), topic("b"), topic("", part(9, rec[:1]))),
		"none":     req(nil),
		"txn":      req(&txn, topic("matrix", part(3, rec))),
		"nullrecs": req(nil, topic("matrix", part(1, nil))),
	}
}

// equalProduce compares two decoded requests field by field (an empty
// slice equals a nil one; records by bytes and null-ness).
func equalProduce(a, b *kmsg.ProduceRequest) error {
	if a.Version != b.Version || a.Acks != b.Acks || a.TimeoutMillis != b.TimeoutMillis ||
		(a.TransactionID == nil) != (b.TransactionID == nil) || len(a.Topics) != len(b.Topics) || a.UnknownTags.Len() != b.UnknownTags.Len() {
		return fmt.Errorf("requests differ: %+v\n%+v", a, b)
	}
	for i := range a.Topics {
		ta, tb := &a.Topics[i], &b.Topics[i]
		if ta.Topic != tb.Topic || ta.TopicID != tb.TopicID || len(ta.Partitions) != len(tb.Partitions) || ta.UnknownTags.Len() != tb.UnknownTags.Len() {
			return fmt.Errorf("topic %d differs: %+v\n%+v", i, *ta, *tb)
		}
		for j := range ta.Partitions {
			pa, pb := &ta.Partitions[j], &tb.Partitions[j]
			if pa.Partition != pb.Partition || (pa.Records == nil) != (pb.Records == nil) || !bytes.Equal(pa.Records, pb.Records) || pa.UnknownTags.Len() != pb.UnknownTags.Len() {
				return fmt.Errorf("topic %d partition %d differs: %+v\n%+v", i, j, *pa, *pb)
			}
		}
	}
	return nil
}

// The reusing decoder gives kmsg's result for every request it accepts,
// across requests decoded into the same struct (names and partitions
// reused or replaced), and declines what it must leave to kmsg; every
// truncation is either declined or decoded as kmsg decodes it.
func TestDecodeProduceReusingMatchesKmsg(t *testing.T) {
	for v := int16(0); v <= 13; v++ {
		bodies := produceBodies(v)
		var reused kmsg.ProduceRequest
		for _, name := range []string{"one", "one", "other", "many", "one", "none", "nullrecs", "many", "txn"} {
			body := bodies[name]
			want := kmsg.ProduceRequest{Version: v}
			if err := want.ReadFrom(body); err != nil {
				t.Fatalf("v%d %s: kmsg: %v", v, name, err)
			}
			reused = kmsg.ProduceRequest{Version: v, Topics: reused.Topics[:0]}
			ok := decodeProduceReusing(&reused, body)
			if wantOK := v >= 3 && v <= 12 && name != "txn"; ok != wantOK {
				t.Fatalf("v%d %s: decoded %v, want %v", v, name, ok, wantOK)
			}
			if !ok {
				continue
			}
			if err := equalProduce(&reused, &want); err != nil {
				t.Fatalf("v%d %s: %v", v, name, err)
			}
		}
		for name, body := range bodies {
			for n := 0; n < len(body); n++ {
				cut := body[:n]
				got := kmsg.ProduceRequest{Version: v}
				if !decodeProduceReusing(&got, cut) {
					continue
				}
				want := kmsg.ProduceRequest{Version: v}
				if err := want.ReadFrom(cut); err != nil {
					t.Fatalf("v%d %s cut at %d: decoded, kmsg fails: %v", v, name, n, err)
				}
				if err := equalProduce(&got, &want); err != nil {
					t.Fatalf("v%d %s cut at %d: %v", v, name, n, err)
				}
			}
		}
	}
}

// A name read again from the same bytes reuses the string; the
// partitions slice of a reused topic is reused: a one-partition request
// decoded into a warm struct allocates nothing.
func TestDecodeProduceReusingAllocatesNothingWarm(t *testing.T) {
	body := produceBodies(9)["one"]
	var req kmsg.ProduceRequest
	req.Version = 9
	if !decodeProduceReusing(&req, body) {
		t.Fatal("declined")
	}
	allocs := testing.AllocsPerRun(100, func() {
		req = kmsg.ProduceRequest{Version: 9, Topics: req.Topics[:0]}
		if !decodeProduceReusing(&req, body) {
			t.Fatal("declined")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per warm decode, want 0", allocs)
	}
}

func FuzzDecodeProduceReusing(f *testing.F) {
	for v := int16(3); v <= 12; v++ {
		for _, b := range produceBodies(v) {
			f.Add(v, b)
		}
	}
	f.Fuzz(func(t *testing.T, v int16, body []byte) {
		got := kmsg.ProduceRequest{Version: v}
		if !decodeProduceReusing(&got, body) {
			return
		}
		want := kmsg.ProduceRequest{Version: v}
		if err := want.ReadFrom(body); err != nil {
			t.Fatalf("decoded, kmsg fails: %v", err)
		}
		if err := equalProduce(&got, &want); err != nil {
			t.Fatal(err)
		}
	})
}
