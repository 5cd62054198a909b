package partition

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/sluice/sluice/internal/vfs"

	"golang.org/x/sys/unix"
)

// Creating and deleting logs.
//
// A partition directory is created under `<topic>-<partition>.<id>-new`
// (partition.metadata written in it), then renamed to its name, so a crash
// leaves either no directory or one with its topic id; leftovers are removed
// at open. A deleted partition's directory is renamed to
// `<topic>-<partition>.<id>-delete` (Kafka's name) and removed in the
// background (remover.go); leftovers are queued again at open. Many
// partitions at once (CreateLogs, DeleteLogs) pay for durability once: a
// creation ends with one syncfs(2) of the data directory's filesystem
// instead of fsyncs per file, a deletion with one fsync of the data
// directory and one checkpoint write. A directory just
// created this way is opened without listing or reading it (it holds only
// partition.metadata; the first .log is created by the first append): what
// is left per partition is the kernel's work for two new inodes (the
// directory and partition.metadata) and a rename. CreateLogsLazy leaves
// even those to the partition's first write (lazydir.go), for a caller
// that keeps the partitions' existence elsewhere. Making a topic's
// partitions appear or go all together is the caller's (the broker records
// the operation first and finishes it at start, or keeps its topics in the
// metadata log).
//
// A per-topic lock (topicLocks) serialises creations and deletions of one
// topic's logs, so one topic's big creation never waits for, or holds up,
// another topic's; s.mu is taken only to read and update the maps, never
// across file operations. Lock order: a topic lock, then s.mu.

// newDirSuffix marks a partition directory being created.
const newDirSuffix = "-new"

// CreateLogs creates partitions [from, to) of topic (returning existing
// ones as they are), all with topicID and cfg, and makes them durable with
// one syncfs(2) (fewer than syncfsFrom: with fsyncs of their own). progress, if not nil, is called after each partition (a
// test hook: an error stops there, unsynced). On error, the logs created so
// far are returned with it.
func (s *Store) CreateLogs(topic string, from, to int32, topicID [16]byte, cfg Config, progress func(p int32) error) ([]*Log, error) {
	return s.createLogs(topic, from, to, topicID, cfg, progress)
}

// CreateLogsLazy creates partitions [from, to) of topic as CreateLogs
// does, except that their directories are not made: each is made by the
// first use that writes a file into it (the first append, usually), made
// durable by the first fsync there, and a partition never written leaves
// nothing on disk (lazydir.go). So the caller must keep the partitions'
// existence durable itself and create them again at every start: the
// broker's reconciler does, from the metadata log. Creating a
// 1,000-partition topic this way costs no file system call.
func (s *Store) CreateLogsLazy(topic string, from, to int32, topicID [16]byte, cfg Config) ([]*Log, error) {
	defer s.topicLocks.lock(topic)()
	out := make([]*Log, 0, max(to-from, 0))
	for p := from; p < to; p++ {
		l, err := s.createLazy(topicPartition{topic, p}, topicID, cfg)
		if err != nil {
			return out, err
		}
		out = append(out, l)
	}
	return out, nil
}

// DeleteLogs deletes the listed partitions of topic (online or offline; a
// partition that does not exist is skipped): each directory is renamed to
// `<topic>-<p>.<id>-delete`, then the data directory is fsync'd and the
// checkpoints written once. The renamed directories are removed in the
// background (remover.go); a stop before that leaves them to the next
// start. progress is as for CreateLogs, called after each rename.
func (s *Store) DeleteLogs(topic string, partitions []int32, progress func(p int32) error) error {
	return s.deleteLogs(topic, partitions, progress)
}

func (s *store) create(topic string, partition int32, topicID [16]byte, cfg Config) (*Log, error) {
	defer s.topicLocks.lock(topic)()
	return s.createOne(topicPartition{topic, partition}, topicID, cfg, true)
}

func (s *store) createLogs(topic string, from, to int32, id [16]byte, cfg Config, progress func(int32) error) ([]*Log, error) {
	defer s.topicLocks.lock(topic)()
	out := make([]*Log, 0, max(to-from, 0))
	few := to-from < syncfsFrom
	for p := from; p < to; p++ {
		l, err := s.createOne(topicPartition{topic, p}, id, cfg, few)
		if err != nil {
			return out, err
		}
		out = append(out, l)
		if progress != nil {
			if err := progress(p); err != nil {
				return out, err
			}
		}
	}
	if few {
		return out, nil // each one synced its own files and the data directory
	}
	if err := syncFS(s.fs, s.cfg.Dir); err != nil {
		return out, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	return out, nil
}

// syncfsFrom is the number of logs from which createLogs makes them durable
// with one syncfs(2) instead of fsyncs of each log's files and the data
// directory. syncfs flushes every dirty page of the file system, other
// processes' too: a cluster's reconcile creating a one-partition topic
// waited up to 300 ms for it on a shared, busy disk (docs/BENCHMARKS.md,
// "Cluster metadata"), where a few fsyncs take milliseconds.
const syncfsFrom = 8

// createOne creates one log; sync fsyncs its files and the data directory
// (otherwise the caller syncs the filesystem). topic's lock held.
func (s *store) createOne(tp topicPartition, id [16]byte, cfg Config, sync bool) (*Log, error) {
	if l, err := s.existing(tp); l != nil || err != nil {
		return l, err
	}
	dir := filepath.Join(s.cfg.Dir, tp.String())
	made, err := createPartitionDir(s.fs, dir, id, sync, &s.metaLinks)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	o := s.openOptions(tp, id, cfg, 0, 0, true)
	o.fresh = made
	return s.add(tp, dir, o)
}

// createLazy creates one log whose directory is made by its first use
// (CreateLogsLazy). topic's lock held.
func (s *store) createLazy(tp topicPartition, id [16]byte, cfg Config) (*Log, error) {
	if l, err := s.existing(tp); l != nil || err != nil {
		return l, err
	}
	o := s.openOptions(tp, id, cfg, 0, 0, true)
	o.fresh, o.lazyDir = true, true
	return s.add(tp, filepath.Join(s.cfg.Dir, tp.String()), o)
}

// existing returns tp's log if the store has it, an error if it is offline
// or the store closed, and neither if tp is to be created.
func (s *store) existing(tp topicPartition) (*Log, error) {
	s.mu.Lock()
	closed, l, off := s.mu.closed, s.mu.logs[tp], s.mu.offline[tp]
	s.mu.Unlock()
	switch {
	case closed:
		return nil, ErrClosed
	case l != nil:
		return l, nil
	case off != nil:
		return nil, fmt.Errorf("%w: %s: %v", ErrOffline, tp, off.Err)
	}
	return nil, nil
}

// add opens a new log in dir with o and adds it to the store.
func (s *store) add(tp topicPartition, dir string, o openOptions) (*Log, error) {
	l, err := openLog(dir, o)
	if errors.Is(err, ErrInvalidConfig) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		l.Close()
		return nil, ErrClosed
	}
	s.mu.logs[tp] = l
	s.logsChangedLocked()
	s.mu.Unlock()
	return l, nil
}

// createPartitionDir creates dir with its partition.metadata, atomically
// (see newDirSuffix), and reports whether it made it. An existing directory
// whose partition.metadata names topicID (a crash after the rename) is
// kept. The common case costs a mkdir, the file's creation and a rename:
// whether dir exists is learnt from the rename (a missing or empty dir is
// replaced; one with entries refuses), not from a lookup first, which in
// a data directory of 10,000 entries is a directory search of its own.
//
// Without sync, links (nil: none) gives partition.metadata the inode of
// another directory of the same topic when it can (metalink.go), and
// remembers this one's for the next.
func createPartitionDir(fsys vfs.FS, dir string, topicID [16]byte, sync bool, links *metaLinks) (bool, error) {
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := fmt.Sprintf("%s.%s%s", dir, hex.EncodeToString(rnd[:]), newDirSuffix)
	if err := fsys.Mkdir(tmp, 0o755); err != nil {
		return false, fmt.Errorf("cannot create partition directory %q: %w", tmp, err)
	}
	made := true
	var err error
	linked := false
	if src := links.get(topicID); src != "" && !sync {
		linked, err = linkPartitionMetadata(fsys, src, tmp, partitionMetadataBody(topicID))
	}
	if !linked && err == nil {
		err = writePartitionMetadataSync(fsys, tmp, topicID, sync)
	}
	if err == nil {
		err = fsys.Rename(tmp, dir)
		if errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTDIR) {
			made, err = replaceStaleDir(fsys, dir, tmp, topicID)
		}
	}
	if err != nil {
		fsys.RemoveAll(tmp)
		return false, fmt.Errorf("cannot create partition directory %q: %w", dir, err)
	}
	if sync && made {
		return true, syncDir(fsys, filepath.Dir(dir))
	}
	if made && !linked && !sync {
		links.put(topicID, filepath.Join(dir, partitionMetadataFile))
	}
	return made, nil
}

// replaceStaleDir handles an existing dir that the rename of tmp could not
// replace: one whose partition.metadata names topicID is kept (tmp
// removed; false), any other (a stale directory from before directories
// were created this way) is removed and replaced by tmp (true).
func replaceStaleDir(fsys vfs.FS, dir, tmp string, topicID [16]byte) (bool, error) {
	if _, err := fsys.Stat(filepath.Join(dir, partitionMetadataFile)); err == nil {
		if id, err := readPartitionMetadata(dir); err == nil && id == topicID {
			return false, fsys.RemoveAll(tmp)
		}
	}
	if err := fsys.RemoveAll(dir); err != nil {
		return false, err
	}
	return true, fsys.Rename(tmp, dir)
}

func writePartitionMetadataSync(fsys vfs.FS, dir string, id [16]byte, sync bool) error {
	if sync {
		return writePartitionMetadata(fsys, dir, id)
	}
	p := filepath.Join(dir, partitionMetadataFile)
	f, err := fsys.Create(p)
	if err != nil {
		return fmt.Errorf("cannot write %q: %w", p, err)
	}
	_, err = f.Write(partitionMetadataBody(id))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cannot write %q: %w", p, err)
	}
	return nil
}

// syncFS makes everything written on dir's filesystem durable: syncfs(2).
func syncFS(fsys vfs.FS, dir string) error {
	d, err := fsys.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("cannot open directory %q: %w", dir, err)
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("cannot syncfs %q: %w", dir, err)
	}
	return nil
}

// delete closes the log, renames its directory out of the way, and queues
// it for removal in the background (readers still holding a segment keep
// its unlinked file until the last one closes it).
func (s *store) delete(topic string, partition int32) error {
	return s.deleteLogs(topic, []int32{partition}, nil)
}

func (s *store) deleteLogs(topic string, partitions []int32, progress func(int32) error) error {
	defer s.topicLocks.lock(topic)()
	var gone []string
	var errs []error
	for _, p := range partitions {
		g, err := s.detach(topicPartition{topic, p})
		if err != nil {
			errs = append(errs, err)
		} else if g != "" {
			gone = append(gone, g)
		}
		if progress != nil {
			if err := progress(p); err != nil {
				return err
			}
		}
	}
	if len(gone) == 0 {
		return errors.Join(errs...)
	}
	if err := syncDir(s.fs, s.cfg.Dir); err != nil {
		return errors.Join(append(errs, err)...)
	}
	errs = append(errs, s.checkpoint(), s.writeCleanerCheckpoint())
	s.rm.enqueue(gone...) // renamed and durable: the files go in the background
	return errors.Join(errs...)
}

// detach drops tp from the store, closes its log and renames its directory
// for deletion, returning the new name ("" when tp does not exist).
func (s *store) detach(tp topicPartition) (string, error) {
	s.mu.Lock()
	l := s.mu.logs[tp]
	delete(s.mu.logs, tp)
	s.logsChangedLocked()
	off := s.mu.offline[tp]
	delete(s.mu.offline, tp)
	s.mu.Unlock()
	var dir string
	switch {
	case l != nil:
		// Its files are about to go: close without fsyncing them.
		if err := l.closeDiscarding(); err != nil {
			s.logger.Warn("error closing a deleted log", "partition", tp.String(), "err", err)
		}
		if !l.pdir.retire() {
			return "", nil // created lazily and never written: nothing on disk
		}
		dir = l.dir
	case off != nil:
		dir = off.Dir
	default:
		return "", nil
	}
	var id [8]byte
	rand.Read(id[:])
	gone := filepath.Join(s.cfg.Dir, fmt.Sprintf("%s.%s%s", tp, hex.EncodeToString(id[:]), deleteDirSuffix))
	if err := s.fs.Rename(dir, gone); err != nil {
		return "", fmt.Errorf("cannot rename %q for deletion: %w", dir, err)
	}
	return gone, nil
}

// topicLocks holds one mutex per topic name while anyone uses it.
type topicLocks struct {
	mu struct {
		sync.Mutex
		byName map[string]*topicLock
	}
}

type topicLock struct {
	sync.Mutex
	users int // holders and waiters; the entry goes at zero
}

// lock takes topic's lock and returns its unlock.
func (tl *topicLocks) lock(topic string) (unlock func()) {
	tl.mu.Lock()
	if tl.mu.byName == nil {
		tl.mu.byName = map[string]*topicLock{}
	}
	l := tl.mu.byName[topic]
	if l == nil {
		l = &topicLock{}
		tl.mu.byName[topic] = l
	}
	l.users++
	tl.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		tl.mu.Lock()
		if l.users--; l.users == 0 {
			delete(tl.mu.byName, topic)
		}
		tl.mu.Unlock()
	}
}
