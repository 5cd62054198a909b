package partition

import (
	"fmt"
	"path/filepath"
	"sync"

	"github.com/sluice/sluice/internal/vfs"
)

// partDir is a log's directory. A log opened from disk, or created by
// CreateLogs, has it from the start; a log created by CreateLogsLazy does
// not: the first use that writes a file into it (the first append creating
// the first .log, an index, the leader-epoch checkpoint, a truncation that
// starts the log at another offset) makes it, atomically as CreateLogs
// does (a `-new` name with partition.metadata, renamed into place), and
// the first fsync of a file in it (Sync) also fsyncs partition.metadata
// and the data directory, so the directory is as durable as the first
// bytes fsync'd in it. Until then the partition exists only in memory and
// in whatever made the caller create it (the broker's metadata log, whose
// reconciler creates it again at every start).
//
// mu is held across the directory's creation: only the users that need the
// directory wait for it, never a reader of the log's state.
type partDir struct {
	fs      vfs.FS
	path    string
	topicID [16]byte
	links   *metaLinks
	mu      struct {
		sync.Mutex
		made     bool // the directory exists
		retired  bool // the log is being deleted: Make refuses
		unsynced bool // made by Make, partition.metadata and the data directory not fsync'd yet
	}
}

// madeDir is the partDir of a directory that exists.
func madeDir(fsys vfs.FS, path string, topicID [16]byte) *partDir {
	d := &partDir{fs: fsys, path: path, topicID: topicID}
	d.mu.made = true
	return d
}

// lazyDir is the partDir of a directory not made yet.
func lazyDir(fsys vfs.FS, path string, topicID [16]byte, links *metaLinks) *partDir {
	return &partDir{fs: fsys, path: path, topicID: topicID, links: links}
}

// Make creates the directory if it does not exist yet. A failure is
// returned (and the next call tries again); after retire it refuses.
func (d *partDir) Make() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.mu.made:
		return nil
	case d.mu.retired:
		return fmt.Errorf("cannot create partition directory %q: %w", d.path, ErrClosed)
	}
	if _, err := createPartitionDir(d.fs, d.path, d.topicID, false, d.links); err != nil {
		return err
	}
	d.mu.made, d.mu.unsynced = true, true
	return nil
}

// Sync fsyncs the directory and, the first time after Make created it,
// partition.metadata first and the data directory after, so the new
// directory's name and contents are durable.
func (d *partDir) Sync() error {
	d.mu.Lock()
	fresh := d.mu.unsynced
	d.mu.Unlock()
	if fresh {
		if err := syncFile(d.fs, filepath.Join(d.path, partitionMetadataFile)); err != nil {
			return err
		}
	}
	if err := syncDir(d.fs, d.path); err != nil {
		return err
	}
	if !fresh {
		return nil
	}
	if err := syncDir(d.fs, filepath.Dir(d.path)); err != nil {
		return err
	}
	d.mu.Lock()
	d.mu.unsynced = false
	d.mu.Unlock()
	return nil
}

// retire stops later Makes (the log is being deleted) and reports whether
// the directory exists.
func (d *partDir) retire() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mu.retired = true
	return d.mu.made
}

// syncFile fsyncs the file at path.
func syncFile(fsys vfs.FS, path string) error {
	f, err := fsys.Open(path)
	if err != nil {
		return fmt.Errorf("cannot open %q to fsync it: %w", path, err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cannot fsync %q: %w", path, err)
	}
	return nil
}
