package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/kafkaref"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKafkaRefCluster starts a three-node Apache Kafka cluster
// (kafkaref.StartCluster, as `make bench-repl` does) and checks that it is
// one cluster: every node names the same cluster id and all three
// brokers, an RF=3 topic gets a full ISR, and an acks=all produce
// succeeds. Three JVMs take tens of seconds to start on this machine, so
// it runs only with SLUICE_KAFKA_CLUSTER=1 (not in `make test`):
//
//	SLUICE_KAFKA_CLUSTER=1 go test ./e2e -run TestKafkaRefCluster -v
func TestKafkaRefCluster(t *testing.T) {
	if os.Getenv("SLUICE_KAFKA_CLUSTER") != "1" {
		t.Skip("starts three JVMs: set SLUICE_KAFKA_CLUSTER=1")
	}
	lib := requireKafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	outs := make([]*tailBuffer, 4)
	c, err := kafkaref.StartCluster(ctx, kafkaref.ClusterOptions{LibDir: lib, Dir: t.TempDir(),
		JVMArgs: []string{"-XX:TieredStopAtLevel=1"},
		Output: func(id int) io.Writer {
			outs[id] = &tailBuffer{max: 16 << 10}
			return outs[id]
		}})
	if err != nil {
		t.Fatalf("start the cluster: %v", err)
	}
	t.Cleanup(func() {
		_ = c.Stop(15 * time.Second) // the last node has no quorum for a controlled shutdown
		if t.Failed() {
			for id := 1; id <= 3; id++ {
				t.Logf("node %d output (tail):\n%s", id, strings.TrimSpace(outs[id].String()))
			}
		}
	})
	if len(c.Brokers) != 3 || len(c.Pids()) != 3 {
		t.Fatalf("%d brokers, pids %v", len(c.Brokers), c.Pids())
	}
	var clusterID string
	for i, b := range c.Brokers {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
		if err != nil {
			t.Fatal(err)
		}
		// The brokers register with the quorum a moment after they answer.
		var m kadm.Metadata
		for {
			m, err = kadm.NewClient(cl).BrokerMetadata(ctx)
			if err == nil && len(m.Brokers) == 3 || ctx.Err() != nil {
				break
			}
			time.Sleep(100 * time.Millisecond) // polling registration, bounded by ctx
		}
		cl.Close()
		if err != nil || len(m.Brokers) != 3 {
			t.Fatalf("node %d: metadata %+v, %v", i+1, m.Brokers, err)
		}
		if i == 0 {
			clusterID = m.Cluster
		} else if m.Cluster != clusterID {
			t.Fatalf("node %d: cluster id %q, node 1 %q", i+1, m.Cluster, clusterID)
		}
	}
	if clusterID != c.ClusterID {
		t.Fatalf("cluster id %q, formatted %q", clusterID, c.ClusterID)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(c.Addrs(), ",")...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic("r3"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, "r3"); err != nil {
		t.Fatalf("create an RF=3 topic: %v", err)
	}
	for {
		td, err := adm.ListTopics(ctx, "r3")
		if err == nil && len(td["r3"].Partitions) == 1 && len(td["r3"].Partitions[0].ISR) == 3 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("r3 never had a full ISR: %+v, %v", td["r3"], err)
		}
		time.Sleep(100 * time.Millisecond) // polling the ISR, bounded by ctx
	}
	for i := range 10 {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
			t.Fatalf("acks=all produce %d: %v", i, err)
		}
	}
}
