package partition

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strconv"

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
	fs      vfs.FS
	path    string
	entries []epochEntry
	// unsynced: entries differ from the file by an epoch that no record
	// carries yet (AssignLeaderEpoch at the log end). The writer writes
	// the file before the first record of a round (syncEpochs): a crash
	// before that loses only an epoch that covers no record.
	unsynced bool
}

func loadEpochCache(fsys vfs.FS, dir string) (*epochCache, error) {
	c := newEpochCache(fsys, dir)
	err := readCheckpoint(fsys, c.path, 2, c.addEntry)
	return c, err
}

// newEpochCache is the empty cache of a new partition in dir.
func newEpochCache(fsys vfs.FS, dir string) *epochCache {
	return &epochCache{fs: fsys, path: filepath.Join(dir, leaderEpochFile)}
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
	return &epochCache{fs: c.fs, path: c.path, entries: append([]epochEntry(nil), c.entries...), unsynced: c.unsynced}
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

// write writes the whole cache to the leader-epoch-checkpoint (fsync'd:
// writeFileAtomic).
func (c *epochCache) write() error {
	if err := writeFileAtomic(c.fs, c.path, c.encode()); err != nil {
		return err
	}
	c.unsynced = false
	return nil
}

// encode is the text of the leader-epoch-checkpoint.
func (c *epochCache) encode() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", checkpointVersion, len(c.entries))
	for _, e := range c.entries {
		fmt.Fprintf(&b, "%d %d\n", e.epoch, e.startOffset)
	}
	return b.Bytes()
}
