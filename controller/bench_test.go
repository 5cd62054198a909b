package controller

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluice/sluice/metadata"
)

// BenchmarkProposeThreeNodes: one small decision (a config change) on a
// three-node loopback quorum, from proposal to commit on the leader, and
// until every follower applied it (reported as follower-lag-ms).
func BenchmarkProposeThreeNodes(b *testing.B) {
	for _, commit := range []time.Duration{50 * time.Millisecond, 10 * time.Millisecond, 5 * time.Millisecond} {
		b.Run(fmt.Sprintf("commit-timeout=%v", commit), func(b *testing.B) { benchPropose(b, commit) })
	}
}

func benchPropose(b *testing.B, commit time.Duration) {
	c, leader := startBenchCluster(b, commit)
	var lag time.Duration
	i := 0
	for b.Loop() {
		v := fmt.Sprint(i)
		i++
		if err := leader.SetConfigs(metadata.ResourceBroker, "", map[string]*string{"k": &v}); err != nil {
			b.Fatal(err)
		}
		done := time.Now()
		for _, n := range c.running() {
			for {
				changed := n.ImageChanged()
				if n.Image().Configs(metadata.ResourceBroker, "")["k"] == v {
					break
				}
				<-changed
			}
		}
		lag += time.Since(done)
	}
	b.ReportMetric(float64(lag.Microseconds())/1000/float64(i), "follower-lag-ms")
}

// BenchmarkCreate1000PartitionsRF3: CreateTopic of 1,000 partitions, RF=3,
// on a three-node quorum (one batch of 1,001 records).
func BenchmarkCreate1000PartitionsRF3(b *testing.B) {
	_, leader := startBenchCluster(b, 0)
	i := 0
	for b.Loop() {
		if _, err := leader.CreateTopic(fmt.Sprintf("t%d", i), 1000, 3, nil); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// startBenchCluster starts three nodes with raft's default timers (but
// commit, if not 0) and three registered, unfenced brokers whose sessions
// outlast the benchmark.
func startBenchCluster(b *testing.B, commit time.Duration) (*cluster, *Controller) {
	b.Helper()
	c := &cluster{nodes: make([]*Controller, 3)}
	for i := range 3 {
		c.voters = append(c.voters, Voter{ID: int32(i + 1), Addr: freeAddr(b)})
		c.dirs = append(c.dirs, b.TempDir())
	}
	for i := range 3 {
		cfg := testConfig(int32(i+1), c.voters, c.dirs[i])
		cfg.SessionTimeout = time.Hour
		cfg.Timeouts = Timeouts{Commit: commit} // raft's defaults: no flapping under load
		ctl, err := Open(cfg)
		if err != nil {
			b.Fatal(err)
		}
		c.nodes[i] = ctl
		b.Cleanup(func() { ctl.Close() })
	}
	var leader *Controller
	for leader == nil {
		for _, n := range c.running() {
			if n.IsLeader() {
				leader = n
			}
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	for id := int32(1); id <= 3; id++ {
		epoch, err := leader.RegisterBroker(BrokerRegistration{BrokerID: id, Incarnation: metadata.UUID{byte(id)}})
		if err != nil {
			b.Fatal(err)
		}
		if err := leader.Heartbeat(id, epoch); err != nil {
			b.Fatal(err)
		}
	}
	return c, leader
}
