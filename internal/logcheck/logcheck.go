// Package logcheck reads a partition straight from a broker's data
// directory (<data-dir>/<topic>-<partition>/NNNNNNNNNNNNNNNNNNNN.log, the
// segment package's format) and checks what a Jepsen-style test asks of
// the brokers once the nemesis is done (issue 15's proof):
//
//   - CheckAcked: every acknowledged record is present exactly once, at
//     the offset its producer was told;
//   - CheckSeen: every record a consumer saw is still there, at the
//     offset it was seen at (nothing a consumer read vanished later);
//   - CompareReplicas: the replicas of a partition hold byte-identical
//     batches below the high watermark.
//
// It knows nothing of the broker: it reads the files with its own walk,
// validating every batch (CRC included) with segment.Validate. A torn batch
// at the very end of the last segment (a kill -9 mid-append that the broker
// will truncate at its next start) ends the read; any other damage is an
// error wrapping segment.ErrCorrupt. Records are decoded from uncompressed
// batches only (producers of the tests send none compressed); control
// batches (transaction markers) carry no records for the checks.
package logcheck

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sluice/sluice/segment"
)

// Batch is one RecordBatch as stored.
type Batch struct {
	segment.Header
	Bytes []byte
}

// Partition is a partition's batches in offset order.
type Partition struct {
	Dir     string
	Batches []Batch
	// End is the offset after the last batch read (the log end offset
	// as the files hold it).
	End int64
	// Torn is the byte count of a torn tail of the last segment, not read.
	Torn int64
}

// Record is one record of a batch.
type Record struct {
	Offset        int64
	LeaderEpoch   int32
	ProducerID    int64
	ProducerEpoch int16
	Sequence      int32 // -1 when the batch has no producer id
	Key, Value    []byte
}

// ReadPartition reads every .log file of dir in base-offset order.
func ReadPartition(dir string) (*Partition, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return nil, fmt.Errorf("logcheck: %w", err)
	}
	sort.Strings(names) // 20-digit zero-padded base offsets sort as numbers
	p := &Partition{Dir: dir}
	for k, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("logcheck: cannot read %q: %w", name, err)
		}
		last := k == len(names)-1
		if err := p.readSegment(name, data, last); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *Partition) readSegment(name string, data []byte, last bool) error {
	for pos := 0; pos < len(data); {
		h, err := segment.ParseHeader(data[pos:])
		if err == nil && int64(len(data)-pos) < h.Size() {
			err = segment.ErrTorn
		}
		if errors.Is(err, segment.ErrTorn) && last {
			p.Torn = int64(len(data) - pos)
			return nil
		}
		if err != nil {
			return fmt.Errorf("logcheck: %s at byte %d: %w (%w)", name, pos, err, segment.ErrCorrupt)
		}
		b := data[pos : pos+int(h.Size())]
		if _, err := segment.Validate(b); err != nil {
			return fmt.Errorf("logcheck: %s at byte %d: %w", name, pos, err)
		}
		if h.BaseOffset < p.End {
			return fmt.Errorf("logcheck: %s at byte %d: batch at offset %d after offset %d: %w", name, pos, h.BaseOffset, p.End-1, segment.ErrCorrupt)
		}
		p.Batches = append(p.Batches, Batch{Header: h, Bytes: b})
		p.End = h.LastOffset() + 1
		pos += len(b)
	}
	return nil
}

// Records decodes the records of every data batch.
func (p *Partition) Records() ([]Record, error) {
	var out []Record
	for _, b := range p.Batches {
		if b.Attributes&segment.AttrControl != 0 {
			continue
		}
		if b.Compression() != 0 {
			return nil, fmt.Errorf("logcheck: %s: batch at offset %d is compressed (codec %d): not decoded", p.Dir, b.BaseOffset, b.Compression())
		}
		recs, err := decodeRecords(b)
		if err != nil {
			return nil, fmt.Errorf("logcheck: %s: batch at offset %d: %w", p.Dir, b.BaseOffset, err)
		}
		out = append(out, recs...)
	}
	return out, nil
}

// decodeRecords walks an uncompressed batch's records (Kafka's record
// format: zigzag varint lengths and deltas, then headers).
func decodeRecords(b Batch) ([]Record, error) {
	buf := b.Bytes[segment.HeaderSize:]
	var out []Record
	for range b.NumRecords {
		length, n := binary.Varint(buf)
		if n <= 0 || length < 0 || int64(len(buf)-n) < length {
			return nil, fmt.Errorf("record length: %w", segment.ErrCorrupt)
		}
		r := reader{b: buf[n : n+int(length)]}
		buf = buf[n+int(length):]
		r.b = r.b[1:] // attributes
		r.varint()    // timestamp delta
		delta := r.varint()
		key, value := r.bytes(), r.bytes()
		if r.err != nil {
			return nil, r.err
		}
		rec := Record{Offset: b.BaseOffset + delta, LeaderEpoch: b.PartitionLeaderEpoch,
			ProducerID: b.ProducerID, ProducerEpoch: b.ProducerEpoch, Sequence: -1, Key: key, Value: value}
		if b.ProducerID >= 0 && b.BaseSequence >= 0 {
			rec.Sequence = b.BaseSequence + int32(delta)
		}
		out = append(out, rec)
	}
	return out, nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("varint: %w", segment.ErrCorrupt)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// bytes reads a varint length and that many bytes (nil for -1).
func (r *reader) bytes() []byte {
	n := r.varint()
	if r.err != nil || n < 0 {
		return nil
	}
	if int64(len(r.b)) < n {
		r.err = fmt.Errorf("field of %d bytes, %d left: %w", n, len(r.b), segment.ErrCorrupt)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// Ack is a record a client was told about: a producer's acknowledgement
// (the offset the broker assigned) or a consumer's read.
type Ack struct {
	Offset int64
	Value  string
}

// CheckAcked checks that every acked value is in recs exactly once, at its
// acknowledged offset. It returns one line per problem, at most max (0:
// all), and the number of problems.
func CheckAcked(recs []Record, acks []Ack, max int) ([]string, int) {
	at := map[int64]string{}
	count := map[string]int{}
	for _, r := range recs {
		at[r.Offset] = string(r.Value)
		count[string(r.Value)]++
	}
	var out []string
	n := 0
	add := func(format string, args ...any) {
		n++
		if max == 0 || len(out) < max {
			out = append(out, fmt.Sprintf(format, args...))
		}
	}
	for _, a := range acks {
		got, ok := at[a.Offset]
		switch {
		case count[a.Value] == 0:
			add("acknowledged %q at offset %d: lost", a.Value, a.Offset)
		case !ok || got != a.Value:
			add("acknowledged %q at offset %d: the log has %q there", a.Value, a.Offset, got)
		case count[a.Value] > 1:
			add("acknowledged %q at offset %d: present %d times", a.Value, a.Offset, count[a.Value])
		}
	}
	return out, n
}

// CheckSeen checks that every value a consumer saw is still in recs at
// the offset it was seen at (it read nothing that later vanished or
// moved). Same return values as CheckAcked.
func CheckSeen(recs []Record, seen []Ack, max int) ([]string, int) {
	at := map[int64]string{}
	for _, r := range recs {
		at[r.Offset] = string(r.Value)
	}
	var out []string
	n := 0
	for _, s := range seen {
		if got, ok := at[s.Offset]; !ok || got != s.Value {
			n++
			if max == 0 || len(out) < max {
				out = append(out, fmt.Sprintf("consumed %q at offset %d: the log has %q there now", s.Value, s.Offset, got))
			}
		}
	}
	return out, n
}

// Duplicates lists values present more than once in recs.
func Duplicates(recs []Record) []string {
	count := map[string]int{}
	var out []string
	for _, r := range recs {
		if count[string(r.Value)]++; count[string(r.Value)] == 2 {
			out = append(out, string(r.Value))
		}
	}
	return out
}

// CompareReplicas checks that the replicas hold the same batches, byte
// for byte, below hw (batches whose last offset is below hw; a batch that
// straddles hw is compared too when every replica has it whole). Each
// replica must reach hw. Segment boundaries may differ between replicas:
// the batches are compared, not the files.
func CompareReplicas(hw int64, replicas ...*Partition) error {
	if len(replicas) < 2 {
		return nil
	}
	var errs []string
	ref := replicas[0]
	for _, r := range replicas {
		if r.End < hw {
			errs = append(errs, fmt.Sprintf("%s ends at offset %d, below the high watermark %d", r.Dir, r.End, hw))
		}
	}
	for _, r := range replicas[1:] {
		if msg := compareBelow(hw, ref, r); msg != "" {
			errs = append(errs, msg)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("logcheck: replicas differ below the high watermark %d:\n%s", hw, strings.Join(errs, "\n"))
	}
	return nil
}

func compareBelow(hw int64, a, b *Partition) string {
	i, j := 0, 0
	for i < len(a.Batches) && a.Batches[i].BaseOffset < hw {
		if j >= len(b.Batches) {
			return fmt.Sprintf("%s has the batch at offset %d, %s does not", a.Dir, a.Batches[i].BaseOffset, b.Dir)
		}
		x, y := a.Batches[i], b.Batches[j]
		if x.BaseOffset != y.BaseOffset || !bytes.Equal(x.Bytes, y.Bytes) {
			return fmt.Sprintf("%s and %s differ at offset %d (batches at %d and %d, %d and %d bytes)",
				a.Dir, b.Dir, x.BaseOffset, x.BaseOffset, y.BaseOffset, len(x.Bytes), len(y.Bytes))
		}
		i, j = i+1, j+1
	}
	if j < len(b.Batches) && b.Batches[j].BaseOffset < hw {
		return fmt.Sprintf("%s has the batch at offset %d, %s does not", b.Dir, b.Batches[j].BaseOffset, a.Dir)
	}
	return ""
}
