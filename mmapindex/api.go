package mmapindex

// This file is the contract other packages build against.

import (
	"errors"

	"github.com/sluice/sluice/internal/vfs"
)

// Entry sizes.
const (
	OffsetEntrySize = 8  // relative offset u32, position u32 (big-endian)
	TimeEntrySize   = 12 // timestamp i64, relative offset u32 (big-endian)
)

var (
	ErrFull    = errors.New("mmapindex: index is full")
	ErrOrder   = errors.New("mmapindex: entry out of order")
	ErrCorrupt = errors.New("mmapindex: corrupt index")
)

// OffsetIndex is a segment's .index: sparse, sorted, mmap'd. Writable
// indexes are preallocated to maxBytes (rounded down to a whole entry) and
// mmap'd read-write; Trim shrinks the file to its entries. Not safe for
// concurrent Append; Lookup may run concurrently with Append (entries are
// published with an atomic count after they are written).
type OffsetIndex struct{ offsetIndex }

// OpenOffsetIndex opens or creates path for the segment at baseOffset. The
// entries are the leading run of strictly increasing entries (a preallocated
// tail of zeros after a crash is not taken for entries). maxBytes > 0 makes it
// writable and preallocated; maxBytes == 0 maps it read-only at its size.
// Either way the file is closed once mapped (an index holds a mapping, no
// file descriptor).
func OpenOffsetIndex(path string, baseOffset int64, maxBytes int) (*OffsetIndex, error) {
	return openOffsetIndex(vfs.Default, path, baseOffset, maxBytes, missingCreate)
}

// OpenOffsetIndexFS is OpenOffsetIndex through fsys (vfs.Default when nil):
// opening, truncating and fsync go through it; the entries themselves are
// written through the mmap of its descriptor.
func OpenOffsetIndexFS(fsys vfs.FS, path string, baseOffset int64, maxBytes int) (*OffsetIndex, error) {
	return openOffsetIndex(fsys, path, baseOffset, maxBytes, missingCreate)
}

// OpenOffsetIndexLazyFS is OpenOffsetIndexFS, except that a missing file
// is not created (nor an error): the index is Absent (see the package
// doc: writable, it keeps its first entries in memory and creates the
// file past them or at Trim; read-only, it is empty). A writable open
// looks for the file first (a stat). An Append that grows the buffer or
// creates the file must not run concurrently with lookups.
func OpenOffsetIndexLazyFS(fsys vfs.FS, path string, baseOffset int64, maxBytes int) (*OffsetIndex, error) {
	return openOffsetIndex(fsys, path, baseOffset, maxBytes, missingAbsent)
}

// NewOffsetIndexFS is the Absent index of a file the caller knows does
// not exist (a segment just created): no syscall until its first Append.
func NewOffsetIndexFS(fsys vfs.FS, path string, baseOffset int64, maxBytes int) *OffsetIndex {
	x, _ := openOffsetIndex(fsys, path, baseOffset, maxBytes, knownAbsent) // cannot fail
	return x
}

// Absent reports whether the index has no file (OpenOffsetIndexLazyFS,
// NewOffsetIndexFS): its entries, if any, are in memory.
func (x *OffsetIndex) Absent() bool { return x.absent }

// Append adds (offset, pos); offset must exceed the last entry's (ErrOrder)
// and offset-baseOffset must fit in uint32. ErrFull when no room is left.
func (x *OffsetIndex) Append(offset int64, pos uint32) error { return x.append(offset, pos) }

// Lookup returns the largest entry with offset <= target, or
// (baseOffset, 0) when there is none.
func (x *OffsetIndex) Lookup(target int64) (offset int64, pos uint32) { return x.lookup(target) }

// Entries is the number of entries; Entry returns the i-th.
func (x *OffsetIndex) Entries() int                           { return x.entries() }
func (x *OffsetIndex) Entry(i int) (offset int64, pos uint32) { return x.entry(i) }

// IsFull reports whether another Append would fail with ErrFull.
func (x *OffsetIndex) IsFull() bool { return x.isFull() }

// TruncateTo drops every entry with offset >= offset. Reset drops all.
func (x *OffsetIndex) TruncateTo(offset int64) { x.truncateTo(offset) }
func (x *OffsetIndex) Reset()                  { x.truncateTo(-1 << 63) }

// Sync msyncs the mapping and, for an index opened writable, fsyncs the
// file (reopened by path; a file renamed away for deletion is skipped).
// Trim shrinks the file to its entries (remapping at that size, read-only
// afterwards). Close trims if writable and still at its path, and unmaps
// explicitly; the index is unusable after. No index keeps a descriptor open.
func (x *OffsetIndex) Sync() error  { return x.sync() }
func (x *OffsetIndex) Trim() error  { return x.trim() }
func (x *OffsetIndex) Close() error { return x.close() }

// RenameTo renames the file to path, and the index follows it, as Kafka's
// AbstractIndex.renameTo: Sync, Trim, TruncateTo and Close reopen the file
// by path, so an index left at its old name would reach whatever file
// takes that name next (a segment created again at the same base offset
// after a truncation), cutting a file another index has mapped. After a
// rename that failed because the file was gone, the index is at path all
// the same, never at the old name. Not concurrently with any other method.
func (x *OffsetIndex) RenameTo(path string) error { return x.renameTo(path) }

// Discard makes Close unmap the index without writing to it: no trim to
// its entries, and an index whose file was never created (entries held
// in memory) creates none. For a partition being deleted, whose
// directory goes with every file in it. Not concurrently with any other
// method.
func (x *OffsetIndex) Discard() { x.discard() }

// Path is the file's path.
func (x *OffsetIndex) Path() string { return x.path }

// TimeIndex is a segment's .timeindex: (largest timestamp so far, relative
// offset) entries, both non-decreasing. Same life cycle as OffsetIndex.
type TimeIndex struct{ timeIndex }

func OpenTimeIndex(path string, baseOffset int64, maxBytes int) (*TimeIndex, error) {
	return openTimeIndex(vfs.Default, path, baseOffset, maxBytes, missingCreate)
}

// OpenTimeIndexFS is OpenTimeIndex through fsys (vfs.Default when nil).
func OpenTimeIndexFS(fsys vfs.FS, path string, baseOffset int64, maxBytes int) (*TimeIndex, error) {
	return openTimeIndex(fsys, path, baseOffset, maxBytes, missingCreate)
}

// OpenTimeIndexLazyFS is OpenOffsetIndexLazyFS for a time index.
func OpenTimeIndexLazyFS(fsys vfs.FS, path string, baseOffset int64, maxBytes int) (*TimeIndex, error) {
	return openTimeIndex(fsys, path, baseOffset, maxBytes, missingAbsent)
}

// NewTimeIndexFS is NewOffsetIndexFS for a time index.
func NewTimeIndexFS(fsys vfs.FS, path string, baseOffset int64, maxBytes int) *TimeIndex {
	x, _ := openTimeIndex(fsys, path, baseOffset, maxBytes, knownAbsent) // cannot fail
	return x
}

// Absent is as OffsetIndex.Absent.
func (x *TimeIndex) Absent() bool { return x.absent }

// Append adds (timestamp, offset) when timestamp is greater than the last
// entry's (otherwise it is a no-op returning nil: Kafka's maybeAppend).
// ErrFull when no room is left.
func (x *TimeIndex) Append(timestamp int64, offset int64) error { return x.append(timestamp, offset) }

// Lookup returns the entry with the largest timestamp <= ts, or
// (-1, baseOffset) when there is none.
func (x *TimeIndex) Lookup(ts int64) (timestamp int64, offset int64) { return x.lookup(ts) }

// Last is the last entry, or (-1, baseOffset) when empty.
func (x *TimeIndex) Last() (timestamp int64, offset int64) { return x.last() }

func (x *TimeIndex) Entries() int                                { return x.entries() }
func (x *TimeIndex) Entry(i int) (timestamp int64, offset int64) { return x.entry(i) }
func (x *TimeIndex) IsFull() bool                                { return x.isFull() }
func (x *TimeIndex) TruncateTo(offset int64)                     { x.truncateTo(offset) }
func (x *TimeIndex) Reset()                                      { x.truncateTo(-1 << 63) }
func (x *TimeIndex) Sync() error                                 { return x.sync() }
func (x *TimeIndex) Trim() error                                 { return x.trim() }
func (x *TimeIndex) Close() error                                { return x.close() }
func (x *TimeIndex) RenameTo(path string) error                  { return x.renameTo(path) }
func (x *TimeIndex) Discard()                                    { x.discard() } // as OffsetIndex.Discard
func (x *TimeIndex) Path() string                                { return x.path }

// LookupPosition returns the entry with the largest position <= pos (entry
// positions are batch starts and increase with offsets), or (baseOffset, 0)
// when there is none. The fetch path uses it to end a read on a batch
// boundary without scanning from the start.
func (x *OffsetIndex) LookupPosition(pos uint32) (offset int64, position uint32) {
	return x.lookupPosition(pos)
}

// Ceiling returns the entry with the smallest offset >= target; ok is false
// when there is none. With Kafka's convention (an entry holds its batch's
// last offset and start position) that batch is the one holding target
// whenever its base offset is <= target: the read path checks that with a
// single header read before falling back to a scan from Lookup's entry.
func (x *OffsetIndex) Ceiling(target int64) (offset int64, pos uint32, ok bool) {
	return x.ceiling(target)
}
