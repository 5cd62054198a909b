package console

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice/sluice/partition"
	"github.com/sluice/sluice/segment"
)

// Record is one record as the API returns it. Key and Value are the bytes
// as text when they are valid UTF-8 (else absent); KeyB64 and ValueB64
// always carry them (base64), cut to the request's max_bytes.
type Record struct {
	Partition int32    `json:"partition"`
	Offset    int64    `json:"offset"`
	Timestamp int64    `json:"timestamp"`
	Key       *string  `json:"key"`
	KeyB64    *string  `json:"key_b64"`
	Value     *string  `json:"value"`
	ValueB64  *string  `json:"value_b64"`
	ValueSize int      `json:"value_size"`
	Truncated bool     `json:"truncated,omitempty"`
	Headers   []Header `json:"headers,omitempty"`
}

// Header is one record header.
type Header struct {
	Key      string  `json:"key"`
	Value    *string `json:"value"`
	ValueB64 *string `json:"value_b64"`
}

func newRecord(p int32, r segment.Record, maxBytes int) Record {
	out := Record{Partition: p, Offset: r.Offset, Timestamp: r.Timestamp, ValueSize: len(r.Value)}
	if !r.KeyNull {
		out.Key, out.KeyB64, _ = encodeBytes(r.Key, maxBytes)
	}
	if !r.ValueNull {
		out.Value, out.ValueB64, out.Truncated = encodeBytes(r.Value, maxBytes)
	}
	for _, h := range r.Headers {
		hv := Header{Key: h.Key}
		if h.Value != nil {
			hv.Value, hv.ValueB64, _ = encodeBytes(h.Value, maxBytes)
		}
		out.Headers = append(out.Headers, hv)
	}
	return out
}

func encodeBytes(b []byte, maxBytes int) (text, b64 *string, cut bool) {
	if maxBytes > 0 && len(b) > maxBytes {
		b, cut = b[:maxBytes], true
	}
	e := base64.StdEncoding.EncodeToString(b)
	b64 = &e
	if utf8.Valid(b) {
		s := string(b)
		text = &s
	}
	return text, b64, cut
}

// readRecords decodes records of l with from <= offset < to (to < 0: the
// high watermark), at most limit, oldest first.
func readRecords(ctx context.Context, l *partition.Log, from, to int64, limit, maxBytes int) ([]Record, error) {
	if to < 0 {
		to = l.HighWatermark()
	}
	var out []Record
	err := scanBatches(ctx, l, from, true, func(h segment.Header, batch []byte) (bool, error) {
		if h.Attributes&segment.AttrControl != 0 {
			return true, nil
		}
		if h.BaseOffset >= to {
			return false, nil
		}
		err := segment.Records(batch, func(r segment.Record) bool {
			if r.Offset >= from && r.Offset < to && len(out) < limit {
				out = append(out, newRecord(l.Partition(), r, maxBytes))
			}
			return len(out) < limit
		})
		if err != nil {
			return false, fmt.Errorf("cannot decode batch at offset %d of %s-%d: %w", h.BaseOffset, l.Topic(), l.Partition(), err)
		}
		return len(out) < limit && h.LastOffset()+1 < to, nil
	})
	return out, err
}

// recordAt returns the timestamp of the first record at or after offset
// (ok false when there is none below the high watermark).
func recordAt(ctx context.Context, l *partition.Log, offset int64) (ts int64, ok bool, err error) {
	recs, err := readRecords(ctx, l, offset, -1, 1, 1)
	if err != nil || len(recs) == 0 {
		return 0, false, err
	}
	return recs[0].Timestamp, true, nil
}

// Query is a search over a topic's records.
type Query struct {
	Text       []byte  // the substring looked for
	In         string  // key, value, header, any or json (default value)
	Path       string  // for json: the JSON path in the value ($.a.b)
	Partitions []int32 // nil: all
	From, To   int64   // timestamps in ms; 0: unbounded
	Limit      int
	MaxBytes   int
	// onBatch, when set (tests), runs before each batch is read.
	onBatch func(ctx context.Context)
}

// Progress is how far a search got.
type Progress struct {
	ScannedBytes int64 `json:"scanned_bytes"`
	TotalBytes   int64 `json:"total_bytes"`
	Batches      int64 `json:"batches"`
	Records      int64 `json:"records"`
	Matches      int   `json:"matches"`
	ElapsedMs    int64 `json:"elapsed_ms"`
}

func (q *Query) match(r *segment.Record) bool {
	in := func(b []byte) bool { return bytes.Contains(b, q.Text) }
	hdr := func() bool {
		for _, h := range r.Headers {
			if strings.Contains(h.Key, string(q.Text)) || in(h.Value) {
				return true
			}
		}
		return false
	}
	switch q.In {
	case "json":
		var v any
		if json.Unmarshal(r.Value, &v) != nil {
			return false
		}
		got, err := jsonPath(v, q.Path)
		return err == nil && got != nil && strings.Contains(toString(got), string(q.Text))
	case "key":
		return in(r.Key)
	case "header":
		return hdr()
	case "any":
		return in(r.Key) || in(r.Value) || hdr()
	}
	return in(r.Value)
}

// search scans logs for q, calling found for each match and progress after
// every few MiB. It ends at q.Limit matches, at the end of the logs, or
// when ctx ends (its error is returned).
func search(ctx context.Context, logs []*partition.Log, q Query, found func(Record), progress func(Progress)) (Progress, error) {
	var p Progress
	for _, l := range logs {
		p.TotalBytes += l.Size()
	}
	start := time.Now()
	lastReport := int64(0)
	var buf []byte // one read buffer for every partition
	for _, l := range logs {
		from := l.LogStartOffset()
		if q.From > 0 {
			off, _, ok, err := l.OffsetForTimestamp(q.From)
			if err != nil {
				return p, fmt.Errorf("cannot find offset for time %d in %s-%d: %w", q.From, l.Topic(), l.Partition(), err)
			}
			if !ok {
				p.ScannedBytes += l.Size()
				continue
			}
			from = off
		}
		err := scanBatchesBuf(ctx, l, from, true, &buf, func(h segment.Header, batch []byte) (bool, error) {
			if q.onBatch != nil {
				q.onBatch(ctx)
				if err := ctx.Err(); err != nil {
					return false, err
				}
			}
			p.ScannedBytes += h.Size()
			p.Batches++
			if p.ScannedBytes-lastReport > 8<<20 {
				lastReport = p.ScannedBytes
				p.ElapsedMs = time.Since(start).Milliseconds()
				progress(p)
			}
			if h.Attributes&segment.AttrControl != 0 || (q.From > 0 && h.MaxTimestamp < q.From) {
				return true, nil
			}
			if q.To > 0 && h.BaseTimestamp > q.To && h.Attributes&segment.AttrTimestampType == 0 {
				return true, nil // CreateTime batches are not ordered: go on
			}
			err := segment.Records(batch, func(r segment.Record) bool {
				p.Records++
				if (q.From > 0 && r.Timestamp < q.From) || (q.To > 0 && r.Timestamp > q.To) || r.Offset < from {
					return true
				}
				if q.match(&r) {
					p.Matches++
					found(newRecord(l.Partition(), r, q.MaxBytes))
				}
				return p.Matches < q.Limit
			})
			if err != nil {
				return false, fmt.Errorf("cannot decode batch at offset %d of %s-%d: %w", h.BaseOffset, l.Topic(), l.Partition(), err)
			}
			return p.Matches < q.Limit, nil
		})
		if err != nil {
			p.ElapsedMs = time.Since(start).Milliseconds()
			return p, err
		}
		if p.Matches >= q.Limit {
			break
		}
	}
	p.ElapsedMs = time.Since(start).Milliseconds()
	return p, nil
}
