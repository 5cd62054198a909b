package partition

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sluice/sluice/segment"
)

// errCleanerStopped ends a cleaning when the store closes.
var errCleanerStopped = errors.New("partition: cleaner stopped")

// cleaner is one cleaner thread's state, reused from cleaning to cleaning.
type cleaner struct {
	maxSlots int // the thread's share of log.cleaner.dedupe.buffer.size
	m        *offsetMap
	stop     <-chan struct{}
	now      func() time.Time
	buf      []byte           // read buffer
	kept     []segment.Record // the kept records of one batch (copies)
	txns     *txnCleaning     // the pass's transactions (cleantxn.go)
}

func newCleaner(bufferBytes int64, stop <-chan struct{}, now func() time.Time) *cleaner {
	return &cleaner{maxSlots: int(max(bufferBytes/slotBytes, 2)), stop: stop, now: now}
}

func (c *cleaner) stopped() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

// clean runs one cleaning of l if it is due (or force), returning what it
// did. Nothing is done (zero stats, nil) when nothing is dirty.
func (c *cleaner) clean(l *Log, force bool) (CleanerStats, error) {
	var st CleanerStats
	cfg := l.config()
	if !cfg.Compact() {
		return st, fmt.Errorf("%w: %s-%d has cleanup.policy=%s", ErrPolicyViolation, l.topic, l.partition, cfg.CleanupPolicy)
	}
	now := c.now()
	p, err := l.planCleaning(now, cfg)
	if err != nil || p == nil {
		return st, err
	}
	defer p.release()
	if !force && !p.due(cfg, now) {
		return st, nil
	}
	start := time.Now()
	end, err := c.buildMap(p)
	if err != nil {
		return st, err
	}
	horizon := l.tombstoneHorizon(now.UnixMilli(), cfg.DeleteRetentionMs)
	if len(p.segs) > 0 {
		if c.txns, err = newTxnCleaning(p.segs, p.segs[0].base, end); err != nil {
			return st, err
		}
	}
	for _, g := range groupSegments(p, end, cfg) {
		if c.stopped() {
			return st, errCleanerStopped
		}
		if err := c.cleanGroup(&l.log, g, end, horizon, cfg, &st); err != nil {
			return st, err
		}
	}
	l.finishCleaning(end, now.UnixMilli(), cfg.DeleteRetentionMs)
	st.Cleanings = 1
	st.LastDuration = time.Since(start)
	st.Duration = st.LastDuration
	l.logger.Info("cleaned log", "dirty_ratio", p.ratio(), "end", end, "bytes_read", st.BytesRead,
		"bytes_written", st.BytesWritten, "records_removed", st.RecordsRemoved, "took", st.LastDuration)
	return st, nil
}

// buildMap maps every key of the dirty section [firstDirty, uncleanable)
// to its latest offset. It returns the end of what it mapped: uncleanable,
// or the first offset that found the map full.
func (c *cleaner) buildMap(p *cleanPlan) (int64, error) {
	n, err := c.countDirty(p)
	if err != nil {
		return 0, err
	}
	c.sizeMap(int(min(n, math.MaxInt32)))
	end := p.uncleanable
	txns, err := newTxnCleaning(p.segs, p.firstDirty, end)
	if err != nil {
		return 0, err
	}
	for i, s := range p.segs {
		if p.nexts[i] <= p.firstDirty {
			continue
		}
		full := false
		err := c.forEachBatch(s, func(b []byte, h segment.Header) error {
			if h.LastOffset() < p.firstDirty {
				return nil
			}
			if h.Attributes&segment.AttrControl != 0 {
				txns.reach(h.LastOffset())
				return nil // a marker's key is not a record key
			}
			if txns.onData(h) {
				return nil // aborted: dropped, never maps its keys
			}
			return segment.Records(b, func(r segment.Record) bool {
				if r.Offset < p.firstDirty || r.KeyNull {
					return true
				}
				if !c.m.put(hashKey(r.Key), r.Offset) {
					full, end = true, r.Offset
				}
				return !full
			})
		})
		if err != nil {
			return 0, err
		}
		if full {
			break
		}
	}
	if end <= p.firstDirty {
		return 0, fmt.Errorf("partition: cleaner dedupe buffer holds no key (%d slots)", len(c.m.slots))
	}
	return end, nil
}

// countDirty counts the records of the dirty segments from batch headers.
func (c *cleaner) countDirty(p *cleanPlan) (int64, error) {
	var n int64
	for i, s := range p.segs {
		if p.nexts[i] <= p.firstDirty {
			continue
		}
		err := s.log.ScanFrom(0, func(h segment.Header, _ int64) bool {
			n += int64(h.NumRecords)
			return true
		})
		if err != nil {
			return 0, fmt.Errorf("%w: cannot scan %q: %w", ErrStorage, s.log.Path(), err)
		}
	}
	return n, nil
}

// sizeMap makes c.m an empty map for keys keys, within the thread's share
// of the dedupe buffer. A big map left by an earlier cleaning is dropped
// rather than cleared for a much smaller one.
func (c *cleaner) sizeMap(keys int) {
	slots := min(c.maxSlots, int(float64(keys)/mapLoadFactor)+2)
	if c.m != nil && len(c.m.slots) >= slots && len(c.m.slots) <= 4*slots {
		c.m.reset()
		return
	}
	c.m = newOffsetMap(slots)
}

// groupSegments splits the segments below end into runs whose total size
// fits segment.bytes and whose index entries (by size) fit
// segment.index.bytes, so that small cleaned segments merge.
func groupSegments(p *cleanPlan, end int64, cfg Config) [][]*logSegment {
	var groups [][]*logSegment
	var cur []*logSegment
	var size int64
	maxEntries := int64(cfg.SegmentIndexBytes / 12)
	perEntry := int64(max(cfg.IndexIntervalBytes+1, segment.HeaderSize))
	for i, s := range p.segs {
		if s.base >= end {
			break
		}
		n := s.log.Size()
		fits := len(cur) > 0 && size+n <= cfg.SegmentBytes && (size+n)/perEntry+2 <= maxEntries &&
			p.nexts[i]-1-cur[0].base <= math.MaxUint32
		if !fits && len(cur) > 0 {
			groups = append(groups, cur)
			cur, size = nil, 0
		}
		cur = append(cur, s)
		size += n
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	return groups
}

// forEachBatch calls fn with every batch of s (bytes valid only during the
// call), reading the file in large chunks.
func (c *cleaner) forEachBatch(s *logSegment, fn func(b []byte, h segment.Header) error) error {
	const chunk = 1 << 20
	size := s.log.Size()
	for pos := int64(0); pos < size; {
		if c.stopped() {
			return errCleanerStopped
		}
		want := min(size-pos, chunk)
		if h, err := s.log.ReadHeaderAt(pos); err == nil && h.Size() > want {
			want = min(h.Size(), size-pos)
		}
		if int64(cap(c.buf)) < want {
			c.buf = make([]byte, want)
		}
		buf := c.buf[:want]
		if _, err := s.log.ReadAt(buf, pos); err != nil {
			return fmt.Errorf("%w: cannot read %q at %d: %w", ErrStorage, s.log.Path(), pos, err)
		}
		n, err := eachWholeBatch(buf, fn)
		if err != nil {
			return fmt.Errorf("cannot clean %q at position %d: %w", s.log.Path(), pos+n, err)
		}
		if n == 0 {
			return fmt.Errorf("%w: %q: torn batch at position %d", segment.ErrCorrupt, s.log.Path(), pos)
		}
		pos += n
	}
	return nil
}

// eachWholeBatch calls fn for the whole batches at the start of buf and
// returns the bytes they take.
func eachWholeBatch(buf []byte, fn func(b []byte, h segment.Header) error) (int64, error) {
	var off int64
	for int64(len(buf))-off >= segment.HeaderSize {
		h, err := segment.ParseHeader(buf[off:])
		if err != nil {
			return off, err
		}
		if h.Size() > int64(len(buf))-off {
			break
		}
		if err := fn(buf[off:off+h.Size()], h); err != nil {
			return off, err
		}
		off += h.Size()
	}
	return off, nil
}
