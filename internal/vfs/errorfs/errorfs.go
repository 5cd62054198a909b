// Package errorfs wraps a vfs.FS to inject faults, as pebble's errorfs
// does: every mutating call (create, write, fsync, truncate, rename,
// remove, mkdir, link) is shown to an Injector, which may fail it with an error
// (ENOSPC, EIO, EROFS…) or, for a write, make it short. The FS records the
// calls it saw, so a test can first count the calls of a run and then fail
// each in turn.
//
// Reads are passed through untouched, and so are mmap and sendfile, which
// use the real descriptor (vfs.File.Fd).
package errorfs

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/sluice/sluice/internal/vfs"
)

// Kind is the kind of a mutating call.
type Kind uint8

const (
	OpCreate   Kind = iota // Create, OpenReadWrite (opening for writing)
	OpWrite                // Write, WriteAt, Pwritev
	OpSync                 // File.Sync of a file
	OpSyncDir              // File.Sync of a directory opened with OpenDir
	OpTruncate             // File.Truncate
	OpRename               // FS.Rename
	OpRemove               // FS.Remove, FS.RemoveAll
	OpMkdir                // FS.MkdirAll, FS.Mkdir
	OpLink                 // FS.Link (the path is the new name)
)

var kindNames = [...]string{"create", "write", "sync", "syncdir", "truncate", "rename", "remove", "mkdir", "link"}

func (k Kind) String() string { return kindNames[k] }

// Op is one mutating call: its kind and the path it is on.
type Op struct {
	Kind Kind
	Path string
}

func (o Op) String() string { return o.Kind.String() + " " + o.Path }

// Injector decides the fate of each call: nil lets it run, ErrShortWrite
// (writes only) writes half of its bytes and returns the short count, any
// other error fails it without touching the file.
type Injector interface {
	Inject(op Op) error
}

// InjectorFunc adapts a function to Injector.
type InjectorFunc func(Op) error

func (f InjectorFunc) Inject(op Op) error { return f(op) }

// ErrShortWrite, returned by an Injector for a write, makes it short.
var ErrShortWrite = errors.New("errorfs: short write")

// FS is an error-injecting vfs.FS.
type FS struct {
	inner  vfs.FS
	inj    Injector
	noSync bool
	mu     struct {
		sync.Mutex
		ops []Op
	}
}

// Wrap returns inner with faults from inj (nil: none, only recording).
func Wrap(inner vfs.FS, inj Injector) *FS { return &FS{inner: inner, inj: inj} }

// SkipSyncs makes fsyncs that are not failed succeed without reaching the
// disk (they are still recorded and shown to the injector): for tests that
// reopen without a power loss, where a real fsync only costs time.
func (fs *FS) SkipSyncs() *FS {
	fs.noSync = true
	return fs
}

// Ops returns the mutating calls seen so far, in order.
func (fs *FS) Ops() []Op {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]Op(nil), fs.mu.ops...)
}

// Reset forgets the recorded calls.
func (fs *FS) Reset() {
	fs.mu.Lock()
	fs.mu.ops = nil
	fs.mu.Unlock()
}

// check records op and asks the injector about it.
func (fs *FS) check(op Op) error {
	fs.mu.Lock()
	fs.mu.ops = append(fs.mu.ops, op)
	fs.mu.Unlock()
	if fs.inj == nil {
		return nil
	}
	err := fs.inj.Inject(op)
	if err == nil || errors.Is(err, ErrShortWrite) {
		return err
	}
	return &os.PathError{Op: op.Kind.String(), Path: op.Path, Err: err}
}

func (fs *FS) Create(name string) (vfs.File, error) {
	if err := fs.check(Op{OpCreate, name}); err != nil {
		return nil, err
	}
	return fs.wrap(fs.inner.Create(name))
}

func (fs *FS) Open(name string) (vfs.File, error) { return fs.wrap(fs.inner.Open(name)) }

func (fs *FS) OpenReadWrite(name string) (vfs.File, error) {
	if err := fs.check(Op{OpCreate, name}); err != nil {
		return nil, err
	}
	return fs.wrap(fs.inner.OpenReadWrite(name))
}

func (fs *FS) OpenDir(name string) (vfs.File, error) {
	f, err := fs.inner.OpenDir(name)
	if err != nil {
		return nil, err
	}
	return &file{File: f, fs: fs, dir: true}, nil
}

func (fs *FS) Remove(name string) error {
	if err := fs.check(Op{OpRemove, name}); err != nil {
		return err
	}
	return fs.inner.Remove(name)
}

func (fs *FS) RemoveAll(name string) error {
	if err := fs.check(Op{OpRemove, name}); err != nil {
		return err
	}
	return fs.inner.RemoveAll(name)
}

func (fs *FS) Rename(oldname, newname string) error {
	if err := fs.check(Op{OpRename, newname}); err != nil {
		return err
	}
	return fs.inner.Rename(oldname, newname)
}

func (fs *FS) Link(oldname, newname string) error {
	if err := fs.check(Op{OpLink, newname}); err != nil {
		return err
	}
	return fs.inner.Link(oldname, newname)
}

func (fs *FS) Mkdir(dir string, perm os.FileMode) error {
	if err := fs.check(Op{OpMkdir, dir}); err != nil {
		return err
	}
	return fs.inner.Mkdir(dir, perm)
}

func (fs *FS) MkdirAll(dir string, perm os.FileMode) error {
	if _, err := fs.inner.Stat(dir); err == nil {
		return nil // nothing to create: not a mutation
	}
	if err := fs.check(Op{OpMkdir, dir}); err != nil {
		return err
	}
	return fs.inner.MkdirAll(dir, perm)
}

func (fs *FS) List(dir string) ([]os.DirEntry, error) { return fs.inner.List(dir) }
func (fs *FS) Stat(name string) (os.FileInfo, error)  { return fs.inner.Stat(name) }

func (fs *FS) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &file{File: f, fs: fs}, nil
}

// file injects faults into one open file's writes, syncs and truncates.
type file struct {
	vfs.File
	fs  *FS
	dir bool
}

func (f *file) Unwrap() vfs.File { return f.File }

func (f *file) Write(p []byte) (int, error) {
	switch err := f.fs.check(Op{OpWrite, f.Name()}); {
	case errors.Is(err, ErrShortWrite):
		n, werr := f.File.Write(p[:len(p)/2])
		if werr == nil {
			werr = fmt.Errorf("errorfs: short write of %d of %d bytes: %w", n, len(p), syscall.EIO)
		}
		return n, werr
	case err != nil:
		return 0, err
	}
	return f.File.Write(p)
}

func (f *file) WriteAt(p []byte, off int64) (int, error) {
	switch err := f.fs.check(Op{OpWrite, f.Name()}); {
	case errors.Is(err, ErrShortWrite):
		n, werr := f.File.WriteAt(p[:len(p)/2], off)
		if werr == nil {
			werr = fmt.Errorf("errorfs: short write of %d of %d bytes: %w", n, len(p), syscall.EIO)
		}
		return n, werr
	case err != nil:
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

// Pwritev with ErrShortWrite writes the first half of the bytes and returns
// that count with no error, as the kernel does (the caller must loop).
func (f *file) Pwritev(iov []unix.Iovec, off int64) (int, error) {
	switch err := f.fs.check(Op{OpWrite, f.Name()}); {
	case errors.Is(err, ErrShortWrite):
		half := vfs.IovecLen(iov) / 2
		if half == 0 {
			return 0, nil
		}
		short := make([]unix.Iovec, 0, len(iov))
		for _, v := range iov {
			if half == 0 {
				break
			}
			n := min(int64(v.Len), half)
			short = append(short, unix.Iovec{Base: v.Base, Len: uint64(n)})
			half -= n
		}
		return f.File.Pwritev(short, off)
	case err != nil:
		return 0, err
	}
	return f.File.Pwritev(iov, off)
}

func (f *file) Sync() error {
	kind := OpSync
	if f.dir {
		kind = OpSyncDir
	}
	if err := f.fs.check(Op{kind, f.Name()}); err != nil {
		return err
	}
	if f.fs.noSync {
		return nil
	}
	return f.File.Sync()
}

func (f *file) Truncate(size int64) error {
	if err := f.fs.check(Op{OpTruncate, f.Name()}); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

// Rule fails the k-th call (counting from 1) that Match accepts, and with
// Sticky every matching call after it too (a full disk, a filesystem
// remounted read-only). Safe for concurrent use.
type Rule struct {
	Match  func(Op) bool // nil: every call
	K      int
	Err    error
	Sticky bool

	mu  sync.Mutex
	n   int
	hit *Op
}

// OnIndex fails the k-th call that match accepts with err.
func OnIndex(k int, match func(Op) bool, err error) *Rule {
	return &Rule{Match: match, K: k, Err: err}
}

// ENOSPC is a full disk from the k-th write or create on: every later one
// fails too.
func ENOSPC(k int) *Rule {
	return &Rule{Match: Kinds(OpWrite, OpCreate), K: k, Err: syscall.ENOSPC, Sticky: true}
}

// ReadOnly is a filesystem remounted read-only at the k-th mutating call.
func ReadOnly(k int) *Rule {
	return &Rule{K: k, Err: syscall.EROFS, Sticky: true}
}

func (r *Rule) Inject(op Op) error {
	if r.Match != nil && !r.Match(op) {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	if r.n == r.K || (r.Sticky && r.n > r.K) {
		if r.hit == nil {
			r.hit = &op
		}
		return r.Err
	}
	return nil
}

// Hit returns the first call the rule failed.
func (r *Rule) Hit() (Op, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hit == nil {
		return Op{}, false
	}
	return *r.hit, true
}

// Kinds matches calls of the given kinds.
func Kinds(kinds ...Kind) func(Op) bool {
	return func(op Op) bool {
		for _, k := range kinds {
			if op.Kind == k {
				return true
			}
		}
		return false
	}
}

// Under narrows match to paths inside dir (or ending in suffix when dir
// begins with "*", e.g. "*.log").
func Under(dir string, match func(Op) bool) func(Op) bool {
	return func(op Op) bool {
		if match != nil && !match(op) {
			return false
		}
		if suffix, ok := strings.CutPrefix(dir, "*"); ok {
			return strings.HasSuffix(op.Path, suffix)
		}
		return strings.HasPrefix(op.Path, dir+string(os.PathSeparator))
	}
}
