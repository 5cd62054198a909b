package controller

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluice/sluice/metadata"
)

// A follower that catches up to the leader's commit index has every topic
// the leader created before it, however soon after the create; an index
// the log never reaches ends with the context's error.
func TestCatchUpToLeaderCommit(t *testing.T) {
	c := newCluster(t, 3)
	hb := c.startHeartbeats()
	c.do(func(n *Controller) error {
		epoch, err := n.RegisterBroker(BrokerRegistration{
			BrokerID: 1, Incarnation: metadata.UUID{1},
			Endpoints: []metadata.Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092}},
		})
		if err == nil {
			hb.set(1, epoch)
		}
		return err
	})
	eventually(t, 10*time.Second, func() string {
		if b, ok := c.leader().Image().Broker(1); !ok || b.Fenced {
			return "broker 1 not unfenced"
		}
		return ""
	})
	for i := range 20 {
		name := fmt.Sprintf("t%d", i)
		leader := c.do(func(n *Controller) error {
			_, err := n.CreateTopic(name, 1, 1, nil)
			return err
		})
		index := leader.CommitIndex()
		for _, n := range c.running() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := n.CatchUp(ctx, index)
			cancel()
			if err != nil {
				t.Fatalf("node %d: catch up to %d: %v", n.NodeID(), index, err)
			}
			if _, ok := n.Image().Topic(name); !ok {
				t.Fatalf("node %d caught up to %d without topic %s", n.NodeID(), index, name)
			}
		}
	}
	n := c.running()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := n.CatchUp(ctx, n.CommitIndex()+1000); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("catch up to an index never written: %v, want the context's deadline", err)
	}
}
