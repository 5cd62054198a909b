package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestControlledShutdownResignsFirst: a broker's controlled shutdown
// returns once its own metadata has it fenced and its leaderships moved,
// so a Produce reaching it before the listener drains is answered
// NOT_LEADER_OR_FOLLOWER naming the new leader (KIP-951), as Kafka's
// broker answers during its controlled shutdown, instead of being
// appended to a leadership the controller already moved.
func TestControlledShutdownResignsFirst(t *testing.T) {
	ts, rc := twoBrokers(t)
	_, p, epoch := createLedByOne(t, ts, "resign", 2, 2, nil)
	log := awaitLeading(t, ts, "resign", p)
	ts.Broker().cl.stop() // Shutdown's first step; its own call later is a no-op
	if st := ts.Broker().cl.repl.leader(log); st != nil {
		t.Fatal("still leading the partition after the controlled shutdown")
	}
	sp := produceOne(t, rc, produceReq(11, 1, "resign", p, makeBatch(noProducer, []byte("late"))))
	if sp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce after the controlled shutdown: %v, want NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(sp.ErrorCode))
	}
	if sp.CurrentLeader.LeaderID != 7 || sp.CurrentLeader.LeaderEpoch <= epoch {
		t.Fatalf("current leader %+v, want broker 7 at an epoch above %d", sp.CurrentLeader, epoch)
	}
}
