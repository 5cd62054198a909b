package group

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/partition"
)

// clock is an injected clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// harness is a coordinator on a real store, driven by hand.
type harness struct {
	t     *testing.T
	dir   string
	store *partition.Store
	logs  []*partition.Log
	clk   *clock
	cfg   Config
	c     *Coordinator
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), clk: &clock{now: time.Unix(1_700_000_000, 0)}}
	h.cfg = Config{
		Partitions: 3, InitialRebalanceDelay: 3 * time.Second, Now: h.clk.Now, Manual: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	h.open()
	t.Cleanup(h.close)
	return h
}

func (h *harness) open() {
	h.t.Helper()
	st, err := partition.OpenStore(partition.StoreConfig{Dir: h.dir, Defaults: partition.DefaultConfig()})
	if err != nil {
		h.t.Fatal(err)
	}
	h.store, h.logs = st, nil
	for p := range h.cfg.Partitions {
		l, err := st.Create(TopicName, p, [16]byte{1}, partition.DefaultConfig())
		if err != nil {
			h.t.Fatal(err)
		}
		h.logs = append(h.logs, l)
	}
	if h.c, err = Open(h.cfg, h.logs); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) close() {
	if h.c != nil {
		h.c.Close()
		h.store.Close()
		h.c = nil
	}
}

func (h *harness) reopen() {
	h.close()
	h.open()
}

func joinReq(group, member string, protocols ...string) JoinRequest {
	if len(protocols) == 0 {
		protocols = []string{"range"}
	}
	r := JoinRequest{Group: group, MemberID: member, ClientID: "c", ClientHost: "/127.0.0.1",
		SessionTimeout: 10 * time.Second, RebalanceTimeout: 20 * time.Second, ProtocolType: "consumer",
		RequireKnownMemberID: true}
	md := (&kmsg.ConsumerMemberMetadata{Topics: []string{"t"}}).AppendTo(nil)
	for _, p := range protocols {
		r.Protocols = append(r.Protocols, Protocol{Name: p, Metadata: md})
	}
	return r
}

// joinAsync starts a JoinGroup; the result arrives on the channel.
func (h *harness) joinAsync(req JoinRequest) chan JoinResult {
	ch := make(chan JoinResult, 1)
	go func() { ch <- h.c.Join(context.Background(), req) }()
	return ch
}

// newMember gets a member id (MEMBER_ID_REQUIRED) and starts its join.
func (h *harness) newMember(req JoinRequest) (string, chan JoinResult) {
	h.t.Helper()
	r := h.c.Join(context.Background(), req)
	if r.Err != kerr.MemberIDRequired || r.MemberID == "" {
		h.t.Fatalf("first join: %v %q, want MEMBER_ID_REQUIRED", r.Err, r.MemberID)
	}
	req.MemberID = r.MemberID
	return r.MemberID, h.joinAsync(req)
}

func (h *harness) state(group string) string {
	return h.c.Describe([]string{group})[0].State
}

// waitMembers waits until the group has n members (joins run on
// goroutines).
func (h *harness) waitMembers(group string, n int) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(h.c.Describe([]string{group})[0].Members) != n {
		if time.Now().After(deadline) {
			h.t.Fatalf("group %s: %d members, want %d", group, len(h.c.Describe([]string{group})[0].Members), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// endInitialDelay advances the clock by the initial rebalance delay until
// the join completes (each new member extends the delay, as in Kafka).
func (h *harness) endInitialDelay(group string) {
	h.t.Helper()
	for range 10 {
		h.clk.advance(h.cfg.InitialRebalanceDelay)
		h.c.Tick()
		if h.state(group) != "PreparingRebalance" {
			return
		}
	}
	h.t.Fatalf("group %s still PreparingRebalance", group)
}

// waitState ticks until the group reaches state (joins run on goroutines).
func (h *harness) waitState(group, state string) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for h.state(group) != state {
		if time.Now().After(deadline) {
			h.t.Fatalf("group %s: state %s, want %s", group, h.state(group), state)
		}
		h.c.Tick()
		time.Sleep(time.Millisecond)
	}
}

func recv[T any](t *testing.T, ch chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("no result")
		var zero T
		return zero
	}
}

// stableGroup makes a Stable group of n members; it returns their ids
// (leader first).
func (h *harness) stableGroup(group string, n int) []string {
	h.t.Helper()
	var ids []string
	var waits []chan JoinResult
	for range n {
		id, w := h.newMember(joinReq(group, ""))
		ids, waits = append(ids, id), append(waits, w)
	}
	h.waitMembers(group, n)
	h.endInitialDelay(group)
	var leader JoinResult
	for _, w := range waits {
		r := recv(h.t, w)
		if r.Err != nil {
			h.t.Fatalf("join: %v", r.Err)
		}
		if r.MemberID == r.LeaderID {
			leader = r
		}
	}
	if len(leader.Members) != n {
		h.t.Fatalf("leader sees %d members, want %d", len(leader.Members), n)
	}
	assign := map[string][]byte{}
	for _, m := range leader.Members {
		assign[m.MemberID] = []byte("a-" + m.MemberID)
	}
	var syncs []chan SyncResult
	for _, id := range ids {
		req := SyncRequest{Group: group, MemberID: id, Generation: leader.Generation}
		if id == leader.LeaderID {
			req.Assignments = assign
		}
		ch := make(chan SyncResult, 1)
		go func() { ch <- h.c.Sync(context.Background(), req) }()
		syncs = append(syncs, ch)
	}
	for i, ch := range syncs {
		if r := recv(h.t, ch); r.Err != nil || string(r.Assignment) != "a-"+ids[i] {
			h.t.Fatalf("sync of %s: %v %q", ids[i], r.Err, r.Assignment)
		}
	}
	if s := h.state(group); s != "Stable" {
		h.t.Fatalf("state %s after sync", s)
	}
	out := []string{leader.LeaderID}
	for _, id := range ids {
		if id != leader.LeaderID {
			out = append(out, id)
		}
	}
	return out
}

func TestJoinSyncInitialDelay(t *testing.T) {
	h := newHarness(t)
	ids := h.stableGroup("g", 3)
	if hb := h.c.Heartbeat("g", ids[1], nil, 1); hb != nil {
		t.Fatalf("heartbeat: %v", hb)
	}
	f := func(member string, gen int32, want error) {
		t.Helper()
		if got := h.c.Heartbeat("g", member, nil, gen); got != want {
			t.Fatalf("heartbeat(%q, %d) = %v, want %v", member, gen, got, want)
		}
	}
	f(ids[0], 1, nil)
	f(ids[0], 2, kerr.IllegalGeneration)
	f("nobody", 1, kerr.UnknownMemberID)
	if got := h.c.Heartbeat("", ids[0], nil, 1); got != kerr.InvalidGroupID {
		t.Fatalf("empty group id: %v", got)
	}
}

func TestSessionExpiryRebalances(t *testing.T) {
	h := newHarness(t)
	ids := h.stableGroup("g", 2)
	h.clk.advance(6 * time.Second)
	h.c.Heartbeat("g", ids[0], nil, 1)
	h.clk.advance(5 * time.Second) // ids[1] is 11 s silent, ids[0] 5 s
	h.c.Tick()
	if s := h.state("g"); s != "PreparingRebalance" {
		t.Fatalf("state %s after a session expired", s)
	}
	if got := h.c.Heartbeat("g", ids[0], nil, 1); got != kerr.RebalanceInProgress {
		t.Fatalf("survivor heartbeat: %v", got)
	}
	if got := h.c.Heartbeat("g", ids[1], nil, 1); got != kerr.UnknownMemberID {
		t.Fatalf("expired member heartbeat: %v", got)
	}
	r := recv(t, h.joinAsync(joinReq("g", ids[0]))) // the only member: completes at once
	if r.Err != nil || r.Generation != 2 || r.LeaderID != ids[0] || len(r.Members) != 1 {
		t.Fatalf("rejoin: %+v", r)
	}
}

func TestRebalanceTimeoutRemovesLaggards(t *testing.T) {
	h := newHarness(t)
	ids := h.stableGroup("g", 2)
	w := h.joinAsync(joinReq("g", ids[0], "range", "sticky")) // new protocols: rebalance
	h.waitState("g", "PreparingRebalance")
	h.c.Heartbeat("g", ids[1], nil, 1) // alive, but never rejoins
	h.clk.advance(20 * time.Second)
	h.c.Tick()
	r := recv(t, w)
	if r.Err != nil || r.Generation != 2 || len(r.Members) != 1 {
		t.Fatalf("join after rebalance timeout: %+v", r)
	}
}

func TestStaticMemberReplacement(t *testing.T) {
	h := newHarness(t)
	inst := "i1"
	req := joinReq("s", "")
	req.InstanceID = &inst
	w := h.joinAsync(req) // static members skip MEMBER_ID_REQUIRED
	h.waitState("s", "PreparingRebalance")
	h.endInitialDelay("s")
	r := recv(t, w)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	old := r.MemberID
	h.c.Sync(context.Background(), SyncRequest{Group: "s", MemberID: old, InstanceID: &inst, Generation: 1,
		Assignments: map[string][]byte{old: []byte("mine")}})
	r2 := recv(t, h.joinAsync(req)) // restarted: no member id
	if r2.Err != nil || r2.Generation != 1 || r2.MemberID == old || r2.LeaderID != old {
		t.Fatalf("static rejoin: %+v (old id %s)", r2, old)
	}
	if s := h.state("s"); s != "Stable" {
		t.Fatalf("state %s: a static rejoin must not rebalance", s)
	}
	sr := h.c.Sync(context.Background(), SyncRequest{Group: "s", MemberID: r2.MemberID, InstanceID: &inst, Generation: 1})
	if sr.Err != nil || string(sr.Assignment) != "mine" {
		t.Fatalf("sync after static rejoin: %+v", sr)
	}
	if got := h.c.Heartbeat("s", old, &inst, 1); got != kerr.FencedInstanceID {
		t.Fatalf("old id: %v, want FENCED_INSTANCE_ID", got)
	}
	errs, gerr := h.c.Leave("s", []LeaveMember{{MemberID: old, InstanceID: &inst}})
	if gerr != nil || errs[0] != kerr.FencedInstanceID {
		t.Fatalf("leave with the old id: %v %v", gerr, errs)
	}
	h.reopen() // the replacement was stored
	d := h.c.Describe([]string{"s"})[0]
	if d.State != "Stable" || len(d.Members) != 1 || d.Members[0].MemberID != r2.MemberID {
		t.Fatalf("after reload: %+v", d)
	}
}

func TestProtocolSelection(t *testing.T) {
	h := newHarness(t)
	_, w1 := h.newMember(joinReq("p", "", "x", "y"))
	_, w2 := h.newMember(joinReq("p", "", "y", "x"))
	_, w3 := h.newMember(joinReq("p", "", "y", "z", "x"))
	h.waitMembers("p", 3)
	if r := h.c.Join(context.Background(), joinReq("p", "", "z")); r.Err != kerr.InconsistentGroupProtocol {
		t.Fatalf("join with an unsupported protocol: %v", r.Err)
	}
	r := h.c.Join(context.Background(), JoinRequest{Group: "p", ProtocolType: "other", SessionTimeout: 10 * time.Second,
		Protocols: []Protocol{{Name: "y"}}})
	if r.Err != kerr.InconsistentGroupProtocol {
		t.Fatalf("join with another protocol type: %v", r.Err)
	}
	h.endInitialDelay("p")
	for _, w := range []chan JoinResult{w1, w2, w3} {
		if r := recv(t, w); r.Err != nil || r.Protocol == nil || *r.Protocol != "y" {
			t.Fatalf("selected %v (err %v), want y", r.Protocol, r.Err)
		}
	}
}

func TestCommitFetchReloadExpire(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	tp := TopicPartition{"t", 0}
	commit := func(off int64) {
		errs := h.c.Commit(ctx, CommitRequest{Group: "simple", Generation: -1,
			Offsets: map[TopicPartition]Offset{tp: {Offset: off, LeaderEpoch: 3, Metadata: "md"}}})
		if errs[tp] != nil {
			t.Fatalf("commit: %v", errs[tp])
		}
	}
	for i := range 40 {
		commit(int64(i))
	}
	big := h.c.Commit(ctx, CommitRequest{Group: "simple", Generation: -1,
		Offsets: map[TopicPartition]Offset{{"t", 1}: {Metadata: string(make([]byte, 4097))}}})
	if big[TopicPartition{"t", 1}] != kerr.OffsetMetadataTooLarge {
		t.Fatalf("large metadata: %v", big)
	}
	if errs := h.c.Commit(ctx, CommitRequest{Group: "new", Generation: 2, Offsets: map[TopicPartition]Offset{tp: {}}}); errs[tp] != kerr.IllegalGeneration {
		t.Fatalf("member commit to an unknown group: %v", errs[tp])
	}
	h.reopen()
	got, _ := h.c.Fetch("simple", nil)
	if len(got) != 1 || got[0].Offset.Offset != 39 || got[0].LeaderEpoch != 3 || got[0].Metadata != "md" {
		t.Fatalf("after reload: %+v", got)
	}
	h.clk.advance(7*24*time.Hour - time.Second)
	if n := h.c.ExpireOffsets(); n != 0 {
		t.Fatalf("expired %d offsets before the retention", n)
	}
	h.clk.advance(2 * time.Second)
	if n := h.c.ExpireOffsets(); n != 1 {
		t.Fatalf("expired %d offsets, want 1", n)
	}
	h.reopen()
	if got, _ := h.c.Fetch("simple", []TopicPartition{tp}); got[0].Found {
		t.Fatalf("expired offset back after reload: %+v", got)
	}
	if ls, _ := h.c.List(nil, nil); len(ls) != 0 {
		t.Fatalf("groups after expiry: %+v", ls)
	}
}

func TestMemberCommitsAndDelete(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	ids := h.stableGroup("m", 2)
	tp := TopicPartition{"t", 0}
	f := func(member string, gen int32, want error) {
		t.Helper()
		errs := h.c.Commit(ctx, CommitRequest{Group: "m", MemberID: member, Generation: gen, Offsets: map[TopicPartition]Offset{tp: {Offset: 5}}})
		if errs[tp] != want {
			t.Fatalf("commit(%q, %d) = %v, want %v", member, gen, errs[tp], want)
		}
	}
	f(ids[1], 1, nil)
	f(ids[1], 0, kerr.IllegalGeneration)
	f("", -1, kerr.UnknownMemberID) // a simple commit to a group with members
	if errs := h.c.DeleteGroups([]string{"m", "none"}); errs[0] != kerr.NonEmptyGroup || errs[1] != kerr.GroupIDNotFound {
		t.Fatalf("delete: %v", errs)
	}
	other := TopicPartition{"u", 0}
	res, err := h.c.DeleteOffsets("m", []TopicPartition{tp, other})
	if err != nil || res[tp] != kerr.GroupSubscribedToTopic || res[other] != nil {
		t.Fatalf("delete offsets: %v %v", err, res)
	}
	errs, gerr := h.c.Leave("m", []LeaveMember{{MemberID: ids[0]}, {MemberID: ids[1]}, {MemberID: "x"}})
	if gerr != nil || errs[0] != nil || errs[1] != nil || errs[2] != kerr.UnknownMemberID {
		t.Fatalf("leave: %v %v", gerr, errs)
	}
	h.c.Tick()
	if s := h.state("m"); s != "Empty" {
		t.Fatalf("state after everyone left: %s", s)
	}
	if errs := h.c.DeleteGroups([]string{"m"}); errs[0] != nil {
		t.Fatalf("delete empty group: %v", errs[0])
	}
	h.reopen()
	if d := h.c.Describe([]string{"m"})[0]; d.State != "Dead" {
		t.Fatalf("deleted group after reload: %+v", d)
	}
}

func TestPartitionFor(t *testing.T) {
	f := func(id string, want int32) {
		t.Helper()
		if got := PartitionFor(id, 50); got != want {
			t.Fatalf("PartitionFor(%q) = %d, want %d", id, got, want)
		}
	}
	f("", 0)
	f("abc", 96354%50)         // "abc".hashCode() = 96354
	f("polygenelubricants", 0) // hashCode() = Integer.MIN_VALUE: Utils.abs gives 0
	// Java's algorithm computed independently (Python, UTF-16 code units):
	f("my-group", 1906497762%50)  // hashCode() = -1906497762
	f("\u00e9t\u00e9", 227742%50) // 'é' is one code unit, 233
}

// TestZeroInitialRebalanceDelay: group.initial.rebalance.delay.ms=0 means
// no delay (it was silently replaced by the 3 s default): a lone member's
// join completes with the clock never advanced.
func TestZeroInitialRebalanceDelay(t *testing.T) {
	h := newHarness(t)
	h.cfg.InitialRebalanceDelay = 0
	h.reopen()
	if got := h.c.cfg.InitialRebalanceDelay; got != 0 {
		t.Fatalf("InitialRebalanceDelay 0 became %v", got)
	}
	_, w := h.newMember(joinReq("g", ""))
	if r := recv(t, w); r.Err != nil || r.Generation != 1 || r.MemberID != r.LeaderID {
		t.Fatalf("join: err %v generation %d, leader %q member %q", r.Err, r.Generation, r.LeaderID, r.MemberID)
	}
	if s := h.state("g"); s != "CompletingRebalance" {
		t.Fatalf("state %s, want CompletingRebalance", s)
	}
	if d := DefaultConfig().InitialRebalanceDelay; d != 3*time.Second {
		t.Fatalf("default delay %v, want Kafka's 3 s", d)
	}
}
