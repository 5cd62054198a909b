package partition

import (
	"errors"
	"fmt"
	"math"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/mmapindex"
	"github.com/sluice/sluice/segment"
)

// cleanedSeg is one new segment being written as <base>.log.cleaned (and
// .index.cleaned, .timeindex.cleaned), indexed as the appender indexes.
type cleanedSeg struct {
	fs         vfs.FS
	dir        string
	base       int64
	log        *segment.File
	oi         *mmapindex.OffsetIndex
	ti         *mmapindex.TimeIndex
	size       int64 // bytes written and pending
	last       int64 // last offset written, -1
	sinceIndex int
	maxTS      int64
	maxTSOff   int64
	pending    [][]byte
	pendBytes  int
	aborted    []abortedTxn // its .txnindex, written by finish when not empty
}

func createCleaned(fsys vfs.FS, dir string, base int64, indexBytes int) (*cleanedSeg, error) {
	c := &cleanedSeg{fs: fsys, dir: dir, base: base, last: -1, maxTS: -1, maxTSOff: -1}
	c.removeFiles() // leftovers of an abandoned cleaning
	var err error
	if c.log, err = segment.OpenFS(fsys, c.path(logSuffix)); err != nil {
		return nil, err
	}
	if c.oi, err = mmapindex.OpenOffsetIndexFS(fsys, c.path(indexSuffix), base, indexBytes); err != nil {
		c.close()
		return nil, fmt.Errorf("cannot create cleaned index: %w", err)
	}
	if c.ti, err = mmapindex.OpenTimeIndexFS(fsys, c.path(timeIndexSuffix), base, indexBytes); err != nil {
		c.close()
		return nil, fmt.Errorf("cannot create cleaned time index: %w", err)
	}
	return c, nil
}

// path is the .cleaned name of one of the segment's files.
func (c *cleanedSeg) path(suffix string) string {
	return fileName(c.dir, c.base, suffix) + cleanedSuffix
}

// fits reports whether a batch of n bytes ending at last may join.
func (c *cleanedSeg) fits(n int64, last int64, cfg Config) bool {
	return c.size+n <= cfg.SegmentBytes && last-c.base <= math.MaxUint32 && !c.oi.IsFull() && !c.ti.IsFull()
}

// add queues b (copied) and indexes it every index.interval.bytes.
func (c *cleanedSeg) add(b []byte, h segment.Header, interval int) error {
	pos := c.size
	c.pending = append(c.pending, append([]byte(nil), b...))
	c.pendBytes += len(b)
	c.size += int64(len(b))
	c.last = h.LastOffset()
	if h.MaxTimestamp > c.maxTS {
		c.maxTS, c.maxTSOff = h.MaxTimestamp, h.LastOffset()
	}
	c.sinceIndex += len(b)
	if c.sinceIndex > interval {
		c.sinceIndex = 0
		if err := c.oi.Append(h.LastOffset(), uint32(pos)); err != nil {
			return fmt.Errorf("cannot index cleaned segment %d: %w", c.base, err)
		}
		if err := c.ti.Append(c.maxTS, c.maxTSOff); err != nil {
			return fmt.Errorf("cannot time-index cleaned segment %d: %w", c.base, err)
		}
	}
	if c.pendBytes >= 1<<20 {
		return c.flush()
	}
	return nil
}

func (c *cleanedSeg) flush() error {
	if len(c.pending) == 0 {
		return nil
	}
	if _, err := c.log.Append(c.pending); err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	c.pending, c.pendBytes = c.pending[:0], 0
	return nil
}

// finish writes what is pending, adds the final time-index entry, trims
// the indexes, fsyncs all three files and closes them.
func (c *cleanedSeg) finish() error {
	err := c.flush()
	if err == nil && c.maxTS >= 0 {
		if aerr := c.ti.Append(c.maxTS, c.maxTSOff); aerr != nil && !errors.Is(aerr, mmapindex.ErrFull) {
			err = aerr
		}
	}
	for _, f := range []func() error{c.oi.Trim, c.ti.Trim, c.oi.Sync, c.ti.Sync, c.log.Sync, c.writeTxnIndex} {
		if err == nil {
			err = f()
		}
	}
	return errors.Join(err, c.close())
}

func (c *cleanedSeg) close() error {
	var errs []error
	if c.oi != nil {
		errs = append(errs, c.oi.Close())
		c.oi = nil
	}
	if c.ti != nil {
		errs = append(errs, c.ti.Close())
		c.ti = nil
	}
	if c.log != nil {
		errs = append(errs, c.log.Close())
		c.log = nil
	}
	return errors.Join(errs...)
}

// writeTxnIndex writes and fsyncs the .txnindex.cleaned, if any entry.
func (c *cleanedSeg) writeTxnIndex() error {
	if len(c.aborted) == 0 {
		return nil
	}
	var b []byte
	for _, a := range c.aborted {
		b = a.appendTo(b)
	}
	f, err := c.fs.Create(c.path(txnIndexSuffix))
	if err != nil {
		return fmt.Errorf("%w: cannot create cleaned transaction index: %w", ErrStorage, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%w: cannot write cleaned transaction index: %w", ErrStorage, err)
	}
	return nil
}

// removeFiles deletes the .cleaned and .swap files of the segment.
func (c *cleanedSeg) removeFiles() {
	for _, suffix := range segmentSuffixes {
		for _, p := range []string{fileName(c.dir, c.base, suffix) + cleanedSuffix, fileName(c.dir, c.base, suffix) + swapSuffix} {
			if _, err := c.fs.Stat(p); err == nil {
				c.fs.Remove(p)
			}
		}
	}
}

// groupWriter writes the kept batches of one group into new segments: the
// first named after the group's first segment, another started when one
// is full (re-encoded batches may take more room than the originals).
type groupWriter struct {
	l    *log
	cfg  Config
	outs []*cleanedSeg
}

func (w *groupWriter) add(b []byte, h segment.Header) error {
	cur := w.outs[len(w.outs)-1]
	if cur.size > 0 && !cur.fits(int64(len(b)), h.LastOffset(), w.cfg) {
		next, err := createCleaned(w.l.fs, w.l.dir, h.BaseOffset, w.cfg.SegmentIndexBytes)
		if err != nil {
			return err
		}
		w.outs = append(w.outs, next)
	}
	return w.outs[len(w.outs)-1].add(b, h, w.cfg.IndexIntervalBytes)
}

// endMarker adds an empty segment at base when the kept records end
// before it: the new segments then cover every old segment's base, so a
// swap interrupted by a crash finishes exactly (see finishSwaps).
func (w *groupWriter) endMarker(base int64) error {
	cur := w.outs[len(w.outs)-1]
	if cur.base >= base || cur.last >= base {
		return nil
	}
	s, err := createCleaned(w.l.fs, w.l.dir, base, w.cfg.SegmentIndexBytes)
	if err != nil {
		return err
	}
	w.outs = append(w.outs, s)
	return nil
}

func (w *groupWriter) finish() error {
	for _, s := range w.outs {
		if err := s.finish(); err != nil {
			return err
		}
	}
	return nil
}

// abandon closes and removes every file written.
func (w *groupWriter) abandon() {
	for _, s := range w.outs {
		s.close()
		s.removeFiles()
	}
}

// cleanGroup rewrites the segments of g keeping the latest record of every
// key and swaps the result in.
func (c *cleaner) cleanGroup(l *log, g []*logSegment, end, horizon int64, cfg Config, st *CleanerStats) (err error) {
	first, err := createCleaned(l.fs, l.dir, g[0].base, cfg.SegmentIndexBytes)
	if err != nil {
		return err
	}
	w := &groupWriter{l: l, cfg: cfg, outs: []*cleanedSeg{first}}
	crashed := false
	defer func() {
		if err != nil && !crashed {
			w.abandon()
		}
	}()
	for _, s := range g {
		st.BytesRead += s.log.Size()
		err := c.forEachBatch(s, func(b []byte, h segment.Header) error {
			return c.filterBatch(w, b, h, horizon, st)
		})
		if err != nil {
			return err
		}
	}
	if err := w.endMarker(g[len(g)-1].base); err != nil {
		return err
	}
	if err := w.finish(); err != nil {
		return err
	}
	for _, s := range w.outs {
		st.BytesWritten += s.size
	}
	if err := cleanerStep(stepCleaned); err != nil {
		crashed = true
		return err
	}
	committed, err := l.swapIn(g, w.outs)
	crashed = committed || errors.Is(err, errInjectedCrash)
	return err
}

// filterBatch writes b as it is when every record stays, nothing when none
// does, else the kept records re-encoded as batches of contiguous offsets.
// Markers and aborted transactions follow cleantxn.go.
func (c *cleaner) filterBatch(w *groupWriter, b []byte, h segment.Header, horizon int64, st *CleanerStats) error {
	if h.Attributes&segment.AttrControl != 0 {
		return c.filterMarker(w, b, h, horizon, st)
	}
	if c.txns != nil && c.txns.onData(h) {
		st.RecordsRead += int64(h.NumRecords)
		st.RecordsRemoved += int64(h.NumRecords)
		return nil
	}
	c.kept = c.kept[:0]
	err := segment.Records(b, func(r segment.Record) bool {
		st.RecordsRead++
		if c.retain(&r, horizon) {
			c.keep(&r)
		} else {
			st.RecordsRemoved++
		}
		return true
	})
	if err != nil {
		return err
	}
	switch {
	case len(c.kept) == 0:
		return nil
	case len(c.kept) == int(h.NumRecords):
		return w.add(b, h)
	}
	return c.writeRuns(w, b, h)
}

// filterMarker keeps a control batch as it is unless it may go and is
// below the horizon; a kept ABORT marker takes its .txnindex entry along.
func (c *cleaner) filterMarker(w *groupWriter, b []byte, h segment.Header, horizon int64, st *CleanerStats) error {
	st.RecordsRead++
	removable, entry := false, (*abortedTxn)(nil)
	if m, err := segment.ParseMarker(b); err == nil && c.txns != nil {
		removable, entry = c.txns.onMarker(h, m)
	}
	if removable && h.LastOffset() < horizon {
		st.RecordsRemoved++
		return nil
	}
	if err := w.add(b, h); err != nil {
		return err
	}
	if entry != nil {
		cur := w.outs[len(w.outs)-1]
		cur.aborted = append(cur.aborted, *entry)
	}
	return nil
}

// retain is the cleaner's rule: a record stays when it has a key, is the
// latest of its key (or its key is past the mapped section), and is not a
// tombstone below the tombstone horizon.
func (c *cleaner) retain(r *segment.Record, horizon int64) bool {
	if r.KeyNull {
		return false
	}
	if off, ok := c.m.get(hashKey(r.Key)); ok && r.Offset < off {
		return false
	}
	return !(r.ValueNull && r.Offset < horizon)
}

// keep copies r into the arena (its slices alias the batch).
func (c *cleaner) keep(r *segment.Record) {
	k := segment.Record{Offset: r.Offset, Timestamp: r.Timestamp, KeyNull: r.KeyNull, ValueNull: r.ValueNull}
	k.Key = c.copyBytes(r.Key)
	k.Value = c.copyBytes(r.Value)
	for _, hd := range r.Headers {
		v := hd.Value
		if v != nil {
			v = c.copyBytes(v)
		}
		k.Headers = append(k.Headers, segment.RecordHeader{Key: hd.Key, Value: v})
	}
	c.kept = append(c.kept, k)
}

// copyBytes copies b (nil stays nil).
func (c *cleaner) copyBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

// writeRuns encodes the kept records as one batch per run of contiguous
// offsets, keeping the producer fields (the base sequence of each run is
// its first record's) and the codec.
func (c *cleaner) writeRuns(w *groupWriter, b []byte, h segment.Header) error {
	spec := segment.BatchSpec{
		PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		Attributes:           h.Attributes,
		ProducerID:           h.ProducerID,
		ProducerEpoch:        h.ProducerEpoch,
		Xerial:               h.Compression() == segment.CodecSnappy && segment.IsXerial(b),
		BaseTimestamp:        h.BaseTimestamp,
		MaxTimestamp:         h.MaxTimestamp,
	}
	for i := 0; i < len(c.kept); {
		j := i + 1
		for j < len(c.kept) && c.kept[j].Offset == c.kept[j-1].Offset+1 {
			j++
		}
		spec.BaseSequence = -1
		if h.BaseSequence >= 0 {
			spec.BaseSequence = nextSeq(h.BaseSequence, int32(c.kept[i].Offset-h.BaseOffset))
		}
		nb, err := segment.EncodeBatch(spec, c.kept[i:j])
		if err != nil {
			return err
		}
		nh, err := segment.ParseHeader(nb)
		if err != nil {
			return fmt.Errorf("BUG: re-encoded batch does not parse: %w", err)
		}
		if err := w.add(nb, nh); err != nil {
			return err
		}
		i = j
	}
	return nil
}
