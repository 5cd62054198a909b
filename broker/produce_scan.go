package broker

import (
	"encoding/binary"
	"sort"
	"sync/atomic"
	"unsafe"

	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/segment"
)

// Checking a Produce request's batches while it arrives.
//
// netio reads a large Produce request from the socket in pieces straight
// into its frame (netio.FrameScanner). A produceScan walks the request as
// the pieces arrive — header, transactional id, acks, timeout, then each
// topic's partitions and their records — and feeds every RecordBatch of
// a records field to a segment.BatchStream, which computes the batch's
// CRC-32C and walks its records piece by piece, while each piece is still
// in the CPU's cache. When the whole request has arrived the append path
// would read it from memory again: a 16 MiB request does not fit in a
// 1 MiB L2 cache (the CRC ran at 4-5 GB/s there, against 31 GB/s on
// cached bytes).
//
// The results are kept by the batch's position in the frame, and the
// append path asks for them by the batch's memory (segment.Prechecks,
// Precheck): a result is found only for the very bytes it was computed
// over, in the frame the Handler is serving (netio.Conn.FrameScan). So
// what the scan makes of the request's structure cannot give a wrong
// answer, only none: a field it misreads, a version it does not walk (v0-2,
// whose message sets are converted anyway), a batch whose header is bad or
// that overruns its records field, all leave the batches concerned to be
// checked in full as before, with the same errors (segment.SplitPrechecked
// uses a result only to accept). Its work is bounded by the frame's bytes:
// every step of the walk moves on by at least one byte.
//
// Produce request, v3-12 (ProduceRequest.json; v9+ flexible: compact
// lengths as uvarint n+1, tagged fields after the header, each partition,
// each topic and the body):
//
//	header  api_key int16, api_version int16, correlation_id int32,
//	        client_id nullable string (int16 length, even when flexible)
//	body    transactional_id nullable string, acks int16, timeout int32,
//	        topics [name string, partitions [index int32, records nullable bytes]]

// scanStage is where a produceScan is in the request.
type scanStage uint8

const (
	scanHeader scanStage = iota
	scanTxnID
	scanTopics    // the topics array's count
	scanTopic     // the next topic, or the end of the topics
	scanParts     // a topic's partitions array's count
	scanPart      // the next partition, or the end of the topic
	scanRecordsAt // a partition's records length
	scanBatches   // the batches of a records field
	scanTags      // tagged fields, then stage after
	scanDone      // nothing more to walk (the end, or given up)
)

// produceScan is the netio.FrameScan of one Produce frame, and the
// segment.Prechecks of its batches once it arrived.
type produceScan struct {
	frame []byte // the frame, as Arrived last saw it
	pos   int    // where the next field starts (may be past what arrived)
	stage scanStage
	after scanStage // the stage after scanTags
	flex  bool
	// topics and parts are the topics and the topic's partitions left;
	// tags the tagged fields left (-1: their count is not read yet).
	topics, parts, tags int
	// The records field being walked: frame[batchAt:recEnd] are its
	// batches not yet checked; batch checks the one at batchAt.
	batchAt, recEnd int
	batch           segment.BatchStream
	checked         []batchCheck // by off, ascending
}

// batchCheck is what a BatchStream found for the batch at frame[off:off+size].
type batchCheck struct {
	off, size int
	r         segment.StreamResult
}

// ScanFrame returns the scan of a Produce frame read in pieces
// (netio.FrameScanner), nil for any other.
func (b *Broker) ScanFrame(head []byte, size int) netio.FrameScan {
	if len(head) < 2 || int16(binary.BigEndian.Uint16(head)) != produceKey {
		return nil
	}
	return &produceScan{}
}

var _ netio.FrameScanner = (*Broker)(nil)

// produceScanOf returns the checks made on frame as it arrived on c, or
// nil.
func produceScanOf(c *netio.Conn, frame []byte) segment.Prechecks {
	if s, ok := c.FrameScan(frame).(*produceScan); ok && s != nil && len(frame) > 0 && len(s.frame) == len(frame) && &s.frame[0] == &frame[0] {
		return s
	}
	return nil
}

// produceScanned, when set (tests), is called by dispatchProduce with the
// checks found for each Produce frame (nil: none).
var produceScanned atomic.Pointer[func(pre segment.Prechecks)]

// Arrived walks what arrived of the frame (netio.FrameScan).
func (s *produceScan) Arrived(frame []byte, n int) {
	s.frame = frame
	in := frame[:n]
	for s.stage != scanDone && s.step(in) {
	}
}

// step takes the request one field on, reports false when it must wait
// for more of it to arrive.
func (s *produceScan) step(in []byte) bool {
	switch s.stage {
	case scanHeader:
		return s.header(in)
	case scanTxnID:
		return s.skipString(in, true, scanTopics)
	case scanTopics:
		return s.count(in, &s.topics, 3, scanTopic) // name, partitions, tags
	case scanTopic:
		if s.topics == 0 {
			return s.endWithTags(scanDone)
		}
		if !s.skipString(in, false, scanParts) {
			return false
		}
		s.topics--
		return true
	case scanParts:
		return s.count(in, &s.parts, 6, scanPart) // index, records, tags
	case scanPart:
		if s.parts == 0 {
			return s.endWithTags(scanTopic)
		}
		s.parts--
		s.pos += 4 // partition index
		s.stage = scanRecordsAt
		return true
	case scanRecordsAt:
		return s.records(in)
	case scanBatches:
		return s.batches(in)
	case scanTags:
		return s.skipTags(in)
	}
	return false
}

// header reads the request header and goes on with the body: at the
// transactional id (v3+; v0-2 carry legacy message sets and are not
// walked).
func (s *produceScan) header(in []byte) bool {
	if len(in) < 10 {
		return false
	}
	version := int16(binary.BigEndian.Uint16(in[2:]))
	clientID := int16(binary.BigEndian.Uint16(in[8:]))
	if version < 3 || version > 12 || clientID < -1 {
		return s.giveUp()
	}
	s.flex = version >= 9
	s.pos = 10 + max(int(clientID), 0)
	s.stage = scanTxnID
	if s.flex {
		s.tags, s.after, s.stage = -1, scanTxnID, scanTags
	}
	return true
}

// giveUp ends the walk: the batches checked so far keep their results.
func (s *produceScan) giveUp() bool {
	s.stage = scanDone
	return false
}

// length reads a length or count at pos: a uvarint n+1 when flexible (0:
// null, -1), else an int16 (short) or int32. ok false: wait; the walk
// gives up on a length below -1 or over the frame.
func (s *produceScan) length(in []byte, short bool) (n, size int, ok bool) {
	if s.pos >= len(in) {
		return 0, 0, false
	}
	if s.flex {
		u, k := binary.Uvarint(in[s.pos:])
		switch {
		case k == 0:
			return 0, 0, false
		case k < 0 || u > uint64(len(s.frame))+1:
			s.giveUp()
			return 0, 0, false
		}
		return int(u) - 1, k, true
	}
	if short {
		if len(in)-s.pos < 2 {
			return 0, 0, false
		}
		n = int(int16(binary.BigEndian.Uint16(in[s.pos:])))
		size = 2
	} else {
		if len(in)-s.pos < 4 {
			return 0, 0, false
		}
		n = int(int32(binary.BigEndian.Uint32(in[s.pos:])))
		size = 4
	}
	if n < -1 || n > len(s.frame) {
		s.giveUp()
		return 0, 0, false
	}
	return n, size, true
}

// skipString skips a string (nullable or not: the walk does not care),
// and for the transactional id the acks and timeout after it.
func (s *produceScan) skipString(in []byte, txnID bool, next scanStage) bool {
	n, size, ok := s.length(in, true)
	if !ok {
		return false
	}
	s.pos += size + max(n, 0)
	if txnID {
		s.pos += 2 + 4 // acks, timeout
	}
	s.stage = next
	return true
}

// count reads an array's count into *left (null: 0); each element takes
// at least minSize bytes, so a count the frame cannot hold gives up.
func (s *produceScan) count(in []byte, left *int, minSize int, next scanStage) bool {
	n, size, ok := s.length(in, false)
	if !ok {
		return false
	}
	if n > len(s.frame)/minSize {
		return s.giveUp()
	}
	*left = max(n, 0)
	s.pos += size
	s.stage = next
	return true
}

// endWithTags goes to next, after tagged fields when flexible.
func (s *produceScan) endWithTags(next scanStage) bool {
	s.stage = next
	if s.flex {
		s.tags, s.after, s.stage = -1, next, scanTags
	}
	return true
}

// skipTags skips tagged fields, then goes on at s.after.
func (s *produceScan) skipTags(in []byte) bool {
	if s.tags < 0 {
		if s.pos >= len(in) {
			return false
		}
		u, k := binary.Uvarint(in[s.pos:])
		switch {
		case k == 0:
			return false
		case k < 0 || u > uint64(len(s.frame)/2):
			return s.giveUp()
		}
		s.tags = int(u)
		s.pos += k
	}
	for s.tags > 0 {
		if s.pos >= len(in) {
			return false
		}
		_, k1 := binary.Uvarint(in[s.pos:])
		if k1 < 0 {
			return s.giveUp()
		}
		if k1 == 0 {
			return false
		}
		size, k2 := binary.Uvarint(in[s.pos+k1:])
		if k2 < 0 || size > uint64(len(s.frame)) {
			return s.giveUp()
		}
		if k2 == 0 {
			return false
		}
		s.pos += k1 + k2 + int(size)
		s.tags--
	}
	s.stage = s.after
	return true
}

// records reads a partition's records length and starts on its batches.
func (s *produceScan) records(in []byte) bool {
	n, size, ok := s.length(in, false)
	if !ok {
		return false
	}
	s.pos += size
	if s.pos+max(n, 0) > len(s.frame) {
		return s.giveUp()
	}
	s.batchAt, s.recEnd = s.pos, s.pos+max(n, 0)
	s.batch.Reset()
	s.stage = scanBatches
	return true
}

// batches feeds the batches of the records field as they arrive, keeping
// the result of each that arrived whole; it goes on past the field at
// its end, or at the first batch whose header is bad or that overruns it
// (the append path checks it, and the rest of the field, in full).
func (s *produceScan) batches(in []byte) bool {
	for s.batchAt < s.recEnd {
		if s.recEnd-s.batchAt < segment.HeaderSize {
			break // too short for a batch: the append path says so
		}
		if s.batchAt >= len(in) {
			return false
		}
		size := s.batch.Feed(in[s.batchAt:min(len(in), s.recEnd)])
		switch {
		case size == 0:
			return false
		case size < 0 || size > s.recEnd-s.batchAt:
			s.batchAt = s.recEnd // left to the append path
			continue
		case !s.batch.Done():
			return false
		}
		s.checked = append(s.checked, batchCheck{off: s.batchAt, size: size, r: s.batch.Result()})
		s.batchAt += size
		s.batch.Reset()
	}
	s.pos = s.recEnd
	return s.endWithTags(scanPart)
}

// Precheck finds the result for batch, by its place in the frame
// (segment.Prechecks).
func (s *produceScan) Precheck(batch []byte) (segment.StreamResult, bool) {
	if s == nil || len(batch) == 0 || len(batch) > len(s.frame) {
		return segment.StreamResult{}, false
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(s.frame)))
	at := uintptr(unsafe.Pointer(unsafe.SliceData(batch)))
	if at < base || at-base > uintptr(len(s.frame)-len(batch)) {
		return segment.StreamResult{}, false
	}
	off := int(at - base)
	i := sort.Search(len(s.checked), func(i int) bool { return s.checked[i].off >= off })
	if i == len(s.checked) || s.checked[i].off != off || s.checked[i].size != len(batch) {
		return segment.StreamResult{}, false
	}
	return s.checked[i].r, true
}
