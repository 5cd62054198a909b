package broker

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/group"
)

// testGroupConfig keeps rebalances quick: a short initial delay and short
// sessions allowed.
func testGroupConfig() group.Config {
	cfg := group.DefaultConfig()
	cfg.InitialRebalanceDelay = 50 * time.Millisecond
	cfg.MinSessionTimeout = 500 * time.Millisecond
	return cfg
}

// startGroupServer starts a broker whose coordinator uses cfg (default
// testGroupConfig) and is closed before the server stops.
func startGroupServer(t *testing.T, dir string, cfgs ...group.Config) *testServer {
	t.Helper()
	cfg := testGroupConfig()
	if len(cfgs) > 0 {
		cfg = cfgs[0]
	}
	ts := startServer(t, dir, func(c *ServerConfig) { c.Broker.Groups = cfg })
	t.Cleanup(func() { stopGroupServer(t, ts) })
	return ts
}

// stopGroupServer closes the coordinator, then the server (idempotent).
func stopGroupServer(t *testing.T, ts *testServer) {
	t.Helper()
	if ts.Server == nil {
		return
	}
	if err := ts.Broker().closeGroups(); err != nil {
		t.Errorf("closeGroups: %v", err)
	}
	ts.stop(t)
}

func produceValues(t *testing.T, addr, topic string, from, n int) {
	t.Helper()
	cl := newKgo(t, addr, kgo.DefaultProduceTopic(topic))
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		recs = append(recs, &kgo.Record{Value: []byte(fmt.Sprintf("v%d", i))})
	}
	if err := cl.ProduceSync(testCtx(t), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	cl.Close()
}

// seenSet counts distinct values consumed by several consumers.
type seenSet struct {
	mu sync.Mutex
	m  map[string]int
}

func (s *seenSet) add(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]int{}
	}
	s.m[v]++
}

func (s *seenSet) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// kgoMember is a franz-go group consumer polling in the background.
type kgoMember struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
}

func startKgoMember(t *testing.T, addr, grp, topic string, seen *seenSet, opts ...kgo.Opt) *kgoMember {
	t.Helper()
	base := []kgo.Opt{
		kgo.ConsumerGroup(grp), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(3 * time.Second), kgo.HeartbeatInterval(200 * time.Millisecond),
		kgo.RebalanceTimeout(10 * time.Second), kgo.AutoCommitInterval(200 * time.Millisecond),
	}
	cl := newKgo(t, addr, append(base, opts...)...)
	ctx, cancel := context.WithCancel(context.Background())
	m := &kgoMember{cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) { seen.add(string(r.Value)) })
		}
	}()
	return m
}

// stop stops polling and closes the client (leaving the group).
func (m *kgoMember) stop() {
	m.cancel()
	<-m.done
	m.cl.Close()
}

func TestGroupKgoEagerRange(t *testing.T) {
	testGroupKgo(t, kgo.RangeBalancer())
}

func TestGroupKgoCooperativeSticky(t *testing.T) {
	testGroupKgo(t, kgo.CooperativeStickyBalancer())
}

// testGroupKgo: three members come and go while records arrive; every
// record is consumed and the final commits cover the whole topic.
func testGroupKgo(t *testing.T, balancer kgo.GroupBalancer) {
	ts := startGroupServer(t, "")
	const topic, grp = "gk", "gk-group"
	ts.createTopic(t, topic, 6, nil)
	var seen seenSet
	produceValues(t, ts.addr, topic, 0, 300)
	m1 := startKgoMember(t, ts.addr, grp, topic, &seen, kgo.Balancers(balancer))
	waitFor(t, "first member consuming", 30*time.Second, func() bool { return seen.count() >= 100 })
	m2 := startKgoMember(t, ts.addr, grp, topic, &seen, kgo.Balancers(balancer))
	m3 := startKgoMember(t, ts.addr, grp, topic, &seen, kgo.Balancers(balancer))
	adm := kadm.NewClient(newKgo(t, ts.addr))
	waitForMembers(t, adm, grp, 3)
	produceValues(t, ts.addr, topic, 300, 300)
	waitFor(t, "600 records consumed", 30*time.Second, func() bool { return seen.count() == 600 })
	m1.stop()
	waitForMembers(t, adm, grp, 2)
	produceValues(t, ts.addr, topic, 600, 300)
	waitFor(t, "900 records consumed", 30*time.Second, func() bool { return seen.count() == 900 })
	m2.stop()
	m3.stop()
	lag := groupLag(t, adm, grp)
	if lag != 0 {
		t.Fatalf("lag after all members left: %d, want 0", lag)
	}
}

// waitForMembers waits until the group is Stable with n members, each
// assigned at least one partition.
func waitForMembers(t *testing.T, adm *kadm.Client, grp string, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("group %s stable with %d members", grp, n), 30*time.Second, func() bool {
		ds, err := adm.DescribeGroups(context.Background(), grp)
		if err != nil {
			return false
		}
		d := ds[grp]
		if d.State != "Stable" || len(d.Members) != n {
			return false
		}
		for _, m := range d.Members {
			ca, ok := m.Assigned.AsConsumer()
			if !ok || len(ca.Topics) == 0 {
				return false
			}
		}
		return true
	})
}

// groupLag is the group's total lag; every non-empty partition must have
// a commit.
func groupLag(t *testing.T, adm *kadm.Client, grp string) int64 {
	t.Helper()
	lags, err := adm.Lag(testCtx(t), grp)
	if err != nil {
		t.Fatalf("lag: %v", err)
	}
	l := lags[grp]
	if err := l.Error(); err != nil {
		t.Fatalf("lag of %s: %v", grp, err)
	}
	var total int64
	for _, r := range l.Lag.Sorted() {
		if r.Commit.At < 0 && r.End.Offset == 0 {
			continue // an empty partition: nothing to commit
		}
		if r.Err != nil || r.Commit.At < 0 {
			t.Fatalf("lag of %s-%d: commit %d end %d err %v", r.Topic, r.Partition, r.Commit.At, r.End.Offset, r.Err)
		}
		total += r.Lag
	}
	return total
}

type saramaHandler struct{ seen *seenSet }

func (saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.seen.add(string(m.Value))
		s.MarkMessage(m, "")
	}
	return nil
}

func TestGroupSarama(t *testing.T) {
	ts := startGroupServer(t, "")
	const topic, grp = "gs", "gs-group"
	ts.createTopic(t, topic, 3, nil)
	produceValues(t, ts.addr, topic, 0, 300)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	cfg.Consumer.Group.Heartbeat.Interval = 300 * time.Millisecond
	cfg.Consumer.MaxWaitTime = 200 * time.Millisecond
	var seen seenSet
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		cg, err := sarama.NewConsumerGroup([]string{ts.addr}, grp, cfg)
		if err != nil {
			t.Fatalf("consumer group: %v", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cg.Close()
			for ctx.Err() == nil {
				if err := cg.Consume(ctx, []string{topic}, saramaHandler{&seen}); err != nil && ctx.Err() == nil {
					t.Errorf("consume: %v", err)
					return
				}
			}
		}()
	}
	waitFor(t, "sarama consumed 300", 40*time.Second, func() bool { return seen.count() == 300 })
	adm := kadm.NewClient(newKgo(t, ts.addr))
	waitFor(t, "sarama commits", 20*time.Second, func() bool {
		os, err := adm.FetchOffsets(context.Background(), grp)
		if err != nil {
			return false
		}
		var sum int64
		os.Each(func(o kadm.OffsetResponse) { sum += o.At })
		return sum == 300
	})
	cancel()
	wg.Wait()
}

func TestGroupKafkaGo(t *testing.T) {
	ts := startGroupServer(t, "")
	const topic, grp = "gkg", "gkg-group"
	ts.createTopic(t, topic, 2, nil)
	produceValues(t, ts.addr, topic, 0, 200)
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: []string{ts.addr}, GroupID: grp, Topic: topic,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 200 * time.Millisecond,
		StartOffset: kafkago.FirstOffset, HeartbeatInterval: 300 * time.Millisecond,
	})
	defer r.Close()
	ctx := testCtx(t)
	var seen seenSet
	for seen.count() < 200 {
		m, err := r.ReadMessage(ctx) // commits synchronously (CommitInterval 0)
		if err != nil {
			t.Fatalf("read after %d: %v", seen.count(), err)
		}
		seen.add(string(m.Value))
	}
	adm := kadm.NewClient(newKgo(t, ts.addr))
	if lag := groupLag(t, adm, grp); lag != 0 {
		t.Fatalf("kafka-go group lag %d, want 0", lag)
	}
}

func TestGroupKcat(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		if os.Getenv("SLUICE_REQUIRE_KCAT") == "1" {
			t.Fatalf("kcat not found and SLUICE_REQUIRE_KCAT=1")
		}
		t.Skip("kcat not installed")
	}
	ts := startGroupServer(t, "")
	const topic, grp, n = "gkc", "gkc-group", 100
	ts.createTopic(t, topic, 2, nil)
	produceValues(t, ts.addr, topic, 0, n)
	ctx := testCtx(t)
	cmd := exec.CommandContext(ctx, "kcat", "-b", ts.addr, "-G", grp, "-c", fmt.Sprint(n),
		"-X", "auto.offset.reset=earliest", "-f", "%s\n", "-q", topic)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat -G: %v\n%s", err, stderr.String())
	}
	var seen seenSet
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		seen.add(sc.Text())
	}
	if seen.count() != n {
		t.Fatalf("kcat consumed %d distinct records, want %d\n%s", seen.count(), n, stderr.String())
	}
}

// killableDialer lets a test cut a client off the network without it
// leaving its group (a killed process).
type killableDialer struct {
	mu    sync.Mutex
	conns []net.Conn
	dead  bool
}

func (d *killableDialer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead {
		return nil, errors.New("killed")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *killableDialer) kill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dead = true
	for _, c := range d.conns {
		c.Close()
	}
}

// TestGroupMemberKilled: a member that vanishes without leaving is removed
// after its session timeout and the survivor takes its partitions.
func TestGroupMemberKilled(t *testing.T) {
	ts := startGroupServer(t, "")
	const topic, grp = "gkill", "gkill-group"
	ts.createTopic(t, topic, 4, nil)
	var seen seenSet
	opts := []kgo.Opt{kgo.SessionTimeout(time.Second), kgo.HeartbeatInterval(100 * time.Millisecond)}
	survivor := startKgoMember(t, ts.addr, grp, topic, &seen, opts...)
	defer survivor.stop()
	var d killableDialer
	victim := startKgoMember(t, ts.addr, grp, topic, &seen, append(opts, kgo.Dialer(d.dial))...)
	adm := kadm.NewClient(newKgo(t, ts.addr))
	waitForMembers(t, adm, grp, 2)
	d.kill()
	start := time.Now()
	waitForMembers(t, adm, grp, 1)
	t.Logf("victim removed after %v", time.Since(start).Round(time.Millisecond))
	produceValues(t, ts.addr, topic, 0, 200)
	waitFor(t, "survivor consumes everything", 30*time.Second, func() bool { return seen.count() == 200 })
	victim.cancel()
	<-victim.done
}

// TestGroupRestartKeepsOffsetsAndGroups: commits and groups survive a
// restart, and a new member resumes at the committed offsets.
func TestGroupRestartKeepsOffsetsAndGroups(t *testing.T) {
	dir := t.TempDir()
	ts := startGroupServer(t, dir)
	const topic, grp = "grs", "grs-group"
	ts.createTopic(t, topic, 2, nil)
	produceValues(t, ts.addr, topic, 0, 100)
	cl := newKgo(t, ts.addr, kgo.ConsumerGroup(grp), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx := testCtx(t)
	consumeN(ctx, t, cl, 100)
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	cl.Close()
	adm := kadm.NewClient(newKgo(t, ts.addr))
	simple := kadm.Offsets{}
	simple.Add(kadm.Offset{Topic: topic, Partition: 1, At: 7, LeaderEpoch: -1, Metadata: "m"})
	if err := adm.CommitAllOffsets(ctx, "simple-group", simple); err != nil {
		t.Fatalf("simple commit: %v", err)
	}
	before := fetchOffsets(t, adm, grp)
	if before[0]+before[1] != 100 {
		t.Fatalf("committed %v, want a sum of 100", before)
	}
	stopGroupServer(t, ts)

	ts = startGroupServer(t, dir)
	adm = kadm.NewClient(newKgo(t, ts.addr))
	if after := fetchOffsets(t, adm, grp); after[0] != before[0] || after[1] != before[1] {
		t.Fatalf("after restart committed %v, want %v", after, before)
	}
	os, err := adm.FetchOffsets(ctx, "simple-group")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := os.Lookup(topic, 1); o.At != 7 || o.Metadata != "m" {
		t.Fatalf("simple-group after restart: %+v", o)
	}
	ls, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := ls[grp]; !ok || g.State != "Empty" || g.ProtocolType != "consumer" {
		t.Fatalf("groups after restart: %+v", ls)
	}
	produceValues(t, ts.addr, topic, 100, 20)
	cl = newKgo(t, ts.addr, kgo.ConsumerGroup(grp), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for _, r := range consumeN(ctx, t, cl, 20) {
		if r.Offset < before[r.Partition] {
			t.Fatalf("resumed at %s-%d@%d, before the committed %d", r.Topic, r.Partition, r.Offset, before[r.Partition])
		}
	}
}

func fetchOffsets(t *testing.T, adm *kadm.Client, grp string) map[int32]int64 {
	t.Helper()
	os, err := adm.FetchOffsets(testCtx(t), grp)
	if err != nil {
		t.Fatalf("fetch offsets: %v", err)
	}
	out := map[int32]int64{}
	os.Each(func(o kadm.OffsetResponse) { out[o.Partition] = o.At })
	return out
}

// rawMember drives the JoinGroup/SyncGroup/Heartbeat protocol directly.
type rawMember struct {
	cl         *kgo.Client
	group      string
	instance   *string
	id         string
	generation int32
	leader     string
	members    []kmsg.JoinGroupResponseMember
}

func newRawMember(t *testing.T, addr, grp string, instance *string) *rawMember {
	return &rawMember{cl: newKgo(t, addr), group: grp, instance: instance}
}

var rawMetadata = (&kmsg.ConsumerMemberMetadata{Topics: []string{"raw"}}).AppendTo(nil)

// join joins until it is not MEMBER_ID_REQUIRED; it returns the error code.
func (m *rawMember) join(ctx context.Context) (int16, error) {
	for {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.MemberID, req.InstanceID = m.group, m.id, m.instance
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10000, 10000
		req.ProtocolType = "consumer"
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = "range", rawMetadata
		req.Protocols = append(req.Protocols, p)
		resp, err := req.RequestWith(ctx, m.cl)
		if err != nil {
			return 0, err
		}
		m.id = resp.MemberID
		if resp.ErrorCode == kerr.MemberIDRequired.Code {
			continue
		}
		if resp.ErrorCode == 0 {
			m.generation, m.leader, m.members = resp.Generation, resp.LeaderID, resp.Members
		}
		return resp.ErrorCode, nil
	}
}

// sync sends SyncGroup; the leader assigns each member its id as bytes.
func (m *rawMember) sync(ctx context.Context) ([]byte, int16, error) {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Group, req.MemberID, req.InstanceID, req.Generation = m.group, m.id, m.instance, m.generation
	if m.id == m.leader {
		for _, mm := range m.members {
			a := kmsg.NewSyncGroupRequestGroupAssignment()
			a.MemberID, a.MemberAssignment = mm.MemberID, []byte(mm.MemberID)
			req.GroupAssignment = append(req.GroupAssignment, a)
		}
	}
	resp, err := req.RequestWith(ctx, m.cl)
	if err != nil {
		return nil, 0, err
	}
	return resp.MemberAssignment, resp.ErrorCode, nil
}

func (m *rawMember) heartbeat(ctx context.Context) (int16, error) {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID, req.InstanceID, req.Generation = m.group, m.id, m.instance, m.generation
	resp, err := req.RequestWith(ctx, m.cl)
	if err != nil {
		return 0, err
	}
	return resp.ErrorCode, nil
}

// TestGroupTwentyMembersConverge: twenty members joining at once end in
// one generation, and none ever sees UNKNOWN_MEMBER_ID or
// ILLEGAL_GENERATION.
func TestGroupTwentyMembersConverge(t *testing.T) {
	ts := startGroupServer(t, "")
	const n, grp = 20, "twenty"
	ctx := testCtx(t)
	members := make([]*rawMember, n)
	for i := range members {
		members[i] = newRawMember(t, ts.addr, grp, nil)
	}
	var bad atomic.Int32
	var gens [n]atomic.Int32
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := runRawMember(ctx, m, stop, &gens[i]); err != nil {
				t.Errorf("member %d: %v", i, err)
				bad.Add(1)
			}
		}()
	}
	waitFor(t, "twenty members in one generation", 30*time.Second, func() bool {
		g := gens[0].Load()
		for i := range gens {
			if gens[i].Load() != g || g == 0 {
				return false
			}
		}
		return true
	})
	close(stop)
	wg.Wait()
	if bad.Load() > 0 {
		t.Fatalf("%d members failed", bad.Load())
	}
	t.Logf("converged at generation %d", gens[0].Load())
	adm := kadm.NewClient(newKgo(t, ts.addr))
	ds, err := adm.DescribeGroups(ctx, grp)
	if err != nil || ds[grp].State != "Stable" || len(ds[grp].Members) != n {
		t.Fatalf("describe: %v %+v", err, ds[grp])
	}
}

// runRawMember joins and syncs (again after REBALANCE_IN_PROGRESS) and
// heartbeats until stop; any error but REBALANCE_IN_PROGRESS fails it. gen
// holds the generation it synced in.
func runRawMember(ctx context.Context, m *rawMember, stop chan struct{}, gen *atomic.Int32) error {
	rejoin := true
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		if rejoin {
			code, err := m.join(ctx)
			if err != nil {
				return err
			}
			if code == kerr.RebalanceInProgress.Code {
				continue
			}
			if code != 0 {
				return fmt.Errorf("join: %v", kerr.ErrorForCode(code))
			}
			a, code, err := m.sync(ctx)
			if err != nil {
				return err
			}
			if code == kerr.RebalanceInProgress.Code {
				continue
			}
			if code != 0 || string(a) != m.id {
				return fmt.Errorf("sync: %v, assignment %q", kerr.ErrorForCode(code), a)
			}
			gen.Store(m.generation)
			rejoin = false
		}
		time.Sleep(50 * time.Millisecond) // the heartbeat interval
		code, err := m.heartbeat(ctx)
		if err != nil {
			return err
		}
		switch code {
		case 0:
		case kerr.RebalanceInProgress.Code:
			rejoin = true
		default:
			return fmt.Errorf("heartbeat: %v", kerr.ErrorForCode(code))
		}
	}
}

// TestGroupStaticMemberRejoin: a static member coming back with a new
// member id takes its old place without a rebalance; its old id is fenced.
func TestGroupStaticMemberRejoin(t *testing.T) {
	ts := startGroupServer(t, "")
	ctx := testCtx(t)
	ia, ib := "instance-a", "instance-b"
	a := newRawMember(t, ts.addr, "static", &ia)
	b := newRawMember(t, ts.addr, "static", &ib)
	joinBoth(ctx, t, a, b)
	gen := a.generation
	oldA := a.id
	assignA := syncOK(ctx, t, a)

	a2 := newRawMember(t, ts.addr, "static", &ia) // a restarted
	if code, err := a2.join(ctx); err != nil || code != 0 {
		t.Fatalf("static rejoin: %v %v", err, kerr.ErrorForCode(code))
	}
	if a2.generation != gen || a2.id == oldA || a2.leader == a2.id && oldA != a.leader {
		t.Fatalf("static rejoin: generation %d (want %d), id %q (old %q), leader %q", a2.generation, gen, a2.id, oldA, a2.leader)
	}
	if got := syncOK(ctx, t, a2); !bytes.Equal(got, assignA) {
		t.Fatalf("rejoined member's assignment %q, want its old %q", got, assignA)
	}
	if code, _ := b.heartbeat(ctx); code != 0 {
		t.Fatalf("other member's heartbeat: %v, want no rebalance", kerr.ErrorForCode(code))
	}
	if code, _ := a.heartbeat(ctx); code != kerr.FencedInstanceID.Code {
		t.Fatalf("old member id's heartbeat: %v, want FENCED_INSTANCE_ID", kerr.ErrorForCode(code))
	}
}

// joinBoth joins two members into one generation and syncs b.
func joinBoth(ctx context.Context, t *testing.T, a, b *rawMember) {
	t.Helper()
	errs := make(chan error, 2)
	for _, m := range []*rawMember{a, b} {
		go func() {
			code, err := m.join(ctx)
			if err == nil && code != 0 {
				err = kerr.ErrorForCode(code)
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("join: %v", err)
		}
	}
	if a.generation != b.generation {
		t.Fatalf("generations %d and %d", a.generation, b.generation)
	}
	go func() { _, _, _ = b.sync(ctx) }()
}

func syncOK(ctx context.Context, t *testing.T, m *rawMember) []byte {
	t.Helper()
	a, code, err := m.sync(ctx)
	if err != nil || code != 0 {
		t.Fatalf("sync: %v %v", err, kerr.ErrorForCode(code))
	}
	return a
}

// TestGroupCommitErrors: per-partition errors of OffsetCommit, and what
// OffsetFetch returns afterwards.
func TestGroupCommitErrors(t *testing.T) {
	ts := startGroupServer(t, "")
	ts.createTopic(t, "ce", 2, nil)
	cl := newKgo(t, ts.addr)
	ctx := testCtx(t)
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group = "ce-group"
	big := string(make([]byte, 4097))
	add := func(topic string, p int32, off int64, md string) {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.Metadata = p, off, &md
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	add("ce", 0, 5, "ok")
	add("ce", 1, 6, big)
	add("ce", 7, 1, "")
	add("nosuch", 0, 1, "")
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	want := []int16{0, kerr.OffsetMetadataTooLarge.Code, kerr.UnknownTopicOrPartition.Code, kerr.UnknownTopicOrPartition.Code}
	for i, rt := range resp.Topics {
		if got := rt.Partitions[0].ErrorCode; got != want[i] {
			t.Errorf("%s-%d: %v, want %v", rt.Topic, rt.Partitions[0].Partition, kerr.ErrorForCode(got), kerr.ErrorForCode(want[i]))
		}
	}
	adm := kadm.NewClient(cl)
	got := fetchOffsets(t, adm, "ce-group")
	if len(got) != 1 || got[0] != 5 {
		t.Fatalf("committed %v, want only partition 0 at 5", got)
	}
	// A member commit to a group it is not in.
	req.Generation, req.MemberID = 3, "nobody"
	resp, err = req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.UnknownMemberID.Code {
		t.Fatalf("commit by a non-member: %v, want UNKNOWN_MEMBER_ID", kerr.ErrorForCode(code))
	}
	// Deleting, then describing.
	rs, err := adm.DeleteGroup(ctx, "ce-group")
	if err != nil || rs.Err != nil {
		t.Fatalf("delete group: %v %v", err, rs.Err)
	}
	if got := fetchOffsets(t, adm, "ce-group"); len(got) != 0 {
		t.Fatalf("offsets after delete: %v", got)
	}
	if rs, _ := adm.DeleteGroup(ctx, "ce-group"); !errors.Is(rs.Err, kerr.GroupIDNotFound) {
		t.Fatalf("second delete: %v, want GROUP_ID_NOT_FOUND", rs.Err)
	}
}

// TestGroupFindCoordinator: group keys name this node; transaction keys
// are not served yet; __consumer_offsets is internal.
func TestGroupFindCoordinator(t *testing.T) {
	ts := startGroupServer(t, "")
	rc := dialRaw(t, ts.addr)
	for _, v := range []int16{0, 3, 4, 5} {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.Version = v
		req.CoordinatorKey, req.CoordinatorKeys = "g", []string{"g", "h"}
		resp := rc.roundTrip(req).(*kmsg.FindCoordinatorResponse)
		if v < 4 && (resp.ErrorCode != 0 || resp.NodeID != ts.Broker().NodeID()) {
			t.Fatalf("v%d: %+v", v, resp)
		}
		if v >= 4 && (len(resp.Coordinators) != 2 || resp.Coordinators[1].Key != "h" || resp.Coordinators[1].ErrorCode != 0) {
			t.Fatalf("v%d: %+v", v, resp)
		}
		req.CoordinatorType = 1
		resp = rc.roundTrip(req).(*kmsg.FindCoordinatorResponse)
		code, node := resp.ErrorCode, resp.NodeID
		if v >= 4 {
			code, node = resp.Coordinators[0].ErrorCode, resp.Coordinators[0].NodeID
		}
		if v >= 1 && (code != 0 || node != ts.Broker().NodeID()) {
			t.Fatalf("v%d transaction key: %v node %d", v, kerr.ErrorForCode(code), node)
		}
	}
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 9
	name := group.TopicName
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &name
	md.Topics = append(md.Topics, mt)
	mresp := rc.roundTrip(md).(*kmsg.MetadataResponse)
	if got := mresp.Topics[0]; got.ErrorCode != 0 || !got.IsInternal || len(got.Partitions) != 50 {
		t.Fatalf("%s: error %d internal %v partitions %d", name, got.ErrorCode, got.IsInternal, len(got.Partitions))
	}
}
