package partition

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/segment"
)

// log is the implementation behind Log.
//
// Lock order: cleanMu (one cleaning at a time) → swapMu (segment-file surgery: the cleaner's swap, retention's
// deletes) → wmu (the single writer) → mu (state) → a segment's syncMu → its idx lock;
// a segment's txn.io → txn (its .txnindex, txnindex.go) come after wmu and
// syncMu, never with mu or idx held. pmu (producer state) and cleaner (the
// cleaner's bookkeeping) are taken alone. No lock is held across fsync or a
// network write; wmu is held across the appender's pwritev and, under
// FlushAlways, its fsync, but wmu only serialises writers, never readers.
type log struct {
	fs        vfs.FS
	dir       string
	pdir      *partDir // dir, made on first use for a log created by CreateLogsLazy (lazydir.go)
	topic     string
	partition int32
	topicID   [16]byte
	logger    *slog.Logger
	now       func() time.Time
	cfg       atomic.Pointer[Config]

	// onLogStart is called (without locks) when the log start offset moves,
	// so the store can checkpoint it.
	onLogStart func()
	// observer, if not nil, hears of writes and fsyncs (StoreConfig.Observer).
	observer Observer
	// appendHook, if set, is called after each append round that added
	// records (OnAppend).
	appendHook atomic.Pointer[func()]

	// swapMu serialises changes that rename segment files: the cleaner's
	// swap sequence (swap.go) and the deletion of old segments, so a swap
	// never replaces segments that retention is deleting.
	swapMu sync.Mutex

	// cleaner is the log cleaner's bookkeeping (compaction.go).
	cleaner struct {
		sync.Mutex
		firstDirty int64       // first offset not cleaned; -1: never cleaned
		marks      []cleanMark // past cleanings, for delete.retention.ms
	}
	// cleanMu is held by whoever cleans the log (one cleaning at a time).
	cleanMu sync.Mutex

	// wmu serialises the appender; w is its state.
	wmu sync.Mutex
	w   struct {
		pending []*appendReq // being written by the current round
		bufs    [][]byte     // their bytes for the current segment
		written []batchRef   // the batches behind bufs, indexed once written
		ends    []batchEnd   // the round's batch ends (replicated mode), reused
	}

	mu struct {
		sync.RWMutex
		segments []*logSegment // ascending base; the last is active
		logStart int64
		leo      int64
		hw       int64
		hwSeg    *logSegment // segment that holds the high watermark
		hwPos    int64       // its size at the high watermark
		leoSeg   *logSegment // segment that holds the log end (the active one)
		leoPos   int64       // its size at the log end (published data only)
		// replicated: the high watermark moves only by
		// UpdateHighWatermark (replica.go); ends are the published batch
		// ends above it, ascending, so a move needs no I/O, and unrepl the
		// transactions whose marker is not yet below it (they keep the
		// last stable offset down, as Kafka's unreplicatedTxns).
		replicated bool
		ends       []batchEnd
		unrepl     []completedTxn
		// ckptHW is the high watermark read from the store's
		// replication-offset-checkpoint at open (-1: none), applied by
		// SetReplicated(true).
		ckptHW        int64
		recoveryPoint int64 // everything below is fsync'd
		epochs        *epochCache
		queue         []*appendReq // appends waiting for a writer
		writing       bool
		// owed: writing is set but no goroutine writes yet; the next
		// Wait on one of the queued appends, or the next Append, takes
		// the writer's part (SubmitForWait).
		owed   bool
		closed bool
		werr   error // sticky: the log is in an unknown state

		// syncedEnd is the end the last FlushAlways round fsync'd: the
		// recovery point once the leader-epoch checkpoint is fsync'd too
		// (flushEpochCheckpoint).
		syncedEnd int64

		// cuts counts truncations inside a segment (dropAboveLocked):
		// a read hint noted before one is not trusted after it.
		cuts uint64

		// firstUnstable is the first offset of the oldest open
		// transaction as published (-1: none); the LSO is the lower of it
		// and hw.
		firstUnstable int64
	}

	// hints are where readers at the log's end start next (readhint.go).
	hints readHintSet
	// waitCh is Wait's channel, nil until asked for after a change; set
	// with mu held, read without it (wait).
	waitCh atomic.Pointer[waitChan]
	// changes counts what a reader at the end can see change: each
	// notifyLocked (high watermark, log end, truncation, close), the log
	// start, the leader epochs and going offline (Changes).
	changes atomic.Uint64

	pmu       sync.Mutex
	producers map[int64]*producerEntry
	open      openTxns // producers with an open transaction (txn.go)

	// recoveredBytes counts segment bytes read by recovery (tests check a
	// clean start reads none).
	recoveredBytes atomic.Int64
	// syncs counts the appender's fsyncs (tests check group commit).
	syncs atomic.Int64
	// bg tracks the flushes of rolled segments; Close waits for them.
	bg sync.WaitGroup
}

// openOptions are what the store knows about a log at start-up.
type openOptions struct {
	topic         string
	partition     int32
	topicID       [16]byte
	cfg           Config
	recoveryPoint int64 // -1: unknown (recover everything)
	logStart      int64 // -1: unknown
	cleanerPoint  int64 // cleaner-offset-checkpoint entry; -1: none
	// highWatermark is the replication-offset-checkpoint entry (0 when
	// none, Kafka's default), applied when the log turns replicated.
	highWatermark int64
	clean         bool // the clean-shutdown marker was there
	logger        *slog.Logger
	now           func() time.Time
	onLogStart    func()
	observer      Observer
	fs            vfs.FS // nil: vfs.Default
	// fresh: dir was just created and holds only partition.metadata, so
	// there is nothing to list, clean up, recover or load (a topic
	// creation skips those syscalls for each of its partitions).
	fresh bool
	// lazyDir (with fresh): dir does not exist yet; the first use that
	// writes a file into it makes it (CreateLogsLazy, lazydir.go).
	lazyDir bool
	// metaLinks: the store's partition.metadata sources (metalink.go).
	metaLinks *metaLinks
}

// openLog opens the partition directory dir, recovering it if the last
// shutdown was not clean.
func openLog(dir string, o openOptions) (*Log, error) {
	if err := o.cfg.validate(); err != nil {
		return nil, err
	}
	fsys := vfs.Or(o.fs)
	if !o.fresh {
		if err := fsys.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("cannot create partition directory %q: %w", dir, err)
		}
	}
	pdir := madeDir(fsys, dir, o.topicID)
	if o.lazyDir {
		pdir = lazyDir(fsys, dir, o.topicID, o.metaLinks)
	}
	l := &Log{log{fs: fsys, dir: dir, pdir: pdir, topic: o.topic, partition: o.partition, topicID: o.topicID,
		logger: o.logger, now: o.now, onLogStart: o.onLogStart, observer: o.observer}}
	if l.logger == nil {
		l.logger = slog.Default()
	}
	l.logger = l.logger.With("partition", fmt.Sprintf("%s-%d", o.topic, o.partition))
	if l.now == nil {
		l.now = time.Now
	}
	cfg := o.cfg
	l.cfg.Store(&cfg)
	l.cleaner.firstDirty = -1
	l.mu.ckptHW = o.highWatermark
	if o.cleanerPoint > 0 {
		l.cleaner.firstDirty = o.cleanerPoint
	}
	if err := l.load(o); err != nil {
		l.closeSegments(false)
		return nil, fmt.Errorf("cannot open log %q: %w", dir, err)
	}
	return l, nil
}

// load lists the segments, recovers if needed and sets the offsets.
func (l *log) load(o openOptions) error {
	if o.fresh {
		return l.loadFresh(o)
	}
	bases, err := l.scanDir()
	if err != nil {
		return err
	}
	cfg := l.config()
	for i, base := range bases {
		indexBytes := 0
		if i == len(bases)-1 {
			indexBytes = cfg.SegmentIndexBytes
		}
		s, err := openSegment(l.fs, l.dir, base, indexBytes)
		if err != nil {
			return err
		}
		l.mu.segments = append(l.mu.segments, s)
	}
	if len(l.mu.segments) == 0 {
		start := max(o.logStart, 0)
		s, err := emptySegment(l.fs, l.pdir, start, cfg.SegmentIndexBytes, l.now())
		if err != nil {
			return err
		}
		l.mu.segments = append(l.mu.segments, s)
		o.recoveryPoint, o.clean = start, true
	}
	// segment.ms counts from this start for a reopened active segment.
	l.active().created = l.now()
	relearnAll := false
	if l.mu.epochs, err = loadEpochCache(l.fs, l.dir); err != nil {
		// Appends write the file without an fsync: a power loss can leave
		// it empty or torn. After a clean shutdown it was fsync'd, and a
		// bad file is corruption.
		if o.clean || !errors.Is(err, segment.ErrCorrupt) {
			return err
		}
		l.logger.Warn("leader epoch checkpoint unreadable after an unclean shutdown: re-learning every epoch from the batch headers",
			"err", err)
		l.mu.epochs, relearnAll = newEpochCache(l.fs, l.dir), true
	}
	recovered := !(o.clean && o.recoveryPoint >= l.active().base)
	if recovered {
		err = l.recover(o.recoveryPoint, o.logStart, relearnAll)
	} else {
		err = l.loadClean(o.recoveryPoint)
	}
	if err != nil {
		return err
	}
	// A recovery inside the active segment leaves what it kept as the
	// crash left it, unsynced, and the recovery point where it was, as
	// Kafka's LogLoader does: a second crash recovers the same bytes
	// again, and the log's next flush (or, under FlushAlways, the next
	// round's fsync of the active segment) makes them durable. A recovery
	// that spanned rolled segments fsyncs them all now, since a
	// FlushAlways round fsyncs only the active one before moving the
	// recovery point.
	lazy := recovered && l.mu.recoveryPoint >= l.active().base
	if recovered && !lazy {
		if err := l.flush(); err != nil {
			return err
		}
	}
	first := l.mu.segments[0].base
	l.mu.logStart = max(o.logStart, first)
	if l.mu.logStart > l.mu.leo {
		l.mu.logStart = l.mu.leo
	}
	if err := l.settleEpochs(lazy && !relearnAll); err != nil {
		return err
	}
	if recovered {
		l.mu.firstUnstable = l.open.first(l.producers) // recover rebuilt them
		return nil
	}
	return l.loadProducers()
}

// settleEpochs drops the leader epochs past the log end (their batches
// lost) and writes the checkpoint when that or recovery changed the cache.
// It is written fsync'd, unless lazy allows and the file's entries are all
// still in the cache, so that only entries recovery learned are missing
// from it: those are recorded for the log's next flush (writeLazy), as an
// append round records a new epoch, and until then the recovery point
// stays below them. A torn file, or entries to drop from the file, are
// written at once.
func (l *log) settleEpochs(lazy bool) error {
	ep := l.mu.epochs
	ep.truncateFromEnd(l.mu.leo + 1)
	durable := ep.file.durable
	if slices.Equal(ep.entries, durable) {
		return nil
	}
	if lazy && commonPrefix(durable, ep.entries) == len(durable) {
		return ep.writeLazy()
	}
	return ep.write()
}

// loadFresh sets up the empty log of a directory that was just created
// (o.fresh): its first segment, whose .log and indexes are created on
// first use (freshSegment), no epochs and no producers, without listing or
// reading the directory.
func (l *log) loadFresh(o openOptions) error {
	start := max(o.logStart, 0)
	s := freshSegment(l.fs, l.pdir, start, l.config().SegmentIndexBytes, l.now())
	l.mu.segments = append(l.mu.segments, s)
	l.mu.epochs = newEpochCache(l.fs, l.dir)
	l.mu.epochs.file.pdir = l.pdir
	l.setEnd(start, s, 0)
	l.mu.recoveryPoint = start
	l.mu.logStart = start
	m := make(map[int64]*producerEntry)
	l.producers, l.open = m, newOpenTxns(m)
	l.mu.firstUnstable = l.open.first(m)
	return nil
}

// scanDir removes leftovers of interrupted deletes and cleanings and
// returns the base offsets of the segments, ascending.
func (l *log) scanDir() ([]int64, error) {
	if err := l.finishSwaps(); err != nil {
		return nil, err
	}
	entries, err := l.fs.List(l.dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list %q: %w", l.dir, err)
	}
	var bases []int64
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, deletedSuffix), strings.HasSuffix(name, cleanedSuffix),
			strings.HasSuffix(name, ".tmp"):
			if err := l.fs.Remove(filepath.Join(l.dir, name)); err != nil {
				return nil, fmt.Errorf("cannot remove leftover %q: %w", name, err)
			}
		case strings.HasSuffix(name, logSuffix):
			base, err := strconv.ParseInt(strings.TrimSuffix(name, logSuffix), 10, 64)
			if err != nil || len(name) != 20+len(logSuffix) {
				return nil, fmt.Errorf("unexpected file %q in %q: not a 20-digit base offset", name, l.dir)
			}
			bases = append(bases, base)
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

// loadClean trusts a clean shutdown: the log end offset is the recovery
// point checkpointed at close, and no segment data is read.
func (l *log) loadClean(leo int64) error {
	a := l.active()
	// The indexes give a written segment's largest timestamp; an empty one
	// (a new partition's) opens them on first use.
	if a.log.Size() > 0 {
		if _, err := a.indexes(); err != nil {
			return err
		}
	}
	l.setEnd(leo, a, a.log.Size())
	l.mu.recoveryPoint = leo
	return nil
}

// setEnd moves the log end offset and the high watermark together (a log
// being loaded, a single replica).
func (l *log) setEnd(leo int64, s *logSegment, pos int64) {
	l.mu.leo, l.mu.hw, l.mu.hwSeg, l.mu.hwPos = leo, leo, s, pos
	l.mu.leoSeg, l.mu.leoPos = s, pos
	l.mu.ends = l.mu.ends[:0]
}

// setLEOLocked publishes a new log end at pos of s: with the high watermark
// on a single replica, alone in replicated mode (where a high watermark at
// the old end, the same place, follows the segment a roll started).
func (l *log) setLEOLocked(leo int64, s *logSegment, pos int64) {
	if !l.mu.replicated {
		l.setEnd(leo, s, pos)
		l.mu.ckptHW = -1 // committed as a single replica: the HW is the end
		return
	}
	if l.mu.hw == leo {
		l.mu.hwSeg, l.mu.hwPos = s, pos
	}
	l.mu.leo, l.mu.leoSeg, l.mu.leoPos = leo, s, pos
}

// recover validates every batch from the segment holding the recovery point
// on, rebuilding their indexes and re-learning the leader epochs their
// batches begin (the checkpoint is written lazily, so it may lack them);
// with relearnAll (the checkpoint was unreadable) the earlier segments'
// batch headers are read for their epochs too. A torn or corrupt tail is
// truncated (and every later segment deleted), with the bytes dropped
// logged. Corruption
// below the recovery point, which had been fsync'd, is an error naming file
// and position: nothing is dropped silently.
//
// It rebuilds the producer state on the way, as Kafka's LogSegment.recover
// does, so the recovered bytes are read once: the newest snapshot at or
// below the first recovered segment's base, the batch headers between the
// two replayed (startProducers), then every batch recovery validates
// applied, its aborted transactions written again to the .txnindex that
// recovery emptied. Snapshots past the recovered log end are deleted.
func (l *log) recover(recoveryPoint, logStart int64, relearnAll bool) error {
	segs := l.mu.segments
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > recoveryPoint }) - 1
	i = max(i, 0)
	if relearnAll {
		if err := l.learnEpochs(segs[:i]); err != nil {
			return err
		}
	}
	next := segs[i].base
	from, later, err := l.startProducers(next, max(logStart, segs[0].base))
	if err != nil {
		return err
	}
	for ; i < len(segs); i++ {
		s := segs[i]
		if s.base < next && i > 0 {
			return fmt.Errorf("%w: segment %q starts at offset %d, below the end %d of the one before",
				segment.ErrCorrupt, s.log.Path(), s.base, next)
		}
		end, last, rerr := l.recoverSegment(s, from)
		if rerr != nil && !errors.Is(rerr, segment.ErrCorrupt) && !errors.Is(rerr, segment.ErrTorn) {
			return rerr
		}
		if last >= 0 {
			next = last + 1
		} else {
			next = max(next, s.base)
		}
		if rerr == nil {
			continue
		}
		if err := l.checkTail(s, end, next, recoveryPoint, rerr); err != nil {
			return err
		}
		if err := l.truncateTail(i, end, next, rerr); err != nil {
			return err
		}
		break
	}
	a := l.active()
	l.setEnd(next, a, a.log.Size())
	l.mu.recoveryPoint = max(recoveryPoint, l.mu.segments[0].base)
	for _, off := range later {
		if off > next {
			l.fs.Remove(fileName(l.dir, off, snapshotSuffix)) // as loadLatestSnapshot: the next load retries
		}
	}
	return a.reopenWritable(l.config().SegmentIndexBytes)
}

// recoverSegment rebuilds s's indexes while validating its batches, and
// applies those from offset from on to the producer state (replayBatch,
// rebuilding s's .txnindex). It returns the end of the valid data, the
// last valid offset (-1 if none) and why it stopped early.
func (l *log) recoverSegment(s *logSegment, from int64) (int64, int64, error) {
	// The walk below learns the largest timestamp from every batch:
	// opening an absent time index need not read the headers for it.
	s.idx.Lock()
	s.idx.scanned = true
	s.idx.Unlock()
	if err := s.reopenWritable(l.config().SegmentIndexBytes); err != nil {
		return 0, -1, err
	}
	oi, err := s.indexes()
	if err != nil {
		return 0, -1, err
	}
	oi.Reset()
	ti, _ := s.timeIndex()
	ti.Reset()
	s.maxTS.Store(-1)
	s.maxTSOffset.Store(-1)
	s.bytesSinceIndex = 0
	if err := s.resetTxn(); err != nil {
		return 0, -1, err
	}
	last := int64(-1)
	interval := l.config().IndexIntervalBytes
	var noteErr error
	end, rerr := s.log.Recover(0, func(h segment.Header, pos int64) {
		if noteErr == nil {
			noteErr = s.noteBatch(h, pos, interval)
		}
		if noteErr == nil && h.LastOffset() >= from {
			noteErr = l.replayBatch(s, h, pos, true)
		}
		l.mu.epochs.learn(h)
		last = h.LastOffset()
	})
	l.recoveredBytes.Add(end)
	if noteErr != nil {
		return 0, -1, fmt.Errorf("cannot recover segment %q: %w", s.log.Path(), noteErr)
	}
	if rerr != nil && !errors.Is(rerr, segment.ErrCorrupt) && !errors.Is(rerr, segment.ErrTorn) {
		return 0, -1, fmt.Errorf("cannot recover segment %q: %w", s.log.Path(), rerr)
	}
	if rerr == nil && s != l.active() {
		if err := s.seal(); err != nil {
			return 0, -1, err
		}
	}
	return end, last, rerr
}

// learnEpochs reads the batch headers of segs (below the recovery point:
// fsync'd, not validated again) for the leader epochs they begin.
func (l *log) learnEpochs(segs []*logSegment) error {
	for _, s := range segs {
		err := walkHeaders(s.log, 0, s.log.Size(), func(h segment.Header, _ int64) bool {
			l.mu.epochs.learn(h)
			return true
		})
		if err != nil {
			return fmt.Errorf("cannot read the leader epochs of %q: %w", s.log.Path(), err)
		}
	}
	return nil
}

// checkTail decides whether invalid data at end of s is a torn tail (cut by
// a crash: truncate) or corruption (fail). It is corruption when it lies
// below the recovery point, or when a valid batch follows the bad one.
func (l *log) checkTail(s *logSegment, end, next, recoveryPoint int64, why error) error {
	if next < recoveryPoint {
		return fmt.Errorf("corruption below the recovery point %d in %q at position %d (offset %d): %w",
			recoveryPoint, s.log.Path(), end, next, why)
	}
	h, err := s.log.ReadHeaderAt(end)
	if err != nil || h.Size() <= 0 {
		return nil
	}
	after := end + h.Size()
	if after >= s.log.Size() {
		return nil
	}
	h2, err := s.log.ReadHeaderAt(after)
	if err != nil || h2.BaseOffset <= h.BaseOffset || h2.Size() > s.log.Size()-after {
		return nil
	}
	buf := make([]byte, h2.Size())
	if _, err := s.log.ReadAt(buf, after); err != nil {
		return nil
	}
	if _, err := segment.Validate(buf); err != nil {
		return nil
	}
	return fmt.Errorf("corrupt batch in %q at position %d (offset %d) with valid data after it at %d: %w",
		s.log.Path(), end, next, after, why)
}

// truncateTail cuts segment i at end and deletes every later segment.
func (l *log) truncateTail(i int, end, next int64, why error) error {
	s := l.mu.segments[i]
	dropped := s.log.Size() - end
	zerosOnly := errors.Is(why, segment.ErrZeroTail) && i == len(l.mu.segments)-1
	for _, later := range l.mu.segments[i+1:] {
		dropped += later.log.Size()
		if err := later.markDeleted(); err != nil {
			return err
		}
	}
	l.mu.segments = l.mu.segments[:i+1]
	if err := s.truncate(end, next); err != nil {
		return fmt.Errorf("cannot truncate torn tail of %q: %w", s.log.Path(), err)
	}
	if zerosOnly {
		// The zeros written ahead of the end under fsync=always: nothing lost.
		l.logger.Info("dropped the zeros after the last batch", "file", s.log.Path(),
			"position", end, "bytes_dropped", dropped)
		return nil
	}
	l.logger.Warn("truncated a torn or corrupt tail", "file", s.log.Path(),
		"position", end, "bytes_dropped", dropped, "reason", why.Error())
	return nil
}

// reopenWritable makes a recovered segment the writable active one: its
// indexes preallocated again after recovery sealed nothing.
func (s *logSegment) reopenWritable(indexBytes int) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.idx.Lock()
	defer s.idx.Unlock()
	if s.idx.maxBytes == indexBytes && s.idx.offsets != nil {
		return nil
	}
	if s.idx.offsets != nil {
		if err := errors.Join(s.idx.offsets.Close(), s.idx.times.Close()); err != nil {
			return fmt.Errorf("cannot reopen indexes of segment %d: %w", s.base, err)
		}
		s.idx.offsets, s.idx.times = nil, nil
	}
	s.idx.maxBytes = indexBytes
	_, err := s.indexesLocked()
	return err
}

// loadProducers restores idempotent-producer and transaction state from
// the newest snapshot at or below the log end, replaying the batch
// headers after it (and reading markers), and sets the first unstable
// offset: a log opened without recovery (recover rebuilds it on its way).
func (l *log) loadProducers() error {
	m, snapOff, _, err := loadLatestSnapshot(l.fs, l.dir, l.mu.leo, l.mu.leo)
	if err != nil {
		return err
	}
	l.producers, l.open = m, newOpenTxns(m)
	if err := l.replaySegments(max(snapOff, l.mu.logStart), l.mu.leo); err != nil {
		return err
	}
	l.mu.firstUnstable = l.open.first(m)
	return nil
}

// startProducers loads the newest snapshot at or below atMost, the base of
// the first segment recovery validates, and replays the batch headers
// between it and atMost (from logStart on). It returns where recovery goes
// on applying batches, and the snapshots above atMost, which recover
// deletes if they are past the log end it finds.
func (l *log) startProducers(atMost, logStart int64) (int64, []int64, error) {
	m, snapOff, later, err := loadLatestSnapshot(l.fs, l.dir, math.MaxInt64, atMost)
	if err != nil {
		return 0, nil, err
	}
	l.producers, l.open = m, newOpenTxns(m)
	from := max(snapOff, logStart)
	return from, later, l.replaySegments(from, atMost)
}

// replaySegments applies the batches from offset from up to offset to of
// the segments holding them to the producer state.
func (l *log) replaySegments(from, to int64) error {
	for _, s := range l.mu.segments {
		if from >= to || s.base >= to {
			break
		}
		if next := l.nextBaseLocked(s); next <= from {
			continue
		}
		if err := l.replaySegment(s, from); err != nil {
			return err
		}
	}
	return nil
}

// replaySegment applies s's batches from offset from to the producer
// state.
func (l *log) replaySegment(s *logSegment, from int64) error {
	pos, err := l.positionOf(s, from)
	if err != nil {
		return err
	}
	var ferr error
	err = s.log.ScanFrom(pos, func(h segment.Header, p int64) bool {
		if h.LastOffset() >= from {
			ferr = l.replayBatch(s, h, p, false)
		}
		return ferr == nil
	})
	if err == nil {
		err = ferr
	}
	if err != nil {
		return fmt.Errorf("cannot rebuild producer state from %q: %w", s.log.Path(), err)
	}
	return nil
}

// replayBatch applies the batch h at pos of s to the producer state,
// reading its marker if it is a control batch; with rebuild, the aborted
// transaction an ABORT marker ends is added to s's .txnindex.
func (l *log) replayBatch(s *logSegment, h segment.Header, pos int64, rebuild bool) error {
	var mk *segment.Marker
	if h.Attributes&segment.AttrControl != 0 {
		var err error
		if mk, err = readMarker(s, h, pos); err != nil {
			return err
		}
	}
	if a := l.applyLocked(h, mk); a != nil && rebuild {
		return s.appendAborted(*a)
	}
	return nil
}

// readMarker reads the control batch h at pos of s.
func readMarker(s *logSegment, h segment.Header, pos int64) (*segment.Marker, error) {
	buf := make([]byte, h.Size())
	if _, err := s.log.ReadAt(buf, pos); err != nil {
		return nil, err
	}
	m, err := segment.ParseMarker(buf)
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// nextBaseLocked is the base offset of the segment after s, or the log end.
func (l *log) nextBaseLocked(s *logSegment) int64 {
	segs := l.mu.segments
	for i, t := range segs {
		if t == s && i+1 < len(segs) {
			return segs[i+1].base
		}
	}
	return l.mu.leo
}

// positionOf returns the position of the batch holding offset in s, or the
// position where the scan for it should start: the index's entry at or
// below offset.
func (l *log) positionOf(s *logSegment, offset int64) (int64, error) {
	_, pos, err := s.lookup(offset)
	return pos, err
}

func (l *log) active() *logSegment { return l.mu.segments[len(l.mu.segments)-1] }

func (l *log) config() Config { return *l.cfg.Load() }

func (l *log) setConfig(c Config) error {
	if err := c.validate(); err != nil {
		return err
	}
	l.cfg.Store(&c)
	return nil
}

func (l *log) logStartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.logStart
}

func (l *log) highWatermark() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.hw
}

func (l *log) logEndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.leo
}

func (l *log) leaderEpoch() int32 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.epochs.latest()
}

func (l *log) endOffsetForEpoch(epoch int32) (int64, int32, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	off, e := l.mu.epochs.endOffsetFor(epoch, l.mu.leo)
	return off, e, nil
}

func (l *log) sizeBytes() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.mu.segments {
		n += s.log.Size()
	}
	return n
}

func (l *log) segmentCount() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.mu.segments)
}

// wait returns a channel closed at the next high watermark change.
func (l *log) wait() <-chan struct{} {
	// A channel already made is read without the lock: a Fetch over a
	// thousand partitions takes one per partition before every read,
	// and the log's write lock each time cost more than the read did
	// (BenchmarkFetchSessionIdle). One that notifyLocked is closing
	// meanwhile wakes its taker, as it would have under the lock.
	if w := l.waitCh.Load(); w != nil {
		return w.ch
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.waitCh.Load()
	if w == nil {
		w = &waitChan{ch: make(chan struct{})}
		l.waitCh.Store(w)
	}
	return w.ch
}

// waitChan is a Wait channel behind an atomic pointer.
type waitChan struct{ ch chan struct{} }

// notifyLocked wakes waiters after the high watermark moved.
func (l *log) notifyLocked() {
	l.changes.Add(1)
	if w := l.waitCh.Load(); w != nil {
		l.waitCh.Store(nil)
		close(w.ch)
	}
}

func (l *log) producerStates() map[int64]ProducerState {
	l.pmu.Lock()
	defer l.pmu.Unlock()
	out := make(map[int64]ProducerState, len(l.producers))
	for id, e := range l.producers {
		st := ProducerState{Epoch: e.epoch, LastSequence: -1, LastOffset: -1, LastTimestamp: e.timestamp,
			CoordinatorEpoch: e.coordinatorEpoch, TxnStartOffset: e.txnFirstOffset}
		if b, ok := e.last(); ok {
			st.LastSequence, st.LastOffset = b.lastSeq, b.lastOffset
		}
		out[id] = st
	}
	return out
}

// recoveryPointOf returns the offset below which everything is fsync'd.
func (l *log) recoveryPointOf() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.recoveryPoint
}

// flush fsyncs what was appended and advances the recovery point. A failed
// fsync takes the log offline (offline.go); an offline log returns its
// error and never moves the recovery point.
func (l *log) flush() error {
	l.mu.RLock()
	if l.mu.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	l.mu.RUnlock()
	return l.syncDirty()
}

// syncDirty fsyncs every segment above the recovery point (its .log and
// indexes) and the leader-epoch checkpoint if written since its last fsync,
// and advances the recovery point to the log end seen at the
// start. close calls it after marking the log closed.
func (l *log) syncDirty() error {
	l.mu.RLock()
	if err := l.offlineLocked(); err != nil {
		l.mu.RUnlock()
		return err
	}
	leo := l.mu.leo
	var segs []*logSegment
	for _, s := range l.mu.segments {
		if l.nextBaseLocked(s) > l.mu.recoveryPoint {
			s.acquire()
			segs = append(segs, s)
		}
	}
	file := l.mu.epochs.file
	l.mu.RUnlock()
	var err error
	for _, s := range segs {
		if err == nil {
			err = l.observeSync(s.sync)
		}
		s.Release()
	}
	if err == nil {
		err = file.flush() // the epochs of what the recovery point passes
	}
	if err != nil {
		err = fmt.Errorf("%w: cannot flush %s-%d: %w", ErrStorage, l.topic, l.partition, err)
		l.setOffline(err)
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.offlineLocked(); err != nil {
		return err // a failure elsewhere meanwhile: the point stays
	}
	l.mu.recoveryPoint = max(l.mu.recoveryPoint, leo)
	return nil
}

// flushEpochCheckpoint fsyncs the leader-epoch checkpoint if an append
// wrote it since its last fsync and moves the recovery point to the end
// the last FlushAlways round fsync'd, which that checkpoint held back
// (publishRound): the store's flush tick for FlushAlways logs, which fsyncs
// no segment (their rounds did). A failure takes the log offline.
func (l *log) flushEpochCheckpoint() error {
	l.mu.RLock()
	if err := l.offlineLocked(); err != nil {
		l.mu.RUnlock()
		return err
	}
	file := l.mu.epochs.file
	l.mu.RUnlock()
	if err := file.flush(); err != nil {
		err = fmt.Errorf("%w: cannot flush the leader epoch checkpoint of %s-%d: %w", ErrStorage, l.topic, l.partition, err)
		l.setOffline(err)
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.offlineLocked(); err != nil {
		return err
	}
	if rp := min(l.mu.syncedEnd, file.dirtyFrom.Load()); rp > l.mu.recoveryPoint && rp <= l.mu.leo {
		l.mu.recoveryPoint = rp
	}
	return nil
}

// epochFile is the log's leader-epoch-checkpoint (one for the log's life).
func (l *log) epochFile() *epochFile {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.epochs.file
}

// observeSync runs sync and, with an observer, reports its duration when
// it succeeds.
func (l *log) observeSync(sync func() error) error {
	if l.observer == nil {
		return sync()
	}
	start := time.Now()
	if err := sync(); err != nil {
		return err
	}
	l.observer.Fsynced(l.topic, l.partition, time.Since(start))
	return nil
}

// close seals the active segment's indexes (a final time-index entry, trimmed;
// the segment stays active on disk), fsyncs every segment above the recovery
// point, writes the producer snapshot at the log end and closes every file.
// It waits for an append in progress. An error (or a log already offline)
// leaves the recovery point where it was: the store then writes no
// clean-shutdown marker.
func (l *log) close() error {
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return nil
	}
	l.mu.closed = true
	l.mu.Unlock()
	l.swapMu.Lock() // a swap under way finishes first
	defer l.swapMu.Unlock()
	l.wmu.Lock() // no writer from here on
	defer l.wmu.Unlock()
	l.bg.Wait()
	sealErr := l.sealActive()
	err := l.syncDirty()
	l.mu.Lock()
	leo := l.mu.leo
	l.notifyLocked()
	l.mu.Unlock()
	var snapErr error
	if err == nil && sealErr == nil {
		l.pmu.Lock()
		// A log never written to has no producer state to keep (the next
		// start has nothing to replay): a shutdown with many new, empty
		// partitions writes no file for them.
		if leo > 0 || len(l.producers) > 0 {
			snapErr = writeSnapshot(l.fs, l.dir, leo, l.producers)
		}
		l.pmu.Unlock()
	}
	return errors.Join(sealErr, err, snapErr, l.closeSegments(false))
}

// sealActive seals the active segment's indexes before the final fsync, so
// that what a clean start trusts (the trimmed indexes) is on disk.
func (l *log) sealActive() error {
	l.mu.RLock()
	a := l.active()
	l.mu.RUnlock()
	// A clean start trusts the active .log's length: no zeros after it
	// (seal cuts them too; this also covers an active segment already
	// sealed).
	if err := a.log.TrimAhead(); err != nil {
		err = fmt.Errorf("%w: cannot cut the active segment of %s-%d: %w", ErrStorage, l.topic, l.partition, err)
		l.setOffline(err)
		return err
	}
	if a.idx.maxBytes == 0 {
		return nil
	}
	if err := a.seal(); err != nil {
		err = fmt.Errorf("%w: cannot seal the active segment of %s-%d: %w", ErrStorage, l.topic, l.partition, err)
		l.setOffline(err)
		return err
	}
	return nil
}

// closeDiscarding closes a log that is being deleted: as close, but nothing
// is fsync'd and no snapshot is written (the files are about to go).
func (l *log) closeDiscarding() error {
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return nil
	}
	l.mu.closed = true
	l.notifyLocked()
	l.mu.Unlock()
	l.swapMu.Lock()
	defer l.swapMu.Unlock()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.bg.Wait()
	return l.closeSegments(true)
}

// closeSegments drops the log's reference on every segment, after adding
// the active segment's final time-index entry. Discarding (the log's
// directory is deleted next), it seals nothing and its indexes write
// nothing: sealing created the lazily held index files only for the
// deletion to remove them, half of a 1,000-partition topic's deletion
// (docs/BENCHMARKS.md).
func (l *log) closeSegments(discarding bool) error {
	var errs []error
	for _, s := range l.mu.segments {
		s.noPark.Store(true) // the log's reference goes (segcache.go)
		switch {
		case discarding:
			s.discardIndexes()
		case s.idx.maxBytes > 0:
			errs = append(errs, s.seal())
		}
		s.Release()
	}
	l.mu.segments = nil
	return errors.Join(errs...)
}

var _ io.Closer = (*Log)(nil)

// Close flushes and closes the log (normally the Store does this).
func (l *Log) Close() error { return l.close() }
