package broker

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// decodeProduceReusing decodes the body of a Produce request v3–12 into
// req (its Version set), reusing what req holds from an earlier request:
// the topics' partition slices, and a topic's name string when the same
// topic comes at the same place. kmsg's ReadFrom zeroes each topic it
// reuses, so it allocates a partitions slice and a name per topic per
// request: two of the three allocations left per request with 100
// connections of one 512 B record each (docs/BENCHMARKS.md, issue 19,
// branch conns100).
//
// It reports false, with req in no defined state, for whatever it does
// not decode exactly as kmsg does: another version, a transactional id
// (kmsg allocates it), a tagged field, a negative or overlong length, a
// truncated body. The caller then decodes with kmsg, whose answer (or
// error) stands. What it decodes is kmsg's result field for field:
// records alias body as kmsg's do (null stays nil), trailing bytes are
// ignored as kmsg ignores them.
//
//	v3–8:  transactional_id int16 len (-1)  acks int16  timeout int32
//	       [int32 n] topics: name int16 len, bytes
//	                         [int32 n] partitions: index int32, records int32 len (-1: null), bytes
//	v9–12: the same with compact lengths (uvarint n+1, 0: null) and an
//	       empty tagged-field section (uvarint 0) after each partition,
//	       each topic and the request
//
// The fields are read with kbin.Reader, the reader kmsg decodes with, so
// lengths, bounds and varints are refused exactly where kmsg refuses them.
func decodeProduceReusing(req *kmsg.ProduceRequest, body []byte) bool {
	if req.Version < 3 || req.Version > 12 {
		return false
	}
	d := produceDecoder{Reader: kbin.Reader{Src: body}, flex: req.Version >= 9}
	if d.stringLen() >= 0 || !d.Ok() { // a transactional id: kmsg's
		return false
	}
	acks := d.Int16()
	timeout := d.Int32()
	nt := d.arrayLen()
	if !d.Ok() || nt < 0 {
		return false
	}
	topics := reuse(req.Topics, nt)
	for i := range topics {
		if !d.topic(&topics[i]) {
			return false
		}
	}
	if !d.noTags() {
		return false
	}
	*req = kmsg.ProduceRequest{Version: req.Version, Acks: acks, TimeoutMillis: timeout, Topics: topics}
	return true
}

// produceDecoder reads a Produce body; flex: compact lengths and tagged
// fields (v9+).
type produceDecoder struct {
	kbin.Reader
	flex bool
}

// topic decodes one topic into t, reusing its partitions slice and its
// name when the bytes are the same.
func (d *produceDecoder) topic(t *kmsg.ProduceRequestTopic) bool {
	var name string // aliases the body: copied only when it differs
	if d.flex {
		name = d.UnsafeCompactString()
	} else {
		name = d.UnsafeString()
	}
	if !d.Ok() {
		return false
	}
	if t.Topic != name {
		t.Topic = strings.Clone(name)
	}
	n := d.arrayLen()
	if !d.Ok() || n < 0 {
		return false
	}
	parts := reuse(t.Partitions, n)
	for i := range parts {
		p := &parts[i]
		*p = kmsg.ProduceRequestTopicPartition{Partition: d.Int32()}
		if d.flex {
			p.Records = d.CompactNullableBytes()
		} else {
			p.Records = d.NullableBytes()
		}
		if !d.Ok() || !d.noTags() {
			return false
		}
	}
	t.TopicID = [16]byte{}
	t.Partitions = parts
	t.UnknownTags = kmsg.Tags{}
	return d.noTags()
}

// stringLen reads a string's length without the string: an int16 or,
// flexible, a uvarint n+1; -1 is null.
func (d *produceDecoder) stringLen() int {
	if d.flex {
		return int(d.Uvarint()) - 1
	}
	return int(d.Int16())
}

// arrayLen reads an array's length as kmsg does (refusing one longer than
// the bytes left); -1 is null.
func (d *produceDecoder) arrayLen() int {
	if d.flex {
		return int(d.CompactArrayLen())
	}
	return int(d.ArrayLen())
}

// noTags reads an empty tagged-field section (flexible versions only).
func (d *produceDecoder) noTags() bool {
	return !d.flex || d.Uvarint() == 0 && d.Ok()
}

// reuse is s with length n, keeping the elements of its array up to its
// capacity (their slices and strings are reused) and zero ones after.
func reuse[T any](s []T, n int) []T {
	s = s[:min(cap(s), n)]
	var zero T
	for len(s) < n {
		s = append(s, zero)
	}
	return s
}
