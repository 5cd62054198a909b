package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// secNode is one sluiced of a secured cluster: a PLAINTEXT listener for
// the operator (User:ANONYMOUS, a super user, also the inter-broker
// listener) and a SASL_PLAINTEXT one (SCRAM-SHA-512) for users.
type secNode struct {
	id               int32
	plain, sasl, ctl string
	dir              string
	p                *proc
}

func secConfig(n secNode, voters string) string {
	return fmt.Sprintf(`node.id=%d
listeners=PLAINTEXT://%s,SASL_PLAINTEXT://%s,CONTROLLER://%s
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
controller.quorum.voters=%s
broker.heartbeat.interval.ms=500
log.dirs=%s
`, n.id, n.plain, n.sasl, n.ctl, voters, n.dir)
}

// pollUntil calls f until it returns nil or the deadline passes.
func pollUntil(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition, bounded by the deadline
	}
}

func adminAt(t *testing.T, addr string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// authenticate opens a SCRAM-SHA-512 connection to addr as user and sends
// one Metadata request on it.
func authenticate(ctx context.Context, addr, user, password string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(scram.Auth{User: user, Pass: password}.AsSha512Mechanism()),
		kgo.RequestRetries(0))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return cl.Ping(ctx)
}

func upsertUser(ctx context.Context, adm *kadm.Client, user, password string) error {
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: user, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: password}})
	if err != nil {
		return err
	}
	return res.Error()
}

func aliceWrite() *kadm.ACLBuilder {
	return kadm.NewACLs().Topics("t").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpWrite)
}

func createACL(ctx context.Context, adm *kadm.Client, b *kadm.ACLBuilder) error {
	res, err := adm.CreateACLs(ctx, b)
	if err != nil {
		return err
	}
	for _, r := range res {
		if r.Err != nil {
			return r.Err
		}
	}
	return nil
}

// produceAs produces one record to partition p of topic t as alice over
// SASL, with a new client (so nothing is cached between attempts).
func produceAs(ctx context.Context, saslAddrs []string, p int32) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(saslAddrs...),
		kgo.SASL(scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism()),
		kgo.DisableIdempotentWrite(), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequestRetries(0), kgo.RecordRetries(2))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Partition: p, Value: []byte("x")}).FirstErr()
}

// Three sluiced processes: a SCRAM user created through broker 2
// authenticates on brokers 1 and 3; an ACL created through broker 1 is
// enforced by every broker (a denied produce to the partition each one
// leads); deleting them through another broker works everywhere; a
// restart of all three keeps them (from the metadata log).
func TestClusterACLsAndSCRAM(t *testing.T) {
	const n = 3
	nodes := make([]secNode, n)
	var voters []string
	for i := range nodes {
		nodes[i] = secNode{id: int32(i + 1), plain: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			sasl: fmt.Sprintf("127.0.0.1:%d", freePort(t)), ctl: fmt.Sprintf("127.0.0.1:%d", freePort(t)), dir: t.TempDir()}
		voters = append(voters, fmt.Sprintf("%d@%s", i+1, nodes[i].ctl))
	}
	var plainAddrs, saslAddrs []string
	for _, nd := range nodes {
		plainAddrs, saslAddrs = append(plainAddrs, nd.plain), append(saslAddrs, nd.sasl)
	}
	startAll := func() {
		for i := range nodes {
			conf := writeFile(t, "server.properties", secConfig(nodes[i], strings.Join(voters, ",")))
			nodes[i].p = start(t, nil, "--config", conf, "--cluster-id", "sec-cluster-test")
			if nodes[i].p.addr == "" {
				t.Fatalf("node %d did not start:\n%s", i+1, nodes[i].p.stderr)
			}
		}
		agreed(t, plainAddrs, 30*time.Second, allThree)
	}
	startAll()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := []*kadm.Client{adminAt(t, nodes[0].plain), adminAt(t, nodes[1].plain), adminAt(t, nodes[2].plain)}

	// A user created through broker 2 authenticates on 1 and 3.
	if err := upsertUser(ctx, adm[1], "alice", "alice-secret"); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 2, 1} {
		pollUntil(t, 10*time.Second, fmt.Sprintf("alice on broker %d", i+1), func() error {
			return authenticate(ctx, nodes[i].sasl, "alice", "alice-secret")
		})
	}
	if err := authenticate(ctx, nodes[0].sasl, "alice", "wrong"); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("a wrong password on broker 1: %v", err)
	}

	// One partition led by each broker.
	if _, err := adm[0].CreateTopic(ctx, n, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	ledBy := map[int32]int32{} // broker → partition
	pollUntil(t, 10*time.Second, "leaders of t", func() error {
		d, err := adm[0].ListTopics(ctx, "t")
		if err != nil {
			return err
		}
		clear(ledBy)
		for _, p := range d["t"].Partitions {
			ledBy[p.Leader] = p.Partition
		}
		if len(ledBy) != n {
			return fmt.Errorf("leaders %v", ledBy)
		}
		return nil
	})

	// ALLOW through broker 1: alice writes to every broker's partition.
	if err := createACL(ctx, adm[0], aliceWrite().Allow("User:alice").AllowHosts()); err != nil {
		t.Fatal(err)
	}
	for id := int32(1); id <= n; id++ {
		pollUntil(t, 15*time.Second, fmt.Sprintf("allowed produce to broker %d", id), func() error {
			return produceAs(ctx, saslAddrs, ledBy[id])
		})
	}
	// DENY through broker 1: every broker refuses.
	if err := createACL(ctx, adm[0], aliceWrite().Deny("User:alice").DenyHosts()); err != nil {
		t.Fatal(err)
	}
	for id := int32(1); id <= n; id++ {
		pollUntil(t, 15*time.Second, fmt.Sprintf("denied produce to broker %d", id), func() error {
			if err := produceAs(ctx, saslAddrs, ledBy[id]); !errors.Is(err, kerr.TopicAuthorizationFailed) {
				return fmt.Errorf("produce: %v, want TOPIC_AUTHORIZATION_FAILED", err)
			}
			return nil
		})
	}
	// The DENY deleted through broker 3: every broker allows again.
	res, err := adm[2].DeleteACLs(ctx, aliceWrite().Deny("User:alice").DenyHosts())
	if err != nil || len(res) != 1 || res[0].Err != nil || len(res[0].Deleted) != 1 {
		t.Fatalf("delete the DENY: %+v %v", res, err)
	}
	for id := int32(1); id <= n; id++ {
		pollUntil(t, 15*time.Second, fmt.Sprintf("produce to broker %d after the DENY was deleted", id), func() error {
			return produceAs(ctx, saslAddrs, ledBy[id])
		})
	}

	// Deleting a user through broker 3 takes it away everywhere; bob stays.
	if err := upsertUser(ctx, adm[2], "bob", "bob-secret"); err != nil {
		t.Fatal(err)
	}
	del, err := adm[2].AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "alice", Mechanism: kadm.ScramSha512}}, nil)
	if err != nil || del.Error() != nil {
		t.Fatalf("delete alice: %v %v", err, del.Error())
	}
	for i := range nodes {
		pollUntil(t, 10*time.Second, fmt.Sprintf("alice refused on broker %d", i+1), func() error {
			if err := authenticate(ctx, nodes[i].sasl, "alice", "alice-secret"); !errors.Is(err, kerr.SaslAuthenticationFailed) {
				return fmt.Errorf("alice authenticates: %v", err)
			}
			return nil
		})
	}
	del, err = adm[0].AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "alice", Mechanism: kadm.ScramSha512}}, nil)
	if err != nil || !errors.Is(del.Error(), kerr.ResourceNotFound) {
		t.Fatalf("delete alice again: %v %v", err, del.Error())
	}

	// A restart of every node keeps the ALLOW and bob.
	for _, nd := range nodes {
		nd.p.stop()
	}
	startAll()
	adm = []*kadm.Client{adminAt(t, nodes[0].plain), adminAt(t, nodes[1].plain), adminAt(t, nodes[2].plain)}
	for i := range nodes {
		pollUntil(t, 10*time.Second, fmt.Sprintf("ACLs and bob on broker %d after the restart", i+1), func() error {
			d, err := adm[i].DescribeACLs(ctx, kadm.NewACLs().Topics().ResourcePatternType(kadm.ACLPatternAny).
				Operations(kadm.OpAny).Allow().AllowHosts().Deny().DenyHosts())
			if err != nil {
				return err
			}
			var got []kadm.DescribedACL
			for _, r := range d {
				if r.Err != nil {
					return r.Err
				}
				got = append(got, r.Described...)
			}
			if len(got) != 1 || got[0].Principal != "User:alice" || got[0].Permission != kmsg.ACLPermissionTypeAllow {
				return fmt.Errorf("described %+v", got)
			}
			users, err := adm[i].DescribeUserSCRAMs(ctx)
			if err != nil {
				return err
			}
			if _, ok := users["bob"]; !ok || len(users) != 1 {
				return fmt.Errorf("users %v", users)
			}
			return authenticate(ctx, nodes[i].sasl, "bob", "bob-secret")
		})
	}
	for _, nd := range nodes {
		nd.p.stop()
	}
}
