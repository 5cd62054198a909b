package txn

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice/sluice/partition"
)

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

// harness is a coordinator on a real store, driven by hand. Its markers
// are recorded (the broker writes them into partitions; here the test
// checks what would be written) and can be made to fail.
type harness struct {
	t     *testing.T
	dir   string
	store *partition.Store
	logs  []*partition.Log
	clk   *clock
	cfg   Config
	c     *Coordinator

	mu        sync.Mutex
	nextPID   int64
	markers   []Markers
	markerErr error
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), clk: &clock{now: time.Unix(1_700_000_000, 0)}, nextPID: 1000}
	h.cfg = Config{Partitions: 3, Now: h.clk.Now, Manual: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	h.open()
	t.Cleanup(h.close)
	return h
}

func (h *harness) hooks() Hooks {
	return Hooks{
		NewProducerID: func() (int64, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.nextPID++
			return h.nextPID, nil
		},
		WriteMarkers: func(_ context.Context, m Markers) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.markerErr != nil {
				return h.markerErr
			}
			h.markers = append(h.markers, m)
			return nil
		},
	}
}

func (h *harness) open() {
	h.t.Helper()
	st, err := partition.OpenStore(partition.StoreConfig{Dir: h.dir, Defaults: partition.DefaultConfig()})
	if err != nil {
		h.t.Fatal(err)
	}
	h.store, h.logs = st, nil
	for p := range h.cfg.Partitions {
		l, err := st.Create(TopicName, p, [16]byte{2}, partition.DefaultConfig())
		if err != nil {
			h.t.Fatal(err)
		}
		h.logs = append(h.logs, l)
	}
	if h.c, err = Open(h.cfg, h.logs, h.hooks()); err != nil {
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

func (h *harness) takeMarkers() []Markers {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.markers
	h.markers = nil
	return m
}

func (h *harness) describe(id string) Description { return h.c.Describe([]string{id})[0] }

func (h *harness) init(id string, pid int64, epoch int16) (int64, int16) {
	h.t.Helper()
	p, e, err := h.c.InitProducerID(context.Background(), id, time.Minute, pid, epoch)
	if err != nil {
		h.t.Fatalf("InitProducerID(%s): %v", id, err)
	}
	return p, e
}

var tp0, tp1 = TopicPartition{"out", 0}, TopicPartition{"out", 1}

func TestCommitAndAbortWriteMarkers(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	pid, epoch := h.init("a", -1, -1)
	if epoch != 0 {
		t.Fatalf("first epoch %d, want 0", epoch)
	}
	if err := h.c.CheckProduce("a", pid, epoch, tp0); err != kerr.InvalidTxnState {
		t.Fatalf("produce before AddPartitions: %v, want INVALID_TXN_STATE", err)
	}
	if err := h.c.AddPartitions("a", pid, epoch, []TopicPartition{tp1, tp0}); err != nil {
		t.Fatal(err)
	}
	if err := h.c.CheckProduce("a", pid, epoch, tp0); err != nil {
		t.Fatalf("produce after AddPartitions: %v", err)
	}
	if d := h.describe("a"); d.State != Ongoing || len(d.Partitions) != 2 {
		t.Fatalf("describe: %+v", d)
	}
	if err := h.c.EndTxn(ctx, "a", pid, epoch, true); err != nil {
		t.Fatal(err)
	}
	want := Markers{TransactionalID: "a", ProducerID: pid, ProducerEpoch: epoch, Commit: true, Partitions: []TopicPartition{tp0, tp1}}
	if got := h.takeMarkers(); len(got) != 1 || !equalMarkers(got[0], want) {
		t.Fatalf("markers %+v, want %+v", got, want)
	}
	if d := h.describe("a"); d.State != CompleteCommit || len(d.Partitions) != 0 {
		t.Fatalf("after commit: %+v", d)
	}
	// A retried EndTxn succeeds; the opposite one is INVALID_TXN_STATE.
	if err := h.c.EndTxn(ctx, "a", pid, epoch, true); err != nil {
		t.Fatalf("retried commit: %v", err)
	}
	if err := h.c.EndTxn(ctx, "a", pid, epoch, false); err != kerr.InvalidTxnState {
		t.Fatalf("abort after commit: %v", err)
	}
	if err := h.c.AddPartitions("a", pid, epoch, []TopicPartition{tp0}); err != nil {
		t.Fatal(err)
	}
	if err := h.c.EndTxn(ctx, "a", pid, epoch, false); err != nil {
		t.Fatal(err)
	}
	if got := h.takeMarkers(); len(got) != 1 || got[0].Commit {
		t.Fatalf("abort markers %+v", got)
	}
	// The state survives a restart.
	h.reopen()
	if d := h.describe("a"); d.State != CompleteAbort || d.ProducerID != pid || d.ProducerEpoch != epoch {
		t.Fatalf("after reopen: %+v", d)
	}
}

func equalMarkers(a, b Markers) bool {
	return a.TransactionalID == b.TransactionalID && a.ProducerID == b.ProducerID &&
		a.ProducerEpoch == b.ProducerEpoch && a.Commit == b.Commit && slices.Equal(a.Partitions, b.Partitions)
}

func TestRequestErrors(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	pid, epoch := h.init("a", -1, -1)
	f := func(name string, got, want error) {
		t.Helper()
		if !errors.Is(got, want) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	_, _, err := h.c.InitProducerID(ctx, "b", 16*time.Minute, -1, -1)
	f("timeout above max", err, kerr.InvalidTransactionTimeout)
	_, _, err = h.c.InitProducerID(ctx, "b", 0, -1, -1)
	f("zero timeout", err, kerr.InvalidTransactionTimeout)
	f("unknown id", h.c.AddPartitions("nope", pid, epoch, []TopicPartition{tp0}), kerr.InvalidProducerIDMapping)
	f("wrong pid", h.c.AddPartitions("a", pid+1, epoch, []TopicPartition{tp0}), kerr.InvalidProducerIDMapping)
	f("wrong epoch", h.c.AddPartitions("a", pid, epoch+1, []TopicPartition{tp0}), kerr.ProducerFenced)
	f("end without txn", h.c.EndTxn(ctx, "a", pid, epoch, true), kerr.InvalidTxnState)
	_, _, err = h.c.InitProducerID(ctx, "a", time.Minute, pid, epoch+3)
	f("init with stale epoch", err, kerr.ProducerFenced)
	vr, err := h.c.VerifyPartitions("a", pid, epoch, []TopicPartition{tp0})
	f("verify", err, nil)
	f("verify not added", vr[tp0], kerr.InvalidTxnState)
}

// TestFencingAbortsOngoing: a second InitProducerId for the id bumps the
// epoch, aborts the first instance's ongoing transaction with the bumped
// epoch, and the first instance is fenced.
func TestFencingAbortsOngoing(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	pid, e1 := h.init("a", -1, -1)
	if err := h.c.AddPartitions("a", pid, e1, []TopicPartition{tp0}); err != nil {
		t.Fatal(err)
	}
	pid2, e2 := h.init("a", -1, -1)
	if pid2 != pid || e2 != e1+2 {
		t.Fatalf("second instance got %d/%d, want %d/%d", pid2, e2, pid, e1+2)
	}
	got := h.takeMarkers()
	if len(got) != 1 || got[0].Commit || got[0].ProducerEpoch != e1+1 {
		t.Fatalf("abort markers %+v, want one abort at epoch %d", got, e1+1)
	}
	if err := h.c.EndTxn(ctx, "a", pid, e1, true); err != kerr.ProducerFenced {
		t.Fatalf("old instance's commit: %v, want PRODUCER_FENCED", err)
	}
	if err := h.c.CheckProduce("a", pid, e1, tp0); err != kerr.InvalidProducerEpoch {
		t.Fatalf("old instance's produce: %v, want INVALID_PRODUCER_EPOCH", err)
	}
}

// TestRecoveryCompletesPrepared: a crash after PrepareCommit is written
// (simulated: EndTxn stops there, the coordinator is abandoned) leaves the
// transaction prepared; the next Open completes it, writing the markers.
func TestRecoveryCompletesPrepared(t *testing.T) {
	h := newHarness(t)
	h.cfg.testAfterPrepare = func() bool { return true }
	h.reopen()
	ctx := context.Background()
	pid, epoch := h.init("a", -1, -1)
	if err := h.c.AddPartitions("a", pid, epoch, []TopicPartition{tp0, tp1}); err != nil {
		t.Fatal(err)
	}
	if err := h.c.EndTxn(ctx, "a", pid, epoch, true); err != nil {
		t.Fatal(err)
	}
	if got := h.takeMarkers(); len(got) != 0 {
		t.Fatalf("markers before the crash: %+v", got)
	}
	h.cfg.testAfterPrepare = nil
	h.reopen()
	if d := h.describe("a"); d.State != PrepareCommit {
		t.Fatalf("loaded state %v, want PrepareCommit", d.State)
	}
	if err := h.c.AddPartitions("a", pid, epoch, []TopicPartition{tp0}); err != kerr.ConcurrentTransactions {
		t.Fatalf("AddPartitions while prepared: %v, want CONCURRENT_TRANSACTIONS", err)
	}
	h.c.Tick()
	got := h.takeMarkers()
	if len(got) != 1 || !got[0].Commit || !slices.Equal(got[0].Partitions, []TopicPartition{tp0, tp1}) {
		t.Fatalf("recovery markers %+v", got)
	}
	if d := h.describe("a"); d.State != CompleteCommit {
		t.Fatalf("after recovery: %v", d.State)
	}
	h.reopen()
	if d := h.describe("a"); d.State != CompleteCommit {
		t.Fatalf("after second reopen: %v", d.State)
	}
}

// TestMarkerFailureRetried: markers that cannot be written leave the
// transaction prepared (CONCURRENT_TRANSACTIONS) until Tick writes them.
func TestMarkerFailureRetried(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	pid, epoch := h.init("a", -1, -1)
	if err := h.c.AddPartitions("a", pid, epoch, []TopicPartition{tp0}); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	h.markerErr = errors.New("injected: partition offline")
	h.mu.Unlock()
	if err := h.c.EndTxn(ctx, "a", pid, epoch, false); err != nil {
		t.Fatal(err)
	}
	if err := h.c.AddPartitions("a", pid, epoch, []TopicPartition{tp0}); err != kerr.ConcurrentTransactions {
		t.Fatalf("while markers fail: %v", err)
	}
	h.c.Tick()
	if d := h.describe("a"); d.State != PrepareAbort {
		t.Fatalf("state %v, want PrepareAbort", d.State)
	}
	h.mu.Lock()
	h.markerErr = nil
	h.mu.Unlock()
	h.c.Tick()
	if d := h.describe("a"); d.State != CompleteAbort {
		t.Fatalf("state %v, want CompleteAbort", d.State)
	}
}

// TestTimeoutAbortsAndFences: an ongoing transaction past its timeout is
// aborted by Tick with a bumped epoch; the producer is fenced.
func TestTimeoutAbortsAndFences(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.init("a", -1, -1)
	if err := h.c.AddPartitions("a", pid, epoch, []TopicPartition{tp0}); err != nil {
		t.Fatal(err)
	}
	h.clk.advance(59 * time.Second)
	h.c.Tick()
	if d := h.describe("a"); d.State != Ongoing {
		t.Fatalf("before the timeout: %v", d.State)
	}
	h.clk.advance(time.Second)
	h.c.Tick()
	d := h.describe("a")
	if d.State != CompleteAbort || d.ProducerEpoch != epoch+1 {
		t.Fatalf("after the timeout: %+v", d)
	}
	if got := h.takeMarkers(); len(got) != 1 || got[0].Commit || got[0].ProducerEpoch != epoch+1 {
		t.Fatalf("markers %+v", got)
	}
	if err := h.c.EndTxn(context.Background(), "a", pid, epoch, true); err != kerr.ProducerFenced {
		t.Fatalf("commit after timeout: %v, want PRODUCER_FENCED", err)
	}
}

// TestIDExpiration: an id idle past transactional.id.expiration.ms is
// removed, also from the log.
func TestIDExpiration(t *testing.T) {
	h := newHarness(t)
	h.init("a", -1, -1)
	h.clk.advance(2 * time.Hour)
	h.init("b", -1, -1)
	h.clk.advance(7*24*time.Hour - time.Hour)
	h.c.Tick()
	if h.describe("a").Found || !h.describe("b").Found {
		t.Fatalf("after expiry: a %v b %v, want only b", h.describe("a").Found, h.describe("b").Found)
	}
	h.reopen()
	if h.describe("a").Found || !h.describe("b").Found {
		t.Fatal("expiry did not survive a reopen")
	}
	if l := h.c.List(nil, nil, 0); len(l) != 1 || l[0].TransactionalID != "b" || l[0].State != Empty {
		t.Fatalf("list %+v", l)
	}
}

func TestStateRecordRoundTrip(t *testing.T) {
	s := txnState{producerID: 7, prevProducerID: 3, epoch: 4, lastEpoch: -1, timeout: 90 * time.Second,
		state: Ongoing, partitions: map[TopicPartition]struct{}{tp1: {}, tp0: {}, {"x", 3}: {}},
		start: time.UnixMilli(1000), update: time.UnixMilli(2000)}
	r := stateRecord("id", &s)
	got, err := decodeState(r.value)
	if err != nil {
		t.Fatal(err)
	}
	if got.producerID != 7 || got.prevProducerID != 3 || got.epoch != 4 || got.timeout != s.timeout ||
		got.state != Ongoing || !got.start.Equal(s.start) || !got.update.Equal(s.update) ||
		!slices.Equal(got.sortedPartitions(), s.sortedPartitions()) {
		t.Fatalf("round trip: %+v, want %+v", got, s)
	}
	if _, err := decodeState(r.value[:len(r.value)-3]); err == nil {
		t.Fatal("truncated value decoded")
	}
}
