package main

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// partitionLeaders is each partition's leader and leader epoch of topic
// in addr's Metadata (-1 for a partition with an error or no leader).
func partitionLeaders(addr, topic string) (leaders, epochs []int32, err error) {
	resp, err := topicMetadata(addr, topic)
	if err != nil {
		return nil, nil, err
	}
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		return nil, nil, fmt.Errorf("metadata for %s: %+v", topic, resp.Topics)
	}
	for _, p := range resp.Topics[0].Partitions {
		l := p.Leader
		if p.ErrorCode != 0 {
			l = -1
		}
		leaders, epochs = append(leaders, l), append(epochs, p.LeaderEpoch)
	}
	return leaders, epochs, nil
}

// quorumLeaderOtherThan polls the nodes at addrs with DescribeQuorum until
// they all name one leader other than old, which it returns. A follower
// forwards DescribeQuorum to the leader it knows: while that one is
// paused, the request is abandoned after 200 ms and sent again.
func quorumLeaderOtherThan(t *testing.T, addrs []string, old int32) int32 {
	t.Helper()
	dq := describeQuorumRequest()
	dq.Version = 1
	for deadline := time.Now().Add(20 * time.Second); ; {
		leader, msg := int32(-1), ""
		for _, a := range addrs {
			r, err := requestWithin(a, dq, 200*time.Millisecond)
			if err != nil {
				msg = err.Error()
				break
			}
			qr := r.(*kmsg.DescribeQuorumResponse)
			if len(qr.Topics) != 1 || len(qr.Topics[0].Partitions) != 1 {
				msg = fmt.Sprintf("DescribeQuorum: %+v", qr)
				break
			}
			l := qr.Topics[0].Partitions[0].LeaderID
			if l < 0 || l == old || leader >= 0 && l != leader {
				msg = fmt.Sprintf("%s names leader %d", a, l)
				break
			}
			leader = l
		}
		if msg == "" {
			return leader
		}
		if time.Now().After(deadline) {
			t.Fatalf("no leader other than %d: %s", old, msg)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// The active controller of three combined nodes, leading partitions:
//   - paused (SIGSTOP) until the other two elect a new controller, then
//     resumed, its broker keeps heartbeating and is not fenced: its
//     partitions keep their leader and leader epoch for a whole session
//     (the new controller starts that broker's session from when it last
//     heard the old controller, never less than two heartbeat intervals
//     after the election: controller/sessions.go);
//   - killed (kill -9): another node becomes the controller, the killed
//     broker is fenced, each partition it led gets a new leader among the
//     survivors, and the survivors stay unfenced.
func TestActiveControllerFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("about 20 s: three nodes, a pause and a kill, each watched for a session")
	}
	const session = 4 * time.Second
	nodes, addrs, _ := benchNodes(t, "SLUICE_BROKER_SESSION_TIMEOUT_MS=4000", "SLUICE_BROKER_HEARTBEAT_INTERVAL_MS=500")
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if res, err := kadm.NewClient(cl).CreateTopic(context.Background(), 6, 3, nil, "ctlfail"); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	others := func(id int32) (rest []string) {
		for i, a := range addrs {
			if int32(i+1) != id {
				rest = append(rest, a)
			}
		}
		return rest
	}
	// ledBy polls addr until every partition has a leader and returns
	// the partitions id leads, with all leaders and epochs.
	ledBy := func(addr string, id int32) (parts []int, leaders, epochs []int32) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; {
			leaders, epochs, err := partitionLeaders(addr, "ctlfail")
			if err == nil && len(leaders) == 6 && !slices.Contains(leaders, -1) {
				for p, l := range leaders {
					if l == id {
						parts = append(parts, p)
					}
				}
				if len(parts) > 0 {
					return parts, leaders, epochs
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no leaders on every partition with some on broker %d: %v %v", addr, id, leaders, err)
			}
			time.Sleep(20 * time.Millisecond) // polling interval
		}
	}

	// Pause the controller until the others elect another, then resume it.
	ctl, err := viewOf(addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	paused := ctl.leader
	parts, leaders, epochs := ledBy(addrs[0], paused)
	if err := nodes[paused-1].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	pausedAt := time.Now()
	elected := quorumLeaderOtherThan(t, others(paused), paused)
	if err := nodes[paused-1].cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	t.Logf("controller %d paused; %d elected %.2fs later; resumed", paused, elected, time.Since(pausedAt).Seconds())
	// For a session from the resume (longer than any session the pause
	// could end), its partitions keep their leader and epoch.
	for watchEnd := time.Now().Add(session + time.Second); time.Now().Before(watchEnd); {
		ls, es, err := partitionLeaders(addrs[elected-1], "ctlfail")
		if err == nil && (!slices.Equal(ls, leaders) || !slices.Equal(es, epochs)) {
			t.Fatalf("broker %d, resumed after a pause shorter than its session, lost leaderships: leaders %v epochs %v, before %v %v",
				paused, ls, es, leaders, epochs)
		}
		time.Sleep(50 * time.Millisecond) // polling interval over a deliberate watch
	}
	t.Logf("broker %d kept its partitions %v (leaders %v, epochs %v)", paused, parts, leaders, epochs)

	// kill -9 of the controller, which leads partitions.
	killed := agreed(t, addrs, 20*time.Second, allThree)
	parts, _, _ = ledBy(addrs[0], killed)
	rest := others(killed)
	nodes[killed-1].kill()
	killedAt := time.Now()
	var live []int32
	for id := int32(1); id <= 3; id++ {
		if id != killed {
			live = append(live, id)
		}
	}
	agreed(t, rest, session+15*time.Second, func(v clusterView) string {
		if v.leader == killed {
			return fmt.Sprintf("the killed node %d still leads", killed)
		}
		if !slices.Equal(v.metadataBrokers, live) {
			return fmt.Sprintf("Metadata brokers %v, want %v", v.metadataBrokers, live)
		}
		return ""
	})
	for _, a := range rest {
		for deadline := time.Now().Add(10 * time.Second); ; {
			ls, _, err := partitionLeaders(a, "ctlfail")
			msg := fmt.Sprint(err)
			if err == nil {
				msg = ""
				for _, p := range parts {
					if !slices.Contains(live, ls[p]) {
						msg = fmt.Sprintf("partition %d led by %d", p, ls[p])
					}
				}
			}
			if msg == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: after kill -9 of controller %d: %s", a, killed, msg)
			}
			time.Sleep(20 * time.Millisecond) // polling interval
		}
	}
	t.Logf("kill -9 of controller %d: fenced, its partitions %v led by survivors %.2fs later", killed, parts, time.Since(killedAt).Seconds())
	// The survivors stay unfenced for a session after.
	for watchEnd := time.Now().Add(session + time.Second); time.Now().Before(watchEnd); {
		v, err := viewOf(rest[0])
		if err == nil && !slices.Equal(v.metadataBrokers, live) {
			t.Fatalf("after the fail-over: Metadata brokers %v, want %v", v.metadataBrokers, live)
		}
		time.Sleep(50 * time.Millisecond) // polling interval over a deliberate watch
	}
}
