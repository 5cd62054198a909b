package segment

// This file is the contract other packages build against. Bodies are filled
// in by the segment implementation; signatures change only by agreement.

import (
	"errors"
	"fmt"
	"hash/crc32"
	"os"

	"github.com/sluice/sluice/internal/vfs"
)

// Sizes of the RecordBatch v2 framing.
const (
	// LogOverhead is the baseOffset (8) and batchLength (4) prefix.
	LogOverhead = 12
	// HeaderSize is the fixed RecordBatch v2 header, records excluded.
	HeaderSize = 61
	// MaxBatchSize bounds a single batch; segment positions are uint32.
	MaxBatchSize = 1<<31 - 1
)

// Errors. ErrCorrupt marks corruption (kept apart from I/O errors, as pebble
// keeps base.ErrCorruption); test with errors.Is.
var (
	ErrCorrupt   = errors.New("segment: corrupt batch")
	ErrTorn      = errors.New("segment: torn batch") // a batch cut short by the end of the file
	ErrBadMagic  = errors.New("segment: unsupported magic (want 2)")
	ErrBadCRC    = errors.New("segment: crc mismatch")
	ErrBadCount  = errors.New("segment: lastOffsetDelta does not match the record count")
	ErrTimestamp = errors.New("segment: invalid timestamp")
)

// ErrZeroTail (a kind of ErrTorn) is Recover's reason when all that follows
// the last valid batch is zeros: the zeros Append writes ahead of the end
// under frequent fsyncs, as a crash leaves them.
var ErrZeroTail = fmt.Errorf("%w: only zeros after the last batch", ErrTorn)

// Header is a decoded RecordBatch v2 header.
type Header struct {
	BaseOffset           int64
	Length               int32 // batchLength: bytes after this field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Attribute bits.
const (
	AttrCompressionMask = 0x07
	AttrTimestampType   = 0x08 // 1 = LogAppendTime
	AttrTransactional   = 0x10
	AttrControl         = 0x20
)

// Size is the whole batch on disk: LogOverhead + Length.
func (h Header) Size() int64 { return LogOverhead + int64(h.Length) }

// LastOffset is BaseOffset + LastOffsetDelta.
func (h Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Compression is the codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
func (h Header) Compression() int { return int(h.Attributes & AttrCompressionMask) }

// ParseHeader decodes the first HeaderSize bytes of b. It checks only that b
// is long enough (ErrTorn otherwise), that magic is 2 (ErrBadMagic) and that
// Length is within [HeaderSize-LogOverhead, MaxBatchSize] (ErrCorrupt).
// It does not check the CRC.
func ParseHeader(b []byte) (Header, error) { return parseHeader(b) }

// Validate checks one whole batch, b being exactly its bytes: the header as
// ParseHeader does, len(b) == Size(), the CRC-32C (Castagnoli) over
// attributes..end, NumRecords == LastOffsetDelta+1 (and NumRecords >= 1),
// MaxTimestamp >= BaseTimestamp unless a timestamp is -1. For uncompressed
// batches it also walks the records (varint lengths, each record's offset
// delta < NumRecords, the records exactly filling the batch). Errors wrap one
// of the sentinels above (and ErrCorrupt for all but ErrTorn).
func Validate(b []byte) (Header, error) { return validate(b) }

// Split walks a produce request's record set (one or more concatenated
// batches) and calls fn with each batch's bytes (a sub-slice of records) and
// its header, after Validate succeeds on it. An empty set is an error.
func Split(records []byte, fn func(batch []byte, h Header) error) error {
	return split(records, nil, fn)
}

// SplitPrechecked is Split using what pre found for each batch as it
// arrived (stream.go: a BatchStream's CRC in place of computing it, its
// records walk in place of Validate's when it passed). Its outcome and its
// errors are Split's; pre nil is Split.
func SplitPrechecked(records []byte, pre Prechecks, fn func(batch []byte, h Header) error) error {
	return split(records, pre, fn)
}

// CRCHolds reports whether batch's CRC-32C (attributes to the end) is
// the one its header h carries, without Validate's other checks.
func CRCHolds(batch []byte, h Header) bool {
	return len(batch) >= HeaderSize && crc32.Checksum(batch[offAttributes:], castagnoli) == h.CRC
}

// FirstKeyless returns the offset delta of the first record whose key is
// null in batch, a batch Validate (or Split) accepted with header h, or -1
// if every record has a key: what a compacted topic refuses. It does not
// check the CRC again; an uncompressed batch is read in place (only each
// record's length, offset delta and key length), a compressed one is
// decompressed and walked (errors wrap ErrCorrupt, as Records').
func FirstKeyless(batch []byte, h Header) (int32, error) { return firstKeyless(batch, h) }

// SetBaseOffset writes baseOffset into a batch's first 8 bytes.
// SetLeaderEpoch writes partitionLeaderEpoch (bytes 12..16). Neither is
// covered by the CRC.
func SetBaseOffset(batch []byte, off int64) { setBaseOffset(batch, off) }
func SetLeaderEpoch(batch []byte, e int32)  { setLeaderEpoch(batch, e) }

// SetLogAppendTime sets the LogAppendTime attribute bit and MaxTimestamp to
// ts, then recomputes the CRC (the only case that needs one).
func SetLogAppendTime(batch []byte, ts int64) { setLogAppendTime(batch, ts) }

// File is one open .log file. It keeps a single file opened O_RDWR that
// every reader shares: reads and sendfile use explicit offsets, never the
// file position. Appends are serialised by the caller (partition's appender);
// Size, ReadAt and the Scan family are safe concurrently with an Append.
type File struct{ file }

// Open opens (creating if missing) the .log file at path. Its size is the
// file's length: recovery, not Open, decides what of it is valid.
func Open(path string) (*File, error) { return open(vfs.Default, path) }

// OpenFS is Open through fsys (vfs.Default when nil): every write, fsync
// and truncate of the File goes through it.
func OpenFS(fsys vfs.FS, path string) (*File, error) { return open(fsys, path) }

// CreateLazyFS is a File for a new, empty .log at path that does not exist
// yet (the caller knows the directory holds no such file): it is created by
// the first use that needs a descriptor (Append, a Truncate above 0, Handle, a read),
// so a partition that is never written costs no inode. Until then Size is
// 0, Park and Close have nothing to close and Sync has nothing to do; the
// first Sync after the file was created also fsyncs its directory, so the
// new name is as durable as the bytes.
func CreateLazyFS(fsys vfs.FS, path string) *File {
	return CreateLazyInFS(fsys, path, nil)
}

// Dir is the directory of a lazy File when it may not exist yet either
// (CreateLazyInFS). Make creates it (once: later calls return the first
// call's result), and Sync makes the new directory entries durable.
type Dir interface {
	Make() error
	Sync() error
}

// CreateLazyInFS is CreateLazyFS in a directory that may not exist yet:
// dir.Make runs before the file is created, and dir.Sync replaces the
// fsync of the file's directory that follows the file's first fsync. nil
// dir is CreateLazyFS.
func CreateLazyInFS(fsys vfs.FS, path string, dir Dir) *File {
	sf := &File{file{fs: vfs.Or(fsys), path: path, dir: dir}}
	sf.absent.Store(true)
	return sf
}

// Append writes bufs at the current end with one pwritev (looping on short
// writes) and returns the position they start at. On any error it truncates
// the file back to that position, so no partial batch stays readable, and
// returns the error wrapped with the path; if that truncate also fails the
// error says so and the File is broken (every later Append returns it).
func (f *File) Append(bufs [][]byte) (pos int64, err error) { return f.append(bufs) }

// Size is the length of the valid data (end of the last appended batch).
func (f *File) Size() int64 { return f.size() }

// Handle returns the shared *os.File (for sendfile, which bypasses the FS's wrappers), reopening the file by
// its path if it was parked. Do not close it. The caller must keep the file
// from being parked while it uses the handle (partition pins the segment).
func (f *File) Handle() (*os.File, error) {
	h, err := f.handle()
	if err != nil {
		return nil, err
	}
	return h.osf, nil
}

// OS is Handle without the error (nil when a parked file cannot be
// reopened).
func (f *File) OS() *os.File {
	h, err := f.Handle()
	if err != nil {
		return nil
	}
	return h
}

// Park closes the file descriptor; the next use reopens the file by its
// path. Inactive segments are parked when idle, so they hold no descriptor.
// The caller guarantees that nothing uses the file meanwhile (partition
// parks only segments that no reader has pinned) and that the file is still
// at its path when next used.
func (f *File) Park() error { return f.park(false) }

// IsOpen reports whether the file holds an open descriptor (not parked).
func (f *File) IsOpen() bool { return f.h.Load() != nil }

// Path is the file's path.
func (f *File) Path() string { return f.path }

// ReadHeaderAt reads and parses the batch header at pos (HeaderSize bytes).
// io.EOF when pos == Size(); ErrTorn when fewer than HeaderSize bytes remain.
func (f *File) ReadHeaderAt(pos int64) (Header, error) { return f.readHeaderAt(pos) }

// ReadAt reads len(p) bytes at pos (a plain pread).
func (f *File) ReadAt(p []byte, pos int64) (int, error) { return f.readAt(p, pos) }

// ScanFrom walks batch headers from pos (a batch start) to Size(), calling fn
// for each with its position; it stops when fn returns false. Headers only:
// no CRC check, reads in large buffered chunks (not one syscall per batch).
func (f *File) ScanFrom(pos int64, fn func(h Header, pos int64) bool) error {
	return f.scanFrom(pos, fn)
}

// Recover walks whole batches from pos, validating each (Validate), and
// calls fn for every valid one. It returns validEnd, the end of the last
// valid batch, and the reason it stopped early (nil at a clean end of file;
// an error wrapping ErrTorn or ErrCorrupt, naming path and position,
// otherwise). It does not truncate; the caller decides.
func (f *File) Recover(pos int64, fn func(h Header, pos int64)) (validEnd int64, err error) {
	return f.recover(pos, fn)
}

// Truncate cuts the file (and Size) to size.
func (f *File) Truncate(size int64) error { return f.truncate(size) }

// TrimAhead cuts the zeros Append wrote past Size (see the package doc,
// "Zeros written ahead"), if there are any, and fdatasyncs the file: the
// file then ends at its last batch, durably. Call it when the file stops
// being appended to (a segment that rolls, a log that closes).
func (f *File) TrimAhead() error { return f.trimAhead() }

// Sync fsyncs the file (fdatasync). An error is returned as it is, wrapped
// with the path; after one, the caller must not trust the page cache (see
// the package doc).
func (f *File) Sync() error { return f.sync() }

// Close closes the file descriptor for good: later uses fail (os.ErrClosed).
func (f *File) Close() error { return f.park(true) }
