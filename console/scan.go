package console

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/sluice/sluice/partition"
	"github.com/sluice/sluice/segment"
)

// readChunk is how many bytes of a segment one pread fetches when records
// are wanted (the search reads 1 MiB at a time, then splits batches).
const readChunk = 1 << 20

// readMax is the most one partition.Log.Read is asked for; a Read stays in
// one segment, so a scan takes one Read per segment (or per readMax).
const readMax = 256 << 20

// batchFn sees one batch: its header and, when the scan wants data, its
// whole bytes (valid only during the call). Returning false stops the scan.
type batchFn func(h segment.Header, batch []byte) (bool, error)

// scanBatches walks l's batches below the high watermark from the batch
// holding offset from. With data false it reads only the 61-byte headers
// (a record count costs one small pread per batch). ctx is checked between
// batches; its error is returned when it ends the scan.
func scanBatches(ctx context.Context, l *partition.Log, from int64, data bool, fn batchFn) error {
	return scanBatchesBuf(ctx, l, from, data, new([]byte), fn)
}

// scanBatchesBuf is scanBatches reading into *buf (allocated or grown as
// needed), so a scan over many partitions reuses one buffer.
func scanBatchesBuf(ctx context.Context, l *partition.Log, from int64, data bool, bufp *[]byte, fn batchFn) error {
	want := segment.HeaderSize
	if data {
		want = readChunk
	}
	if len(*bufp) < want {
		*bufp = make([]byte, want)
	}
	buf := *bufp
	defer func() { *bufp = buf }()
	off := max(from, l.LogStartOffset())
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := l.Read(off, readMax, true)
		if errors.Is(err, partition.ErrOffsetOutOfRange) && off < l.LogStartOffset() {
			off = l.LogStartOffset() // retention moved the start meanwhile
			continue
		}
		if err != nil {
			return fmt.Errorf("cannot read %s-%d at offset %d: %w", l.Topic(), l.Partition(), off, err)
		}
		if len(res.Regions) == 0 {
			return nil
		}
		next, more, err := scanRegions(ctx, res, &buf, data, fn)
		if err != nil || !more || next <= off {
			return err
		}
		off = next
	}
}

// scanRegions walks the batches of one Read and releases its regions. It
// returns the offset after the last batch seen and whether to go on.
func scanRegions(ctx context.Context, res partition.ReadResult, buf *[]byte, data bool, fn batchFn) (int64, bool, error) {
	defer func() {
		for _, r := range res.Regions {
			r.Release()
		}
	}()
	next := int64(-1)
	for _, r := range res.Regions {
		n, more, err := scanRegion(ctx, r.File, r.Off, r.Off+r.Len, buf, data, fn)
		if n > next {
			next = n
		}
		if err != nil || !more {
			return next, false, err
		}
	}
	return next, true, nil
}

// scanRegion walks the batches in [pos, end) of f.
func scanRegion(ctx context.Context, f *os.File, pos, end int64, buf *[]byte, data bool, fn batchFn) (int64, bool, error) {
	next := int64(-1)
	for pos < end {
		if err := ctx.Err(); err != nil {
			return next, false, err
		}
		if !data {
			h, err := readHeader(f, pos, *buf)
			if err != nil {
				return next, false, err
			}
			if h.Size() > end-pos {
				return next, false, fmt.Errorf("segment %s at %d: batch of %d bytes overruns the readable end at %d: %w",
					f.Name(), pos, h.Size(), end, segment.ErrCorrupt)
			}
			next = h.LastOffset() + 1
			if more, err := fn(h, nil); err != nil || !more {
				return next, false, err
			}
			pos += h.Size()
			continue
		}
		n := min(int64(len(*buf)), end-pos)
		got, err := f.ReadAt((*buf)[:n], pos)
		if int64(got) < n {
			return next, false, fmt.Errorf("cannot read segment %s at %d: %w", f.Name(), pos, err)
		}
		b := (*buf)[:n]
		consumed := int64(0)
		for len(b) >= segment.HeaderSize {
			if err := ctx.Err(); err != nil {
				return next, false, err
			}
			h, err := segment.ParseHeader(b)
			if err != nil {
				return next, false, fmt.Errorf("segment %s at %d: %w", f.Name(), pos+consumed, err)
			}
			if h.Size() > end-pos-consumed {
				return next, false, fmt.Errorf("segment %s at %d: batch of %d bytes overruns the readable end at %d: %w",
					f.Name(), pos+consumed, h.Size(), end, segment.ErrCorrupt)
			}
			if h.Size() > int64(len(b)) {
				break
			}
			next = h.LastOffset() + 1
			if more, err := fn(h, b[:h.Size()]); err != nil || !more {
				return next, false, err
			}
			consumed += h.Size()
			b = b[h.Size():]
		}
		if consumed == 0 { // one batch larger than the buffer
			h, err := readHeader(f, pos, (*buf)[:segment.HeaderSize])
			if err != nil {
				return next, false, err
			}
			*buf = make([]byte, h.Size())
			continue
		}
		pos += consumed
	}
	return next, true, nil
}

func readHeader(f *os.File, pos int64, buf []byte) (segment.Header, error) {
	if _, err := f.ReadAt(buf[:segment.HeaderSize], pos); err != nil {
		return segment.Header{}, fmt.Errorf("cannot read batch header in %s at %d: %w", f.Name(), pos, err)
	}
	h, err := segment.ParseHeader(buf[:segment.HeaderSize])
	if err != nil {
		return h, fmt.Errorf("segment %s at %d: %w", f.Name(), pos, err)
	}
	return h, nil
}

// countState is a partition's record count so far: the batches below
// end, counted when the log started at start. A later count goes on from
// end while start is unchanged.
type countState struct {
	start, end     int64
	records        int64
	control        int64 // transaction markers, not counted in records
	transactional  bool  // aborted records may be among records
	compactedGaps  bool  // offsets missing between batches (compaction): the count stays exact
	approximate    bool  // the log starts inside a compacted batch
	lastBatchEnd   int64
	countedBatches int64
}

// countRecords counts the records of l from its batch headers, going on
// from prev when the log start has not moved.
func countRecords(ctx context.Context, l *partition.Log, prev countState) (countState, error) {
	start := l.LogStartOffset()
	c := prev
	if prev.start != start || prev.end == 0 {
		c = countState{start: start, end: start, lastBatchEnd: -1}
	}
	err := scanBatches(ctx, l, c.end, false, func(h segment.Header, _ []byte) (bool, error) {
		if h.LastOffset() < c.end {
			return true, nil // the batch holding c.end-1 was counted before
		}
		n := int64(h.NumRecords)
		if h.BaseOffset < c.end { // the log starts inside this batch (DeleteRecords)
			n = min(n, h.LastOffset()-c.end+1)
			if h.NumRecords != h.LastOffsetDelta+1 {
				c.approximate = true // which of its records precede the start is not in the header
			}
		}
		if c.lastBatchEnd >= 0 && h.BaseOffset != c.lastBatchEnd {
			c.compactedGaps = true
		}
		if h.NumRecords != h.LastOffsetDelta+1 {
			c.compactedGaps = true
		}
		c.lastBatchEnd = h.LastOffset() + 1
		c.end = h.LastOffset() + 1
		c.countedBatches++
		if h.Attributes&segment.AttrControl != 0 {
			c.control += n
			return true, nil
		}
		if h.Attributes&segment.AttrTransactional != 0 {
			c.transactional = true
		}
		c.records += n
		return true, nil
	})
	return c, err
}
