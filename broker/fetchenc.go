package broker

import (
	"encoding/binary"

	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/sendfile"
)

// The Fetch response, encoded by hand so that records stay file regions.
// Fields by version (flexible from v12: compact arrays and strings are
// uvarint(n+1), and every struct ends with tagged fields, empty here):
//
//	ThrottleMillis int32                v1+
//	ErrorCode int16                     v7+
//	SessionID int32                     v7+
//	Topics [
//	  Topic string                      v4-12
//	  TopicID uuid                      v13+
//	  Partitions [
//	    Partition int32
//	    ErrorCode int16
//	    HighWatermark int64
//	    LastStableOffset int64          v4+
//	    LogStartOffset int64            v5+
//	    AbortedTransactions nullable [   v4+ (null unless read_committed)
//	      ProducerID int64
//	      FirstOffset int64
//	      tagged fields                 v12+
//	    ]
//	    PreferredReadReplica int32      v11+ (-1: none; replica_select.go)
//	    Records nullable bytes          length prefix, then regions
//	                                    (v0-3: the down-converted copy)
//	    tagged fields                   v12+ (DivergingEpoch, tag 0, to
//	                                    a follower whose log diverged)
//	  ]
//	  tagged fields                     v12+
//	]
//	tagged fields                       v12+ (v16 NodeEndpoints omitted: empty)

// fetchSink is where the encoder writes: netio.Response, or a test's
// flattening buffer.
type fetchSink interface {
	AppendBytes(b []byte)
	AppendRegion(r sendfile.Region)
}

// fetchWriter appends framing bytes to buf and flushes it to the sink
// before each region. A flushed buf is never written again: appends go
// past its length.
type fetchWriter struct {
	sink     fetchSink
	buf      []byte
	flexible bool
}

func (w *fetchWriter) i16(v int16) { w.buf = binary.BigEndian.AppendUint16(w.buf, uint16(v)) }
func (w *fetchWriter) i32(v int32) { w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(v)) }
func (w *fetchWriter) i64(v int64) { w.buf = binary.BigEndian.AppendUint64(w.buf, uint64(v)) }

// length writes an array, string or bytes length (n -1 = null).
func (w *fetchWriter) length(n int, compact bool, short bool) {
	switch {
	case compact:
		w.buf = binary.AppendUvarint(w.buf, uint64(n+1))
	case short:
		w.i16(int16(n))
	default:
		w.i32(int32(n))
	}
}

func (w *fetchWriter) array(n int) { w.length(n, w.flexible, false) }

func (w *fetchWriter) str(s string) {
	w.length(len(s), w.flexible, true)
	w.buf = append(w.buf, s...)
}

// tags writes an empty tagged-field section on flexible versions.
func (w *fetchWriter) tags() {
	if w.flexible {
		w.buf = append(w.buf, 0)
	}
}

// regions writes a records field: its length, then the regions.
func (w *fetchWriter) regions(regs []sendfile.Region) {
	var n int64
	for _, reg := range regs {
		n += reg.Len
	}
	w.length(int(n), w.flexible, false)
	for _, reg := range regs {
		w.flush()
		w.sink.AppendRegion(reg)
	}
}

func (w *fetchWriter) flush() {
	if len(w.buf) > 0 {
		w.sink.AppendBytes(w.buf)
		w.buf = w.buf[len(w.buf):]
	}
}

// encodeFetch builds the response; the regions move into it (netio
// releases them once sent).
func encodeFetch(r *request, errCode int16, sessionID int32, topics []fetchTopic) *netio.Response {
	out := new(netio.Response)
	w := &fetchWriter{sink: out, buf: r.responseHeader(make([]byte, 0, fetchFramingBytes(topics))), flexible: r.version >= 12}
	writeFetchBody(w, r.version, errCode, sessionID, topics)
	w.flush()
	return out
}

// fetchFramingBytes is at least what a response of topics writes besides
// its regions (header, fields, a v0-3 partition's down-converted copy),
// so that its buffer is allocated once: the framing does not grow it by
// doubling, a copy per step (with 16 partitions the old 512 bytes grew
// twice per answer).
func fetchFramingBytes(topics []fetchTopic) int {
	n := 21 // header (5), throttle, error, session, topic count (5), tags
	for i := range topics {
		t := &topics[i]
		n += max(16, 2+len(t.name)) + 6 // name or id, partition count, tags
		for k := range t.parts {
			fp := &t.parts[k]
			// 45 bytes of fields at most, a DivergingEpoch tag's 16 more,
			// 17 per aborted transaction.
			n += 45 + 17*len(fp.res.AbortedTransactions) + len(fp.legacy)
			if fp.diverged {
				n += 16
			}
		}
	}
	return n
}

// writeFetchBody writes the response body for version.
func writeFetchBody(w *fetchWriter, version int16, errCode int16, sessionID int32, topics []fetchTopic) {
	if version >= 1 {
		w.i32(0) // ThrottleMillis
	}
	if version >= 7 {
		w.i16(errCode)
		w.i32(sessionID)
	}
	w.array(len(topics))
	for i := range topics {
		t := &topics[i]
		if version >= 13 {
			w.buf = append(w.buf, t.id[:]...)
		} else {
			w.str(t.name)
		}
		w.array(len(t.parts))
		for k := range t.parts {
			writeFetchPartition(w, version, &t.parts[k])
		}
		w.tags()
	}
	w.tags()
}

// writeAborted writes AbortedTransactions: null for read_uncommitted (and
// for a partition in error), else the read's list, possibly empty.
func writeAborted(w *fetchWriter, fp *fetchPart) {
	if !fp.committed || fp.code != 0 {
		w.length(-1, w.flexible, false)
		return
	}
	w.array(len(fp.res.AbortedTransactions))
	for _, a := range fp.res.AbortedTransactions {
		w.i64(a.ProducerID)
		w.i64(a.FirstOffset)
		w.tags()
	}
}

func writeFetchPartition(w *fetchWriter, version int16, fp *fetchPart) {
	hw, lso, start := fp.res.HighWatermark, fp.res.LastStableOffset, fp.res.LogStartOffset
	if fp.code != 0 {
		hw, lso, start = -1, -1, -1
	}
	w.i32(fp.partition)
	w.i16(fp.code)
	w.i64(hw)
	if version >= 4 {
		w.i64(lso)
	}
	if version >= 5 {
		w.i64(start)
	}
	if version >= 4 {
		writeAborted(w, fp)
	}
	if version >= 11 {
		w.i32(fp.redirect - 1) // PreferredReadReplica
	}
	if version < 4 {
		w.length(len(fp.legacy), false, false)
		w.buf = append(w.buf, fp.legacy...)
	} else {
		w.regions(fp.res.Regions)
	}
	if fp.diverged && w.flexible {
		// One tagged field: DivergingEpoch (tag 0), 13 bytes: Epoch int32,
		// EndOffset int64, its own empty tags.
		w.buf = append(w.buf, 1, 0, 13)
		w.i32(fp.divEpoch)
		w.i64(fp.divEnd)
		w.buf = append(w.buf, 0)
		return
	}
	w.tags()
}
