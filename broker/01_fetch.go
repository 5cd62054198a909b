package broker

import (
	"context"
	"errors"
	"math"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/partition"
	"github.com/sluice/sluice/sendfile"
)

// Fetch: v0-17 (v17 only adds a follower's ReplicaDirectoryId tag)
//
// Behavior:
// * With a controller, a partition this broker does not lead (metadata
//   image) gets NOT_LEADER_OR_FOLLOWER, and a CurrentLeaderEpoch is
//   checked against the image's leader epoch (older: FENCED_LEADER_EPOCH,
//   newer: UNKNOWN_LEADER_EPOCH) instead of the log's.
// * v0-3 cannot carry RecordBatch v2: their records are down-converted to
//   magic 0 (v0-1) or magic 1 (v2-3) message sets, copied rather than sent
//   by sendfile (fetchdown.go). v0-2 have no MaxBytes: only each
//   partition's PartitionMaxBytes limits them.
// * Record bytes are never copied: each partition's records are file
//   regions from Log.Read, sent with sendfile; only the framing around them
//   is encoded, by hand (fetchenc.go), the one response not encoded by kmsg.
// * Sizes (KIP-74): partitions are read in request (or session) order,
//   each up to min(PartitionMaxBytes, what is left of MaxBytes); the first
//   partition with data returns at least one whole batch even above both
//   limits.
//   A fetch at an offset inside a batch returns the whole batch (the client
//   drops the records before its offset).
// * Long poll: unless MinBytes are available (or MaxWaitMillis is 0, or a
//   partition has an error), the fetch waits on every fetched log's Wait
//   channel, the MaxWaitMillis timer and the connection's context, and
//   reads again whenever a high watermark moves. When the context is done
//   (shutdown, or the client went away) it answers at once with what it
//   has, so a consumer at the end of the log never holds a shutdown.
// * With an authorizer: READ on each topic (consumers) or CLUSTER_ACTION
//   on the cluster (followers), else TOPIC_AUTHORIZATION_FAILED per
//   partition.
// * Errors per partition: UNKNOWN_TOPIC_OR_PARTITION, UNKNOWN_TOPIC_ID
//   (v13+, topics by id), OFFSET_OUT_OF_RANGE, FENCED_LEADER_EPOCH /
//   UNKNOWN_LEADER_EPOCH (v9+ CurrentLeaderEpoch), with HighWatermark,
//   LastStableOffset and LogStartOffset -1 as Kafka does.
// * IsolationLevel 1 (read_committed, v4+): records are read only below
//   the partition's last stable offset (the first offset of its oldest
//   open transaction, or the high watermark), still by sendfile, and
//   AbortedTransactions lists the aborted transactions whose records the
//   consumer drops (from the segments' .txnindex; Log.ReadCommitted).
//   read_uncommitted reads to the high watermark with AbortedTransactions
//   null. Every answer carries LastStableOffset.
// * PreferredReadReplica (v11+) is -1 unless replica.selector.class is
//   the rack-aware selector (replica_select.go, KIP-392): then a
//   consumer's fetch with a Rack may be answered, per partition, with an
//   in-sync follower in that rack and no records, and a follower in the
//   ISR serves consumers' fetches up to its own high watermark.
// * Incremental fetch sessions (KIP-227, v7+; fetchsession.go): a full
//   fetch at epoch 0 gets a session id when the cache has room
//   (max.incremental.fetch.session.cache.slots); later fetches list only
//   the partitions added or moved, the broker fetches every partition of
//   the session in the session's order (instead of the request's), and the
//   answer omits partitions with no records, no error and the same high
//   watermark, last stable and log start offsets as last answered. An
//   unknown session gets FETCH_SESSION_ID_NOT_FOUND and a wrong epoch
//   INVALID_FETCH_SESSION_EPOCH, with session id 0 and no partitions, as in
//   Kafka's FetchManager; so does a fetch whose session moved on while it
//   waited, with the session's id.
// * KAFKA_STORAGE_ERROR is answered as NOT_LEADER_OR_FOLLOWER to v0-5,
//   whose clients may not know it (Kafka's maybeDownConvertStorageError):
//   they refresh metadata and retry instead of failing.
// * Follower fetches (ReplicaID, or v15+ ReplicaState.ID, >= 0; see
//   replication.go): with a controller, from a broker that is not a
//   replica of the partition: NOT_LEADER_OR_FOLLOWER. A LastFetchedEpoch
//   (v12+) the leader's epochs disagree with gets DivergingEpoch (the
//   leader's end offset for that epoch, and the epoch) and no records;
//   otherwise the fetch offset is the follower's LEO (which may move the
//   HW and bring the follower back into the ISR) and records are read up
//   to the LEO (ReadReplica, same sendfile path), not the HW. The long
//   poll also wakes on LEO moves. Without a controller they are served as
//   consumer fetches. Their responses are marked (netio
//   Response.MarkReplica), so the record bytes sent to followers are
//   counted apart, by sendfile or copied (sluice_replica_fetch_bytes_total).
//   consumer fetches. A replica out of the ISR gets no records of a
//   leader-throttled partition while the leader's replication quota is
//   exceeded (throttle.go).

func init() { register(1, 0, 17, handleFetch) }

// fetchPart is one requested partition and its latest read.
type fetchPart struct {
	partition int32
	log       *partition.Log // nil: errCode is set
	offset    int64
	maxBytes  int64
	epoch     int32 // CurrentLeaderEpoch, -1 unchecked
	committed bool  // IsolationLevel 1 (read_committed, v4+)
	errCode   int16 // request-level error (unknown topic, …)

	// A follower's fetch (replication.go): the follower's id (-1 for a
	// consumer), the partition's replica state on this leader, the
	// follower's LastFetchedEpoch (-1: none), and the leader's epoch and
	// end offset to answer as DivergingEpoch (diverged set).
	replica          int32
	st               *leaderState
	lastFetchedEpoch int32
	diverged         bool
	divEpoch         int32
	divEnd           int64
	// redirect is the PreferredReadReplica a consumer is sent to plus
	// one (v11+, replica_select.go; 0: none, so the zero value is none);
	// a partition with one reads no records.
	redirect int32
	// throttledPart: a follower's fetch of a partition leader-throttled
	// here (throttle.go); throttled: and the follower is out of the ISR,
	// so no records are read while the leader quota is exceeded.
	throttledPart, throttled bool

	// Result of the latest read.
	code   int16
	res    partition.ReadResult
	legacy []byte // Fetch v0-3: res down-converted (res.Regions released)

	// An incremental Fetch's partition: its place in the session plus one
	// (0: not paired), and whether it was quiet at the last answer
	// (sessionPart.quiet) with its log's change count then and what was
	// answered. changes is the count loaded before the latest read.
	sessAt       int32
	quiet        bool
	quietChanges uint64
	quietRes     partition.ReadResult
	changes      uint64
}

// fetchTopic is one requested topic.
type fetchTopic struct {
	name  string
	id    [16]byte
	parts []fetchPart
}

func handleFetch(ctx context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.FetchRequest)
	b.countFetchRequest(req)
	sc := fetchScratchPool.Get().(*fetchScratch)
	defer sc.release()
	fc := b.sessions.newContext(req, time.Now().UnixMilli(), sc)
	if fc.kind == fetchSessionError {
		return encodeFetch(r, fc.errCode, 0, nil), nil
	}
	if req.Version < 3 {
		req.MaxBytes = math.MaxInt32 // v0-2 have no response limit
	}
	fetchReq := req
	if fc.kind == fetchIncremental {
		// Fetch every partition of the session, in the session's order.
		cp := *req
		cp.Topics = sessionTopics(fc.parts, sc)
		fetchReq = &cp
	}
	topics := b.resolveFetch(r, fetchReq, sc)
	if fc.kind == fetchIncremental {
		pairSession(topics, &fc, req.Version)
	}
	b.selectReadReplicas(fetchReq, topics)
	b.replicaFetched(topics)
	b.markLeaderThrottled(topics)
	b.fetchUntilReady(ctx, req, topics, sc)
	if magic := fetchMagic(req.Version); magic < 2 {
		b.downConvertFetch(topics, magic)
	}
	if req.Version <= 5 {
		storageErrorsAsNotLeader(topics)
	}
	b.countFetched(topics)
	b.countFetchBytes(fetchPrivileged(req) && b.cl != nil, topics)
	var sessionID int32
	switch fc.kind {
	case fetchFull:
		sessionID = b.sessions.finishFull(req, topics, fetchPrivileged(req), time.Now().UnixMilli())
	case fetchIncremental:
		sessionID = fc.sess.id
		kept, code := b.sessions.finishIncremental(&fc, topics, req.Version)
		if code != 0 {
			releaseFetch(topics)
			return encodeFetch(r, code, sessionID, nil), nil
		}
		topics = kept
	}
	resp := encodeFetch(r, 0, sessionID, topics)
	if fetchPrivileged(req) {
		resp.MarkReplica() // counted apart: replicated bytes by sendfile or copied
	}
	return resp, nil
}

// fetchScratch is a Fetch's per-partition arrays, kept between Fetches:
// a consumer of many partitions sends them back to back, each over
// every partition of its session, and these arrays were most of what a
// Fetch allocated (BenchmarkFetchSessionIdle). Nothing of a Fetch refers
// to them once its response is encoded: encodeFetch copies the framing
// and the regions into the response.
type fetchScratch struct {
	topics    []fetchTopic
	parts     []fetchPart
	sess      []sessionPart
	sessPtrs  []*sessionPart
	reqTopics []kmsg.FetchRequestTopic
	reqParts  []kmsg.FetchRequestTopicPartition
	waits     []<-chan struct{}
}

var fetchScratchPool = sync.Pool{New: func() any { return new(fetchScratch) }}

// release clears sc's arrays (they hold logs, regions and names) and
// pools it.
func (sc *fetchScratch) release() {
	clear(sc.topics[:cap(sc.topics)])
	clear(sc.parts[:cap(sc.parts)])
	clear(sc.sess[:cap(sc.sess)])
	clear(sc.sessPtrs[:cap(sc.sessPtrs)])
	clear(sc.reqTopics[:cap(sc.reqTopics)])
	clear(sc.reqParts[:cap(sc.reqParts)])
	clear(sc.waits[:cap(sc.waits)])
	fetchScratchPool.Put(sc)
}

// fetchPrivileged reports whether req comes from a follower, whose
// sessions the cache ranks above consumers'.
func fetchPrivileged(req *kmsg.FetchRequest) bool {
	return req.ReplicaID >= 0 || req.Version >= 15 && req.ReplicaState.ID >= 0
}

// countFetchRequest counts a Fetch and the partitions it lists.
func (b *Broker) countFetchRequest(req *kmsg.FetchRequest) {
	n := 0
	for i := range req.Topics {
		n += len(req.Topics[i].Partitions)
	}
	b.fetchRequests.Add(1)
	b.fetchRequestParts.Add(int64(n))
}

// FetchSessions returns the fetch session cache's state and the Fetch
// request counters.
func (b *Broker) FetchSessions() FetchSessionStats {
	st := b.sessions.stats()
	st.Requests, st.RequestPartitions = b.fetchRequests.Load(), b.fetchRequestParts.Load()
	return st
}

// storageErrorsAsNotLeader turns KAFKA_STORAGE_ERROR into
// NOT_LEADER_OR_FOLLOWER, for Fetch v0-5.
func storageErrorsAsNotLeader(topics []fetchTopic) {
	for i := range topics {
		for k := range topics[i].parts {
			if fp := &topics[i].parts[k]; fp.code == kerr.KafkaStorageError.Code {
				fp.code = kerr.NotLeaderForPartition.Code
			}
		}
	}
}

// resolveFetch finds each requested partition's log.
// With an authorizer, a follower needs CLUSTER_ACTION on the cluster and
// a consumer READ on each topic, else TOPIC_AUTHORIZATION_FAILED; an
// unknown topic id stays UNKNOWN_TOPIC_ID (nothing to authorize).
func (b *Broker) resolveFetch(r *request, req *kmsg.FetchRequest, sc *fetchScratch) []fetchTopic {
	n := 0
	for i := range req.Topics {
		n += len(req.Topics[i].Partitions)
	}
	sc.topics = slices.Grow(sc.topics[:0], len(req.Topics))[:len(req.Topics)]
	sc.parts = slices.Grow(sc.parts[:0], n)[:n]
	out, parts := sc.topics, sc.parts
	var replicaDenied int16
	replica := int32(-1)
	if fetchPrivileged(req) {
		replicaDenied = b.denied(r, &chkFetchReplica, "")
		replica = req.ReplicaID
		if req.Version >= 15 {
			replica = req.ReplicaState.ID
		}
	}
	for i := range req.Topics {
		rt := &req.Topics[i]
		ft := &out[i]
		ft.name, ft.id = rt.Topic, rt.TopicID
		var t *topic
		missing := kerr.UnknownTopicOrPartition.Code
		if req.Version >= 13 {
			t = b.topics.getByID(rt.TopicID)
			missing = kerr.UnknownTopicID.Code
		} else {
			t = b.topics.get(rt.Topic)
		}
		if t != nil {
			ft.name = t.name // v13+ requests carry only the id
		}
		denied := replicaDenied
		if denied == 0 && !fetchPrivileged(req) && (t != nil || req.Version < 13) {
			denied = b.denied(r, &chkFetchTopic, ft.name)
		}
		np := len(rt.Partitions)
		ft.parts, parts = parts[:np:np], parts[np:]
		for k := range rt.Partitions {
			rp := &rt.Partitions[k]
			fp := &ft.parts[k]
			*fp = fetchPart{partition: rp.Partition, offset: rp.FetchOffset,
				maxBytes: max(int64(rp.PartitionMaxBytes), 0), epoch: rp.CurrentLeaderEpoch,
				replica: -1, lastFetchedEpoch: -1}
			if req.Version < 9 {
				fp.epoch = -1
			}
			if req.Version >= 12 {
				fp.lastFetchedEpoch = rp.LastFetchedEpoch
			}
			fp.committed = req.Version >= 4 && req.IsolationLevel == readCommitted
			if denied != 0 {
				fp.errCode = denied
			} else if t == nil {
				fp.errCode = missing
			} else if fp.log = b.fetchLog(t, rp.Partition, replica < 0 && req.Version >= 11); fp.log == nil {
				fp.errCode = t.missingCode(rp.Partition)
			} else {
				fp.errCode = t.imageEpochCode(rp.Partition, &fp.epoch)
			}
			if fp.errCode == 0 && replica >= 0 && b.cl != nil {
				fp.replica = replica
				fp.st, fp.errCode = b.cl.repl.replicaFetchCode(fp.log, replica)
			}
		}
	}
	return out
}

// replicaFetched applies a follower's fetch to the leader's replica state
// (Kafka's Partition.fetchRecords): a LastFetchedEpoch the leader's log
// disagrees with is answered with DivergingEpoch and no records (KIP-320);
// otherwise the fetch offset is the follower's LEO, which may move the HW
// and expand the ISR.
func (b *Broker) replicaFetched(topics []fetchTopic) {
	for i := range topics {
		for k := range topics[i].parts {
			fp := &topics[i].parts[k]
			if fp.st == nil || fp.errCode != 0 {
				continue
			}
			l := fp.log
			if fp.lastFetchedEpoch >= 0 {
				end, epoch, err := l.EndOffsetForEpoch(fp.lastFetchedEpoch)
				if err == nil && (epoch < fp.lastFetchedEpoch || end < fp.offset) {
					fp.diverged, fp.divEpoch, fp.divEnd = true, epoch, end
					continue
				}
			}
			if fp.offset < l.LogStartOffset() || fp.offset > l.LogEndOffset() {
				continue // OFFSET_OUT_OF_RANGE from the read
			}
			fp.errCode = b.cl.repl.followerFetched(fp.st, fp.replica, fp.offset)
		}
	}
}

// fetchUntilReady reads every partition, waiting for more data while the
// request's MinBytes are not met, MaxWaitMillis has not passed and ctx is
// not done. On return, topics hold the reads to send.
func (b *Broker) fetchUntilReady(ctx context.Context, req *kmsg.FetchRequest, topics []fetchTopic, sc *fetchScratch) {
	deadline := time.Now().Add(time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		sc.waits = fetchWaits(sc.waits[:0], topics) // before reading: no wake-up can be missed
		waits := sc.waits
		total, failed := b.readFetch(topics, int64(req.MaxBytes))
		// A done ctx (the connection closing, the broker shutting down)
		// answers at once with what there is.
		if failed || total >= int64(req.MinBytes) || !time.Now().Before(deadline) || ctx.Err() != nil {
			return
		}
		releaseFetch(topics)
		if timer == nil {
			timer = time.NewTimer(time.Until(deadline))
		}
		waitAny(ctx, timer.C, waits) // ctx done: the next pass answers
	}
}

// fetchWaits appends the Wait channel of every fetchable log to waits.
func fetchWaits(waits []<-chan struct{}, topics []fetchTopic) []<-chan struct{} {
	for i := range topics {
		for k := range topics[i].parts {
			if l := topics[i].parts[k].log; l != nil {
				waits = append(waits, l.Wait())
			}
		}
	}
	return waits
}

// waitAny blocks until one of waits is closed, timer fires, or ctx is
// done; the caller then reads once more and decides.
func waitAny(ctx context.Context, timer <-chan time.Time, waits []<-chan struct{}) {
	if len(waits) == 1 {
		select {
		case <-waits[0]:
		case <-timer:
		case <-ctx.Done():
		}
		return
	}
	cases := make([]reflect.SelectCase, 0, len(waits)+2)
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer)})
	for _, w := range waits {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w)})
	}
	reflect.Select(cases)
}

// readFetch reads every partition in order under the KIP-74 size rules.
// It returns the bytes read and whether any partition has an error (which
// answers the fetch at once, as in Kafka).
func (b *Broker) readFetch(topics []fetchTopic, maxBytes int64) (total int64, failed bool) {
	left := max(maxBytes, 0)
	for i := range topics {
		for k := range topics[i].parts {
			fp := &topics[i].parts[k]
			b.readPart(fp, min(fp.maxBytes, left), total == 0)
			if fp.code != 0 || fp.diverged || fp.redirect > 0 {
				failed = true
			}
			total += fp.res.Bytes
			left = max(left-fp.res.Bytes, 0)
		}
	}
	return total, failed
}

// readPart reads one partition into fp.
func (b *Broker) readPart(fp *fetchPart, limit int64, minOneBatch bool) {
	fp.res, fp.code = partition.ReadResult{}, fp.errCode
	if fp.code != 0 {
		return
	}
	// The log's change count before anything is looked at: a change
	// after it is seen by the next read.
	fp.changes = fp.log.Changes()
	if fp.quiet && fp.changes == fp.quietChanges && fp.st == nil && !fp.throttled {
		// A consumer at the end whose log did not change since it
		// found nothing new there (epochs included): the same again.
		fp.res = fp.quietRes
		return
	}
	if fp.code = checkLeaderEpoch(true, fp.epoch, fp.log.LeaderEpoch()); fp.code != 0 {
		return
	}
	if fp.diverged || fp.redirect > 0 || b.leaderHolds(fp) {
		l := fp.log
		fp.res = partition.ReadResult{HighWatermark: l.HighWatermark(), LastStableOffset: l.LastStableOffset(),
			LogStartOffset: l.LogStartOffset(), LogEndOffset: l.LogEndOffset()}
		return
	}
	read := fp.log.Read
	switch {
	case fp.st != nil:
		read = func(offset, maxBytes int64, _ bool) (partition.ReadResult, error) {
			return fp.log.ReadReplica(offset, maxBytes)
		}
	case fp.committed:
		read = fp.log.ReadCommitted
	}
	res, err := read(fp.offset, limit, minOneBatch)
	if err != nil {
		releaseRegions(res.Regions)
		fp.code = errorCode(err)
		if fp.code == kerr.UnknownServerError.Code || fp.code == kerr.KafkaStorageError.Code {
			b.log.Error("fetch read failed", "topic", fp.log.Topic(), "partition", fp.partition, "offset", fp.offset,
				"corruption", errors.Is(err, partition.ErrCorruption), "err", err)
		}
		return
	}
	if !minOneBatch {
		res = trimRead(res, limit)
	}
	fp.res = res
}

// trimRead keeps the leading regions that fit in limit, releasing the rest
// (a guard: Log.Read already honours the limit).
func trimRead(res partition.ReadResult, limit int64) partition.ReadResult {
	if res.Bytes <= limit {
		return res
	}
	var n int64
	for i, reg := range res.Regions {
		if n+reg.Len > limit {
			releaseRegions(res.Regions[i:])
			res.Regions, res.Bytes = res.Regions[:i], n
			return res
		}
		n += reg.Len
	}
	return res
}

// releaseFetch releases the regions of every partition's latest read.
func releaseFetch(topics []fetchTopic) {
	for i := range topics {
		for k := range topics[i].parts {
			fp := &topics[i].parts[k]
			releaseRegions(fp.res.Regions)
			fp.res.Regions, fp.res.Bytes = nil, 0
		}
	}
}

func releaseRegions(regs []sendfile.Region) {
	for _, reg := range regs {
		reg.Release()
	}
}
