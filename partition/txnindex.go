package partition

// The aborted-transaction index, `<base>.txnindex`: Kafka's
// TransactionIndex, one 34-byte entry per ABORT marker in the segment,
// in marker order, big-endian:
//
//	| version i16 = 0 | producerId i64 | firstOffset i64 | lastOffset i64 | lastStableOffset i64 |
//
// firstOffset is the aborted transaction's first offset (possibly in an
// earlier segment), lastOffset its marker's, lastStableOffset the LSO once
// it was aborted. The file exists only once a segment has an entry; it is
// not preallocated. A trailing partial entry (a torn write) is ignored and
// cut at the next append.

import (
	"encoding/binary"
	"fmt"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/segment"
)

const (
	txnIndexSuffix    = ".txnindex"
	txnIndexEntrySize = 34
)

// abortedTxn is one .txnindex entry.
type abortedTxn struct {
	producerID, firstOffset, lastOffset, lastStableOffset int64
}

// AbortedTxn is an aborted transaction as Fetch reports it.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64
}

func (a abortedTxn) appendTo(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(a.producerID))
	b = binary.BigEndian.AppendUint64(b, uint64(a.firstOffset))
	b = binary.BigEndian.AppendUint64(b, uint64(a.lastOffset))
	return binary.BigEndian.AppendUint64(b, uint64(a.lastStableOffset))
}

// DecodeTxnIndex decodes a .txnindex file's bytes (for sluice dump). A
// trailing partial entry is ignored and reported by partial; an entry with
// an unknown version is corrupt (wraps ErrCorruption).
func DecodeTxnIndex(b []byte) (entries []TxnIndexEntry, partial int, err error) {
	es, partial, err := decodeTxnIndex(b)
	for _, e := range es {
		entries = append(entries, TxnIndexEntry{ProducerID: e.producerID, FirstOffset: e.firstOffset,
			LastOffset: e.lastOffset, LastStableOffset: e.lastStableOffset})
	}
	return entries, partial, err
}

// TxnIndexEntry is one .txnindex entry.
type TxnIndexEntry struct {
	ProducerID, FirstOffset, LastOffset, LastStableOffset int64
}

func decodeTxnIndex(b []byte) ([]abortedTxn, int, error) {
	var out []abortedTxn
	for len(b) >= txnIndexEntrySize {
		if v := int16(binary.BigEndian.Uint16(b)); v != 0 {
			return out, 0, fmt.Errorf("%w: transaction index entry %d has version %d", segment.ErrCorrupt, len(out), v)
		}
		out = append(out, abortedTxn{
			producerID:       int64(binary.BigEndian.Uint64(b[2:])),
			firstOffset:      int64(binary.BigEndian.Uint64(b[10:])),
			lastOffset:       int64(binary.BigEndian.Uint64(b[18:])),
			lastStableOffset: int64(binary.BigEndian.Uint64(b[26:])),
		})
		b = b[txnIndexEntrySize:]
	}
	return out, len(b), nil
}

// txnPath is the .txnindex's path: its .deleted name once the segment was
// renamed for deletion (a new segment at the same base offset may own the
// old name at once). Called with txn.io held.
func (s *logSegment) txnPath() string {
	p := fileName(s.dir, s.base, txnIndexSuffix)
	if s.txn.renamed {
		return p + deletedSuffix
	}
	return p
}

// The .txnindex's locks: txn.io serialises the file's writes, fsyncs,
// first read (the appender, recovery, flushes, a reader's first use) and
// its rename for deletion;
// txn.Mutex guards the entries and is never held across I/O, so readers
// collecting aborted transactions never wait for a write or an fsync
// (only, once per segment, for the first read of the file).

// loadTxnIOLocked reads the segment's .txnindex once (none: no entries).
// Called with txn.io held.
func (s *logSegment) loadTxnIOLocked() error {
	s.txn.Lock()
	loaded := s.txn.loaded
	s.txn.Unlock()
	if loaded {
		return nil
	}
	b, err := vfs.ReadFile(s.fs, s.txnPath())
	if err != nil && !vfs.IsNotExist(err) {
		return fmt.Errorf("cannot read transaction index: %w", err)
	}
	es, _, err := decodeTxnIndex(b)
	if err != nil {
		return fmt.Errorf("transaction index %q: %w", s.txnPath(), err)
	}
	s.txn.Lock()
	s.txn.entries, s.txn.loaded = es, true
	s.txn.Unlock()
	return nil
}

// abortedEntries returns the entries (read on first use); the slice is
// only ever appended to or replaced, so it may be read without the lock.
func (s *logSegment) abortedEntries() ([]abortedTxn, error) {
	s.txn.Lock()
	es, loaded := s.txn.entries, s.txn.loaded
	s.txn.Unlock()
	if loaded {
		return es, nil
	}
	s.txn.io.Lock()
	err := s.loadTxnIOLocked()
	s.txn.io.Unlock()
	if err != nil {
		return nil, err
	}
	s.txn.Lock()
	defer s.txn.Unlock()
	return s.txn.entries, nil
}

// appendAborted adds an entry to the segment's .txnindex (written now,
// fsync'd with the segment).
func (s *logSegment) appendAborted(a abortedTxn) error {
	s.txn.io.Lock()
	defer s.txn.io.Unlock()
	if err := s.loadTxnIOLocked(); err != nil {
		return err
	}
	s.txn.Lock()
	off := int64(len(s.txn.entries)) * txnIndexEntrySize
	s.txn.Unlock()
	f, err := s.fs.OpenReadWrite(s.txnPath())
	if err != nil {
		return fmt.Errorf("cannot open transaction index: %w", err)
	}
	_, err = f.WriteAt(a.appendTo(nil), off)
	if err == nil {
		err = f.Truncate(off + txnIndexEntrySize) // a torn entry after it goes
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cannot write transaction index %q: %w", s.txnPath(), err)
	}
	s.txn.Lock()
	s.txn.entries = append(s.txn.entries, a)
	s.txn.dirty = true
	s.txn.Unlock()
	return nil
}

// truncateTxn drops the entries whose marker is at or after next.
func (s *logSegment) truncateTxn(next int64) error {
	s.txn.io.Lock()
	defer s.txn.io.Unlock()
	if err := s.loadTxnIOLocked(); err != nil {
		return err
	}
	s.txn.Lock()
	es := s.txn.entries
	n := len(es)
	for n > 0 && es[n-1].lastOffset >= next {
		n--
	}
	if n == len(es) {
		s.txn.Unlock()
		return nil
	}
	// A new slice: readers may hold the old one.
	s.txn.entries = append([]abortedTxn(nil), es[:n]...)
	s.txn.dirty = true
	s.txn.Unlock()
	return s.rewriteTxnIOLocked(n)
}

// resetTxn empties the index (recovery rebuilds it from the log).
func (s *logSegment) resetTxn() error {
	s.txn.io.Lock()
	defer s.txn.io.Unlock()
	s.txn.Lock()
	s.txn.entries, s.txn.loaded, s.txn.dirty = nil, true, false
	s.txn.Unlock()
	if err := s.fs.Remove(s.txnPath()); err != nil && !vfs.IsNotExist(err) {
		return fmt.Errorf("cannot remove transaction index: %w", err)
	}
	return nil
}

// rewriteTxnIOLocked cuts the file to n entries (removes it at 0).
func (s *logSegment) rewriteTxnIOLocked(n int) error {
	if n == 0 {
		if err := s.fs.Remove(s.txnPath()); err != nil && !vfs.IsNotExist(err) {
			return fmt.Errorf("cannot remove transaction index: %w", err)
		}
		return nil
	}
	f, err := s.fs.OpenReadWrite(s.txnPath())
	if err != nil {
		return fmt.Errorf("cannot open transaction index: %w", err)
	}
	err = f.Truncate(int64(n) * txnIndexEntrySize)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cannot truncate transaction index %q: %w", s.txnPath(), err)
	}
	return nil
}

// syncTxn fsyncs the .txnindex if it changed since the last sync.
func (s *logSegment) syncTxn() error {
	s.txn.io.Lock()
	defer s.txn.io.Unlock()
	s.txn.Lock()
	dirty, n := s.txn.dirty, len(s.txn.entries)
	s.txn.dirty = false
	s.txn.Unlock()
	if !dirty || n == 0 {
		return nil
	}
	// A segment that is going needs no fsync: a rolled segment's flush may
	// come after retention or a cleaner swap renamed its files (to
	// .deleted), and the old name may be a new segment's by then.
	if s.txn.renamed {
		return nil
	}
	// Opened without creating it: a file created again would be a
	// .txnindex of no segment.
	f, err := s.fs.Open(s.txnPath())
	if vfs.IsNotExist(err) {
		return nil
	}
	if err != nil {
		err = fmt.Errorf("cannot open transaction index: %w", err)
	} else {
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		s.txn.Lock()
		s.txn.dirty = true
		s.txn.Unlock()
		return fmt.Errorf("cannot fsync transaction index %q: %w", s.txnPath(), err)
	}
	return nil
}

// collectAborted appends the segment's entries overlapping [from, to) to
// out, and reports whether a later segment may hold more (no entry here
// reached a last stable offset >= to: Kafka's collectAbortedTxns stop).
func (s *logSegment) collectAborted(out []AbortedTxn, from, to int64) ([]AbortedTxn, bool, error) {
	es, err := s.abortedEntries()
	if err != nil {
		return out, false, err
	}
	for _, e := range es {
		if e.lastOffset >= from && e.firstOffset < to {
			out = append(out, AbortedTxn{ProducerID: e.producerID, FirstOffset: e.firstOffset})
		}
		if e.lastStableOffset >= to {
			return out, false, nil
		}
	}
	return out, true, nil
}
