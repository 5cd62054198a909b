package dump

import (
	"fmt"
	"os"
	"strconv"
	"unicode/utf8"

	"github.com/sluice/sluice/segment"
)

// logFile reads batches of a .log by position (read-only, never creating).
type logFile struct {
	f    *os.File
	size int64
	buf  []byte
}

func openLog(path string) (*logFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &logFile{f: f, size: st.Size()}, nil
}

// headerAt reads and parses the batch header at pos, checking the batch
// fits in the file.
func (l *logFile) headerAt(pos int64) (segment.Header, error) {
	if l.size-pos < segment.HeaderSize {
		return segment.Header{}, fmt.Errorf("%w: %d bytes left, a header needs %d", segment.ErrTorn, l.size-pos, segment.HeaderSize)
	}
	var b [segment.HeaderSize]byte
	if _, err := l.f.ReadAt(b[:], pos); err != nil {
		return segment.Header{}, err
	}
	h, err := segment.ParseHeader(b[:])
	if err != nil {
		return h, err
	}
	if h.Size() > l.size-pos {
		return h, fmt.Errorf("%w: batch of %d bytes, %d left", segment.ErrTorn, h.Size(), l.size-pos)
	}
	return h, nil
}

// batchAt reads the whole batch at pos (valid until the next call).
func (l *logFile) batchAt(pos int64) (segment.Header, []byte, error) {
	h, err := l.headerAt(pos)
	if err != nil {
		return h, nil, err
	}
	if int64(cap(l.buf)) < h.Size() {
		l.buf = make([]byte, h.Size())
	}
	b := l.buf[:h.Size()]
	if _, err := l.f.ReadAt(b, pos); err != nil {
		return h, nil, err
	}
	return h, b, nil
}

func (d *dumper) log(base int64) {
	l, err := openLog(d.path)
	if err != nil {
		d.problem("%v", err)
		return
	}
	defer l.f.Close()
	d.printf("Log starting offset: %d\n", base)
	for pos := int64(0); pos < l.size; {
		h, batch, err := l.batchAt(pos)
		if err != nil {
			d.problem("position %d: %v; %d bytes not dumped", pos, err, l.size-pos)
			return
		}
		_, verr := segment.Validate(batch)
		d.printBatch(h, pos, verr == nil)
		if verr != nil {
			d.problem("position %d: %v", pos, verr)
		} else if d.opts.PrintData {
			d.printRecords(h, batch, pos)
		}
		pos += h.Size()
	}
}

func (d *dumper) printBatch(h segment.Header, pos int64, valid bool) {
	d.printf("baseOffset: %d lastOffset: %d count: %d baseSequence: %d lastSequence: %d"+
		" producerId: %d producerEpoch: %d partitionLeaderEpoch: %d isTransactional: %t isControl: %t"+
		" position: %d %s: %d size: %d magic: %d compresscodec: %s crc: %d isvalid: %t\n",
		h.BaseOffset, h.LastOffset(), h.NumRecords, h.BaseSequence, sequence(h, h.LastOffsetDelta),
		h.ProducerID, h.ProducerEpoch, h.PartitionLeaderEpoch,
		h.Attributes&segment.AttrTransactional != 0, h.Attributes&segment.AttrControl != 0,
		pos, timestampType(h), h.MaxTimestamp, h.Size(), h.Magic,
		segment.CodecName(h.Compression()), h.CRC, valid)
}

func (d *dumper) printRecords(h segment.Header, batch []byte, pos int64) {
	err := segment.Records(batch, func(r segment.Record) bool {
		d.printf("| offset: %d %s: %d keySize: %d valueSize: %d sequence: %d headerKeys: [",
			r.Offset, timestampType(h), r.Timestamp, size(r.Key, r.KeyNull), size(r.Value, r.ValueNull),
			sequence(h, int32(r.Offset-h.BaseOffset)))
		for i, hdr := range r.Headers {
			if i > 0 {
				d.printf(",")
			}
			d.printf("%s", hdr.Key)
		}
		d.printf("]")
		if h.Attributes&segment.AttrControl != 0 {
			d.printControl(r, pos)
			d.printf("\n")
			return true
		}
		if !r.KeyNull {
			d.printf(" key: %s", printable(r.Key))
		}
		if !r.ValueNull {
			d.printf(" payload: %s", printable(r.Value))
		}
		d.printf("\n")
		return true
	})
	if err != nil {
		d.problem("position %d: records: %v", pos, err)
	}
}

// sequence is the producer sequence of the record at delta (-1 without one),
// wrapping at MaxInt32 as Kafka's DefaultRecordBatch.incrementSequence does.
func sequence(h segment.Header, delta int32) int32 {
	if h.BaseSequence < 0 {
		return -1
	}
	s := int64(h.BaseSequence) + int64(delta)
	if s > 1<<31-1 {
		s -= 1 << 31
	}
	return int32(s)
}

func timestampType(h segment.Header) string {
	if h.Attributes&segment.AttrTimestampType != 0 {
		return "LogAppendTime"
	}
	return "CreateTime"
}

func size(b []byte, null bool) int {
	if null {
		return -1
	}
	return len(b)
}

// printable is b as text when it is UTF-8, else Go-quoted.
func printable(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strconv.Quote(string(b))
}
