package main

// Issue 14's cluster speed targets, measured on three sluiced processes on
// loopback (docs/BENCHMARKS.md, "Cluster metadata"):
//
//	go test ./cmd/sluiced -run '^$' -bench MetadataPropagation -benchtime 200x
//	go test ./cmd/sluiced -run '^$' -bench LeaderFailover -benchtime 1x

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// benchNodes starts three combined nodes with an HTTP listener each and
// env added, and waits until they agree on a leader and three brokers.
func benchNodes(b testing.TB, env ...string) (nodes []*proc, addrs, https []string) {
	b.Helper()
	var voters []string
	var clientPorts []int
	for id := 1; id <= 3; id++ {
		clientPorts = append(clientPorts, freePort(b))
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", id, freePort(b)))
	}
	env = append(env, "SLUICE_CONTROLLER_QUORUM_VOTERS="+strings.Join(voters, ","))
	for i := range 3 {
		_, ctl, _ := strings.Cut(voters[i], "@")
		p := start(b, env, "--node-id", strconv.Itoa(i+1), "--cluster-id", "cluster-bench", "--data-dir", b.TempDir(),
			"--listen", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://%s", clientPorts[i], ctl), "--http-listen", freeHTTP(b))
		if p.addr == "" {
			b.Fatalf("node %d did not start:\n%s", i+1, p.stderr)
		}
		nodes, addrs = append(nodes, p), append(addrs, p.addr)
		https = append(https, "http://"+p.waitLog("http listening")["addr"].(string)+"/metadataz")
	}
	agreed(b, addrs, 30*time.Second, allThree)
	b.Cleanup(func() { stopAll(nodes) })
	return nodes, addrs, https
}

func metadataOf(b *testing.B, url string) metadataState {
	b.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		code, body := httpGet(b, url)
		var st metadataState
		if code == 200 && json.Unmarshal([]byte(body), &st) == nil {
			return st
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: %d %s", url, code, body)
		}
		time.Sleep(time.Millisecond) // 503 while an entry is applied: ask again
	}
}

// durations collects samples and prints their quantiles.
type durations []time.Duration

func (d durations) quantiles() string {
	if len(d) == 0 {
		return "no samples"
	}
	s := slices.Clone(d)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return fmt.Sprintf("n=%d p50=%v p99=%v max=%v", len(s), q(0.50).Round(10*time.Microsecond),
		q(0.99).Round(10*time.Microsecond), s[len(s)-1].Round(10*time.Microsecond))
}

func (d durations) max() time.Duration {
	if len(d) == 0 {
		return 0
	}
	return slices.Max(d)
}

// BenchmarkMetadataPropagation: each op is a metadata change made through
// node 1 with franz-go's admin client, alternately a CreateTopics (one
// partition, RF=3) and an IncrementalAlterConfigs of that topic, answered
// once the active controller committed and applied it. Then every node's
// /metadataz is polled until its broker reconciled that entry, and its
// stamps (controller/applylag.go) give, per node:
//
//	image since append       its image swap - the leader's append of the entry (includes the commit)
//	reconciled since append  the end of its reconcile pass - the leader's append
//	… since commit           the same from the first image swap of the entry on
//	                         any node (the leader's, right after the commit)
//
// Samples where another entry was applied meanwhile are skipped (counted).
func BenchmarkMetadataPropagation(b *testing.B) {
	_, addrs, urls := benchNodes(b)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs[0]), kgo.RequestRetries(20))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	image, reconciled := make([]durations, 3), make([]durations, 3)
	sinceCommit, reconciledSinceCommit := make([]durations, 3), make([]durations, 3)
	skipped, i := 0, 0
	var over []string // samples reconciled over 100 ms after the commit
	for b.Loop() {
		topic := fmt.Sprintf("prop-%d", i/2)
		if i%2 == 0 {
			res, err := adm.CreateTopic(ctx, 1, 3, nil, topic)
			if err == nil {
				err = res.Err
			}
			if err != nil {
				b.Fatalf("create %s: %v", topic, err)
			}
		} else {
			v := strconv.Itoa(1000 + i)
			rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: &v}}, topic)
			if err == nil {
				_, err = rs.On(topic, nil)
			}
			if err != nil {
				b.Fatalf("alter %s: %v", topic, err)
			}
		}
		i++
		// The controller applied the entry before answering: the highest
		// index any node applied now is it (nothing else is proposed).
		var target uint64
		for _, u := range urls {
			target = max(target, metadataOf(b, u).AppliedIndex)
		}
		states := make([]metadataState, 3)
		for k, u := range urls {
			for deadline := time.Now().Add(10 * time.Second); ; {
				states[k] = metadataOf(b, u)
				if r := states[k].Reconciled; r != nil && r.Index >= target {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("node %d did not reconcile entry %d in 10s: applied %+v, reconciled %+v", k+1, target, states[k].Applied, states[k].Reconciled)
				}
				time.Sleep(500 * time.Microsecond) // polling: the node stamps its own times
			}
		}
		var first time.Time
		ok := true
		for _, st := range states {
			if st.Applied == nil || st.Applied.Index != target || st.Reconciled.Index != target {
				ok = false
				break
			}
			if first.IsZero() || st.Applied.AppliedAt.Before(first) {
				first = st.Applied.AppliedAt
			}
		}
		if !ok {
			skipped++
			continue
		}
		for k, st := range states {
			image[k] = append(image[k], time.Duration(st.Applied.LagSeconds*float64(time.Second)))
			reconciled[k] = append(reconciled[k], time.Duration(st.Reconciled.LagSeconds*float64(time.Second)))
			sinceCommit[k] = append(sinceCommit[k], st.Applied.AppliedAt.Sub(first))
			reconciledSinceCommit[k] = append(reconciledSinceCommit[k], st.Reconciled.AppliedAt.Sub(first))
			if d := st.Reconciled.AppliedAt.Sub(first); d > 100*time.Millisecond {
				over = append(over, fmt.Sprintf("op %d node %d %v", i-1, k+1, d.Round(time.Millisecond)))
			}
		}
	}
	var worst time.Duration
	for k := range 3 {
		b.Logf("node %d since commit: image %s; reconciled %s", k+1, sinceCommit[k].quantiles(), reconciledSinceCommit[k].quantiles())
		b.Logf("node %d since append: image %s; reconciled %s", k+1, image[k].quantiles(), reconciled[k].quantiles())
		worst = max(worst, reconciledSinceCommit[k].max())
	}
	b.Logf("%d ops, %d skipped (another entry applied meanwhile); limit: 100ms after commit; over it: %v", i, skipped, over)
	b.ReportMetric(float64(worst.Microseconds())/1000, "max-reconciled-since-commit-ms")
}

// BenchmarkLeaderFailover: a franz-go producer sends one record every 5 ms
// to a partition (RF=3) whose leader is then killed with SIGKILL; reported
// are the times from the kill to the first record acknowledged after it
// (by the new leader: the old one is dead) and to the first Metadata
// answer from a survivor naming a new leader, against
// broker.session.timeout.ms + 2 s. "broker": the leader is not the
// active controller; "controller": it is (an election comes first; the
// new controller starts the killed broker's session from when it last
// heard the old controller, controller/sessions.go).
func BenchmarkLeaderFailover(b *testing.B) {
	for _, c := range []struct {
		name       string
		session    time.Duration
		heartbeat  time.Duration
		controller bool
	}{
		{"session=9s(default)/broker", 9 * time.Second, 2 * time.Second, false},
		{"session=9s(default)/controller", 9 * time.Second, 2 * time.Second, true},
		{"session=3s/broker", 3 * time.Second, 500 * time.Millisecond, false},
		{"session=3s/controller", 3 * time.Second, 500 * time.Millisecond, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			var produced, metadata durations
			for b.Loop() {
				p, m := failoverOnce(b, c.session, c.heartbeat, c.controller)
				produced, metadata = append(produced, p), append(metadata, m)
			}
			b.Logf("kill -9 → first ack %s; → Metadata names the new leader %s; limit %v", produced.quantiles(),
				metadata.quantiles(), c.session+2*time.Second)
			b.ReportMetric(float64(produced.max().Milliseconds()), "max-kill-to-ack-ms")
			b.ReportMetric(float64(metadata.max().Milliseconds()), "max-kill-to-metadata-ms")
		})
	}
}

func failoverOnce(b *testing.B, session, heartbeat time.Duration, onController bool) (produced, metadata time.Duration) {
	nodes, addrs, _ := benchNodes(b, fmt.Sprintf("SLUICE_BROKER_SESSION_TIMEOUT_MS=%d", session.Milliseconds()),
		fmt.Sprintf("SLUICE_BROKER_HEARTBEAT_INTERVAL_MS=%d", heartbeat.Milliseconds()))
	v, err := viewOf(addrs[0])
	if err != nil {
		b.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MetadataMinAge(100*time.Millisecond), kgo.RecordDeliveryTimeout(time.Minute))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if res, err := kadm.NewClient(cl).CreateTopic(ctx, 6, 3, nil, "failover"); err != nil || res.Err != nil {
		b.Fatalf("create: %v %v", err, res.Err)
	}
	// A partition led by the controller, or by another broker.
	var part, leader int32 = -1, -1
	for deadline := time.Now().Add(20 * time.Second); part < 0; {
		ls, err := leadersOf(addrs[0], "failover")
		for p, l := range ls {
			if err == nil && l >= 0 && (l == v.leader) == onController {
				part, leader = int32(p), l
				break
			}
		}
		if part < 0 && time.Now().After(deadline) {
			b.Fatalf("no partition led as wanted (controller %d): %v %v", v.leader, ls, err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	// Produce until the records flow, then kill the leader.
	var mu sync.Mutex
	var lastAck, killedAt, firstAfter time.Time // under mu
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			cl.Produce(ctx, &kgo.Record{Topic: "failover", Partition: part, Value: []byte("x")}, func(_ *kgo.Record, err error) {
				if err == nil {
					now := time.Now()
					mu.Lock()
					lastAck = now
					if !killedAt.IsZero() && firstAfter.IsZero() && now.After(killedAt) {
						firstAfter = now
					}
					mu.Unlock()
				}
			})
		}
	}()
	acked := func(after time.Time) bool {
		mu.Lock()
		defer mu.Unlock()
		return lastAck.After(after)
	}
	for deadline := time.Now().Add(20 * time.Second); !acked(time.Time{}); {
		if time.Now().After(deadline) {
			b.Fatal("no record acknowledged before the kill")
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	// Steady state: every broker heartbeated the controller since it was
	// elected and since its first session check (session/9), so the kill
	// does not fall into the start-up's registration.
	time.Sleep(heartbeat + session/9 + 500*time.Millisecond) // a deliberate run time, not a wait for a condition
	// The kill returns once the process is gone: acks after it come
	// from the new leader.
	nodes[leader-1].kill()
	killed := time.Now()
	mu.Lock()
	killedAt = killed
	mu.Unlock()
	survivor := addrs[leader%3] // the next node
	limit := session + 30*time.Second
	for !acked(killed) || metadata == 0 { // acked: firstAfter is set
		if metadata == 0 {
			if l, ok := leaderIn(survivor, "failover", part); ok && l != leader {
				metadata = time.Since(killed)
			}
		}
		if time.Since(killed) > limit {
			b.Fatalf("after %v: acknowledged since the kill %v, metadata %v", limit, acked(killed), metadata)
		}
		time.Sleep(2 * time.Millisecond) // polling interval
	}
	mu.Lock()
	produced = firstAfter.Sub(killed)
	mu.Unlock()
	close(stop)
	wg.Wait()
	stopAll(nodes)
	return produced, metadata
}

// leaderIn is partition p's leader of topic in addr's Metadata.
func leaderIn(addr, topic string, p int32) (int32, bool) {
	resp, err := topicMetadata(addr, topic)
	if err != nil {
		return -1, false
	}
	if len(resp.Topics) != 1 || int(p) >= len(resp.Topics[0].Partitions) {
		return -1, false
	}
	pt := resp.Topics[0].Partitions[p]
	return pt.Leader, pt.ErrorCode == 0 && pt.Leader >= 0
}

// BenchmarkCreate1000PartitionsRF3: CreateTopics of 1,000 partitions, RF=3,
// through node 1 of three loopback nodes with franz-go's admin client.
// ns/op is the answer's time (the controller committed and applied the
// batch); all-reconciled-ms until every node's broker reconciled it (its
// 1,000 local logs created), from /metadataz.
func BenchmarkCreate1000PartitionsRF3(b *testing.B) {
	_, addrs, urls := benchNodes(b)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs[0]), kgo.RequestRetries(20))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var answered, reconciled durations
	i := 0
	for b.Loop() {
		began := time.Now()
		res, err := adm.CreateTopic(context.Background(), 1000, 3, nil, fmt.Sprintf("big-%d", i))
		if err == nil {
			err = res.Err
		}
		if err != nil {
			b.Fatal(err)
		}
		answered = append(answered, time.Since(began))
		i++
		var target uint64
		for _, u := range urls {
			target = max(target, metadataOf(b, u).AppliedIndex)
		}
		for k, u := range urls {
			for deadline := time.Now().Add(60 * time.Second); ; {
				if r := metadataOf(b, u).Reconciled; r != nil && r.Index >= target {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("node %d did not reconcile entry %d in 60s", k+1, target)
				}
				time.Sleep(2 * time.Millisecond) // polling interval
			}
		}
		reconciled = append(reconciled, time.Since(began))
	}
	b.Logf("answered %s; all three reconciled %s; limit 3s", answered.quantiles(), reconciled.quantiles())
	b.ReportMetric(float64(reconciled.max().Milliseconds()), "max-all-reconciled-ms")
}
