package partition

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/segment"
)

// leaderEpochFile is Kafka's per-partition leader-epoch-checkpoint: a
// version line, a count line, then "epoch startOffset" per line.
const leaderEpochFile = "leader-epoch-checkpoint"

type epochEntry struct {
	epoch       int32
	startOffset int64
}

// epochCache is the partition's leader epochs and the offset each began at.
// Guarded by the log's mu.
type epochCache struct {
	file    *epochFile // shared by the cache's clones
	entries []epochEntry
	// unsynced: entries differ from the file by an epoch that no record
	// carries yet (AssignLeaderEpoch at the log end). The writer writes
	// the file before the first record of a round (syncEpochs): a crash
	// before that loses only an epoch that covers no record.
	unsynced bool
}

// epochFile is the leader-epoch-checkpoint on disk and what of it is
// durable. An append round writes it whole without an fsync (writeLazy:
// temporary file and rename, so a kill -9 leaves the old or the new file);
// flush fsyncs it (file and directory) when the log is flushed, before the
// recovery point moves past the epochs it holds. A power loss can leave
// the last lazy write lost or the file empty or torn; recovery re-learns
// the epochs of the batches above the recovery point from their
// partitionLeaderEpoch, and all of them when the file does not parse
// (log.go: recover).
type epochFile struct {
	fs   vfs.FS
	path string
	// pdir, for a new log, is made before the first write and synced by
	// flush (nil: the directory exists; flush fsyncs it).
	pdir *partDir
	// mu serialises the file's writes and fsyncs, so a flush makes durable
	// exactly what it saw written. Held across their I/O; never taken with
	// the log's mu held, nor mu taken under it.
	mu      sync.Mutex
	durable []epochEntry // the entries last fsync'd (or read at open); under mu
	// dirtyFrom is the smallest start offset of an entry written since the
	// last fsync and not in durable (math.MaxInt64: none). Set under mu,
	// read without it by a FlushAlways round, which keeps its recovery
	// point below it.
	dirtyFrom atomic.Int64
	// pending: the entries writeLazy recorded since the last fsync and
	// not written yet (nil: none; a recorded copy is never nil, even of no
	// entries); flush writes their text, and they become durable. Under mu.
	pending []epochEntry
}

func newEpochFile(fsys vfs.FS, dir string) *epochFile {
	f := &epochFile{fs: fsys, path: filepath.Join(dir, leaderEpochFile)}
	f.dirtyFrom.Store(math.MaxInt64)
	return f
}

func loadEpochCache(fsys vfs.FS, dir string) (*epochCache, error) {
	c := newEpochCache(fsys, dir)
	err := readCheckpoint(fsys, c.file.path, 2, c.addEntry)
	c.file.durable = slices.Clone(c.entries)
	return c, err
}

// newEpochCache is the empty cache of a new partition in dir.
func newEpochCache(fsys vfs.FS, dir string) *epochCache {
	return &epochCache{file: newEpochFile(fsys, dir)}
}

// addEntry parses one "epoch startOffset" line's fields.
func (c *epochCache) addEntry(f []string) error {
	e, err1 := strconv.ParseInt(f[0], 10, 32)
	o, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("%w: bad leader epoch entry %.40q %.40q", segment.ErrCorrupt, f[0], f[1])
	}
	c.entries = append(c.entries, epochEntry{int32(e), o})
	return nil
}

// clone copies the cache (the writer edits and writes a copy, then
// installs it under mu).
func (c *epochCache) clone() *epochCache {
	return &epochCache{file: c.file, entries: slices.Clone(c.entries), unsynced: c.unsynced}
}

func (c *epochCache) latest() int32 {
	if len(c.entries) == 0 {
		return 0
	}
	return c.entries[len(c.entries)-1].epoch
}

// assign records that epoch starts at offset if it is new. It reports
// whether the file must be rewritten.
func (c *epochCache) assign(epoch int32, offset int64) bool {
	if n := len(c.entries); n > 0 && c.entries[n-1].epoch >= epoch {
		return false
	}
	c.entries = append(c.entries, epochEntry{epoch, offset})
	return true
}

// learn is Kafka's LogSegment.recover rule for a recovered batch: one
// whose partitionLeaderEpoch is newer than the latest known begins that
// epoch at its base offset (assignAt: entries it contradicts go).
func (c *epochCache) learn(h segment.Header) {
	if h.Magic < 2 || h.PartitionLeaderEpoch < 0 {
		return
	}
	if len(c.entries) > 0 && h.PartitionLeaderEpoch <= c.latest() {
		return
	}
	c.assignAt(h.PartitionLeaderEpoch, h.BaseOffset)
}

// truncateFromEnd drops epochs that start at or after offset.
func (c *epochCache) truncateFromEnd(offset int64) bool {
	n := len(c.entries)
	for n > 0 && c.entries[n-1].startOffset >= offset {
		n--
	}
	changed := n != len(c.entries)
	c.entries = c.entries[:n]
	return changed
}

// endOffsetFor is Kafka's LeaderEpochFileCache.endOffsetFor: for the
// latest epoch, the log end; else the start of the first epoch above the
// requested one, with the largest epoch <= requested, or with requested
// itself when it is below every known epoch (the log's start was removed:
// the follower replicates from there); (-1, -1) for an undefined (-1) or
// unknown newer epoch. A log never appended to has no entry and answers
// epoch 0 with its log end.
func (c *epochCache) endOffsetFor(requested int32, logEnd int64) (int64, int32) {
	if requested < 0 {
		return -1, -1
	}
	if len(c.entries) == 0 {
		if requested == 0 {
			return logEnd, 0
		}
		return -1, -1
	}
	if requested == c.latest() {
		return logEnd, requested
	}
	for i := len(c.entries) - 1; i >= 0; i-- {
		if c.entries[i].epoch <= requested {
			if i == len(c.entries)-1 {
				return -1, -1 // requested is above every known epoch
			}
			return c.entries[i+1].startOffset, c.entries[i].epoch
		}
	}
	return c.entries[0].startOffset, requested
}

// assignAt is Kafka's LeaderEpochFileCache.assign: epoch starts at offset,
// after dropping every entry it contradicts (an epoch >= it, or a start
// offset >= offset). It reports whether the cache changed.
func (c *epochCache) assignAt(epoch int32, offset int64) bool {
	if n := len(c.entries); n > 0 && c.entries[n-1] == (epochEntry{epoch, offset}) {
		return false
	}
	n := len(c.entries)
	for n > 0 && (c.entries[n-1].epoch >= epoch || c.entries[n-1].startOffset >= offset) {
		n--
	}
	c.entries = append(c.entries[:n], epochEntry{epoch, offset})
	return true
}

// write writes the whole cache to the leader-epoch-checkpoint, fsync'd
// (epochFile.writeDurableLocked): for the rare changes outside an append round
// (truncation, an epoch begun below the log end, loading).
func (c *epochCache) write() error {
	if err := c.file.write(c.entries, true); err != nil {
		return err
	}
	c.unsynced = false
	return nil
}

// writeLazy records the whole cache as the leader-epoch-checkpoint's next
// text (an append round's new epochs) without writing it: the file is
// written and fsync'd when the log is flushed (epochFile.flush: a flush,
// a roll's flush, Close, the store's flush tick under FlushAlways), and
// until then the recovery point stays below the new entries (dirtyFrom),
// so a crash's recovery re-learns them from the batches.
func (c *epochCache) writeLazy() error {
	if err := c.file.write(c.entries, false); err != nil {
		return err
	}
	c.unsynced = false
	return nil
}

// write replaces the file with entries when durable
// (writeDurableLocked); otherwise it records them for the next flush to
// write.
func (f *epochFile) write(entries []epochEntry, durable bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if durable {
		return f.writeDurableLocked(entries)
	}
	f.pending = append(make([]epochEntry, 0, len(entries)), entries...) // written by flush
	if from := firstNewEntry(f.durable, entries); from < f.dirtyFrom.Load() {
		f.dirtyFrom.Store(from)
	}
	return nil
}

// flush writes the entries writeLazy recorded since the last fsync, if
// any (writeDurableLocked). The log calls it before its recovery point moves
// (a flush, a rolled segment's flush, a clean close).
func (f *epochFile) flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending == nil {
		return nil
	}
	return f.writeDurableLocked(f.pending)
}

// writeDurableLocked replaces the file with the text of entries: the
// partition's directory made if it is not yet (lazydir.go), a temporary
// file fsync'd and renamed over the file, the directory fsync'd (and a
// new directory's name). The entries are then the durable ones, and
// nothing is pending. Under mu.
func (f *epochFile) writeDurableLocked(entries []epochEntry) error {
	if f.pdir != nil {
		if err := f.pdir.Make(); err != nil {
			return err
		}
	}
	if err := writeViaTemp(f.fs, f.path, encodeEpochs(entries), true); err != nil {
		return err
	}
	if err := f.syncDir(); err != nil {
		return err
	}
	f.durable, f.pending = slices.Clone(entries), nil
	f.dirtyFrom.Store(math.MaxInt64)
	return nil
}

// syncDir fsyncs the file's directory (partDir.Sync for a new log's).
func (f *epochFile) syncDir() error {
	if f.pdir != nil {
		return f.pdir.Sync()
	}
	return syncDir(f.fs, filepath.Dir(f.path))
}

// commonPrefix is the number of leading entries a and b share.
func commonPrefix(a, b []epochEntry) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// firstNewEntry is the start offset of the first entry of next that the
// durable file does not hold (math.MaxInt64: none; next only drops
// entries).
func firstNewEntry(durable, next []epochEntry) int64 {
	if n := commonPrefix(durable, next); n < len(next) {
		return next[n].startOffset
	}
	return math.MaxInt64
}

// encodeEpochs is the leader-epoch-checkpoint's text of entries.
func encodeEpochs(entries []epochEntry) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", checkpointVersion, len(entries))
	for _, e := range entries {
		fmt.Fprintf(&b, "%d %d\n", e.epoch, e.startOffset)
	}
	return b.Bytes()
}
