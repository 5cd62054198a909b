package broker

import (
	"bytes"
	"testing"
	"time"
)

// An acks=0 producer that sends and closes at once loses nothing: the
// broker serves every request it received before the close.
func TestProduceAcksZeroThenCloseKeepsEverything(t *testing.T) {
	ts := startServer(t, "")
	ts.createTopic(t, "fire", 1, nil)
	rc := dialRaw(t, ts.addr)
	const n = 2000
	value := bytes.Repeat([]byte("v"), 1000)
	for i := 0; i < n; i++ {
		rc.send(produceReq(7, 0, "fire", 0, makeBatch(noProducer, value, value)))
	}
	rc.c.Close()
	l := ts.Broker().topics.get("fire").partition(0)
	waitFor(t, "every acks=0 record appended", 20*time.Second, func() bool {
		return l.HighWatermark() == 2*n
	})
}
