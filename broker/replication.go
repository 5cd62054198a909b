package broker

// Replication: partitions of RF > 1 are copied from their leader to their
// followers with Kafka's own Fetch, as a Kafka broker does.
//
//	metadata image ──▶ reconciler pass ──▶ replicaManager.sync
//	   leader here:   log.SetReplicated(RF > 1), AssignLeaderEpoch(epoch, LEO),
//	                  leaderState{ISR, partition epoch, per follower: LEO,
//	                  last caught-up time}
//	   follower here: log.SetReplicated(true), added to the fetcher of its
//	                  leader (replica_fetcher.go), with the leader epoch
//
//	follower's fetcher ──Fetch v17 (ReplicaState{id, broker epoch},
//	   │                 FetchOffset = LEO, LastFetchedEpoch,
//	   │                 CurrentLeaderEpoch; many partitions, in an
//	   │                 incremental fetch session)──────────▶ leader
//	   │                                 │ LastFetchedEpoch diverges from the
//	   │                                 │ leader's epochs: DivergingEpoch
//	   │                                 │ (no records; KIP-320)
//	   │                                 │ else: follower's LEO = FetchOffset,
//	   │                                 │ caught-up time, HW = min LEO over
//	   │                                 │ the ISR (only the leader moves
//	   │                                 │ it), ReadReplica up to the LEO
//	   │                                 ▼ (sendfile, long poll)
//	   ◀── records + leader HW ──────────┘
//	   DivergingEpoch: TruncateTo(TruncationFor(epoch, end)) (KIP-101/279)
//	   records: AppendAsFollower (leader's offsets, epochs, producer ids)
//	   HW = min(leader HW, own LEO)
//
// ISR changes go through the controller: the leader sends AlterPartition
// (56_alter_partition.go; to its own controller when it is the active one)
// with its leader epoch and the partition epoch it acts on:
//
//   - shrink, checked every replica.lag.time.max.ms / 2: a follower of the
//     ISR that has not caught up to the leader's LEO for
//     replica.lag.time.max.ms (30 s) leaves it;
//   - expand, on a follower's fetch: a follower out of the ISR whose LEO
//     reached the HW (and the start of the current leader epoch) joins it.
//
// The controller also takes a fenced broker out of every ISR (its session
// expired, or it shut down). One change per partition is in flight at a
// time, and the changes of all partitions go to the controller together:
// one AlterPartition request at a time, carrying every change asked for
// while the one before was in flight, committed as one Raft entry
// (isrsend.go). A refused one (stale partition epoch, new leader) waits for
// the image. The HW is recomputed at every change of the ISR. While an
// expand is in flight the joining follower already counts in the HW
// (KIP-497's maximal ISR): the controller may answer it by completing a
// reassignment (controller/reassign.go) that makes the joiner the leader
// and removes this broker, so nothing may be committed that it lacks; an
// answer that moved the leadership keeps it counted, and asks for nothing
// more, until the image ends the leadership here.
//
// A reassignment changes the replicas during a leadership: the leader
// keeps a follower state for every replica of the image (an adding one
// starts out of the ISR, not caught up, and joins by the expand above),
// drops those removed, and switches replicated mode when the replica
// count crosses one (an RF=1 partition gaining a replica holds its HW for
// it from then on). The reconciler creates an adding replica's log and
// deletes a removed one's; sync moves their fetchers.
//
// Produce with acks=all (00_produce.go): NOT_ENOUGH_REPLICAS before the
// append when the ISR is smaller than min.insync.replicas; after the append
// the request waits (one waiter per request, on the Wait channels of the
// logs it appended to, woken by their HW and LEO moves) until each
// partition's HW passes its last offset, then answers
// NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below
// min.insync.replicas meanwhile, REQUEST_TIMED_OUT after timeout_ms, and
// NOT_LEADER_OR_FOLLOWER if leadership moved. Consumers read below the HW
// (partition.Log.Read); idempotent-producer state follows the data
// (AppendAsFollower keeps it), so a retry after fail-over is deduplicated.
//
// With eligible.leader.replicas.enable (KIP-966) the HW stays still while
// the ISR is smaller than min.insync.replicas (capped at the replication
// factor), so the replicas the controller keeps in the partition's ELR
// hold every record below it.
//
// The HWs are checkpointed (replication-offset-checkpoint) every
// replica.high.watermark.checkpoint.interval.ms (5 s) and when the store
// closes.

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice/sluice/metadata"
	"github.com/sluice/sluice/partition"
)

// Replication defaults (Kafka's).
const (
	defaultReplicaLagMax          = 30 * time.Second // replica.lag.time.max.ms
	defaultHWCheckpoint           = 5 * time.Second  // replica.high.watermark.checkpoint.interval.ms
	defaultReplicaFetchWait       = 500 * time.Millisecond
	replicaFetchBackoff           = 1 * time.Second // replica.fetch.backoff.ms
	replicaFetchMaxBytes          = 1 << 20         // replica.fetch.max.bytes
	replicaFetchResponseMax       = 10 << 20        // replica.fetch.response.max.bytes
	replicaFetchVersion     int16 = 17
)

// replicaManager keeps the replica state of this broker's partitions.
type replicaManager struct {
	b         *Broker
	self      int32
	lagMax    time.Duration
	fetchWait time.Duration
	numFetch  int

	mu       sync.RWMutex
	leaders  map[*partition.Log]*leaderState
	fetchers map[fetcherKey]*replicaFetcher
	follows  map[*partition.Log]fetcherKey

	quit chan struct{}
	wg   sync.WaitGroup

	isrSend isrSender // coalesces AlterPartition requests (isrsend.go)

	// hwComputed, a test hook, runs in advanceHW between computing the
	// HW and moving the log's.
	hwComputed atomic.Pointer[func()]
}

type fetcherKey struct {
	leader int32
	slot   int // num.replica.fetchers: partitions spread over slots
}

func newReplicaManager(b *Broker) *replicaManager {
	rm := &replicaManager{b: b, self: b.cfg.NodeID, lagMax: b.cfg.ReplicaLagTimeMax, fetchWait: b.cfg.ReplicaFetchWait,
		numFetch: b.cfg.NumReplicaFetchers,
		leaders:  map[*partition.Log]*leaderState{}, fetchers: map[fetcherKey]*replicaFetcher{},
		follows: map[*partition.Log]fetcherKey{}, quit: make(chan struct{})}
	if rm.lagMax <= 0 {
		rm.lagMax = defaultReplicaLagMax
	}
	if rm.fetchWait <= 0 {
		rm.fetchWait = defaultReplicaFetchWait
	}
	if rm.numFetch <= 0 {
		rm.numFetch = 1
	}
	return rm
}

func (rm *replicaManager) start() {
	rm.wg.Go(rm.isrLoop)
	rm.wg.Go(rm.checkpointLoop)
}

// stop ends the fetchers and the ISR and checkpoint loops.
func (rm *replicaManager) stop() {
	close(rm.quit)
	rm.mu.Lock()
	fs := make([]*replicaFetcher, 0, len(rm.fetchers))
	for _, f := range rm.fetchers {
		fs = append(fs, f)
	}
	rm.mu.Unlock()
	for _, f := range fs {
		f.stop()
	}
	rm.wg.Wait()
}

// leaderState is the leader's view of one partition's replicas.
type leaderState struct {
	log        *partition.Log
	topic      string
	topicID    metadata.UUID
	partition  int32
	epoch      int32 // leader epoch
	epochStart int64 // LEO when this leadership began
	gone       chan struct{}

	mu struct {
		sync.Mutex
		replicas       []int32
		isr            []int32
		partitionEpoch int32
		followers      map[int32]*followerState
		pending        bool    // an AlterPartition in flight
		joining        []int32 // the followers an in-flight expand adds
	}
}

// followerState is a follower as its leader sees it.
type followerState struct {
	leo          int64 // -1: not fetched since this leadership began
	caughtUp     time.Time
	lastFetch    time.Time
	lastFetchLEO int64 // the leader's LEO at that fetch
}

// lost reports whether this leadership ended.
func (st *leaderState) lost() bool {
	select {
	case <-st.gone:
		return true
	default:
		return false
	}
}

// leader returns the state of a partition this broker leads, nil if none.
func (rm *replicaManager) leader(l *partition.Log) *leaderState {
	rm.mu.RLock()
	defer rm.mu.RUnlock()
	return rm.leaders[l]
}

// sync follows the image: leaderships begun or ended, partitions to fetch.
// It runs on the reconciler's goroutine, after each pass.
func (rm *replicaManager) sync(im *metadata.Image) {
	lead := map[*partition.Log]bool{}
	follow := map[*partition.Log]followTarget{}
	var starts []leaderStart
	store := rm.b.store
	for _, name := range im.TopicNames() {
		ti, _ := im.Topic(name)
		for i, p := range ti.Partitions {
			if !slices.Contains(p.Replicas, rm.self) {
				continue
			}
			l := store.Get(name, int32(i))
			if l == nil || l.TopicID() != ti.ID || l.Offline() != nil {
				continue
			}
			if p.Leader == rm.self {
				lead[l] = true
				starts = append(starts, leaderStart{l, ti, p})
				continue
			}
			follow[l] = followTarget{log: l, topic: name, topicID: ti.ID, partition: int32(i), leader: p.Leader, epoch: p.LeaderEpoch}
		}
	}
	rm.becomeLeaders(starts) // leaderstart.go: concurrently
	rm.mu.Lock()
	var ended []*leaderState
	for l, st := range rm.leaders {
		if !lead[l] {
			ended = append(ended, st)
			delete(rm.leaders, l)
		}
	}
	rm.mu.Unlock()
	for _, st := range ended {
		st.log.OnAppend(nil)
		close(st.gone)
	}
	rm.syncFollowers(follow)
}

// becomeLeader starts (or updates) this broker's leadership of l.
func (rm *replicaManager) becomeLeader(l *partition.Log, ti *metadata.TopicImage, p metadata.Partition) {
	rm.mu.RLock()
	st := rm.leaders[l]
	_, following := rm.follows[l]
	rm.mu.RUnlock()
	if following {
		rm.unfollow(l) // waits out the fetcher's round on l
	}
	if st == nil || st.epoch != p.LeaderEpoch {
		if st != nil {
			close(st.gone)
		}
		if err := l.SetReplicated(len(p.Replicas) > 1); err != nil {
			rm.b.log.Error("cannot switch a log's replicated mode", "topic", ti.Name, "partition", p.Partition, "err", err)
		}
		leo := l.LogEndOffset()
		if err := l.AssignLeaderEpoch(p.LeaderEpoch, leo); err != nil {
			rm.b.log.Error("cannot begin a leader epoch", "topic", ti.Name, "partition", p.Partition, "epoch", p.LeaderEpoch, "err", err)
		}
		st = &leaderState{log: l, topic: ti.Name, topicID: ti.ID, partition: p.Partition, epoch: p.LeaderEpoch,
			epochStart: leo, gone: make(chan struct{})}
		st.mu.followers = map[int32]*followerState{}
		// Whole before it is published: a produce or fetch that finds it
		// must not see an empty ISR.
		st.mu.replicas, st.mu.isr, st.mu.partitionEpoch = slices.Clone(p.Replicas), slices.Clone(p.ISR), p.PartitionEpoch
		now := time.Now()
		for _, r := range p.Replicas {
			if r != rm.self {
				f := &followerState{leo: -1, lastFetchLEO: -1}
				if slices.Contains(p.ISR, r) {
					f.caughtUp = now // as Kafka: an ISR member starts caught up
				}
				st.mu.followers[r] = f
			}
		}
		rm.mu.Lock()
		rm.leaders[l] = st
		rm.mu.Unlock()
		rm.watchAppends(st)
		rm.b.log.Info("leading partition", "topic", ti.Name, "partition", p.Partition, "leader_epoch", p.LeaderEpoch,
			"isr", p.ISR, "log_end_offset", leo)
	}
	st.mu.Lock()
	if p.PartitionEpoch >= st.mu.partitionEpoch {
		st.mu.replicas, st.mu.isr, st.mu.partitionEpoch = slices.Clone(p.Replicas), slices.Clone(p.ISR), p.PartitionEpoch
		rm.followReplicasLocked(st, p)
	}
	st.mu.Unlock()
	if on := len(p.Replicas) > 1; on != l.Replicated() {
		// A reassignment changed the replica count: an RF=1 partition
		// gaining a replica must hold its HW for it from now on.
		if err := l.SetReplicated(on); err != nil {
			rm.b.log.Error("cannot switch a log's replicated mode", "topic", ti.Name, "partition", p.Partition, "err", err)
		}
		rm.watchAppends(st)
	}
	rm.advanceHW(st)
}

// watchAppends has a replicated log's appends move its high watermark
// (appended), and clears the hook of a log that is not: its high
// watermark is its end (partition.Log), so the hook would take three
// locks per append round to move nothing (about 2% of the broker's samples
// at 1,000 partitions x 1 KiB, docs/BENCHMARKS.md). Called where the
// log's replicated mode is set: a leadership's start and a change of its
// replica count (becomeLeader), not on every metadata pass.
func (rm *replicaManager) watchAppends(st *leaderState) {
	if st.log.Replicated() {
		st.log.OnAppend(func() { rm.appended(st) })
	} else {
		st.log.OnAppend(nil)
	}
}

// followReplicasLocked keeps a follower state for every replica of p
// other than this broker: a reassignment adds replicas (out of the ISR,
// not caught up) and removes others during one leadership.
func (rm *replicaManager) followReplicasLocked(st *leaderState, p metadata.Partition) {
	for _, r := range p.Replicas {
		if r != rm.self && st.mu.followers[r] == nil {
			st.mu.followers[r] = &followerState{leo: -1, lastFetchLEO: -1}
		}
	}
	for r := range st.mu.followers {
		if !slices.Contains(p.Replicas, r) {
			delete(st.mu.followers, r)
		}
	}
}

// advanceHW moves the leader's HW to the minimum LEO over the ISR. With
// eligible leader replicas (KIP-966) it stays still while the ISR is under
// min.insync.replicas, so every ELR member holds every record below it.
// It computes and moves the HW under st.mu, as Kafka under the partition's
// ISR lock: a follower's fetch that checks the HW to join the ISR
// (followerFetched) comes wholly before the move, and holds the HW, or
// after it (lock order: st.mu, then the log's; no I/O).
func (rm *replicaManager) advanceHW(st *leaderState) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if rm.b.cfg.EligibleLeaderReplicas && len(st.mu.isr) < effectiveMinInsync(st.log.Config().MinInsyncReplicas, len(st.mu.replicas)) {
		return
	}
	hw := st.log.LogEndOffset()
	// The maximal ISR (KIP-497's): a follower whose joining is in flight
	// counts already, so nothing is committed that it lacks should the
	// controller's answer make it a leader (a reassignment completes in the
	// same change). No allocation: this runs after every append.
	for _, set := range [2][]int32{st.mu.isr, st.mu.joining} {
		for _, r := range set {
			if r == rm.self {
				continue
			}
			f := st.mu.followers[r]
			if f == nil || f.leo < 0 {
				return // an ISR member not heard from yet holds the HW
			}
			hw = min(hw, f.leo)
		}
	}
	if fn := rm.hwComputed.Load(); fn != nil {
		(*fn)()
	}
	st.log.UpdateHighWatermark(hw)
}

// appended moves the HW after an append to a partition st leads, as
// Kafka's maybeIncrementLeaderHW after appendRecordsToLeader: with the ISR
// this broker alone no follower's fetch would, and acks=all, consumers
// and the coordinators' commits would wait for the next metadata change.
// It runs on the log's appender (partition.Log.OnAppend).
func (rm *replicaManager) appended(st *leaderState) {
	select {
	case <-st.gone:
	default:
		rm.advanceHW(st)
	}
}

// followerFetched records a follower's fetch at offset on a partition this
// broker leads (Kafka's updateFollowerFetchState) and returns the error
// code for the fetch: NOT_LEADER_OR_FOLLOWER from a broker that is not a
// replica of it.
func (rm *replicaManager) followerFetched(st *leaderState, replica int32, offset int64) int16 {
	now := time.Now()
	leo := st.log.LogEndOffset()
	st.mu.Lock()
	f := st.mu.followers[replica]
	if f == nil {
		st.mu.Unlock()
		return kerr.NotLeaderForPartition.Code
	}
	switch {
	case offset >= leo:
		f.caughtUp = now
	case offset >= f.lastFetchLEO && f.lastFetchLEO >= 0 && f.lastFetch.After(f.caughtUp):
		f.caughtUp = f.lastFetch
	}
	f.leo, f.lastFetch, f.lastFetchLEO = offset, now, leo
	var expand []int32
	if !slices.Contains(st.mu.isr, replica) && !st.mu.pending && offset >= st.log.HighWatermark() && offset >= st.epochStart {
		expand = append(slices.Clone(st.mu.isr), replica)
		st.mu.pending, st.mu.joining = true, []int32{replica}
	}
	st.mu.Unlock()
	rm.advanceHW(st)
	if expand != nil {
		// Not in rm.wg: a fetch may arrive while stop waits. The call is
		// bounded by peerTimeout and touches only st and the controller.
		go rm.alterISR(st, expand)
	}
	return 0
}

// isrLoop shrinks the ISR of the partitions this broker leads.
func (rm *replicaManager) isrLoop() {
	tick := time.NewTicker(rm.lagMax / 2)
	defer tick.Stop()
	for {
		select {
		case <-rm.quit:
			return
		case <-tick.C:
		}
		rm.mu.RLock()
		sts := make([]*leaderState, 0, len(rm.leaders))
		for _, st := range rm.leaders {
			sts = append(sts, st)
		}
		rm.mu.RUnlock()
		// Concurrently, so that the shrinks go to the controller together
		// (isrsend.go): a broker gone from 1,000 ISRs is one request.
		var wg sync.WaitGroup
		for _, st := range sts {
			if shrunk := rm.laggards(st, time.Now()); shrunk != nil {
				wg.Go(func() { rm.alterISR(st, shrunk) })
			}
		}
		wg.Wait()
	}
}

// laggards returns the ISR without the followers that have not caught up
// for lagMax (nil when none), and marks an AlterPartition pending.
func (rm *replicaManager) laggards(st *leaderState, now time.Time) []int32 {
	leo := st.log.LogEndOffset()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.mu.pending {
		return nil
	}
	var out []int32
	drop := false
	for _, r := range st.mu.isr {
		if f := st.mu.followers[r]; r != rm.self && f != nil && f.leo != leo && now.Sub(f.caughtUp) > rm.lagMax {
			drop = true
			continue
		}
		out = append(out, r)
	}
	if !drop {
		return nil
	}
	st.mu.pending = true
	return out
}

// alterISRHook, when set (tests), is called by alterISR before it sends.
var alterISRHook atomic.Pointer[func(st *leaderState, isr []int32)]

// alterISR asks the controller for isr and adopts the answer.
func (rm *replicaManager) alterISR(st *leaderState, isr []int32) {
	st.mu.Lock()
	pe := st.mu.partitionEpoch
	st.mu.Unlock()
	if hook := alterISRHook.Load(); hook != nil {
		(*hook)(st, isr)
	}
	p, err := rm.sendAlterPartition(st, pe, isr)
	st.mu.Lock()
	if err != nil || p.LeaderEpoch == st.epoch {
		st.mu.pending, st.mu.joining = false, nil
	}
	// Else the change moved the leadership (a completed reassignment):
	// until the image ends it here, the HW still waits for the new leader
	// and no other ISR change is asked for.
	if err == nil && p.LeaderEpoch == st.epoch && p.PartitionEpoch >= st.mu.partitionEpoch {
		st.mu.isr, st.mu.partitionEpoch = slices.Clone(p.ISR), p.PartitionEpoch
	}
	st.mu.Unlock()
	if err != nil {
		rm.b.log.Warn("ISR change refused; waiting for the metadata image", "topic", st.topic, "partition", st.partition,
			"isr", isr, "err", err)
		return
	}
	rm.b.log.Info("ISR changed", "topic", st.topic, "partition", st.partition, "isr", p.ISR, "partition_epoch", p.PartitionEpoch)
	rm.advanceHW(st)
}

// errAlterPartition is a refusal answered by a remote controller.
var errAlterPartition = errors.New("broker: AlterPartition refused")

// checkpointLoop writes the replication-offset-checkpoint every
// replica.high.watermark.checkpoint.interval.ms (the store writes it once
// more when it closes).
func (rm *replicaManager) checkpointLoop() {
	every := rm.b.cfg.HWCheckpointInterval
	if every <= 0 {
		every = defaultHWCheckpoint
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-rm.quit:
			return
		case <-tick.C:
		}
		if err := rm.b.store.CheckpointHighWatermarks(); err != nil {
			rm.b.log.Error("cannot write the replication-offset-checkpoint", "err", err)
		}
	}
}

// replicaFetchCode checks a follower's fetch of a partition this broker
// leads: NOT_LEADER_OR_FOLLOWER from a broker that is not one of its
// replicas (or for a partition not replicated here).
func (rm *replicaManager) replicaFetchCode(l *partition.Log, replica int32) (*leaderState, int16) {
	st := rm.leader(l)
	if st == nil {
		return nil, kerr.NotLeaderForPartition.Code
	}
	st.mu.Lock()
	_, ok := st.mu.followers[replica]
	st.mu.Unlock()
	if !ok {
		return nil, kerr.NotLeaderForPartition.Code
	}
	return st, 0
}

// minInsync reports whether the ISR of a partition this broker leads has
// at least min.insync.replicas members (always true for a partition
// without replica state: one replica).
func (rm *replicaManager) minInsync(st *leaderState) bool {
	if st == nil {
		return true
	}
	st.mu.Lock()
	n := len(st.mu.isr)
	st.mu.Unlock()
	return n >= st.log.Config().MinInsyncReplicas
}

// effectiveMinInsync is min.insync.replicas capped at the replication
// factor, as Kafka's effective min ISR.
func effectiveMinInsync(minInsync, replicas int) int {
	return max(1, min(minInsync, replicas))
}
