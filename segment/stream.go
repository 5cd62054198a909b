package segment

import "hash/crc32"

// Checking a batch while it arrives (BatchStream, Prechecks).
//
// A produce request of several MiB is read from the socket in pieces; by
// the time the whole request is there and Split validates its batches,
// their first bytes have left the CPU's caches and the CRC-32C and the
// record walk read them from memory again. A BatchStream does the same two
// computations piece by piece as the bytes arrive, while each piece is
// still in cache: the CRC over attributes..end is extended with every
// piece, and each record is walked once all of its bytes are there.
//
// What it produces is a pure function of the batch's bytes: the CRC-32C of
// batch[21:] and whether recordsValid accepts the records section (for
// the recordsCount in the header). Split, given Prechecks that find a
// result for a batch (by its memory, not by equal bytes), uses the CRC in
// place of computing it and skips the walk when the result says the
// records are valid. A result can only accept: a CRC that does not match
// the header is computed again, and a walk that failed (or was not done:
// a compressed batch, a count out of range) is redone by Split, so every
// error and its wording are those of Validate.

// StreamResult is what a BatchStream found for one whole batch.
type StreamResult struct {
	// CRC is the CRC-32C (Castagnoli) of the batch's bytes from its
	// attributes (offset 21) to its end: Validate compares it with the
	// header's crc.
	CRC uint32
	// RecordsValid says that the records section holds exactly
	// recordsCount well-formed records (Validate's walk of an
	// uncompressed batch passes). false: not known.
	RecordsValid bool
}

// Prechecks finds what was checked of a batch before Split sees it.
// Precheck returns the result of a BatchStream fed exactly batch — the
// same bytes in memory, from its first to its last — and ok false when
// there is none. It must not return a result for a copy of the bytes, nor
// for bytes changed since (the caller keeps the memory unchanged between
// the two).
type Prechecks interface {
	Precheck(batch []byte) (r StreamResult, ok bool)
}

// BatchStream checks one RecordBatch as its bytes arrive. The zero value
// is ready; Reset makes it ready for another batch.
type BatchStream struct {
	size   int   // the batch's bytes once its header arrived; 0 before, -1: not a batch Validate accepts
	n      int32 // recordsCount
	crc    uint32
	crcEnd int   // batch[offAttributes:crcEnd] is in crc
	recPos int   // the next record's position in the records section
	recIdx int32 // records walked
	walk   int8  // 0 walking, 1 the records are valid, -1 not known (left to Validate)
}

// Reset makes s ready for a new batch.
func (s *BatchStream) Reset() { *s = BatchStream{} }

// Feed takes the part of the batch that has arrived: b starts at the
// batch's first byte, and each call's b extends the previous one's (it may
// run past the batch's end: the rest is ignored). It returns the batch's
// size once HeaderSize bytes have arrived (0 before), or -1 when the header
// is not one Validate accepts (bad magic or length): nothing is checked
// then. Done reports when the whole batch was fed.
func (s *BatchStream) Feed(b []byte) int {
	if s.size == 0 {
		if len(b) < HeaderSize {
			return 0
		}
		s.begin(b)
	}
	if s.size < 0 {
		return -1
	}
	b = b[:min(len(b), s.size)]
	if len(b) > s.crcEnd {
		s.crc = crc32.Update(s.crc, castagnoli, b[s.crcEnd:])
		s.crcEnd = len(b)
	}
	if s.walk == 0 {
		s.walkRecords(b[HeaderSize:])
	}
	return s.size
}

// begin reads the header (HeaderSize bytes of b).
func (s *BatchStream) begin(b []byte) {
	h, err := parseHeader(b)
	if err != nil || h.Size() > MaxBatchSize {
		s.size = -1
		return
	}
	s.size = int(h.Size())
	s.n = h.NumRecords
	s.crcEnd = offAttributes
	if h.Compression() != 0 || int64(s.n) > int64(s.size-HeaderSize)/minRecordSize {
		s.walk = -1 // Validate does not walk it, or its walk fails at once
	}
}

// walkRecords walks the records of data (the part of the records section
// that arrived) from where the last call stopped, as recordsValid does:
// a record is checked once all its bytes are there. A varint that does
// not decode from a part waits for more; once the section is whole, the
// walk is recordsValid's.
func (s *BatchStream) walkRecords(data []byte) {
	s.walk, s.recPos, s.recIdx = walkFrom(data, s.size-HeaderSize, s.n, s.recPos, s.recIdx)
}

// walkFrom is walkRecords' loop, over locals as recordsValid's: from
// record i at pos of data (the first len(data) of the section's full
// bytes) it returns 1 once all n records were walked and fill the
// section exactly, -1 at a bad record, 0 when it must wait for more
// bytes; and where it stopped.
func walkFrom(data []byte, full int, n int32, pos int, i int32) (int8, int, int32) {
	for i < n {
		if pos, i = walkFast(data, pos, i, n); i == n {
			break
		}
		l, p := varint12(data, pos)
		if p < 0 {
			if l, p = varintLong(data, pos); p < 0 {
				if len(data) == full {
					return -1, pos, i
				}
				return 0, pos, i
			}
		}
		if l < 0 || l > int64(full-p) {
			return -1, pos, i
		}
		end := p + int(l)
		if end > len(data) {
			return 0, pos, i // the record's body has not all arrived
		}
		if !recordValid(data[p:end], n) {
			return -1, pos, i
		}
		pos, i = end, i+1
	}
	if pos == full {
		return 1, pos, i
	}
	return -1, pos, i
}

// Done reports whether the whole batch was fed.
func (s *BatchStream) Done() bool { return s.size > 0 && s.crcEnd == s.size }

// Result is what s found, once Done.
func (s *BatchStream) Result() StreamResult {
	return StreamResult{CRC: s.crc, RecordsValid: s.walk == 1}
}
