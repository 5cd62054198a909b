package controller

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sluice/sluice/metadata"
)

// TestUncleanEnabled: a topic's unclean.leader.election.enable, else the
// controller node's dynamic broker config, else the cluster-wide one,
// else the static default.
func TestUncleanEnabled(t *testing.T) {
	f := func(static bool, cluster, node, topic string, want bool) {
		t.Helper()
		recs := []metadata.Record{metadata.Topic{Name: "t", ID: metadata.UUID{1}}}
		for _, lv := range []struct {
			typ     int8
			name, v string
		}{{metadata.ResourceBroker, "", cluster}, {metadata.ResourceBroker, "1", node}, {metadata.ResourceTopic, "t", topic}} {
			if lv.v != "" {
				recs = append(recs, metadata.Config{ResourceType: lv.typ, ResourceName: lv.name, Key: uncleanConfig, Value: lv.v})
			}
		}
		im := imageOf(t, map[int32]string{1: ""}, nil, recs...)
		c := &Controller{cfg: Config{NodeID: 1, UncleanLeaderElection: static}}
		if got := c.uncleanEnabled(im)("t"); got != want {
			t.Fatalf("static %v cluster %q node %q topic %q: %v, want %v", static, cluster, node, topic, got, want)
		}
	}
	f(false, "", "", "", false) // Kafka's default
	f(true, "", "", "", true)
	f(false, "", "", "true", true)
	f(true, "", "", "false", false) // the topic's wins
	f(false, "true", "", "", true)
	f(true, "false", "", "", false)      // the cluster's dynamic over the static
	f(false, "true", "false", "", false) // the node's over the cluster's
	f(false, "false", "TRUE", "", true)  // Kafka's booleans ignore case
	f(true, "true", "true", "False", false)
}

// TestElectUncleanWithELR: with eligible leader replicas on, a live ELR
// member is a clean choice taken before any other replica.
func TestElectUncleanWithELR(t *testing.T) {
	live := func(ids ...int32) func(int32) bool { return func(id int32) bool { return slices.Contains(ids, id) } }
	f := func(p metadata.Partition, elr bool, alive func(int32) bool, want int32, wantISR []int32, wantErr error) {
		t.Helper()
		got, gotISR, err := electUnclean(p, alive, elr)
		if !errors.Is(err, wantErr) || err == nil && (got != want || !slices.Equal(gotISR, wantISR)) {
			t.Fatalf("electUnclean(%+v, elr %v) = %d %v, %v; want %d %v, %v", p, elr, got, gotISR, err, want, wantISR, wantErr)
		}
	}
	p := metadata.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{}, Leader: metadata.NoLeader, EligibleLeaderReplicas: []int32{3}}
	f(p, true, live(2, 3), 3, []int32{3}, nil)  // the ELR member, not replica order
	f(p, false, live(2, 3), 2, []int32{2}, nil) // without the feature: replica order
	f(p, true, live(2), 2, []int32{2}, nil)     // the ELR member is down: unclean
	lke := metadata.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{}, Leader: metadata.NoLeader, LastKnownElr: []int32{3}}
	f(lke, true, live(2, 3), 3, []int32{3}, nil) // an empty ELR: the last known ELR
	f(p, true, live(), 0, nil, ErrEligibleLeadersNotAvailable)
}

// shrinkToLeader makes a partition's ISR its leader alone and returns it.
func shrinkToLeader(t *testing.T, ctl *Controller, epochs map[int32]int64, topic string) metadata.Partition {
	t.Helper()
	tp := mustTopic(t, ctl, topic)
	p := tp.Partitions[0]
	if _, err := ctl.AlterPartition(p.Leader, epochs[p.Leader], tp.ID, 0, p.LeaderEpoch, p.PartitionEpoch, []int32{p.Leader}); err != nil {
		t.Fatal(err)
	}
	return mustTopic(t, ctl, topic).Partitions[0]
}

// wantUnclean checks that topic's partition 0 was taken over by its first
// replica other than lost, alone in the ISR, one leader epoch after
// before (its last state with a leader epoch before the election).
func wantUnclean(t *testing.T, ctl *Controller, topic string, before metadata.Partition, lost int32) {
	t.Helper()
	var want int32 = metadata.NoLeader
	for _, r := range before.Replicas {
		if r != lost {
			want = r
			break
		}
	}
	got := mustTopic(t, ctl, topic).Partitions[0]
	if got.Leader != want || !slices.Equal(got.ISR, []int32{want}) || got.LeaderEpoch != before.LeaderEpoch+1 {
		t.Fatalf("%s after the unclean election: leader %d ISR %v epoch %d; want %d [%d] %d",
			topic, got.Leader, got.ISR, got.LeaderEpoch, want, want, before.LeaderEpoch+1)
	}
}

// TestUncleanElectionDecisions: losing a partition's only ISR member
// leaves it without a leader by default; turning the topic config on
// elects a live out-of-ISR replica in the same batch; a topic created
// with it on (or under a cluster-wide default) is taken over on the fence
// itself, and a topic's false beats the cluster's true.
func TestUncleanElectionDecisions(t *testing.T) {
	ctl, epochs := openSingle(t, 3)
	on, off := "true", "false"
	for _, name := range []string{"dflt", "topic-on", "topic-off", "cluster"} {
		var cfgs map[string]string
		switch name {
		case "topic-on":
			cfgs = map[string]string{uncleanConfig: on}
		case "topic-off":
			cfgs = map[string]string{uncleanConfig: off}
		}
		if _, err := ctl.CreateTopic(name, 1, 3, cfgs); err != nil {
			t.Fatal(err)
		}
	}
	// The leader of "dflt" fails as its only ISR member.
	before := shrinkToLeader(t, ctl, epochs, "dflt")
	lost := before.Leader
	if err := ctl.FenceBroker(lost); err != nil {
		t.Fatal(err)
	}
	down := mustTopic(t, ctl, "dflt").Partitions[0]
	if down.Leader != metadata.NoLeader || !slices.Equal(down.ISR, []int32{lost}) {
		t.Fatalf("default (off): leader %d ISR %v", down.Leader, down.ISR)
	}
	// Another config change elects nothing; unclean.leader.election.enable
	// does, at once.
	if err := ctl.SetConfigs(metadata.ResourceTopic, "dflt", map[string]*string{"retention.ms": &on}); err != nil {
		t.Fatal(err)
	}
	if p := mustTopic(t, ctl, "dflt").Partitions[0]; p.Leader != metadata.NoLeader || ctl.UncleanElections() != 0 {
		t.Fatalf("after another config: %+v, %d unclean", p, ctl.UncleanElections())
	}
	if err := ctl.SetConfigs(metadata.ResourceTopic, "dflt", map[string]*string{uncleanConfig: &on}); err != nil {
		t.Fatal(err)
	}
	wantUnclean(t, ctl, "dflt", down, lost)
	if n := ctl.UncleanElections(); n != 1 {
		t.Fatalf("%d unclean elections counted, want 1", n)
	}

	// Bring the lost broker back (not in any ISR of these topics now).
	e, err := ctl.RegisterBroker(BrokerRegistration{BrokerID: lost, Incarnation: metadata.UUID{42}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.Heartbeat(lost, e); err != nil {
		t.Fatal(err)
	}
	epochs[lost] = e
	if err := ctl.SetConfigs(metadata.ResourceBroker, "", map[string]*string{uncleanConfig: &on}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"topic-on", "cluster"} {
		before := shrinkToLeader(t, ctl, epochs, name)
		if err := ctl.FenceBroker(before.Leader); err != nil {
			t.Fatal(err)
		}
		wantUnclean(t, ctl, name, before, before.Leader)
		e, err := ctl.RegisterBroker(BrokerRegistration{BrokerID: before.Leader, Incarnation: metadata.UUID{43, byte(before.Leader)}})
		if err != nil {
			t.Fatal(err)
		}
		if err := ctl.Heartbeat(before.Leader, e); err != nil {
			t.Fatal(err)
		}
		epochs[before.Leader] = e
	}
	before = shrinkToLeader(t, ctl, epochs, "topic-off")
	if err := ctl.FenceBroker(before.Leader); err != nil {
		t.Fatal(err)
	}
	if p := mustTopic(t, ctl, "topic-off").Partitions[0]; p.Leader != metadata.NoLeader {
		t.Fatalf("topic false under a cluster true: leader %d", p.Leader)
	}
	// Each fence also took over the topics with it on whose lone ISR
	// member was the fenced broker: at least the three above.
	if n := ctl.UncleanElections(); n < 3 {
		t.Fatalf("%d unclean elections counted, want at least 3", n)
	}
}

// TestUncleanElectionAfterUnfence: with every replica down, the partition
// waits; the first replica to come back leads it when the topic allows
// an unclean election, and does not otherwise.
func TestUncleanElectionAfterUnfence(t *testing.T) {
	ctl, epochs := openSingle(t, 2)
	if _, err := ctl.CreateTopic("on", 1, 2, map[string]string{uncleanConfig: "true"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.CreateTopic("off", 1, 2, nil); err != nil {
		t.Fatal(err)
	}
	on, off := shrinkToLeader(t, ctl, epochs, "on"), shrinkToLeader(t, ctl, epochs, "off")
	for _, id := range []int32{1, 2} {
		if err := ctl.FenceBroker(id); err != nil {
			t.Fatal(err)
		}
	}
	// The replica outside both ISRs of "on"… comes back.
	back := on.Replicas[1]
	e, err := ctl.RegisterBroker(BrokerRegistration{BrokerID: back, Incarnation: metadata.UUID{7}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.Heartbeat(back, e); err != nil {
		t.Fatal(err)
	}
	if p := mustTopic(t, ctl, "on").Partitions[0]; p.Leader != back || !slices.Equal(p.ISR, []int32{back}) {
		t.Fatalf("on: leader %d ISR %v, want %d alone", p.Leader, p.ISR, back)
	}
	p := mustTopic(t, ctl, "off").Partitions[0]
	if slices.Contains(off.ISR, back) {
		if p.Leader != back {
			t.Fatalf("off: its ISR member %d came back but leader is %d", back, p.Leader)
		}
	} else if p.Leader != metadata.NoLeader {
		t.Fatalf("off: leader %d outside ISR %v", p.Leader, off.ISR)
	}
}

// TestUncleanElectionClearsELR: with eligible leader replicas on, an
// unclean election (the only live replica left the ELR after an unclean
// restart) empties the ELR and the last known ELR.
func TestUncleanElectionClearsELR(t *testing.T) {
	ctl, epochs := openELR(t, 3)
	if _, err := ctl.CreateTopic("t", 1, 3, map[string]string{uncleanConfig: "true"}); err != nil {
		t.Fatal(err)
	}
	p := shrinkToLeader(t, ctl, epochs, "t")
	// a leads alone, b and c are in its ELR; the followers fail first.
	a, b, c := p.Leader, p.Replicas[1], p.Replicas[2]
	for _, id := range []int32{b, c, a} {
		if err := ctl.FenceBroker(id); err != nil {
			t.Fatal(err)
		}
	}
	down := mustTopic(t, ctl, "t").Partitions[0]
	if down.Leader != metadata.NoLeader || len(down.ISR) != 0 {
		t.Fatalf("all fenced: %+v", down)
	}
	// b restarts after a crash: it leaves the ELR, so it is no clean choice.
	e, err := ctl.RegisterBroker(BrokerRegistration{BrokerID: b, Incarnation: metadata.UUID{8}, PreviousBrokerEpoch: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.Heartbeat(b, e); err != nil {
		t.Fatal(err)
	}
	got := mustTopic(t, ctl, "t").Partitions[0]
	if got.Leader != b || !slices.Equal(got.ISR, []int32{b}) || len(got.EligibleLeaderReplicas) != 0 || len(got.LastKnownElr) != 0 {
		t.Fatalf("after the unclean election: leader %d ISR %v ELR %v last known %v (before %+v)",
			got.Leader, got.ISR, got.EligibleLeaderReplicas, got.LastKnownElr, down)
	}
	if n := ctl.UncleanElections(); n != 1 {
		t.Fatalf("%d unclean elections, want 1", n)
	}
}

// TestUncleanElectionPeriodic: a leaderless partition whose topic allows
// an unclean election only under a new controller's static default (it
// restarted with unclean.leader.election.enable=true) is taken over by the
// periodic check.
func TestUncleanElectionPeriodic(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(1, []Voter{{ID: 1, Addr: freeAddr(t)}}, dir)
	cfg.SessionTimeout = time.Minute
	open := func() *Controller {
		t.Helper()
		ctl, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, func() string {
			if !ctl.IsLeader() {
				return "no leader"
			}
			return ""
		})
		return ctl
	}
	ctl := open()
	epochs := registerUnfenced(t, ctl, 2)
	if _, err := ctl.CreateTopic("t", 1, 2, nil); err != nil {
		t.Fatal(err)
	}
	before := shrinkToLeader(t, ctl, epochs, "t")
	if err := ctl.FenceBroker(before.Leader); err != nil {
		t.Fatal(err)
	}
	down := mustTopic(t, ctl, "t").Partitions[0]
	if err := ctl.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.UncleanLeaderElection, cfg.UncleanLeaderElectionCheckInterval = true, 20*time.Millisecond
	ctl = open()
	t.Cleanup(func() { ctl.Close() })
	eventually(t, 10*time.Second, func() string {
		// The log is replayed once the new leader commits, and the image
		// passes through every state it held: until the replay reaches
		// the fence, "t" has its first leader again (epoch 0). Only an
		// epoch past the fenced one is the unclean election's.
		if tp, ok := ctl.Image().Topic("t"); !ok || tp.Partitions[0].LeaderEpoch <= down.LeaderEpoch {
			return "no election past the fence yet"
		}
		return ""
	})
	wantUnclean(t, ctl, "t", down, before.Leader)
}
