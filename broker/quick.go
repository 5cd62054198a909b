package broker

import (
	"encoding/binary"

	"github.com/sluice/sluice/netio"
)

// Quick reports whether serving frame takes only CPU and page-cache time
// (netio.QuickChecker), so that netio may hold the responses before it
// back and send them with its own in one write. Only a Produce without a
// transactional id is quick: its appends are written at once, and
// whatever it waits for (the fsync, acks=all's replicas) runs in its
// Pending response, not in Handle; v12's implicit AddPartitionsToTxn,
// which waits for the coordinator, needs a transactional id. Every other
// request may wait (a long poll, the group coordinator, WaitPending on
// earlier produces), as may a frame that is malformed or a raw SASL
// token: netio sends what precedes them first.
func (b *Broker) Quick(c *netio.Conn, frame []byte) bool {
	if a := authOf(c); a != nil && a.state == authAuthenticate && a.rawV0 {
		return false
	}
	if len(frame) < 10 || int16(binary.BigEndian.Uint16(frame)) != produceKey {
		return false
	}
	version := int16(binary.BigEndian.Uint16(frame[2:]))
	rest := frame[10:]
	switch n := int16(binary.BigEndian.Uint16(frame[8:])); { // client_id
	case n > int16(min(len(rest), 1<<15-1)) || n < -1:
		return false
	case n > 0:
		rest = rest[n:]
	}
	switch {
	case version < 3: // no transactional_id
		return true
	case version < 9: // transactional_id: nullable string, -1 for null
		return len(rest) >= 2 && int16(binary.BigEndian.Uint16(rest)) == -1
	}
	rest, err := skipHeaderTags(rest) // flexible: compact nullable string, 0 for null
	if err != nil {
		return false
	}
	n, m := binary.Uvarint(rest)
	return m > 0 && n == 0
}

var _ netio.QuickChecker = (*Broker)(nil)
