// Package vfs is the small filesystem interface the storage engine (segment,
// mmapindex, partition) does its file I/O through, modelled on pebble's vfs:
// Default is the operating system's; tests wrap it in an error-injecting FS
// (package vfs/errorfs) to fail the k-th write, fsync, truncate or rename
// with ENOSPC, EIO, EROFS or a short write.
//
// Two things need the real file descriptor and bypass the interface: mmap
// (the indexes) and sendfile (the fetch path). File.Fd exposes it, and
// OSFile unwraps a File down to the *os.File the sendfile package takes.
// Neither path writes through the descriptor except the indexes' mmap'd
// entries, which recovery rebuilds rather than trusts. So every File must
// be an OS file or wrap one (Unwrapper).
package vfs

import (
	"errors"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// File is an open file. ReadAt, WriteAt and Pwritev use explicit offsets and
// are safe for concurrent use; Write uses the file position.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Writer
	io.Closer
	// Pwritev writes iov at off with one pwritev(2); n may be short with a
	// nil error (the caller loops). iov must not be empty.
	Pwritev(iov []unix.Iovec, off int64) (n int, err error)
	// Sync flushes the file's data (and its size) to stable storage:
	// fdatasync for a file, fsync for a directory opened with OpenDir.
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	// Fd is the descriptor, for mmap and sendfile; valid until Close.
	Fd() uintptr
	Name() string
}

// FS is a filesystem. Paths are OS paths.
type FS interface {
	// Create creates or truncates name for reading and writing.
	Create(name string) (File, error)
	// Open opens name read-only.
	Open(name string) (File, error)
	// OpenReadWrite opens name for reading and writing, creating it if
	// missing (its contents are kept).
	OpenReadWrite(name string) (File, error)
	// OpenDir opens a directory so that its entries can be fsync'd.
	OpenDir(name string) (File, error)
	Remove(name string) error
	RemoveAll(name string) error
	Rename(oldname, newname string) error
	// Link makes newname a second name of the file oldname (link(2)): no
	// new inode. It fails where the file system has no hard links.
	Link(oldname, newname string) error
	MkdirAll(dir string, perm os.FileMode) error
	// Mkdir creates dir, whose parent exists (one mkdir(2), where MkdirAll
	// looks the path up first).
	Mkdir(dir string, perm os.FileMode) error
	// List returns the entries of dir, sorted by name.
	List(dir string) ([]os.DirEntry, error)
	Stat(name string) (os.FileInfo, error)
}

// Default is the operating system's filesystem.
var Default FS = osFS{}

// Or returns fs, or Default when fs is nil.
func Or(fs FS) FS {
	if fs == nil {
		return Default
	}
	return fs
}

// Unwrapper is a File that wraps another (an error-injecting file does).
type Unwrapper interface{ Unwrap() File }

// OSFile returns the *os.File beneath f (unwrapping wrappers), or nil when
// there is none. Reads and sendfile through it bypass any wrapper.
func OSFile(f File) *os.File {
	for f != nil {
		switch t := f.(type) {
		case *osFile:
			return t.File
		case Unwrapper:
			f = t.Unwrap()
		default:
			return nil
		}
	}
	return nil
}

// ReadFile reads the whole of name.
func ReadFile(fsys FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, st.Size())
	n, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b[:n], nil
}

// SyncDir fsyncs the directory dir, making the creations, renames and
// removals of its entries durable.
func SyncDir(fsys FS, dir string) error {
	d, err := fsys.OpenDir(dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	return errors.Join(serr, d.Close())
}

// IsNotExist reports whether err says a file does not exist.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

type osFS struct{}

func (osFS) Create(name string) (File, error) {
	return wrapOS(os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644))
}

func (osFS) Open(name string) (File, error) { return wrapOS(os.Open(name)) }

func (osFS) OpenReadWrite(name string) (File, error) {
	return wrapOS(os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644))
}

func (osFS) OpenDir(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return &osFile{File: f, dir: true}, nil
}

func (osFS) Remove(name string) error                    { return os.Remove(name) }
func (osFS) RemoveAll(name string) error                 { return os.RemoveAll(name) }
func (osFS) Rename(oldname, newname string) error        { return os.Rename(oldname, newname) }
func (osFS) Link(oldname, newname string) error          { return os.Link(oldname, newname) }
func (osFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }
func (osFS) Mkdir(dir string, perm os.FileMode) error    { return os.Mkdir(dir, perm) }
func (osFS) List(dir string) ([]os.DirEntry, error)      { return os.ReadDir(dir) }
func (osFS) Stat(name string) (os.FileInfo, error)       { return os.Stat(name) }

func wrapOS(f *os.File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return &osFile{File: f}, nil
}

// osFile is an *os.File with Pwritev and fdatasync.
type osFile struct {
	*os.File
	dir bool
}

func (f *osFile) Pwritev(iov []unix.Iovec, off int64) (int, error) {
	return pwritev(int(f.File.Fd()), iov, off)
}

func (f *osFile) Sync() error {
	if f.dir {
		return f.File.Sync()
	}
	for {
		err := unix.Fdatasync(int(f.File.Fd()))
		if err != unix.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}
