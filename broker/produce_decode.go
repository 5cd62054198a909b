package broker

import (
	"encoding/binary"
	"math"

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
func decodeProduceReusing(req *kmsg.ProduceRequest, body []byte) bool {
	if req.Version < 3 || req.Version > 12 {
		return false
	}
	d := produceDecoder{src: body, flex: req.Version >= 9}
	if l, ok := d.length(2); !ok || l >= 0 { // a transactional id: kmsg's
		return false
	}
	acks, ok1 := d.int16()
	timeout, ok2 := d.int32()
	nt, ok3 := d.arrayLen(2)
	if !ok1 || !ok2 || !ok3 {
		return false
	}
	topics := req.Topics[:min(cap(req.Topics), nt)]
	for len(topics) < nt {
		topics = append(topics, kmsg.ProduceRequestTopic{})
	}
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

// produceDecoder reads a Produce body from src; flex: compact lengths and
// tagged fields (v9+).
type produceDecoder struct {
	src  []byte
	flex bool
}

// topic decodes one topic into t, reusing its partitions slice and its
// name when the bytes are the same.
func (d *produceDecoder) topic(t *kmsg.ProduceRequestTopic) bool {
	l, ok := d.length(2)
	if !ok || l < 0 || l > len(d.src) {
		return false
	}
	if name := d.src[:l]; t.Topic != string(name) {
		t.Topic = string(name)
	}
	d.src = d.src[l:]
	n, ok := d.arrayLen(6)
	if !ok {
		return false
	}
	parts := t.Partitions[:min(cap(t.Partitions), n)]
	for len(parts) < n {
		parts = append(parts, kmsg.ProduceRequestTopicPartition{})
	}
	for i := range parts {
		p := &parts[i]
		idx, ok := d.int32()
		if !ok {
			return false
		}
		l, ok := d.length(4)
		if !ok || l > len(d.src) {
			return false
		}
		*p = kmsg.ProduceRequestTopicPartition{Partition: idx}
		if l >= 0 {
			p.Records = d.src[:l:l]
			d.src = d.src[l:]
		}
		if !d.noTags() {
			return false
		}
	}
	t.TopicID = [16]byte{}
	t.Partitions = parts
	t.UnknownTags = kmsg.Tags{}
	return d.noTags()
}

func (d *produceDecoder) int16() (int16, bool) {
	if len(d.src) < 2 {
		return 0, false
	}
	v := int16(binary.BigEndian.Uint16(d.src))
	d.src = d.src[2:]
	return v, true
}

func (d *produceDecoder) int32() (int32, bool) {
	if len(d.src) < 4 {
		return 0, false
	}
	v := int32(binary.BigEndian.Uint32(d.src))
	d.src = d.src[4:]
	return v, true
}

// length reads a string's or bytes' length: classic (an int16 or, when
// width is 4, an int32) or compact (uvarint n+1); -1 is null.
func (d *produceDecoder) length(width int) (int, bool) {
	if d.flex {
		u, m := binary.Uvarint(d.src)
		if m <= 0 || u > math.MaxInt32 || m > 1 && d.src[m-1] == 0 { // not minimal: kmsg's

			return 0, false
		}
		d.src = d.src[m:]
		return int(u) - 1, true
	}
	if width == 2 {
		v, ok := d.int16()
		return int(v), ok
	}
	v, ok := d.int32()
	return int(v), ok
}

// arrayLen reads an array's length, refusing a null array and one whose
// elements (at least minSize bytes each) could not fit in what is left:
// kmsg refuses the latter too, and it bounds what is allocated.
func (d *produceDecoder) arrayLen(minSize int) (int, bool) {
	n, ok := d.length(4)
	if !ok || n < 0 || n > len(d.src)/minSize {
		return 0, false
	}
	return n, true
}

// noTags reads an empty tagged-field section (flexible versions only).
func (d *produceDecoder) noTags() bool {
	if !d.flex {
		return true
	}
	if len(d.src) == 0 || d.src[0] != 0 {
		return false
	}
	d.src = d.src[1:]
	return true
}
