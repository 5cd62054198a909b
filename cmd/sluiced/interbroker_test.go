package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Two sluiced processes whose inter-broker listener is SASL_PLAINTEXT
// (PLAIN, the brokers' login from the listener's JAAS config) with an
// authorizer on: the follower registers and heartbeats with the leader
// over the SASL listener as User:broker (a super user, so it has
// CLUSTER_ACTION), and both brokers are live in Metadata on each node.
// Replication runs over the same listener: acks=all to an RF=2 topic
// completes only once the follower fetched over SASL, in a fetch session.
func TestInterBrokerSASL(t *testing.T) {
	const n = 2
	var voters []string
	var clientPorts, internalPorts []int
	for id := 1; id <= n; id++ {
		clientPorts = append(clientPorts, freePort(t))
		internalPorts = append(internalPorts, freePort(t))
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", id, freePort(t)))
	}
	var nodes []*proc
	var addrs []string
	for i := range n {
		_, ctl, _ := strings.Cut(voters[i], "@")
		conf := writeFile(t, "server.properties", fmt.Sprintf(`node.id=%d
listeners=PLAINTEXT://127.0.0.1:%d,INTERNAL://127.0.0.1:%d,CONTROLLER://%s
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=INTERNAL
sasl.enabled.mechanisms=PLAIN
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.internal.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \
  username="broker" password="broker-secret" user_broker="broker-secret";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:broker;User:ANONYMOUS
controller.quorum.voters=%s
broker.heartbeat.interval.ms=500
log.dirs=%s
sluice.http.listen=127.0.0.1:0
`, i+1, clientPorts[i], internalPorts[i], ctl, strings.Join(voters, ","), t.TempDir()))
		p := start(t, nil, "--config", conf, "--cluster-id", "sasl-cluster-test")
		if p.addr == "" {
			t.Fatalf("node %d did not start:\n%s", i+1, p.stderr)
		}
		nodes, addrs = append(nodes, p), append(addrs, p.addr)
	}
	leader := agreed(t, addrs, 20*time.Second, func(v clusterView) string {
		if len(v.metadataBrokers) != n || len(v.clusterBrokers) != n {
			return fmt.Sprintf("brokers %v (Metadata) %v (DescribeCluster)", v.metadataBrokers, v.clusterBrokers)
		}
		return ""
	})
	// The follower authenticated with SASL on the leader's INTERNAL
	// listener. A leader elected after the follower registered (the two
	// voters' start-up can elect twice) sees the follower's SASL
	// connection with its next heartbeat (broker.heartbeat.interval.ms
	// 500), so the count is waited for, naming the leader at each look.
	for deadline := time.Now().Add(10 * time.Second); ; {
		got := metricValue(scrape(t, nodes[leader-1]), `sluice_sasl_authentications_total{result="succeeded"}`)
		if got >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("leader %d counted %v SASL authentications", leader, got)
		}
		time.Sleep(50 * time.Millisecond)
		leader = agreed(t, addrs, 20*time.Second, func(clusterView) string { return "" })
	}
	if got := metricValue(scrape(t, nodes[leader-1]), `sluice_sasl_authentications_total{result="failed"}`); got != 0 {
		t.Fatalf("leader %d counted %v failed SASL authentications", leader, got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if res, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 2, nil, "sasl-repl"); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	var recs []*kgo.Record
	for i := range 20 {
		recs = append(recs, &kgo.Record{Topic: "sasl-repl", Value: []byte(fmt.Sprint(i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("acks=all over a SASL inter-broker listener: %v", err)
	}
	// Each broker leads one partition and follows the other's, in an
	// incremental fetch session (KIP-227) held by the leader.
	for i, p := range nodes {
		for deadline := time.Now().Add(10 * time.Second); ; {
			if metricValue(scrape(t, p), "sluice_fetch_sessions") >= 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d holds no follower fetch session", i+1)
			}
			time.Sleep(20 * time.Millisecond) // polling /metrics, bounded by the deadline
		}
	}
	for _, p := range nodes {
		p.stop()
	}
}

// scrape is p's /metrics body.
func scrape(t *testing.T, p *proc) string {
	t.Helper()
	code, body := httpGet(t, "http://"+p.waitLog("http listening")["addr"].(string)+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	return body
}
