package mmapindex

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/edsrzf/mmap-go"
	"golang.org/x/sys/unix"

	"github.com/sluice/sluice/internal/vfs"
)

// mapped is the file, mapping and entry count both index kinds share.
//
// Concurrency: one goroutine runs every method but the lookups; lookups read
// the published count (an atomic, stored after the entry bytes are written)
// and then only entries below it, so they may run during an Append. Trim,
// TruncateTo and Close must not run concurrently with lookups.
type mapped struct {
	path       string
	base       int64
	esize      int
	fs         vfs.FS
	m          mmap.MMap // nil when nothing is mapped
	rw         bool      // m is writable: Append has room up to len(m)
	fdWritable bool      // opened writable: trim, truncate and fsync reopen the file by path
	n          atomic.Int64
	closed     bool
	werr       error // sticky: a failed TruncateTo; returned by every later call
	fresh      bool  // the file was empty at open: no entries to count
	written    int64 // the file's size at open, before preallocation
	// absent: there is no file. m is then a heap buffer (or nil) holding
	// the entries appended so far (writable, maxBytes > 0), grown up to
	// memMaxEntries; the append past that, or a trim (a roll, Close),
	// creates the file (see create, materialize).
	absent   bool
	maxBytes int
	renamed  bool // renameTo was called: Close of an absent index creates nothing
	// discarded: discard was called: close unmaps and writes nothing (the
	// file, if any, goes with its partition's directory).
	discarded bool
}

// An absent writable index keeps its first entries in memory, and creates
// its file at the append past memMaxEntries or at Trim (a segment's roll,
// or Close): a partition's first few MiB cost no index file, and one that
// never gets that far before a roll or a restart pays for the file once,
// sized to its entries, instead of preallocating and mapping 10 MiB.
const (
	memFirstEntries = 16
	memMaxEntries   = 512 // a 4 KiB page of offset entries: ~2 MiB of log at index.interval.bytes 4096
)

// orderError is an Append out of order; it wraps ErrOrder.
type orderError struct {
	path                string
	offset, pos         int64 // pos is the timestamp when time is set
	lastOffset, lastPos int64
	time                bool
}

func (e *orderError) Error() string {
	if e.time {
		return fmt.Sprintf("index %q: %v: (timestamp %d, offset %d) after (timestamp %d, offset %d)",
			e.path, ErrOrder, e.pos, e.offset, e.lastPos, e.lastOffset)
	}
	return fmt.Sprintf("index %q: %v: (offset %d, position %d) after (offset %d, position %d)",
		e.path, ErrOrder, e.offset, e.pos, e.lastOffset, e.lastPos)
}

func (e *orderError) Unwrap() error { return ErrOrder }

// continues reports whether entry i (> 0) extends the run ending at i-1.
type continues func(m []byte, i int) bool

// How open treats a file that does not exist.
const (
	missingCreate = iota // create it (writable) or fail (read-only)
	missingAbsent        // an absent index (see mapped.absent)
	knownAbsent          // the caller knows there is none: no lookup
)

func (x *mapped) open(fsys vfs.FS, path string, base int64, esize, maxBytes int, cont continues, missing int) error {
	if maxBytes < 0 {
		return fmt.Errorf("cannot open index %q: negative maxBytes %d", path, maxBytes)
	}
	x.fs, x.path, x.base, x.esize, x.maxBytes = vfs.Or(fsys), path, base, esize, maxBytes
	if missing == knownAbsent {
		x.absent = true
		return nil
	}
	if missing == missingAbsent && maxBytes > 0 {
		// Opened writable, the file would be created: look first.
		if _, err := x.fs.Stat(path); vfs.IsNotExist(err) {
			x.absent = true
			return nil
		}
	}
	if err := x.openFile(maxBytes); err != nil {
		if missing == missingAbsent && vfs.IsNotExist(err) {
			x.absent = true
			return nil
		}
		return fmt.Errorf("cannot open index %q: %w", path, err)
	}
	if x.fresh {
		// Nothing to count, and reading the new sparse mapping would
		// fault pages in for nothing (measured: ~2 ms an index).
		x.n.Store(0)
		return nil
	}
	// The mapping is MADV_RANDOM (see mapLocked); the counting scan is
	// sequential over the bytes the file had, so ask for those at once.
	if w := min(x.written, int64(len(x.m))); w > 0 {
		_ = unix.Madvise(x.m[:w], unix.MADV_WILLNEED) // a hint; the scan works without it
	}
	x.n.Store(int64(countRun(x.m, esize, cont)))
	return nil
}

func (x *mapped) openFile(maxBytes int) error {
	open := x.fs.Open
	if maxBytes > 0 {
		open = x.fs.OpenReadWrite
	}
	f, err := open(x.path)
	if err != nil {
		return err
	}
	x.fdWritable = maxBytes > 0
	err = x.mapFile(f, maxBytes)
	// Only the mapping is kept, as Kafka's AbstractIndex does: a writable
	// index reopens its file by path for the rare truncate and fsync, so
	// a log holds one descriptor (its active .log), not three.
	if cerr := f.Close(); err == nil && cerr != nil {
		x.unmap()
		err = cerr
	}
	return err
}

// create makes the file of an absent writable index: created (emptied
// if a leftover is there), preallocated and mapped. On failure the index
// stays absent (a leftover file holds no entry: zeros or nothing).
func (x *mapped) create() error {
	mem := x.m
	f, err := x.fs.Create(x.path)
	if err != nil {
		return fmt.Errorf("cannot create index %q: %w", x.path, err)
	}
	x.m = nil
	err = x.mapFile(f, x.maxBytes)
	if cerr := f.Close(); err == nil && cerr != nil {
		x.unmap()
		err = cerr
	}
	if err != nil {
		x.m, x.rw = mem, false
		return fmt.Errorf("cannot create index %q: %w", x.path, err)
	}
	copy(x.m, mem[:x.entries()*x.esize])
	x.absent, x.fdWritable = false, true
	return nil
}

// materialize writes an absent index's buffered entries into a new file
// of their size, mapped read-only (a trim: the index is sealed). With no
// entry it stays absent: no file.
func (x *mapped) materialize() error {
	n := x.entries()
	if n == 0 {
		x.m, x.maxBytes = nil, 0
		return nil
	}
	mem := x.m[:n*x.esize]
	err := func() error {
		f, err := x.fs.Create(x.path)
		if err != nil {
			return err
		}
		_, err = f.Write(mem)
		if err == nil {
			err = x.mapLocked(f, int64(len(mem)), false)
		}
		if cerr := f.Close(); err == nil && cerr != nil {
			x.unmap()
			err = cerr
		}
		return err
	}()
	if err != nil {
		x.m, x.rw = mem, false
		return fmt.Errorf("cannot create index %q: %w", x.path, err)
	}
	x.absent, x.fdWritable, x.maxBytes = false, true, 0
	return nil
}

// grow makes room for another entry in an absent index's buffer, or
// creates its file once the buffer holds memMaxEntries.
func (x *mapped) grow() error {
	n := x.entries()
	limit := int(x.roundDown(int64(x.maxBytes))) / x.esize
	if n < len(x.m)/x.esize || n >= limit {
		return nil // room, or full (ErrFull follows)
	}
	if n >= memMaxEntries {
		return x.create()
	}
	c := min(max(2*n, memFirstEntries), memMaxEntries, limit)
	buf := make([]byte, c*x.esize)
	copy(buf, x.m)
	x.m = buf
	return nil
}

// renameTo renames the file to path; the index is at path afterwards
// even if the file was gone, so that it never reopens the old name. An
// absent index only changes its path (its first append, if any, creates
// the file there).
func (x *mapped) renameTo(path string) error {
	old := x.path
	x.path = path
	if x.absent {
		x.renamed = true
		return nil
	}
	if err := x.fs.Rename(old, path); err != nil {
		return fmt.Errorf("cannot rename index %q to %q: %w", old, path, err)
	}
	return nil
}

// discard makes close write nothing: no trim, and an absent index creates
// no file.
func (x *mapped) discard() { x.discarded = true }

// exists reports whether the index file is still at its path (a segment
// being deleted renames its files first).
func (x *mapped) exists() bool {
	_, err := x.fs.Stat(x.path)
	return !vfs.IsNotExist(err)
}

// withFile runs fn on the index file, opened read-write for the call.
func (x *mapped) withFile(fn func(f vfs.File) error) error {
	f, err := x.fs.OpenReadWrite(x.path)
	if err != nil {
		return err
	}
	err = fn(f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

// syncFile fsyncs the index file if it is still at its path.
func (x *mapped) syncFile() error {
	f, err := x.fs.Open(x.path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

// mapFile preallocates (writable) and maps the file.
func (x *mapped) mapFile(f vfs.File, maxBytes int) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := x.roundDown(st.Size())
	x.fresh, x.written = st.Size() == 0, st.Size()
	if maxBytes > 0 {
		capBytes := x.roundDown(int64(maxBytes))
		if capBytes == 0 {
			return fmt.Errorf("maxBytes %d holds no %d-byte entry", maxBytes, x.esize)
		}
		size = max(size, capBytes) // a bigger file keeps its entries
		if st.Size() != size {
			if err := f.Truncate(size); err != nil {
				return err
			}
		}
	}
	return x.mapLocked(f, size, maxBytes > 0)
}

func (x *mapped) roundDown(n int64) int64 { return n / int64(x.esize) * int64(x.esize) }

// mapLocked maps the first size bytes of f (nothing when size is 0).
func (x *mapped) mapLocked(f vfs.File, size int64, rw bool) error {
	x.m, x.rw = nil, false
	if size == 0 {
		return nil
	}
	osf := vfs.OSFile(f)
	if osf == nil {
		return fmt.Errorf("BUG: index file %q is not an OS file: cannot mmap it", x.path)
	}
	prot := mmap.RDONLY
	if rw {
		prot = mmap.RDWR
	}
	m, err := mmap.MapRegion(osf, int(size), prot, 0, 0)
	if err != nil {
		return fmt.Errorf("cannot mmap %d bytes: %w", size, err)
	}
	// Lookups touch a few entries at random, and Append one page at a
	// time: without MADV_RANDOM each first touch of a page made the
	// kernel read around it, zero-filling 128 KiB of a sparse
	// preallocated file into the page cache (measured: 90% of the
	// broker's CPU at 1,000 partitions x 1 KiB).
	if err := unix.Madvise(m, unix.MADV_RANDOM); err != nil {
		m.Unmap()
		return fmt.Errorf("cannot madvise %d bytes: %w", size, err)
	}
	x.m, x.rw = m, rw
	return nil
}

func (x *mapped) unmap() error {
	if x.m == nil {
		return nil
	}
	if x.absent { // a heap buffer
		x.m, x.rw = nil, false
		return nil
	}
	err := x.m.Unmap()
	x.m, x.rw = nil, false
	return err
}

// countRun is the length of the leading run of entries that continue each
// other. A lone all-zero first entry with room after it is taken for
// preallocated space, not an entry: a crash before the first Append must not
// leave one behind (and the entry it could be, base offset at position 0, is
// what an empty index answers anyway).
func countRun(m []byte, esize int, cont continues) int {
	capacity := len(m) / esize
	n := 0
	for n < capacity && (n == 0 || cont(m, n)) {
		n++
	}
	if n == 1 && capacity > 1 && allZero(m[:esize]) {
		n = 0
	}
	return n
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func (x *mapped) entries() int { return int(x.n.Load()) }

func (x *mapped) capacity() int {
	if x.absent {
		return int(x.roundDown(int64(x.maxBytes))) / x.esize // the buffer grows up to it
	}
	if !x.rw {
		return x.entries()
	}
	return len(x.m) / x.esize
}

func (x *mapped) isFull() bool { return x.entries() >= x.capacity() }

// slot is entry i's bytes.
func (x *mapped) slot(i int) []byte { return x.m[i*x.esize : (i+1)*x.esize] }

// checkRoom returns ErrFull (wrapped) when no entry can be appended.
func (x *mapped) checkRoom() error {
	if x.werr != nil {
		return x.werr
	}
	if x.closed {
		return fmt.Errorf("index %q: append after close", x.path)
	}
	if x.absent && x.maxBytes > 0 {
		if err := x.grow(); err != nil {
			return err
		}
	}
	if x.isFull() {
		return fmt.Errorf("index %q: %d entries: %w", x.path, x.entries(), ErrFull)
	}
	return nil
}

// relative converts an absolute offset to the entry's uint32 field.
func (x *mapped) relative(offset int64) (uint32, error) {
	rel := offset - x.base
	if offset < x.base || rel > 1<<32-1 {
		return 0, fmt.Errorf("index %q: offset %d outside [%d, %d]: %w", x.path, offset, x.base, x.base+1<<32-1, ErrOrder)
	}
	return uint32(rel), nil
}

// clampRelative maps a lookup target to the uint32 range; ok is false when
// it lies below the base offset.
func (x *mapped) clampRelative(offset int64) (rel uint32, ok bool) {
	switch {
	case offset < x.base:
		return 0, false
	case offset-x.base > 1<<32-1:
		return 1<<32 - 1, true
	default:
		return uint32(offset - x.base), true
	}
}

// count returns how many leading entries satisfy pred, which must hold
// for a prefix of the entries and fail for the rest (a binary search, as
// sort.Search).
func (x *mapped) count(pred func(i int) bool) int {
	lo, hi := 0, x.entries()
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if pred(mid) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// truncateToRelative keeps the entries whose relative offset (relAt) is
// below offset's.
func (x *mapped) truncateToRelative(offset int64, relAt func(i int) uint32) {
	rel, ok := x.clampRelative(offset)
	keep := 0
	switch {
	case offset >= x.base && offset-x.base > 1<<32-1:
		keep = x.entries()
	case ok:
		keep = x.count(func(i int) bool { return relAt(i) < rel })
	}
	x.mustTruncate(keep)
}

// publish makes the entry just written at slot n visible.
func (x *mapped) publish(n int) { x.n.Store(int64(n + 1)) }

// mustTruncate keeps the first n entries; an error is kept as sticky (the
// contract's TruncateTo returns none) and returned by every later call.
func (x *mapped) mustTruncate(n int) {
	if err := x.truncateEntries(n); err != nil && x.werr == nil {
		x.werr = err
	}
}

// truncateEntries keeps the first n entries. A writable mapping has the
// dropped entries zeroed (so a crash cannot bring them back); a trimmed file
// is cut and remapped; a read-only file changes only in memory.
func (x *mapped) truncateEntries(n int) error {
	old := x.entries()
	if n >= old {
		return nil
	}
	x.n.Store(int64(n))
	switch {
	case x.rw:
		clear(x.m[n*x.esize : old*x.esize])
		return nil
	case x.fdWritable && !x.closed:
		return x.resize(int64(n * x.esize))
	}
	return nil
}

// resize unmaps, cuts the file to size and maps it read-only again.
func (x *mapped) resize(size int64) error {
	defer func() { // never publish more entries than are mapped
		x.n.Store(min(x.n.Load(), int64(len(x.m)/x.esize)))
	}()
	if err := x.unmap(); err != nil {
		return fmt.Errorf("cannot unmap index %q: %w", x.path, err)
	}
	return x.withFile(func(f vfs.File) error {
		if err := f.Truncate(size); err != nil {
			return fmt.Errorf("cannot truncate index %q to %d: %w", x.path, size, err)
		}
		if err := x.mapLocked(f, size, false); err != nil {
			return fmt.Errorf("index %q: %w", x.path, err)
		}
		return nil
	})
}

func (x *mapped) sync() error {
	if x.closed || x.werr != nil {
		return x.werr
	}
	if x.rw {
		if err := x.m.Flush(); err != nil {
			return fmt.Errorf("cannot msync index %q: %w", x.path, err)
		}
	}
	if x.fdWritable {
		// A file renamed away for deletion has nothing left to make
		// durable: opened without creating it (read-only suffices for
		// fsync), so that no empty index of no segment appears at its path.
		if err := x.syncFile(); err != nil && !vfs.IsNotExist(err) {
			return fmt.Errorf("cannot fsync index %q: %w", x.path, err)
		}
	}
	return nil
}

func (x *mapped) trim() error {
	if x.closed || x.werr != nil {
		return x.werr
	}
	if x.absent {
		if err := x.materialize(); err != nil {
			x.werr = err
			return err
		}
		return nil
	}
	if !x.rw {
		return nil
	}
	if err := x.resize(int64(x.entries() * x.esize)); err != nil {
		x.werr = err
		return err
	}
	return nil
}

func (x *mapped) close() error {
	if x.closed {
		return nil
	}
	if x.discarded {
		return x.finishClose(nil)
	}
	if x.absent && x.renamed { // renamed for deletion: no file to write
		x.n.Store(0)
		x.unmap()
	}
	if x.rw && !x.exists() {
		// Renamed away for deletion (a torn tail's later segments, an
		// aborted roll): nothing left to trim.
		x.rw = false
	}
	err := x.trim()
	if x.werr != nil {
		err = nil // trim returned it; report it once below
	}
	return x.finishClose(errors.Join(err, x.werr))
}

// finishClose marks the index closed and unmaps it, adding a failed unmap
// to err.
func (x *mapped) finishClose(err error) error {
	x.closed = true
	x.n.Store(0)
	if uerr := x.unmap(); uerr != nil {
		err = errors.Join(err, fmt.Errorf("cannot unmap index %q: %w", x.path, uerr))
	}
	return err
}
