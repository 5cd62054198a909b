package segment

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluice/sluice/internal/vfs"
)

// Read sizes: ScanFrom reads headers through a window of scanChunk bytes;
// Recover reads whole batches through one of at least recoverChunk bytes.
const (
	scanChunk    = 64 << 10
	recoverChunk = 1 << 20
	// streamThreshold is the largest batch Recover reads whole.
	streamThreshold = 64 << 20
	// maxIovecs is Linux's IOV_MAX: pwritev takes at most this many buffers.
	maxIovecs = vfs.MaxIovecs
	// writebackChunk: once this many appended bytes of a segment are not
	// yet handed to the kernel's writeback, append starts writing them back
	// (sync_file_range SYNC_FILE_RANGE_WRITE, asynchronous, no fsync). Left
	// alone, dirty pages pile up to vm.dirty_background_ratio (GBs on a big
	// machine) and are then written back all at once, stalling appends for
	// tens of ms (see docs/BENCHMARKS.md, "16 x 1 KiB at a fixed rate").
	writebackChunk = 1 << 20
	// maxWriteBytes bounds one pwritev: a larger write is made in calls
	// of this many bytes. On the benchmark VM one call of 16 MiB into the
	// page cache cost 1.1-1.8 CPU-s per GB, the same bytes in calls of
	// 1-4 MiB 0.28-0.35 (docs/BENCHMARKS.md, "appends in calls of at
	// most 2 MiB"); the calls it adds cost nothing next to the copy.
	maxWriteBytes = 2 << 20
	pageSize      = 4096
	// zeroAheadMaxSync, zeroAheadMaxGap and zeroAheadChunk: a file whose
	// last fsync covered fewer than zeroAheadMaxSync appended bytes and
	// came less than zeroAheadMaxGap after the one before (fsync=always
	// under a stream of small requests) keeps zeros written ahead of its
	// end, zeroAheadChunk past it, topped up when less than half of that
	// is left (see the package doc, "Zeros written ahead"). A file fsync'd
	// now and then gets none: its fsyncs' cost is no bottleneck, and a
	// MiB of zeros for each of thousands of quiet partitions would be.
	zeroAheadMaxSync = 256 << 10
	zeroAheadChunk   = 1 << 20
)

// zeroAheadMaxGap: see zeroAheadMaxSync (a variable for the tests).
var zeroAheadMaxGap = 10 * time.Millisecond

// zeroes is what append writes ahead of a file's end (never written to;
// as bss it costs no memory).
var zeroes [zeroAheadChunk + pageSize]byte

type file struct {
	// h is the open file, nil while parked (Park); handle reopens it by
	// path through fs unless closed. hmu serialises reopening, parking and
	// closing.
	fs     vfs.FS
	h      atomic.Pointer[handle]
	hmu    sync.Mutex
	closed bool // Close ran: never reopened
	path   string
	// dir, if not nil, is the lazy file's directory, made before the file
	// and synced instead of it (CreateLazyInFS).
	dir Dir
	// absent: the file is not created yet (CreateLazyFS); the first use
	// that needs a descriptor creates it. Changed under hmu.
	absent atomic.Bool
	// dirUnsynced: the file was created by that first use and its
	// directory entry is not durable yet; the next sync fsyncs the
	// directory too.
	dirUnsynced atomic.Bool
	end         atomic.Int64 // Size(): end of the last appended batch
	// syncedEnd and syncedAt (UnixNano) are end and the time when the last
	// fsync started; zeroAhead: it covered fewer than zeroAheadMaxSync
	// bytes, zeroAheadMaxGap or less after the one before, so append
	// writes zeros ahead.
	syncedEnd atomic.Int64
	syncedAt  atomic.Int64
	zeroAhead atomic.Bool

	// wmu serialises the writers (Append, Truncate); the partition's
	// appender is the only one, so it is never contended.
	wmu struct {
		sync.Mutex
		iov    []unix.Iovec // reused by Append
		broken error        // sticky: a failed append could not be undone
		// written: bytes before it were handed to writeback (or were there
		// when the file was opened); a multiple of pageSize.
		written int64
		// padEnd is the file's length while zeros were written past end
		// (0: the file ends at end); padFailed: writing them failed once
		// (a full disk), so append writes none again.
		padEnd    int64
		padFailed bool
	}
}

func open(fsys vfs.FS, path string) (*File, error) {
	f, err := vfs.Or(fsys).OpenReadWrite(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open segment %q: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot stat segment %q: %w", path, err)
	}
	sf := &File{file{fs: vfs.Or(fsys), path: path}}
	sf.h.Store(&handle{f: f, osf: vfs.OSFile(f)})
	sf.end.Store(st.Size())
	sf.syncedEnd.Store(st.Size())
	sf.syncedAt.Store(time.Now().UnixNano())
	sf.wmu.written = st.Size() &^ (pageSize - 1)
	return sf, nil
}

// handle is an open segment file: the FS's File, and the *os.File beneath
// it for sendfile.
type handle struct {
	f   vfs.File
	osf *os.File
}

// handle returns the open file, reopening a parked one by its path.
func (f *file) handle() (*handle, error) {
	if h := f.h.Load(); h != nil {
		return h, nil
	}
	f.hmu.Lock()
	defer f.hmu.Unlock()
	if h := f.h.Load(); h != nil {
		return h, nil
	}
	if f.closed {
		return nil, fmt.Errorf("segment %q: %w", f.path, os.ErrClosed)
	}
	if f.absent.Load() {
		return f.createLocked()
	}
	// The file must still be there: a parked segment is never recreated.
	if _, err := f.fs.Stat(f.path); err != nil {
		return nil, fmt.Errorf("cannot reopen segment %q: %w", f.path, err)
	}
	vf, err := f.fs.OpenReadWrite(f.path)
	if err != nil {
		return nil, fmt.Errorf("cannot reopen segment %q: %w", f.path, err)
	}
	h := &handle{f: vf, osf: vfs.OSFile(vf)}
	f.h.Store(h)
	return h, nil
}

// createLocked creates the file of a lazy File (CreateLazyFS). hmu held.
func (f *file) createLocked() (*handle, error) {
	if f.dir != nil {
		if err := f.dir.Make(); err != nil {
			return nil, fmt.Errorf("cannot create segment %q: %w", f.path, err)
		}
	}
	vf, err := f.fs.OpenReadWrite(f.path)
	if err != nil {
		return nil, fmt.Errorf("cannot create segment %q: %w", f.path, err)
	}
	h := &handle{f: vf, osf: vfs.OSFile(vf)}
	f.dirUnsynced.Store(true)
	f.absent.Store(false)
	f.h.Store(h)
	return h, nil
}

// park closes the file descriptor, if open; the next use reopens it unless
// final (Close).
func (f *file) park(final bool) error {
	f.hmu.Lock()
	defer f.hmu.Unlock()
	f.closed = f.closed || final
	h := f.h.Swap(nil)
	if h == nil {
		return nil
	}
	if err := h.f.Close(); err != nil {
		return fmt.Errorf("cannot close segment %q: %w", f.path, err)
	}
	return nil
}

func (f *file) readAt(p []byte, pos int64) (int, error) {
	h, err := f.handle()
	if err != nil {
		return 0, err
	}
	return h.f.ReadAt(p, pos)
}

func (f *file) size() int64 { return f.end.Load() }

func (f *file) append(bufs [][]byte) (int64, error) {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if f.wmu.broken != nil {
		return 0, f.wmu.broken
	}
	pos := f.end.Load()
	n, err := f.pwritevAllLocked(bufs, pos)
	if err == nil {
		end := pos + n
		f.end.Store(end)
		if f.wmu.padEnd <= end {
			f.wmu.padEnd = 0 // the batches went past the zeros
		}
		f.startWritebackLocked(end)
		f.zeroAheadLocked(end)
		return pos, nil
	}
	err = fmt.Errorf("cannot append %d bytes to segment %q at position %d: %w", n, f.path, pos, err)
	if terr := f.truncateFile(pos); terr != nil {
		f.wmu.broken = fmt.Errorf("segment %q is broken: %w; then cannot truncate back to %d: %w", f.path, err, pos, terr)
		return 0, f.wmu.broken
	}
	f.wmu.padEnd = 0
	return 0, err
}

// zeroAheadLocked writes zeros past end when the file is fsync'd after
// every few appended bytes and fewer than zeroAheadChunk/2 are there, up
// to the page boundary zeroAheadChunk past end. The next fsync writes them
// to disk with the batches, so the appends after it overwrite blocks that
// are allocated and written, and their fsyncs need not write the inode and
// block metadata that growing a file takes. It is only a help: an error
// (a full disk) stops it for this file and the append stands.
func (f *file) zeroAheadLocked(end int64) {
	if !f.zeroAhead.Load() || f.wmu.padFailed || f.wmu.padEnd >= end+zeroAheadChunk/2 {
		return
	}
	h := f.h.Load()
	if h == nil {
		return
	}
	from := max(f.wmu.padEnd, end)
	to := (end + zeroAheadChunk) &^ (pageSize - 1)
	f.wmu.padEnd = to // before writing: a failed write may still have grown the file
	if _, err := h.f.WriteAt(zeroes[:to-from], from); err != nil {
		f.wmu.padFailed = true
	}
}

// trimAhead cuts the zeros written past end, if any, and fdatasyncs the
// file so that its length is durable before the caller relies on it (a
// sealed segment below the recovery point is not read again at start).
func (f *file) trimAhead() error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if f.wmu.padEnd == 0 {
		return nil
	}
	end := f.end.Load()
	h, err := f.handle()
	if err != nil {
		return err
	}
	if err := h.f.Truncate(end); err != nil {
		return fmt.Errorf("cannot cut the zeros written ahead of segment %q at %d: %w", f.path, end, err)
	}
	f.wmu.padEnd = 0
	if err := h.f.Sync(); err != nil {
		return fmt.Errorf("cannot fdatasync segment %q after cutting the zeros written ahead: %w", f.path, err)
	}
	return nil
}

// startWritebackLocked starts the kernel writing back the whole pages
// appended before end once writebackChunk bytes of them have accumulated.
// It does not wait for the disk and is only a hint: an error (say EIO) is
// reported by the next fsync, and a filesystem without sync_file_range
// (EINVAL, ENOSYS) or a non-OS file (EBADF) is left to the kernel's own
// writeback.
func (f *file) startWritebackLocked(end int64) {
	upto := end &^ (pageSize - 1) // the last, partial page is still being appended to
	if upto-f.wmu.written < writebackChunk {
		return
	}
	from := f.wmu.written
	f.wmu.written = upto
	h := f.h.Load()
	if h == nil {
		return
	}
	_ = syncFileRange(int(h.f.Fd()), from, upto-from, unix.SYNC_FILE_RANGE_WRITE)
}

// syncFileRange is unix.SyncFileRange; tests watch it.
var syncFileRange = unix.SyncFileRange

// pwritevAllLocked writes every byte of bufs at off, at most IOV_MAX
// buffers and maxWriteBytes bytes per call, looping on short writes and
// EINTR. It returns the bytes written.
func (f *file) pwritevAllLocked(bufs [][]byte, off int64) (int64, error) {
	iov := f.wmu.iov[:0]
	for _, b := range bufs {
		if len(b) > 0 {
			iov = append(iov, unix.Iovec{Base: &b[0], Len: uint64(len(b))})
		}
	}
	f.wmu.iov = iov
	defer clear(iov) // drop the references to the callers' buffers
	h, err := f.handle()
	if err != nil {
		return 0, err
	}
	var total int64
	for len(iov) > 0 {
		k, last := callSpan(iov)
		whole := iov[k-1].Len
		iov[k-1].Len = last // the call takes only the head of its last buffer
		n, err := h.f.Pwritev(iov[:k], off+total)
		iov[k-1].Len = whole
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return total, err
		}
		if n == 0 {
			return total, io.ErrShortWrite
		}
		total += int64(n)
		iov = advance(iov, n)
		if len(iov) > 0 {
			// A long append (fsync=always gathers rounds of tens of MiB):
			// the disk starts on its first calls while the kernel copies
			// the rest, so the fsync after it has less left to write.
			f.startWritebackLocked(off + total)
		}
	}
	return total, nil
}

// advance drops n written bytes from the front of iov.
func advance(iov []unix.Iovec, n int) []unix.Iovec { return vfs.Advance(iov, n) }

// callSpan is how much of iov one pwritev takes: its first k buffers, at
// most maxIovecs of them and maxWriteBytes bytes in all, of which the
// last contributes its first last bytes.
func callSpan(iov []unix.Iovec) (k int, last uint64) {
	room := uint64(maxWriteBytes)
	for k < len(iov) && k < maxIovecs {
		l := iov[k].Len
		k++
		if l >= room {
			return k, room
		}
		room -= l
	}
	return k, iov[k-1].Len
}

func (f *file) readHeaderAt(pos int64) (Header, error) {
	size := f.size()
	switch {
	case pos == size:
		return Header{}, io.EOF
	case pos < 0 || pos > size:
		return Header{}, fmt.Errorf("segment %q: position %d outside [0, %d]", f.path, pos, size)
	case size-pos < HeaderSize:
		return Header{}, f.posErr(pos, errShortHeader)
	}
	var buf [HeaderSize]byte
	if _, err := f.readAt(buf[:], pos); err != nil {
		return Header{}, fmt.Errorf("cannot read segment %q at position %d: %w", f.path, pos, err)
	}
	h, err := parseHeader(buf[:])
	if err != nil {
		return h, f.posErr(pos, err)
	}
	return h, nil
}

func (f *file) posErr(pos int64, err error) error {
	return fmt.Errorf("segment %q: batch at position %d: %w", f.path, pos, err)
}

func (f *file) scanFrom(pos int64, fn func(h Header, pos int64) bool) error {
	w := window{f: readerAt(f.readAt), chunk: scanChunk, end: f.size()}
	for pos < w.end {
		if w.end-pos < HeaderSize {
			return f.posErr(pos, errShortHeader)
		}
		b, err := w.bytes(pos, HeaderSize)
		if err != nil {
			return fmt.Errorf("cannot read segment %q at position %d: %w", f.path, pos, err)
		}
		h, err := parseHeader(b)
		if err != nil {
			return f.posErr(pos, err)
		}
		if h.Size() > w.end-pos {
			return f.posErr(pos, errShortBatch)
		}
		if !fn(h, pos) {
			return nil
		}
		pos += h.Size()
		// Big batches: read just the next header instead of a chunk of body.
		w.chunk = scanChunk
		if h.Size() >= scanChunk/2 {
			w.chunk = HeaderSize
		}
	}
	return nil
}

func (f *file) recover(pos int64, fn func(h Header, pos int64)) (int64, error) {
	end, err := f.recoverBatches(pos, fn)
	if (errors.Is(err, ErrTorn) || errors.Is(err, ErrCorrupt)) && f.zerosFrom(end) {
		return end, fmt.Errorf("segment %q at position %d: %d bytes: %w", f.path, end, f.size()-end, ErrZeroTail)
	}
	return end, err
}

// zerosFrom reports whether every byte from pos to the end of the file is
// zero (false on a read error).
func (f *file) zerosFrom(pos int64) bool {
	size := f.size()
	buf := make([]byte, min(scanChunk, max(size-pos, 0)))
	for pos < size {
		n := int(min(int64(len(buf)), size-pos))
		if _, err := f.readAt(buf[:n], pos); err != nil {
			return false
		}
		for _, b := range buf[:n] {
			if b != 0 {
				return false
			}
		}
		pos += int64(n)
	}
	return true
}

// recoverBufs holds Recover's windows of recoverChunk bytes: a store
// recovering many logs at once reuses a few instead of allocating one
// per segment.
var recoverBufs = sync.Pool{New: func() any { b := make([]byte, recoverChunk); return &b }}

func (f *file) recoverBatches(pos int64, fn func(h Header, pos int64)) (int64, error) {
	w := window{f: readerAt(f.readAt), chunk: recoverChunk, end: f.size()}
	if w.end-pos > scanChunk {
		bp := recoverBufs.Get().(*[]byte)
		w.buf = (*bp)[:0]
		defer func() {
			if cap(w.buf) == recoverChunk { // not replaced for a larger batch
				*bp = w.buf[:0]
				recoverBufs.Put(bp)
			}
		}()
	}
	for pos < w.end {
		if w.end-pos < HeaderSize {
			return pos, f.posErr(pos, errShortHeader)
		}
		b, err := w.bytes(pos, HeaderSize)
		if err != nil {
			return pos, fmt.Errorf("cannot read segment %q at position %d: %w", f.path, pos, err)
		}
		h, err := parseHeader(b)
		if err != nil {
			return pos, f.posErr(pos, err)
		}
		if h.Size() > w.end-pos {
			return pos, f.posErr(pos, errShortBatch)
		}
		if err := f.validateAt(&w, pos, h); err != nil {
			return pos, err
		}
		if fn != nil {
			fn(h, pos)
		}
		pos += h.Size()
	}
	return pos, nil
}

// validateAt validates the batch with header h at pos. Batches up to
// streamThreshold are read whole through w; larger ones (or a corrupt length
// claiming to be large) are checked with a streaming CRC over fixed-size
// reads, so recovery never allocates what a length field claims.
func (f *file) validateAt(w *window, pos int64, h Header) error {
	if h.Size() <= streamThreshold {
		b, err := w.bytes(pos, int(h.Size()))
		if err != nil {
			return fmt.Errorf("cannot read segment %q at position %d: %w", f.path, pos, err)
		}
		if _, err := validate(b); err != nil {
			return f.posErr(pos, err)
		}
		return nil
	}
	if err := checkHeaderFields(h); err != nil {
		return f.posErr(pos, err)
	}
	buf := make([]byte, recoverChunk)
	crc := uint32(0)
	for at, end := pos+offAttributes, pos+h.Size(); at < end; {
		n := int(min(int64(len(buf)), end-at))
		if _, err := f.readAt(buf[:n], at); err != nil {
			return fmt.Errorf("cannot read segment %q at position %d: %w", f.path, at, err)
		}
		crc = crc32.Update(crc, castagnoli, buf[:n])
		at += int64(n)
	}
	if crc != h.CRC {
		return f.posErr(pos, errBadCRC)
	}
	return nil
}

func (f *file) truncate(size int64) error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if err := f.truncateFile(size); err != nil {
		return fmt.Errorf("cannot truncate segment %q to %d: %w", f.path, size, err)
	}
	f.wmu.padEnd = 0
	f.end.Store(size)
	f.wmu.written = min(f.wmu.written, size&^(pageSize-1))
	return nil
}

func (f *file) truncateFile(size int64) error {
	if size == 0 && f.absent.Load() {
		return nil // never created (or its creation failed): nothing to cut
	}
	h, err := f.handle()
	if err != nil {
		return err
	}
	return h.f.Truncate(size)
}

// readerAt adapts a ReadAt method value to io.ReaderAt.
type readerAt func(p []byte, pos int64) (int, error)

func (r readerAt) ReadAt(p []byte, pos int64) (int, error) { return r(p, pos) }

func (f *file) sync() error {
	if f.absent.Load() {
		return nil // never created: nothing was written
	}
	h, err := f.handle()
	if err != nil {
		return err
	}
	if end, prev := f.end.Load(), f.syncedEnd.Load(); end != prev {
		now := time.Now().UnixNano()
		gap := time.Duration(now - f.syncedAt.Swap(now))
		f.syncedEnd.Store(end)
		f.zeroAhead.Store(end > prev && end-prev < zeroAheadMaxSync && gap <= zeroAheadMaxGap)
	}
	if err := h.f.Sync(); err != nil {
		return fmt.Errorf("cannot fdatasync segment %q: %w", f.path, err)
	}
	if f.dirUnsynced.Load() {
		if err := f.syncDir(); err != nil {
			return fmt.Errorf("cannot fsync the directory of new segment %q: %w", f.path, err)
		}
		f.dirUnsynced.Store(false)
	}
	return nil
}

// syncDir fsyncs the directory of a file that the first use created.
func (f *file) syncDir() error {
	if f.dir != nil {
		return f.dir.Sync()
	}
	return vfs.SyncDir(f.fs, filepath.Dir(f.path))
}

// window is a buffered pread over [0, end) of a file: bytes(pos, n) returns
// the n bytes at pos from the buffer, refilling it from pos when they are not
// all there. Bytes between the windows are never read.
type window struct {
	f     io.ReaderAt
	chunk int
	end   int64
	buf   []byte
	start int64 // file position of buf[0]
}

func (w *window) bytes(pos int64, n int) ([]byte, error) {
	if pos >= w.start && pos+int64(n) <= w.start+int64(len(w.buf)) {
		off := int(pos - w.start)
		return w.buf[off : off+n], nil
	}
	want := int(min(int64(max(n, w.chunk)), w.end-pos))
	if want < n {
		panic("BUG: segment window read past its end")
	}
	if cap(w.buf) < want {
		w.buf = make([]byte, want)
	}
	w.buf = w.buf[:want]
	if _, err := w.f.ReadAt(w.buf, pos); err != nil {
		w.buf = w.buf[:0]
		return nil, err
	}
	w.start = pos
	return w.buf[:n], nil
}
