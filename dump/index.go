package dump

import (
	"bytes"
	"os"
	"strings"

	"github.com/sluice/sluice/mmapindex"
	"github.com/sluice/sluice/segment"
)

func (d *dumper) offsetIndex(base int64) {
	x, err := mmapindex.OpenOffsetIndex(d.path, base, 0)
	if err != nil {
		d.problem("%v", err)
		return
	}
	defer x.Close()
	for i := range x.Entries() {
		off, pos := x.Entry(i)
		d.printf("offset: %d position: %d\n", off, pos)
	}
	d.checkTail(x.Entries(), mmapindex.OffsetEntrySize)
	if d.opts.VerifyIndex {
		d.verifyOffsetIndex(x)
	}
}

func (d *dumper) timeIndex(base int64) {
	x, err := mmapindex.OpenTimeIndex(d.path, base, 0)
	if err != nil {
		d.problem("%v", err)
		return
	}
	defer x.Close()
	for i := range x.Entries() {
		ts, off := x.Entry(i)
		d.printf("timestamp: %d offset: %d\n", ts, off)
	}
	d.checkTail(x.Entries(), mmapindex.TimeEntrySize)
	if d.opts.VerifyIndex {
		d.verifyTimeIndex(x)
	}
}

// checkTail looks at the bytes after the entries the index took: zeros are
// preallocated room (an active or crashed segment's index); anything else
// is an entry out of order, a corruption.
func (d *dumper) checkTail(entries, esize int) {
	data, err := os.ReadFile(d.path)
	if err != nil {
		d.problem("%v", err)
		return
	}
	tail := data[min(entries*esize, len(data)):]
	switch {
	case len(tail) == 0:
	case bytes.Count(tail, []byte{0}) == len(tail):
		d.printf("(%d bytes of preallocated zeros after the last entry)\n", len(tail))
	default:
		d.problem("entry %d at byte %d breaks the order (or is partial); %d bytes after it ignored",
			entries, entries*esize, len(tail))
	}
}

// logPath is the .log beside an index file.
func logPath(indexPath string) string {
	return strings.TrimSuffix(strings.TrimSuffix(indexPath, ".index"), ".timeindex") + ".log"
}

// verifyOffsetIndex checks each entry names a batch start whose last offset
// is the entry's offset (Kafka indexes a batch's last offset at its start).
func (d *dumper) verifyOffsetIndex(x *mmapindex.OffsetIndex) {
	l, err := openLog(logPath(d.path))
	if err != nil {
		d.problem("cannot verify the index: %v", err)
		return
	}
	defer l.f.Close()
	bad := 0
	for i := range x.Entries() {
		off, pos := x.Entry(i)
		h, err := l.headerAt(int64(pos))
		switch {
		case err != nil:
			d.problem("index entry %d (offset: %d position: %d): no batch there: %v", i, off, pos, err)
			bad++
		case h.LastOffset() != off:
			d.problem("index entry %d: index offset: %d, log offset: %d (batch at position %d, baseOffset %d)",
				i, off, h.LastOffset(), pos, h.BaseOffset)
			bad++
		}
	}
	d.printf("Verified %d index entries against %s: %d mismatches\n", x.Entries(), l.f.Name(), bad)
}

// verifyTimeIndex checks each entry's offset falls inside a batch of the
// log and the batch holds a timestamp no smaller than the entry's.
func (d *dumper) verifyTimeIndex(x *mmapindex.TimeIndex) {
	l, err := openLog(logPath(d.path))
	if err != nil {
		d.problem("cannot verify the time index: %v", err)
		return
	}
	defer l.f.Close()
	var headers []segment.Header
	for pos := int64(0); pos < l.size; {
		h, err := l.headerAt(pos)
		if err != nil {
			break // the log dump reports it; entries past here are unverified
		}
		headers = append(headers, h)
		pos += h.Size()
	}
	bad := 0
	for i := range x.Entries() {
		ts, off := x.Entry(i)
		if !inBatch(headers, ts, off) {
			d.problem("time index entry %d (timestamp: %d offset: %d): no batch of the log holds that offset with that timestamp", i, ts, off)
			bad++
		}
	}
	d.printf("Verified %d time index entries against %s: %d mismatches\n", x.Entries(), l.f.Name(), bad)
}

func inBatch(headers []segment.Header, ts, off int64) bool {
	for _, h := range headers {
		if h.BaseOffset <= off && off <= h.LastOffset() {
			return h.MaxTimestamp >= ts
		}
	}
	return false
}
