package dump

import (
	"encoding/binary"

	"os"

	"github.com/sluice/sluice/segment"
)

// txnIndex prints a .txnindex (the aborted-transaction index: 34-byte
// entries | version i16 | producerId i64 | firstOffset i64 | lastOffset i64 |
// lastStableOffset i64 |) as Kafka's dumpTxnIndex does.
func (d *dumper) txnIndex() {
	b, err := os.ReadFile(d.path)
	if err != nil {
		d.problem("%v", err)
		return
	}
	const entry = 34
	for pos := 0; pos+entry <= len(b); pos += entry {
		e := b[pos : pos+entry]
		v := int16(binary.BigEndian.Uint16(e))
		d.printf("version: %d producerId: %d firstOffset: %d lastOffset: %d lastStableOffset: %d\n", v,
			int64(binary.BigEndian.Uint64(e[2:])), int64(binary.BigEndian.Uint64(e[10:])),
			int64(binary.BigEndian.Uint64(e[18:])), int64(binary.BigEndian.Uint64(e[26:])))
		if v != 0 {
			d.problem("position %d: unknown entry version %d", pos, v)
		}
	}
	if n := len(b) % entry; n != 0 {
		d.problem("position %d: %d bytes of a torn entry", len(b)-n, n)
	}
}

// printControl prints a control record as Kafka's DumpLogSegments does.
func (d *dumper) printControl(r segment.Record, pos int64) {
	m, err := segment.ParseControlRecord(r.Key, r.Value)
	switch {
	case err != nil:
		d.printf(" controlType: UNKNOWN")
		d.problem("position %d: offset %d: %v", pos, r.Offset, err)
	case m.Type == segment.ControlAbort || m.Type == segment.ControlCommit:
		d.printf(" endTxnMarker: %s coordinatorEpoch: %d", m.TypeName(), m.CoordinatorEpoch)
	default:
		d.printf(" controlType: %s(%d)", m.TypeName(), m.Type)
	}
}
