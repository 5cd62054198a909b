package segment

import (
	"encoding/binary"
	"fmt"
)

// Control batches (attributes isControl, and isTransactional for
// transaction markers) hold one control record written by the broker, never
// by a producer. Kafka's layout (ControlRecordType, EndTransactionMarker),
// big-endian, inside an ordinary record:
//
//	key:   | version i16 = 0 | type i16 |          type: 0 ABORT, 1 COMMIT
//	value: | version i16 = 0 | coordinatorEpoch i32 |
//
// The batch has no sequence (baseSequence -1), the producer's id and epoch,
// and is never compressed.
const (
	ControlAbort  int16 = 0
	ControlCommit int16 = 1
)

// Marker is a decoded transaction marker.
type Marker struct {
	Type             int16 // ControlAbort or ControlCommit (other types are Kafka's, e.g. 2 LEADER_CHANGE)
	CoordinatorEpoch int32 // -1 for a control record without an EndTransactionMarker value
}

// Commit reports a COMMIT marker.
func (m Marker) Commit() bool { return m.Type == ControlCommit }

// TypeName is Kafka's name of the control type.
func (m Marker) TypeName() string {
	switch m.Type {
	case ControlAbort:
		return "ABORT"
	case ControlCommit:
		return "COMMIT"
	case 2:
		return "LEADER_CHANGE"
	case 3:
		return "SNAPSHOT_HEADER"
	case 4:
		return "SNAPSHOT_FOOTER"
	}
	return fmt.Sprintf("UNKNOWN(%d)", m.Type)
}

// EncodeMarker returns a transaction marker batch at offset 0 (the log
// assigns the offset) for producerID/epoch, timestamp ts (ms).
func EncodeMarker(producerID int64, epoch int16, commit bool, coordinatorEpoch int32, ts int64) []byte {
	typ := ControlAbort
	if commit {
		typ = ControlCommit
	}
	key := binary.BigEndian.AppendUint16(make([]byte, 2, 4), uint16(typ))
	value := binary.BigEndian.AppendUint32(make([]byte, 2, 6), uint32(coordinatorEpoch))
	b, err := EncodeBatch(BatchSpec{
		Attributes:    AttrControl | AttrTransactional,
		ProducerID:    producerID,
		ProducerEpoch: epoch,
		BaseSequence:  -1,
	}, []Record{{Offset: 0, Timestamp: ts, Key: key, Value: value}})
	if err != nil {
		panic(fmt.Sprintf("BUG: cannot encode a transaction marker: %v", err))
	}
	return b
}

// ParseMarker decodes the control record of a control batch (exactly its
// bytes). Errors wrap ErrCorrupt.
func ParseMarker(batch []byte) (Marker, error) {
	h, err := ParseHeader(batch)
	if err != nil {
		return Marker{}, err
	}
	if h.Attributes&AttrControl == 0 {
		return Marker{}, fmt.Errorf("%w: batch at offset %d is not a control batch", ErrCorrupt, h.BaseOffset)
	}
	m, found := Marker{CoordinatorEpoch: -1}, false
	var perr error
	err = Records(batch, func(r Record) bool {
		found = true
		m, perr = ParseControlRecord(r.Key, r.Value)
		return false
	})
	switch {
	case err != nil:
		return Marker{}, err
	case perr != nil:
		return Marker{}, fmt.Errorf("control batch at offset %d: %w", h.BaseOffset, perr)
	case !found:
		return Marker{}, fmt.Errorf("%w: control batch at offset %d has no record", ErrCorrupt, h.BaseOffset)
	}
	return m, nil
}

// ParseControlRecord decodes a control record's key and, for ABORT and
// COMMIT, its EndTransactionMarker value.
func ParseControlRecord(key, value []byte) (Marker, error) {
	if len(key) < 4 {
		return Marker{}, fmt.Errorf("%w: control record key of %d bytes", ErrCorrupt, len(key))
	}
	if v := int16(binary.BigEndian.Uint16(key)); v < 0 {
		return Marker{}, fmt.Errorf("%w: control record key version %d", ErrCorrupt, v)
	}
	m := Marker{Type: int16(binary.BigEndian.Uint16(key[2:])), CoordinatorEpoch: -1}
	if m.Type != ControlAbort && m.Type != ControlCommit {
		return m, nil
	}
	if len(value) < 6 {
		return Marker{}, fmt.Errorf("%w: transaction marker value of %d bytes", ErrCorrupt, len(value))
	}
	if v := int16(binary.BigEndian.Uint16(value)); v < 0 {
		return Marker{}, fmt.Errorf("%w: transaction marker value version %d", ErrCorrupt, v)
	}
	m.CoordinatorEpoch = int32(binary.BigEndian.Uint32(value[2:]))
	return m, nil
}
