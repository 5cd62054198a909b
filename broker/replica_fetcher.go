package broker

// The follower's side of replication (see replication.go): one fetcher
// goroutine per (leader broker, slot), num.replica.fetchers slots per
// leader, each sending Fetch requests for all its partitions on one
// connection to the leader's inter-broker listener (peer.go: TLS and SASL
// as that listener demands), in an incremental fetch session (KIP-227): a
// full fetch first, then only the partitions whose fetch offset, log
// start or epochs changed, the others forgotten while they back off; a
// session error, or a leader that keeps no session, falls back to full
// fetches. A
// partition whose answer is an error waits replica.fetch.backoff.ms (1 s;
// 100 ms when the leader is merely behind the image) before it is fetched
// again; the others go on. OFFSET_OUT_OF_RANGE asks the leader for its
// log start and end (ListOffsets as a replica) and truncates to them. An
// answer is applied only while the partition's log still ends at the
// offset the request asked from, in the same leader epoch (else it is
// dropped and the next request asks from the log end, as Kafka's fetcher
// compares its fetch position); an answer whose first batch starts below
// that offset (the logs end batches at different offsets) realigns the
// follower: truncation by leader epoch through OffsetForLeaderEpoch, then
// to the leader's batch start, and fetching goes on from the log end. A
// follower-throttled partition behind the leader's high watermark is left
// out while the follower quota is exceeded (throttle.go), looked at again
// every 100 ms.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/metadata"
	"github.com/sluice/sluice/partition"
)

// followTarget is a partition this broker follows, as the image says.
type followTarget struct {
	log       *partition.Log
	topic     string
	topicID   metadata.UUID
	partition int32
	leader    int32 // metadata.NoLeader: none
	epoch     int32
}

// fetchState is one partition of a fetcher.
type fetchState struct {
	followTarget
	delayUntil time.Time // after an error: replica.fetch.backoff.ms
	// inSync: the log reached the leader's high watermark at the last
	// answer (loop goroutine only); a follower-throttled partition that
	// has not is held back while the quota is exceeded (throttle.go).
	inSync bool
	// sent is the fetch position of the last request that asked for the
	// partition (loop goroutine only): its answer is applied only while
	// the log still ends there, in the same leader epoch (answersPosition).
	sent sentParams
}

type replicaFetcher struct {
	rm     *replicaManager
	leader int32
	wake   chan struct{} // cap 1
	quit   chan struct{}
	done   chan struct{}

	// round is held while a response is applied to the logs (appends,
	// truncations), so that unfollow returns only once no round touches
	// the partition it removed. Only a leadership change waits on it.
	round sync.Mutex

	mu    sync.Mutex
	parts map[*partition.Log]*fetchState

	// The loop's connection and fetch session (loop goroutine only).
	conn   net.Conn
	addr   string
	corrID int32
	sess   fetchSessionState

	// inFlight is conn while a Fetch waits for its answer, so that stop
	// can cut the wait short (a long poll holds up to replica.fetch.wait.max.ms).
	inFlight struct {
		sync.Mutex
		conn net.Conn
	}
}

// syncFollowers moves every followed partition to its leader's fetcher
// and drops the others.
func (rm *replicaManager) syncFollowers(want map[*partition.Log]followTarget) {
	rm.mu.RLock()
	var drop []*partition.Log
	for l, k := range rm.follows {
		if t, ok := want[l]; !ok || t.leader != k.leader {
			drop = append(drop, l)
		}
	}
	rm.mu.RUnlock()
	for _, l := range drop {
		rm.unfollow(l)
	}
	for l, t := range want {
		if t.leader == metadata.NoLeader || t.leader < 0 {
			continue
		}
		if !l.Replicated() {
			if err := l.SetReplicated(true); err != nil {
				rm.b.log.Error("cannot switch a follower's log to replicated mode", "topic", t.topic, "partition", t.partition, "err", err)
				continue
			}
		}
		rm.follow(t)
	}
}

// follow adds (or updates) a partition on its leader's fetcher.
func (rm *replicaManager) follow(t followTarget) {
	h := fnv.New32a()
	h.Write(t.topicID[:])
	k := fetcherKey{leader: t.leader, slot: int((h.Sum32() + uint32(t.partition)) % uint32(rm.numFetch))}
	rm.mu.Lock()
	select {
	case <-rm.quit:
		rm.mu.Unlock()
		return
	default:
	}
	f := rm.fetchers[k]
	if f == nil {
		f = &replicaFetcher{rm: rm, leader: t.leader, wake: make(chan struct{}, 1), quit: make(chan struct{}),
			done: make(chan struct{}), parts: map[*partition.Log]*fetchState{}}
		rm.fetchers[k] = f
		go f.loop()
	}
	rm.follows[t.log] = k
	rm.mu.Unlock()
	f.mu.Lock()
	st := f.parts[t.log]
	if st == nil {
		f.parts[t.log] = &fetchState{followTarget: t}
		rm.b.log.Info("following partition", "topic", t.topic, "partition", t.partition, "leader", t.leader, "leader_epoch", t.epoch)
	} else if st.epoch != t.epoch {
		st.followTarget, st.delayUntil = t, time.Time{}
	}
	f.mu.Unlock()
	f.poke()
}

// unfollow removes a partition from its fetcher and returns once no
// round of that fetcher touches it.
func (rm *replicaManager) unfollow(l *partition.Log) {
	rm.mu.Lock()
	k, ok := rm.follows[l]
	delete(rm.follows, l)
	f := rm.fetchers[k]
	rm.mu.Unlock()
	if !ok || f == nil {
		return
	}
	f.mu.Lock()
	delete(f.parts, l)
	none := len(f.parts) == 0
	f.mu.Unlock()
	if none {
		f.poke() // its connection closes now, not at its next backoff
	}
	f.round.Lock() // a round in flight finishes first
	//lint:ignore SA2001 empty critical section: waiting out the round
	f.round.Unlock()
}

func (f *replicaFetcher) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// stop ends the loop, cutting short a Fetch waiting for its answer: what
// it would have brought is fetched again by the next leader's follower.
func (f *replicaFetcher) stop() {
	close(f.quit)
	f.inFlight.Lock()
	if c := f.inFlight.conn; c != nil {
		_ = c.Close() // the loop's read fails now; its own Close is a no-op
	}
	f.inFlight.Unlock()
	<-f.done
}

func (f *replicaFetcher) loop() {
	defer close(f.done)
	defer func() {
		if f.conn != nil {
			_ = f.conn.Close()
		}
	}()
	for {
		select {
		case <-f.quit:
			return
		default:
		}
		if wait, until := f.fetchOnce(); wait {
			f.sleep(until)
		}
	}
}

// replicaFetchAnswered, when set (tests), is called with each Fetch
// answer the fetcher got, before it is applied.
var replicaFetchAnswered func(*replicaFetcher)

// fetchOnce sends one Fetch and applies its answer. wait says to sleep
// until until (zero: replica.fetch.backoff.ms) before the next.
func (f *replicaFetcher) fetchOnce() (wait bool, until time.Time) {
	req, states, listed, next := f.request()
	if req == nil {
		f.mu.Lock()
		none := len(f.parts) == 0
		f.mu.Unlock()
		if none && f.conn != nil {
			// Nothing left to follow from this leader: an idle connection
			// would only hold up the leader's lingering close at its
			// shutdown (it half-closes and waits for us to close).
			_ = f.conn.Close()
			f.conn = nil
		}
		return true, next
	}
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if err := f.call(req, resp); err != nil {
		f.rm.b.log.Debug("replica fetch failed", "leader", f.leader, "err", err)
		f.sess = fetchSessionState{}
		return true, time.Now().Add(200 * time.Millisecond)
	}
	switch resp.ErrorCode {
	case 0:
		f.sessionAnswered(resp, states, listed)
	case kerr.FetchSessionIDNotFound.Code, kerr.InvalidFetchSessionEpoch.Code, kerr.FetchSessionTopicIDError.Code:
		f.rm.b.log.Debug("replica fetch session reset", "leader", f.leader, "err", kerr.ErrorForCode(resp.ErrorCode))
		f.sess = fetchSessionState{} // the next fetch is a full one
		return false, time.Time{}
	}
	if replicaFetchAnswered != nil {
		replicaFetchAnswered(f)
	}
	f.apply(resp, states)
	return false, time.Time{}
}

// sleep waits until t, a poke or the end.
func (f *replicaFetcher) sleep(t time.Time) {
	d := time.Until(t)
	if t.IsZero() || d > replicaFetchBackoff {
		d = replicaFetchBackoff
	}
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-f.quit:
	case <-f.wake:
	case <-timer.C:
	}
}

// request builds the next Fetch of every partition not backing off; next
// is when the first one backing off may go again. With a fetch session
// (KIP-227) it lists only the partitions whose fetch parameters changed
// since the session last saw them, and forgets those not fetched now.
func (f *replicaFetcher) request() (*kmsg.FetchRequest, map[fetchKey]*fetchState, map[fetchKey]sentParams, time.Time) {
	now := time.Now()
	var next time.Time
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(replicaFetchVersion)
	req.ReplicaID = -1 // v15+: ReplicaState
	req.ReplicaState.ID = f.rm.self
	req.ReplicaState.Epoch = f.rm.b.cl.epoch.Load()
	req.MaxWaitMillis = int32(f.rm.fetchWait.Milliseconds())
	req.MinBytes = 1
	req.MaxBytes = replicaFetchResponseMax
	req.SessionID, req.SessionEpoch = f.sess.id, f.sess.epoch // 0, 0: a full fetch asking for a session
	states := map[fetchKey]*fetchState{}
	listed := map[fetchKey]sentParams{}
	byTopic := map[metadata.UUID]int{}
	f.mu.Lock()
	for _, st := range f.parts {
		if now.Before(st.delayUntil) {
			if next.IsZero() || st.delayUntil.Before(next) {
				next = st.delayUntil
			}
			continue
		}
		if f.rm.b.followerHolds(st) {
			if hold := now.Add(replicaThrottleRecheck); next.IsZero() || hold.Before(next) {
				next = hold
			}
			continue
		}
		k := fetchKey{st.topicID, st.partition}
		states[k] = st
		sp := sentParams{offset: st.log.LogEndOffset(), logStart: st.log.LogStartOffset(), cur: st.epoch, last: st.log.LastLeaderEpoch()}
		st.sent = sp
		if old, ok := f.sess.parts[k]; ok && f.sess.id != 0 && old == sp {
			continue // the session has it
		}
		listed[k] = sp
		i, ok := byTopic[st.topicID]
		if !ok {
			i = len(req.Topics)
			byTopic[st.topicID] = i
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = st.topic, st.topicID
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = st.partition
		rp.CurrentLeaderEpoch = sp.cur
		rp.FetchOffset = sp.offset
		rp.LastFetchedEpoch = sp.last
		rp.LogStartOffset = sp.logStart
		rp.PartitionMaxBytes = replicaFetchMaxBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	f.mu.Unlock()
	if f.sess.id != 0 {
		forgot := map[metadata.UUID]int{}
		for k := range f.sess.parts {
			if _, ok := states[k]; ok {
				continue
			}
			i, ok := forgot[k.id]
			if !ok {
				i = len(req.ForgottenTopics)
				forgot[k.id] = i
				ft := kmsg.NewFetchRequestForgottenTopic()
				ft.TopicID = k.id
				req.ForgottenTopics = append(req.ForgottenTopics, ft)
			}
			req.ForgottenTopics[i].Partitions = append(req.ForgottenTopics[i].Partitions, k.p)
		}
	}
	if len(states) == 0 {
		if f.sess.id != 0 {
			f.sess = fetchSessionState{} // nothing to fetch: start afresh later
		}
		return nil, nil, nil, next
	}
	return req, states, listed, next
}

// fetchSessionState is the fetcher's incremental fetch session with its
// leader (id 0: none; the next fetch is a full one asking for one).
type fetchSessionState struct {
	id, epoch int32
	parts     map[fetchKey]sentParams // what the session holds
}

// sentParams are a partition's fetch parameters as last sent.
type sentParams struct {
	offset, logStart int64
	cur, last        int32
}

// sessionAnswered moves the session on after a successful Fetch.
func (f *replicaFetcher) sessionAnswered(resp *kmsg.FetchResponse, states map[fetchKey]*fetchState, listed map[fetchKey]sentParams) {
	switch {
	case f.sess.id == 0 && resp.SessionID != 0:
		f.sess = fetchSessionState{id: resp.SessionID, epoch: 1, parts: listed}
		return
	case f.sess.id == 0:
		return // the leader keeps no session: full fetches go on
	}
	for k := range f.sess.parts {
		if _, ok := states[k]; !ok {
			delete(f.sess.parts, k) // forgotten
		}
	}
	maps.Copy(f.sess.parts, listed)
	if f.sess.epoch++; f.sess.epoch == math.MaxInt32 {
		f.sess.epoch = 1
	}
}

type fetchKey struct {
	id metadata.UUID
	p  int32
}

// call sends req to the leader on the fetcher's connection.
func (f *replicaFetcher) call(req *kmsg.FetchRequest, resp *kmsg.FetchResponse) error {
	addr, err := f.rm.b.brokerAddr(f.leader)
	if err != nil {
		return err
	}
	if f.conn != nil && f.addr != addr {
		_ = f.conn.Close()
		f.conn = nil
	}
	if f.conn == nil {
		c, err := f.rm.b.dialPeer(context.Background(), addr)
		if err != nil {
			return err
		}
		f.conn, f.addr, f.corrID = c, addr, 100
	}
	f.corrID++
	f.inFlight.Lock()
	select {
	case <-f.quit: // stop has passed its look at inFlight
		f.inFlight.Unlock()
		return errFetcherStopped
	default:
	}
	f.inFlight.conn = f.conn
	f.inFlight.Unlock()
	err = roundTripAt(f.conn, f.rm.b.peerClientID(), f.corrID, req.Version, req, resp)
	f.inFlight.Lock()
	f.inFlight.conn = nil
	f.inFlight.Unlock()
	if err != nil {
		_ = f.conn.Close()
		f.conn = nil
		return err
	}
	return nil
}

// errFetcherStopped is a Fetch not sent because the fetcher is stopping.
var errFetcherStopped = errors.New("replica fetcher stopped")

// apply appends, truncates and moves HWs from one Fetch response.
func (f *replicaFetcher) apply(resp *kmsg.FetchResponse, sent map[fetchKey]*fetchState) {
	f.round.Lock()
	defer f.round.Unlock()
	if resp.ErrorCode != 0 {
		f.backoff(sent, replicaFetchBackoff)
		return
	}
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		for k := range rt.Partitions {
			rp := &rt.Partitions[k]
			st := sent[fetchKey{rt.TopicID, rp.Partition}]
			if st == nil || !f.current(st) {
				continue // removed meanwhile (a new leader, or leader here)
			}
			if !f.answersPosition(st) {
				f.rm.b.log.Debug("replica fetch answer for an old position dropped", "topic", st.topic, "partition", st.partition,
					"fetch_offset", st.sent.offset, "log_end_offset", st.log.LogEndOffset(), "leader_epoch", st.sent.cur)
				continue // the next request asks from the log end
			}
			if err := f.applyPartition(st, rp); err != nil {
				delay := replicaFetchBackoff
				if leaderBehind(err) {
					// The leader has not applied the image naming it
					// yet (or moved on): retry soon, quietly.
					delay = replicaFetchBackoff / 10
					f.rm.b.log.Debug("replica fetch of a partition: leader not ready", "topic", st.topic,
						"partition", st.partition, "leader", f.leader, "err", err)
				} else {
					f.rm.b.log.Warn("replica fetch of a partition failed", "topic", st.topic, "partition", st.partition,
						"leader", f.leader, "err", err)
				}
				f.mu.Lock()
				st.delayUntil = time.Now().Add(delay)
				f.mu.Unlock()
			}
		}
	}
}

// leaderBehind reports the errors of a leader whose metadata image is
// behind or ahead of the follower's: the next image settles them.
func leaderBehind(err error) bool {
	return errors.Is(err, kerr.NotLeaderForPartition) || errors.Is(err, kerr.UnknownTopicID) ||
		errors.Is(err, kerr.UnknownLeaderEpoch) || errors.Is(err, kerr.FencedLeaderEpoch) ||
		errors.Is(err, kerr.UnknownTopicOrPartition)
}

// answersPosition reports whether an answer to st's last request still
// fits its log: the log ends at the fetch offset sent, and the leader epoch
// is the one the request was made in. A log that moved meanwhile (truncated
// or appended to by anything but this answer) or a new leader epoch makes
// the answer stale; applied, its batches would start below or above the
// log end. Kafka's fetcher drops an answer whose fetch offset is no longer
// its position the same way; the next request asks from the log end.
func (f *replicaFetcher) answersPosition(st *fetchState) bool {
	f.mu.Lock()
	epoch := st.epoch
	f.mu.Unlock()
	return st.sent.cur == epoch && st.log.LogEndOffset() == st.sent.offset
}

// current reports whether st is still one of the fetcher's partitions.
func (f *replicaFetcher) current(st *fetchState) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.parts[st.log] == st
}

func (f *replicaFetcher) backoff(sent map[fetchKey]*fetchState, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, st := range sent {
		st.delayUntil = time.Now().Add(d)
	}
}

// applyPartition applies one partition's answer.
func (f *replicaFetcher) applyPartition(st *fetchState, rp *kmsg.FetchResponseTopicPartition) error {
	l := st.log
	switch rp.ErrorCode {
	case 0:
	case kerr.OffsetOutOfRange.Code:
		return f.outOfRange(st)
	default:
		return kerr.ErrorForCode(rp.ErrorCode)
	}
	if d := rp.DivergingEpoch; d.Epoch >= 0 || d.EndOffset >= 0 {
		tr := l.TruncationFor(d.Epoch, d.EndOffset)
		f.rm.b.log.Info("follower log diverged from its leader: truncating", "topic", st.topic, "partition", st.partition,
			"leader_epoch", d.Epoch, "leader_end_offset", d.EndOffset, "truncate_to", tr.Offset, "log_end_offset", l.LogEndOffset())
		if err := l.TruncateTo(tr.Offset); err != nil {
			return fmt.Errorf("cannot truncate to %d: %w", tr.Offset, err)
		}
		return nil
	}
	if len(rp.RecordBatches) > 0 {
		if _, err := l.AppendAsFollower(rp.RecordBatches); err != nil {
			if base, ok := firstBaseOffset(rp.RecordBatches); ok && base < l.LogEndOffset() &&
				errors.Is(err, partition.ErrUnexpectedAppendOffset) {
				return f.realign(st, base)
			}
			return fmt.Errorf("cannot append the leader's records at %d: %w", l.LogEndOffset(), err)
		}
	}
	l.UpdateHighWatermark(min(rp.HighWatermark, l.LogEndOffset()))
	f.rm.b.followerAppended(st, len(rp.RecordBatches), rp.HighWatermark)
	return nil
}

// firstBaseOffset is the base offset of the first batch in records.
func firstBaseOffset(records []byte) (int64, bool) {
	if len(records) < 8 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(records)), true
}

// realign re-derives the position of a follower whose fetch at its log end
// offset the leader answered with a batch starting below it, at base: the
// two logs end batches at different offsets, so the follower's records from
// base on are not the leader's, and appending the answer can never succeed
// (refetching the same offset would get the same batch). As Kafka's fetcher
// does with a partition whose position it cannot trust, it truncates by
// leader epoch first (OffsetForLeaderEpoch for its latest epoch, and for
// each older one the answer sends it to, KIP-101/279), then, if the log
// still reaches past base, to base; the next fetch asks from the new log
// end, so the follower never stays stuck.
func (f *replicaFetcher) realign(st *fetchState, base int64) error {
	l := st.log
	was := l.LogEndOffset()
	for epoch, n := l.LastLeaderEpoch(), 0; epoch >= 0 && n < maxEpochQueries; n++ {
		end, leaderEpoch, err := f.epochEnd(st, epoch)
		if err != nil {
			return fmt.Errorf("cannot ask the leader where epoch %d ends: %w", epoch, err)
		}
		tr := l.TruncationFor(leaderEpoch, end)
		if err := l.TruncateTo(tr.Offset); err != nil {
			return fmt.Errorf("cannot truncate to %d: %w", tr.Offset, err)
		}
		if tr.Done {
			break
		}
		epoch = tr.NextEpoch
	}
	if l.LogEndOffset() > base {
		if err := l.TruncateTo(base); err != nil {
			return fmt.Errorf("cannot truncate to %d: %w", base, err)
		}
	}
	f.rm.b.log.Warn("follower log ended inside a leader's batch: truncated by leader epoch and to the batch's start",
		"topic", st.topic, "partition", st.partition, "leader", f.leader, "leader_batch_offset", base,
		"log_end_offset_was", was, "log_end_offset", l.LogEndOffset())
	return nil
}

// callLeader sends req (at version) to the leader on a connection of its
// own, not the fetcher's, and reads the answer into resp within
// peerTimeout.
func (f *replicaFetcher) callLeader(req kmsg.Request, resp kmsg.Response, version int16) error {
	addr, err := f.rm.b.brokerAddr(f.leader)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	defer cancel()
	return f.rm.b.callPeerAt(ctx, addr, f.rm.b.peerClientID(), req, resp, version)
}

// maxEpochQueries bounds realign's OffsetForLeaderEpoch questions (each
// older epoch the leader's answers lead to costs one).
const maxEpochQueries = 8

// epochEnd asks the leader, as a replica, where leader epoch epoch ends in
// its log (OffsetForLeaderEpoch v4): the end offset and the largest epoch
// <= epoch it has.
func (f *replicaFetcher) epochEnd(st *fetchState, epoch int32) (int64, int32, error) {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.SetVersion(4)
	req.ReplicaID = f.rm.self
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = st.topic
	rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	f.mu.Lock()
	rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = st.partition, st.epoch, epoch
	f.mu.Unlock()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	if err := f.callLeader(req, resp, req.Version); err != nil {
		return 0, 0, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, 0, errors.New("broker: malformed OffsetForLeaderEpoch response")
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		return 0, 0, kerr.ErrorForCode(p.ErrorCode)
	}
	return p.EndOffset, p.LeaderEpoch, nil
}

// outOfRange handles OFFSET_OUT_OF_RANGE: the follower's LEO is below the
// leader's log start (start again there, Kafka's truncateFullyAndStartAt)
// or above its LEO (truncate to it).
func (f *replicaFetcher) outOfRange(st *fetchState) error {
	earliest, err := f.listOffset(st, -2)
	if err != nil {
		return err
	}
	l := st.log
	if leo := l.LogEndOffset(); leo < earliest {
		return l.TruncateFullyAndStartAt(earliest)
	}
	latest, err := f.listOffset(st, -1)
	if err != nil {
		return err
	}
	if l.LogEndOffset() > latest {
		return l.TruncateTo(latest)
	}
	return nil
}

// listOffset asks the leader for an offset of st (ts -2 earliest, -1
// latest) as a replica.
func (f *replicaFetcher) listOffset(st *fetchState, ts int64) (int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(7)
	req.ReplicaID = f.rm.self
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = st.topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.Timestamp = st.partition, st.epoch, ts
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	if err := f.callLeader(req, resp, req.Version); err != nil {
		return 0, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, errors.New("broker: malformed ListOffsets response")
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		return 0, kerr.ErrorForCode(p.ErrorCode)
	}
	return p.Offset, nil
}

// brokerAddr is broker id's inter-broker endpoint in the image.
func (b *Broker) brokerAddr(id int32) (string, error) {
	br, ok := b.cl.ctl.Image().Broker(id)
	if !ok {
		return "", fmt.Errorf("broker: broker %d is not registered", id)
	}
	want := b.cfg.InterBroker.listener()
	for _, e := range br.Endpoints {
		if e.Name == want {
			return net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port))), nil
		}
	}
	return "", fmt.Errorf("broker: broker %d has no %s endpoint (inter.broker.listener.name)", id, want)
}
