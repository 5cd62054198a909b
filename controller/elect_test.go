package controller

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/sluice/sluice/metadata"
)

func TestElectPreferred(t *testing.T) {
	live := func(ids ...int32) func(int32) bool { return func(id int32) bool { return slices.Contains(ids, id) } }
	f := func(replicas, isr []int32, leader int32, alive func(int32) bool, want int32, wantErr error) {
		t.Helper()
		p := metadata.Partition{Replicas: replicas, ISR: isr, Leader: leader}
		got, err := electPreferred(p, alive)
		if !errors.Is(err, wantErr) || err == nil && got != want {
			t.Fatalf("electPreferred(%v, isr %v, leader %d) = %d, %v; want %d, %v", replicas, isr, leader, got, err, want, wantErr)
		}
	}
	// Led elsewhere, the preferred replica is alive and in the ISR: it leads.
	f([]int32{1, 2, 3}, []int32{1, 2, 3}, 2, live(1, 2, 3), 1, nil)
	// Already leading.
	f([]int32{1, 2, 3}, []int32{1, 2, 3}, 1, live(1, 2, 3), 1, ErrElectionNotNeeded)
	// Out of the ISR (still catching up), or fenced: not available.
	f([]int32{1, 2, 3}, []int32{2, 3}, 2, live(1, 2, 3), 0, ErrPreferredLeaderNotAvailable)
	f([]int32{1, 2, 3}, []int32{1, 2, 3}, 2, live(2, 3), 0, ErrPreferredLeaderNotAvailable)
	// No leader at all, the preferred one can lead: it does.
	f([]int32{1, 2}, []int32{1}, metadata.NoLeader, live(1, 2), 1, nil)
}

func TestElectUnclean(t *testing.T) {
	live := func(ids ...int32) func(int32) bool { return func(id int32) bool { return slices.Contains(ids, id) } }
	f := func(replicas, isr []int32, leader int32, alive func(int32) bool, want int32, wantISR []int32, wantErr error) {
		t.Helper()
		p := metadata.Partition{Replicas: replicas, ISR: isr, Leader: leader}
		got, gotISR, err := electUnclean(p, alive, false)
		if !errors.Is(err, wantErr) || err == nil && (got != want || !slices.Equal(gotISR, wantISR)) {
			t.Fatalf("electUnclean(%v, isr %v, leader %d) = %d %v, %v; want %d %v, %v", replicas, isr, leader, got, gotISR, err, want, wantISR, wantErr)
		}
	}
	// A live leader: nothing to do.
	f([]int32{1, 2, 3}, []int32{1}, 1, live(1, 2, 3), 0, nil, ErrElectionNotNeeded)
	// The only ISR member is down: the first live replica leads alone.
	f([]int32{1, 2, 3}, []int32{1}, metadata.NoLeader, live(2, 3), 2, []int32{2}, nil)
	f([]int32{1, 3, 2}, []int32{1}, metadata.NoLeader, live(2, 3), 3, []int32{3}, nil)
	// A live ISR member is taken first, with the ISR kept.
	f([]int32{1, 2, 3}, []int32{1, 3}, metadata.NoLeader, live(2, 3), 3, []int32{1, 3}, nil)
	// Nobody alive.
	f([]int32{1, 2}, []int32{1}, metadata.NoLeader, live(3), 0, nil, ErrEligibleLeadersNotAvailable)
}

func TestImbalancedPartitions(t *testing.T) {
	id := metadata.UUID{1}
	part := func(n int32, replicas []int32, leader int32) metadata.Record {
		return metadata.Partition{TopicID: id, Partition: n, Replicas: replicas, ISR: []int32{1, 2, 3}, Leader: leader}
	}
	f := func(fenced []int32, pct int, leaders []int32, want []TopicPartition) {
		t.Helper()
		recs := []metadata.Record{metadata.Topic{Name: "t", ID: id}}
		prefs := [][]int32{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}, {1, 3, 2}, {2, 1, 3}, {3, 2, 1}}
		for i, r := range prefs {
			recs = append(recs, part(int32(i), r, leaders[i]))
		}
		im := imageOf(t, map[int32]string{1: "", 2: "", 3: ""}, fenced, recs...)
		if got := imbalancedPartitions(im, pct); !reflect.DeepEqual(got, want) {
			t.Fatalf("imbalanced(fenced %v, %d%%, leaders %v) = %v, want %v", fenced, pct, leaders, got, want)
		}
	}
	tp := func(ps ...int32) []TopicPartition {
		var out []TopicPartition
		for _, p := range ps {
			out = append(out, TopicPartition{"t", p})
		}
		return out
	}
	// Balanced.
	f(nil, 10, []int32{1, 2, 3, 1, 2, 3}, nil)
	// Broker 1 leads neither of its two (it restarted): both go back.
	f(nil, 10, []int32{2, 2, 3, 3, 2, 3}, tp(0, 3))
	// One of two is 50%: over 10, under 50.
	f(nil, 10, []int32{2, 2, 3, 1, 2, 3}, tp(0))
	f(nil, 50, []int32{2, 2, 3, 1, 2, 3}, nil)
	// A fenced preferred leader is not given anything.
	f([]int32{1}, 10, []int32{2, 2, 3, 3, 2, 3}, nil)
}

func TestElectLeadersDecisions(t *testing.T) {
	ctl, _ := openSingle(t, 3)
	if _, err := ctl.CreateTopic("t", 3, 3, nil); err != nil {
		t.Fatal(err)
	}
	// Broker 1 fails: its leaderships move; it comes back (unfenced, and
	// still in no ISR until it catches up, as a real follower would be).
	if err := ctl.FenceBroker(1); err != nil {
		t.Fatal(err)
	}
	e, err := ctl.RegisterBroker(BrokerRegistration{BrokerID: 1, Incarnation: metadata.UUID{9}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.Heartbeat(1, e); err != nil {
		t.Fatal(err)
	}
	tpOf := func(name string, p int32) TopicPartition { return TopicPartition{name, p} }
	pref := preferredOf(t, ctl, "t", 1)
	results, err := ctl.ElectLeaders(ElectPreferred, []TopicPartition{pref, tpOf("t", 9), tpOf("nope", 0)})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(results[0].Err, ErrPreferredLeaderNotAvailable) || !errors.Is(results[1].Err, ErrUnknownTopic) || !errors.Is(results[2].Err, ErrUnknownTopic) {
		t.Fatalf("out of the ISR: %+v", results)
	}
	// Back in the ISR: the preferred election moves leadership, epoch + 1.
	tp, _ := ctl.Image().Topic("t")
	before := tp.Partitions[pref.Partition]
	isr := append(slices.Clone(before.ISR), 1)
	if _, err := ctl.AlterPartition(before.Leader, epochOf(t, ctl, before.Leader), tp.ID, pref.Partition, before.LeaderEpoch, before.PartitionEpoch, isr); err != nil {
		t.Fatal(err)
	}
	if results, err = ctl.ElectLeaders(ElectPreferred, []TopicPartition{pref, pref}); err != nil || len(results) != 1 || results[0].Err != nil {
		t.Fatalf("preferred election: %+v, %v", results, err)
	}
	tp, _ = ctl.Image().Topic("t")
	after := tp.Partitions[pref.Partition]
	if after.Leader != 1 || after.LeaderEpoch != before.LeaderEpoch+1 {
		t.Fatalf("after the election: %+v (before %+v)", after, before)
	}
	// Again: not needed. All partitions (nil): only the ones that needed
	// an election are answered.
	if results, _ = ctl.ElectLeaders(ElectPreferred, []TopicPartition{pref}); !errors.Is(results[0].Err, ErrElectionNotNeeded) {
		t.Fatalf("second election: %+v", results)
	}
	if results, err = ctl.ElectLeaders(ElectPreferred, nil); err != nil || slices.ContainsFunc(results, func(r ElectionResult) bool { return r.TopicPartition == pref }) {
		t.Fatalf("all partitions: %+v, %v", results, err)
	}
	// Unclean with a live leader: not needed.
	if results, _ = ctl.ElectLeaders(ElectUnclean, []TopicPartition{pref}); !errors.Is(results[0].Err, ErrElectionNotNeeded) {
		t.Fatalf("unclean with a live leader: %+v", results)
	}
	if _, err := ctl.ElectLeaders(ElectionType(7), nil); !errors.Is(err, ErrInvalidElectionType) {
		t.Fatalf("election type 7: %v", err)
	}
}

// TestElectUncleanDecision: a partition whose only ISR member is fenced
// has no leader; an unclean election gives it to a live replica outside
// the ISR, leader epoch + 1, ISR = it.
func TestElectUncleanDecision(t *testing.T) {
	ctl, epochs := openSingle(t, 2)
	id, err := ctl.CreateTopic("u", 1, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	tp, _ := ctl.Image().Topic("u")
	p := tp.Partitions[0]
	follower := p.Replicas[1]
	if _, err := ctl.AlterPartition(p.Leader, epochs[p.Leader], id, 0, p.LeaderEpoch, p.PartitionEpoch, []int32{p.Leader}); err != nil {
		t.Fatal(err)
	}
	if err := ctl.FenceBroker(p.Leader); err != nil {
		t.Fatal(err)
	}
	tp, _ = ctl.Image().Topic("u")
	down := tp.Partitions[0]
	if down.Leader != metadata.NoLeader {
		t.Fatalf("with its only ISR member fenced: %+v", down)
	}
	if results, _ := ctl.ElectLeaders(ElectPreferred, []TopicPartition{{"u", 0}}); !errors.Is(results[0].Err, ErrPreferredLeaderNotAvailable) {
		t.Fatalf("preferred with the preferred leader down: %+v", results)
	}
	results, err := ctl.ElectLeaders(ElectUnclean, []TopicPartition{{"u", 0}})
	if err != nil || results[0].Err != nil {
		t.Fatalf("unclean: %+v, %v", results, err)
	}
	tp, _ = ctl.Image().Topic("u")
	got := tp.Partitions[0]
	if got.Leader != follower || !slices.Equal(got.ISR, []int32{follower}) || got.LeaderEpoch != down.LeaderEpoch+1 {
		t.Fatalf("after unclean election: %+v (before %+v)", got, down)
	}
}

// TestAutoLeaderRebalance: with the check every 50 ms, a broker that
// rejoined every ISR gets its preferred leaderships back without a call.
func TestAutoLeaderRebalance(t *testing.T) {
	cfg := testConfig(1, []Voter{{ID: 1, Addr: freeAddr(t)}}, t.TempDir())
	cfg.SessionTimeout = time.Minute
	cfg.AutoLeaderRebalance, cfg.LeaderImbalanceCheckInterval, cfg.LeaderImbalancePerBrokerPercentage = true, 50*time.Millisecond, 10
	ctl, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close() })
	eventually(t, 10*time.Second, func() string {
		if !ctl.IsLeader() {
			return "no leader"
		}
		return ""
	})
	for id := int32(1); id <= 3; id++ {
		e, err := ctl.RegisterBroker(BrokerRegistration{BrokerID: id, Incarnation: metadata.UUID{byte(id)}})
		if err == nil {
			err = ctl.Heartbeat(id, e)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ctl.CreateTopic("t", 6, 3, nil); err != nil {
		t.Fatal(err)
	}
	// Fence broker 1 and bring it back: it leads nothing, is in no ISR.
	if err := ctl.FenceBroker(1); err != nil {
		t.Fatal(err)
	}
	e, err := ctl.RegisterBroker(BrokerRegistration{BrokerID: 1, Incarnation: metadata.UUID{9}})
	if err == nil {
		err = ctl.Heartbeat(1, e)
	}
	if err != nil {
		t.Fatal(err)
	}
	if leads := leaderCounts(mustTopic(t, ctl, "t"))[1]; leads != 0 {
		t.Fatalf("broker 1 leads %d partitions out of the ISR", leads)
	}
	// It rejoins every ISR (as its fetchers would make the leaders ask).
	tp := mustTopic(t, ctl, "t")
	for _, p := range tp.Partitions {
		isr := append(slices.Clone(p.ISR), 1)
		if _, err := ctl.AlterPartition(p.Leader, epochOf(t, ctl, p.Leader), tp.ID, p.Partition, p.LeaderEpoch, p.PartitionEpoch, isr); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, func() string {
		for _, p := range mustTopic(t, ctl, "t").Partitions {
			if p.Leader != p.Replicas[0] {
				return "partition not led by its preferred leader yet"
			}
		}
		return ""
	})
}

func mustTopic(t *testing.T, ctl *Controller, name string) *metadata.TopicImage {
	t.Helper()
	tp, ok := ctl.Image().Topic(name)
	if !ok {
		t.Fatalf("no topic %q", name)
	}
	return tp
}

// preferredOf returns a partition of topic whose preferred leader is broker.
func preferredOf(t *testing.T, ctl *Controller, topic string, broker int32) TopicPartition {
	t.Helper()
	for _, p := range mustTopic(t, ctl, topic).Partitions {
		if p.Replicas[0] == broker {
			return TopicPartition{topic, p.Partition}
		}
	}
	t.Fatalf("broker %d is no partition's preferred leader", broker)
	return TopicPartition{}
}

func epochOf(t *testing.T, ctl *Controller, broker int32) int64 {
	t.Helper()
	b, ok := ctl.Image().Broker(broker)
	if !ok {
		t.Fatalf("no broker %d", broker)
	}
	return b.Epoch
}
