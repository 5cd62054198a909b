package partition

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/mmapindex"
	"github.com/sluice/sluice/segment"
)

// File name suffixes, as Kafka names them.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	snapshotSuffix  = ".snapshot"
	deletedSuffix   = ".deleted"
	cleanedSuffix   = ".cleaned"
	swapSuffix      = ".swap"
)

// fileName is the 20-digit zero-padded base offset followed by suffix.
func fileName(dir string, base int64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, suffix))
}

// logSegment is one segment: its .log file and its two indexes, with a
// reference count. The log holds one reference while the segment is in its
// list; every Region handed to a reader holds another. The files are closed
// (and, once deleted, removed) when the count reaches zero.
type logSegment struct {
	base int64
	dir  string
	fs   vfs.FS
	log  *segment.File
	// pdir, set on a log's first segment only (freshSegment), is made
	// before the segment's first file is created.
	pdir *partDir

	refs    atomic.Int32
	deleted atomic.Bool
	// used is set by every acquire; the idle sweep (segcache.go) parks an
	// inactive segment's file only after a sweep interval without one.
	used atomic.Bool
	// noPark is set once the files are about to be renamed (deletion, a
	// cleaner's swap): a parked file could not be reopened by its path.
	noPark atomic.Bool
	// parkAfterFlush is set when a sealed segment was fsync'd (the flush
	// after a roll): the release that leaves only the log's reference parks
	// its file at once rather than at the next sweep.
	parkAfterFlush atomic.Bool

	// syncMu serialises sync's msync and fsync of the indexes with the
	// changes that remap or close them (seal, truncate, reopenWritable,
	// closeFiles), so that sync holds no lock readers take. Taken before
	// idx.
	syncMu sync.Mutex
	// idx guards the indexes, which old segments open lazily on first use.
	// Lookups hold it too: sealing a segment remaps its indexes.
	idx struct {
		sync.Mutex
		offsets  *mmapindex.OffsetIndex
		times    *mmapindex.TimeIndex
		maxBytes int // > 0: open writable (the active segment)
		// suffix follows the index files' names: deletedSuffix once they
		// are renamed for deletion, so a reader still holding the segment
		// opens them by their new names.
		suffix string
		// noFiles: the segment was just created and has no index file,
		// so the first open makes Absent indexes without looking.
		noFiles bool
		// scanned: the largest timestamp was read from the batch headers
		// (a segment whose time index has no file).
		scanned bool
	}

	// maxTS is the largest batch timestamp and maxTSOffset the last offset
	// of the batch that has it; -1 until known.
	maxTS       atomic.Int64
	maxTSOffset atomic.Int64

	// txn is the aborted-transaction index (txnindex.go), read on first
	// use.
	txn struct {
		sync.Mutex            // guards the fields below; never held across I/O
		io         sync.Mutex // the file's writes, fsyncs and first read; taken first
		loaded     bool
		entries    []abortedTxn // appended to or replaced, never changed in place
		dirty      bool         // written since the last sync
		// renamed (guarded by io, not by the Mutex) is set once the file
		// is renamed for deletion: txnPath gives its .deleted name from
		// then on, as the old name may be a new segment's at once.
		renamed bool
	}

	// Appender-only state (the single writer owns it).
	created         time.Time
	bytesSinceIndex int
}

// createSegment creates the files of a new, writable segment at base.
func createSegment(fsys vfs.FS, dir string, base int64, indexBytes int, now time.Time) (*logSegment, error) {
	s, err := createSegmentLazy(fsys, dir, base, indexBytes, now)
	if err != nil {
		return nil, err
	}
	if _, err := s.indexes(); err != nil {
		s.closeFiles()
		return nil, err
	}
	return s, nil
}

// createSegmentLazy creates an empty segment's .log only. Its indexes are
// Absent: their entries (noteBatch) are kept in memory until there are
// many or the segment is sealed, when their files are created (package
// doc, "File descriptors and mappings").
func createSegmentLazy(fsys vfs.FS, dir string, base int64, indexBytes int, now time.Time) (*logSegment, error) {
	if err := removeSegmentLeftovers(fsys, dir, base); err != nil {
		return nil, err
	}
	return newSegmentLazy(fsys, dir, base, indexBytes, now)
}

// emptySegment is the first segment of a log whose directory holds no .log
// (a partition never written, at a later start): its files' leftovers are
// removed and, as for a new partition (freshSegment), its .log is created
// by the first append.
func emptySegment(fsys vfs.FS, dir *partDir, base int64, indexBytes int, now time.Time) (*logSegment, error) {
	if err := removeSegmentLeftovers(fsys, dir.path, base); err != nil {
		return nil, err
	}
	return freshSegment(fsys, dir, base, indexBytes, now), nil
}

// removeSegmentLeftovers removes the files of segment base, if any: a
// leftover from a failed earlier attempt (indexes are created before the
// first append creates the .log) would be taken for data.
func removeSegmentLeftovers(fsys vfs.FS, dir string, base int64) error {
	for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
		p := fileName(dir, base, suffix)
		if _, err := fsys.Stat(p); err == nil {
			if err := fsys.Remove(p); err != nil {
				return fmt.Errorf("cannot clear old segment file: %w", err)
			}
		}
	}
	return nil
}

// newSegmentLazy is createSegmentLazy in a directory known to hold no
// file of this segment (a partition directory just created).
func newSegmentLazy(fsys vfs.FS, dir string, base int64, indexBytes int, now time.Time) (*logSegment, error) {
	s, err := openSegment(fsys, dir, base, indexBytes)
	if err != nil {
		return nil, err
	}
	s.created = now
	s.idx.noFiles = true
	return s, nil
}

// freshSegment is the first segment of a partition directory just created
// (Log.loadFresh): not even its .log exists until the first append (or
// anything else needing a descriptor) creates it, so creating a
// 1,000-partition topic allocates no inode for a .log; the segment's first
// fsync then fsyncs the directory too (segment.CreateLazyFS).
//
// In a directory not made yet (CreateLogsLazy), the .log's creation and the
// indexes' make it first (partDir), and the .log's first fsync fsyncs what
// partDir.Sync does instead of the directory alone.
func freshSegment(fsys vfs.FS, dir *partDir, base int64, indexBytes int, now time.Time) *logSegment {
	s := &logSegment{base: base, dir: dir.path, pdir: dir, fs: fsys,
		log: segment.CreateLazyInFS(fsys, fileName(dir.path, base, logSuffix), dir), created: now}
	s.idx.maxBytes = indexBytes
	s.idx.noFiles = true
	s.refs.Store(1)
	s.maxTS.Store(-1)
	s.maxTSOffset.Store(-1)
	return s
}

// openSegment opens an existing segment's .log; indexBytes > 0 marks it the
// writable active segment. Indexes open on first use.
func openSegment(fsys vfs.FS, dir string, base int64, indexBytes int) (*logSegment, error) {
	f, err := segment.OpenFS(fsys, fileName(dir, base, logSuffix))
	if err != nil {
		return nil, err
	}
	s := &logSegment{base: base, dir: dir, fs: fsys, log: f, created: time.Now()}
	s.idx.maxBytes = indexBytes
	s.refs.Store(1)
	s.maxTS.Store(-1)
	s.maxTSOffset.Store(-1)
	return s, nil
}

// indexes returns the offset index, opening both indexes if needed.
func (s *logSegment) indexes() (*mmapindex.OffsetIndex, error) {
	s.idx.Lock()
	defer s.idx.Unlock()
	return s.indexesLocked()
}

// indexesLocked opens the indexes if they are not open. An index whose
// file does not exist is Absent (empty; a writable one keeps its entries
// in memory until it creates the file). A segment opened from disk whose
// time index has no file learns its largest timestamp from its batch
// headers: a few KiB after a clean stop or a seal (no entry was due), at
// most about 2 MiB after a crash (512 entries kept in memory), which
// recovery then reads again anyway.
func (s *logSegment) indexesLocked() (*mmapindex.OffsetIndex, error) {
	if s.idx.offsets != nil {
		return s.idx.offsets, nil
	}
	oname := fileName(s.dir, s.base, indexSuffix) + s.idx.suffix
	tname := fileName(s.dir, s.base, timeIndexSuffix) + s.idx.suffix
	if s.idx.noFiles {
		s.idx.noFiles = false
		s.idx.offsets = mmapindex.NewOffsetIndexFS(s.fs, oname, s.base, s.idx.maxBytes)
		s.idx.times = mmapindex.NewTimeIndexFS(s.fs, tname, s.base, s.idx.maxBytes)
		return s.idx.offsets, nil
	}
	oi, err := mmapindex.OpenOffsetIndexLazyFS(s.fs, oname, s.base, s.idx.maxBytes)
	if err != nil {
		return nil, fmt.Errorf("cannot open offset index of segment %d: %w", s.base, err)
	}
	ti, err := mmapindex.OpenTimeIndexLazyFS(s.fs, tname, s.base, s.idx.maxBytes)
	if err != nil {
		oi.Close()
		return nil, fmt.Errorf("cannot open time index of segment %d: %w", s.base, err)
	}
	if ti.Absent() && !s.idx.scanned {
		if err := s.scanTimestamps(); err != nil {
			oi.Close()
			ti.Close()
			return nil, err
		}
	}
	s.idx.offsets, s.idx.times = oi, ti
	if ts, off := ti.Last(); ts >= 0 && ts > s.maxTS.Load() {
		s.maxTS.Store(ts)
		s.maxTSOffset.Store(off)
	}
	return oi, nil
}

// scanTimestamps learns the largest batch timestamp from the batch
// headers, for a segment whose time index has no file. It stops quietly
// at a header that does not parse (a torn tail: recovery, if due, deals
// with it); an I/O error is returned.
func (s *logSegment) scanTimestamps() error {
	size := s.log.Size()
	if size == 0 {
		s.idx.scanned = true
		return nil
	}
	maxTS, maxOff, err := maxTimestampBelow(s.log, size)
	if err != nil && !errors.Is(err, segment.ErrCorrupt) && !errors.Is(err, segment.ErrTorn) {
		return fmt.Errorf("cannot read the batch timestamps of %q: %w", s.log.Path(), err)
	}
	if maxTS > s.maxTS.Load() {
		s.maxTS.Store(maxTS)
		s.maxTSOffset.Store(maxOff)
	}
	s.idx.scanned = true
	return nil
}

// lookup returns the index entry at or below offset: the position a scan
// for offset starts from.
func (s *logSegment) lookup(offset int64) (int64, int64, error) {
	s.idx.Lock()
	defer s.idx.Unlock()
	oi, err := s.indexesLocked()
	if err != nil {
		return 0, 0, err
	}
	off, pos := oi.Lookup(offset)
	return off, int64(pos), nil
}

// ceiling returns the index entry with the smallest last offset >= offset
// (its batch's start position), if any.
func (s *logSegment) ceiling(offset int64) (int64, int64, bool, error) {
	s.idx.Lock()
	defer s.idx.Unlock()
	oi, err := s.indexesLocked()
	if err != nil {
		return 0, 0, false, err
	}
	off, pos, ok := oi.Ceiling(offset)
	return off, int64(pos), ok, nil
}

// lookupPosition returns the position of the indexed batch start at or
// below pos (at least 0).
func (s *logSegment) lookupPosition(pos int64) (int64, error) {
	s.idx.Lock()
	defer s.idx.Unlock()
	oi, err := s.indexesLocked()
	if err != nil {
		return 0, err
	}
	_, p := oi.LookupPosition(uint32(min(pos, maxSegmentBytes)))
	return int64(p), nil
}

// offsetAtOrAfter is an upper bound of the offsets of the batches that end
// at or before pos: the last offset + 1 of the first indexed batch starting
// at or after pos, else bound.
func (s *logSegment) offsetAtOrAfter(pos, bound int64) (int64, error) {
	s.idx.Lock()
	defer s.idx.Unlock()
	oi, err := s.indexesLocked()
	if err != nil {
		return 0, err
	}
	n := oi.Entries()
	i := sort.Search(n, func(i int) bool { _, p := oi.Entry(i); return int64(p) >= pos })
	if i == n {
		return bound, nil
	}
	off, _ := oi.Entry(i)
	return min(off+1, bound), nil
}

// lookupTime returns the offset to start a scan for timestamp ts from.
func (s *logSegment) lookupTime(ts int64) (int64, error) {
	s.idx.Lock()
	defer s.idx.Unlock()
	if _, err := s.indexesLocked(); err != nil {
		return 0, err
	}
	_, off := s.idx.times.Lookup(ts)
	return off, nil
}

// timeIndex returns the time index, opening the indexes if needed.
func (s *logSegment) timeIndex() (*mmapindex.TimeIndex, error) {
	s.idx.Lock()
	defer s.idx.Unlock()
	if _, err := s.indexesLocked(); err != nil {
		return nil, err
	}
	return s.idx.times, nil
}

// largestTimestamp is the segment's largest batch timestamp, or the file's
// modification time when it has none (Kafka's rule for retention.ms).
func (s *logSegment) largestTimestamp() (int64, error) {
	if _, err := s.indexes(); err != nil {
		return 0, err
	}
	if ts := s.maxTS.Load(); ts >= 0 {
		return ts, nil
	}
	mt, err := s.logModTime()
	if err != nil {
		return 0, err
	}
	return mt.UnixMilli(), nil
}

// logModTime is the .log's modification time. A segment renamed for
// deletion (or about to be: noPark is set before any rename) is statted
// through its descriptor, held open from then on: its path may name a new
// segment's .log at the same base offset by now, or nothing. Others by
// path, which avoids reopening a parked file; a rename that may have come
// during that stat (noPark set after it) makes it go through the
// descriptor. The caller holds a reference.
func (s *logSegment) logModTime() (time.Time, error) {
	if !s.noPark.Load() {
		fi, err := s.fs.Stat(s.log.Path())
		if !s.noPark.Load() {
			if err != nil {
				return time.Time{}, fmt.Errorf("cannot stat segment: %w", err)
			}
			return fi.ModTime(), nil
		}
	}
	if err := s.holdFileOpen(); err != nil { // waits out a park in progress
		return time.Time{}, fmt.Errorf("cannot stat segment: %w", err)
	}
	f, err := s.log.Handle()
	if err != nil {
		return time.Time{}, fmt.Errorf("cannot stat segment: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		return time.Time{}, fmt.Errorf("cannot stat segment %q: %w", s.log.Path(), err)
	}
	return fi.ModTime(), nil
}

// noteBatch records a batch appended (or recovered) at pos, adding index
// entries every indexInterval bytes as Kafka does: the entry holds the
// batch's last offset and its start position.
func (s *logSegment) noteBatch(h segment.Header, pos int64, indexInterval int) error {
	if h.MaxTimestamp > s.maxTS.Load() {
		s.maxTS.Store(h.MaxTimestamp)
		s.maxTSOffset.Store(h.LastOffset())
	}
	s.bytesSinceIndex += int(h.Size())
	if s.bytesSinceIndex <= indexInterval {
		return nil
	}
	s.bytesSinceIndex = 0
	s.idx.Lock()
	defer s.idx.Unlock()
	oi, err := s.indexesLocked()
	if err != nil {
		return err
	}
	if s.pdir != nil && (oi.Absent() || s.idx.times.Absent()) {
		// The files may be created by this entry or later: in a
		// directory made by the log's first write (lazydir.go), which
		// may not be made yet (the entry is added before the round's
		// pwritev).
		if err := s.pdir.Make(); err != nil {
			return fmt.Errorf("cannot create the indexes of segment %d: %w", s.base, err)
		}
	}
	if err := oi.Append(h.LastOffset(), uint32(pos)); err != nil {
		return fmt.Errorf("cannot add offset index entry to segment %d: %w", s.base, err)
	}
	if err := s.idx.times.Append(s.maxTS.Load(), s.maxTSOffset.Load()); err != nil {
		return fmt.Errorf("cannot add time index entry to segment %d: %w", s.base, err)
	}
	return nil
}

// indexFull reports whether either index has no room for another entry.
func (s *logSegment) indexFull() bool {
	s.idx.Lock()
	defer s.idx.Unlock()
	return s.idx.offsets != nil && (s.idx.offsets.IsFull() || s.idx.times.IsFull())
}

// seal makes the segment inactive: the .log cut at its last batch (the
// zeros written ahead of it dropped, durably), a last time-index entry
// for its largest timestamp, indexes trimmed to their entries (Kafka's
// onBecomeInactive).
func (s *logSegment) seal() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	// Before the next segment takes a batch: a start after a crash reads
	// this one's length as it is when the recovery point is past it.
	if err := s.log.TrimAhead(); err != nil {
		return err
	}
	s.idx.Lock()
	defer s.idx.Unlock()
	if s.idx.offsets == nil {
		return nil
	}
	// A time index without a file and without an entry (none was due)
	// stays so: its largest timestamp is read from the batch headers when
	// it is opened again (indexesLocked), not written into a file of one
	// entry. One holding entries in memory writes them at the trim below.
	if ts := s.maxTS.Load(); ts >= 0 && !(s.idx.times.Absent() && s.idx.times.Entries() == 0) {
		err := s.idx.times.Append(ts, s.maxTSOffset.Load())
		if err != nil && !errors.Is(err, mmapindex.ErrFull) {
			return fmt.Errorf("cannot add final time index entry to segment %d: %w", s.base, err)
		}
	}
	if err := s.idx.offsets.Trim(); err != nil {
		return fmt.Errorf("cannot trim offset index of segment %d: %w", s.base, err)
	}
	if err := s.idx.times.Trim(); err != nil {
		return fmt.Errorf("cannot trim time index of segment %d: %w", s.base, err)
	}
	s.idx.maxBytes = 0
	return nil
}

// sync fsyncs the log and msyncs the indexes. It holds syncMu, not the
// idx lock that lookups take, across the msync and fsync: a slow disk does
// not stall readers.
func (s *logSegment) sync() error {
	if err := s.log.Sync(); err != nil {
		return err
	}
	if err := s.syncTxn(); err != nil {
		return err
	}
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.idx.Lock()
	oi, ti, sealed := s.idx.offsets, s.idx.times, s.idx.maxBytes == 0
	s.idx.Unlock()
	if oi != nil {
		if err := oi.Sync(); err != nil {
			return fmt.Errorf("cannot sync offset index of segment %d: %w", s.base, err)
		}
		if err := ti.Sync(); err != nil {
			return fmt.Errorf("cannot sync time index of segment %d: %w", s.base, err)
		}
	}
	if sealed {
		// Durable now: a rolled segment gives its descriptors back
		// (segcache.go); readers reopen the indexes read-only.
		s.closeIndexesSyncLocked()
		s.parkAfterFlush.Store(true)
	}
	return nil
}

// truncate cuts the segment to pos, dropping index entries for offsets at or
// after next (the first offset no longer in the segment).
func (s *logSegment) truncate(pos int64, next int64) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.idx.Lock()
	if s.idx.offsets != nil {
		s.idx.offsets.TruncateTo(next)
		s.idx.times.TruncateTo(next)
	}
	s.idx.Unlock()
	if err := s.truncateTxn(next); err != nil {
		return err
	}
	return s.log.Truncate(pos)
}

// acquire takes a reference for a reader; callers hold the log's mu so the
// segment cannot be dropped in between. It waits while the idle sweep is
// parking the segment's file (refs holds parkingRefs then, briefly).
func (s *logSegment) acquire() {
	s.used.Store(true)
	for {
		n := s.refs.Load()
		if n < 0 {
			waitRefs()
			continue
		}
		if s.refs.CompareAndSwap(n, n+1) {
			return
		}
	}
}

// Release drops a reference (sendfile.Ref).
func (s *logSegment) Release() {
	n := s.refs.Load()
	for n < 0 || !s.refs.CompareAndSwap(n, n-1) { // n < 0: a park in progress (segcache.go)
		waitRefs()
		n = s.refs.Load()
	}
	switch n--; {
	case n == 1 && s.parkAfterFlush.Swap(false):
		s.parkIfIdle(true)
	case n == 0:
		s.closeFiles()
		if s.deleted.Load() {
			s.removeFiles()
		}
	case n < 0:
		panic(fmt.Sprintf("BUG: segment %d of %s released more often than acquired", s.base, s.dir))
	}
}

// markDeleted renames the files to *.deleted (Kafka's first step), then
// drops the log's own reference: the files go when the last reader is done.
func (s *logSegment) markDeleted() error {
	if err := s.renameForDeletion(); err != nil {
		return err
	}
	s.dropDeleted()
	return nil
}

// renameForDeletion is markDeleted's first half: the files renamed to
// *.deleted (open descriptors and maps keep working; indexes not opened
// yet are opened by their new names), the log's reference kept.
//
// Open indexes are renamed through themselves (RenameTo): they reopen
// their files by path to trim and fsync, and the old names are free for a
// new segment at the same base offset (a truncation to the log's first
// offset, a cleaner's swap). Closed by an old name, an index trimmed the
// new segment's mapped .index to its own entries, and the new segment's
// next index entry past that size faulted (SIGBUS).
//
// The .txnindex, also reached by path (read lazily, written, cut, fsync'd),
// is renamed last, under its own lock (renameTxnForDeletion): from then on
// it is reached by its .deleted name.
func (s *logSegment) renameForDeletion() error {
	if err := s.holdFileOpen(); err != nil {
		return err
	}
	if err := s.renameLogAndIndexes(); err != nil {
		return err
	}
	return s.renameTxnForDeletion()
}

// renameLogAndIndexes renames the .log and the indexes (renameForDeletion).
func (s *logSegment) renameLogAndIndexes() error {
	s.syncMu.Lock() // sync reopens the open indexes by their paths
	defer s.syncMu.Unlock()
	s.idx.Lock() // no index opened by its old name while they move
	defer s.idx.Unlock()
	for _, suffix := range segmentSuffixes {
		if suffix == txnIndexSuffix {
			continue // renameTxnForDeletion
		}
		p := fileName(s.dir, s.base, suffix)
		if err := s.renameFileLocked(p, suffix); err != nil && !vfs.IsNotExist(err) {
			return fmt.Errorf("cannot rename %q for deletion: %w", p, err)
		}
		if suffix == timeIndexSuffix {
			s.idx.suffix = deletedSuffix
		}
	}
	return nil
}

// renameFileLocked renames the segment's file p (of suffix) to its
// .deleted name, through the index when it is open. syncMu and idx held.
func (s *logSegment) renameFileLocked(p, suffix string) error {
	switch {
	case suffix == indexSuffix && s.idx.offsets != nil:
		return s.idx.offsets.RenameTo(p + deletedSuffix)
	case suffix == timeIndexSuffix && s.idx.times != nil:
		return s.idx.times.RenameTo(p + deletedSuffix)
	}
	return s.fs.Rename(p, p+deletedSuffix)
}

// renameTxnForDeletion renames the .txnindex to its .deleted name under
// txn.io, which every access of the file by its path holds (txnPath):
// none reaches it by its old name after this. Neither syncMu nor idx is
// held: a flush's fsync of the file that it waits for stalls no lookup.
func (s *logSegment) renameTxnForDeletion() error {
	s.txn.io.Lock()
	defer s.txn.io.Unlock()
	p := fileName(s.dir, s.base, txnIndexSuffix)
	if err := s.fs.Rename(p, p+deletedSuffix); err != nil && !vfs.IsNotExist(err) { // most segments have none
		return fmt.Errorf("cannot rename %q for deletion: %w", p, err)
	}
	s.txn.renamed = true
	return nil
}

// dropDeleted is markDeleted's second half: the log's reference goes, and
// with the last one the files.
func (s *logSegment) dropDeleted() {
	s.deleted.Store(true)
	s.Release()
}

func (s *logSegment) removeFiles() {
	for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
		s.fs.Remove(fileName(s.dir, s.base, suffix) + deletedSuffix)
	}
}

// discardIndexes makes the indexes' close write nothing (mmapindex's
// Discard): the segment's directory is about to be deleted.
func (s *logSegment) discardIndexes() {
	s.idx.Lock()
	defer s.idx.Unlock()
	if s.idx.offsets != nil {
		s.idx.offsets.Discard()
		s.idx.times.Discard()
	}
}

// closeFiles closes the .log and unmaps the indexes explicitly.
func (s *logSegment) closeFiles() error {
	var errs []error
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.idx.Lock()
	if s.idx.offsets != nil {
		errs = append(errs, s.idx.offsets.Close(), s.idx.times.Close())
		s.idx.offsets, s.idx.times = nil, nil
	}
	s.idx.Unlock()
	errs = append(errs, s.log.Close())
	return errors.Join(errs...)
}

// maxTimestampBelow is the largest batch max timestamp among the batches
// of f before limit, and the last offset of the batch that has it (-1, -1
// when there is none), read from the batch headers. A header that does
// not parse ends the walk with its error (segment.ErrCorrupt,
// segment.ErrTorn) and what was found before it.
func maxTimestampBelow(f io.ReaderAt, limit int64) (maxTS, maxOff int64, err error) {
	maxTS, maxOff = -1, -1
	err = walkHeaders(f, 0, limit, func(h segment.Header, _ int64) bool {
		if h.MaxTimestamp > maxTS {
			maxTS, maxOff = h.MaxTimestamp, h.LastOffset()
		}
		return true
	})
	return maxTS, maxOff, err
}
