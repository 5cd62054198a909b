package broker

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/partition"
)

// Incremental fetch sessions (KIP-227), as Kafka's FetchSession.scala keeps
// them.
//
// A Fetch (v7+) carries SessionID and SessionEpoch:
//
//	SessionID  SessionEpoch  meaning
//	0          -1            full fetch, no session (sessionless)
//	0          0             full fetch, create a session if the cache allows
//	id         -1            close session id, full fetch without session
//	id         0             close session id, full fetch, create a new one
//	id         n > 0         incremental fetch in session id at epoch n
//
// A full fetch that creates a session answers its id; the session's epoch is
// then 1, and every incremental fetch must carry the session's epoch, which
// then advances (wrapping from MaxInt32 to 1). An incremental request lists
// only the partitions added or whose fetch offset, max bytes or leader epoch
// changed, and ForgottenTopicsData removes partitions (after the additions,
// as Kafka does). The broker fetches every partition of the session, in the
// session's order, and answers only partitions with records, an error, or a
// high watermark, last stable offset or log start offset that changed since
// the last answer for them. A partition answered with records moves to the
// end of the session's order, so that under MaxBytes every partition gets
// its turn. A session left empty by forgets is closed (answered sessionless).
//
// Errors: an unknown session id gets FETCH_SESSION_ID_NOT_FOUND (70), a
// wrong epoch INVALID_FETCH_SESSION_EPOCH (71), a session used with topic
// ids (v13+) and then names (v7-12) or the reverse FETCH_SESSION_TOPIC_ID_ERROR
// (106); each with no partitions. Two requests racing at the same epoch: the
// second is refused at once, and if the session moved on while a fetch was
// waiting, that fetch answers INVALID_FETCH_SESSION_EPOCH.
//
// The cache holds at most max.incremental.fetch.session.cache.slots sessions
// (0 disables sessions: full fetches are answered with session id 0). When it
// is full, a new session may evict, in this order:
//  1. the least recently used session, if unused for more than
//     min.incremental.fetch.session.eviction.ms (stale);
//  2. otherwise the least valuable evictable session, ordered by
//     (privileged, partition count, id), if the new one is not less valuable.
//     A consumer's session may evict only sessions created more than the
//     eviction time ago (as of their last use); a follower's (privileged)
//     session may also evict any consumer session.
//
// Sessions are broker-wide, not tied to a connection (a client may carry a
// session across reconnects). The cache's lock is never held across a read.

// fetchSessionKey names a partition in a session: by topic id (v13+) or by
// topic name (v7-12), never both.
type fetchSessionKey struct {
	id        [16]byte
	topic     string
	partition int32
}

// sessionPart is one partition of a session: the request's parameters and
// what the session last answered for it.
type sessionPart struct {
	key             fetchSessionKey
	fetchOffset     int64
	maxBytes        int32
	leaderEpoch     int32
	fetcherLogStart int64
	lastFetched     int32 // LastFetchedEpoch (v12+, followers), -1 none

	highWatermark int64 // -1 after an error: the partition is answered again
	lastStable    int64
	logStart      int64

	// quiet: the last answer found nothing new for a consumer at the end
	// (fetch offset quietOffset, epoch quietEpoch), with the log's change
	// count quietChanges loaded before that read. While the count, the
	// offset and the epoch stay so, the next Fetch skips the partition's
	// read: it would find the same nothing (pairSession).
	quiet        bool
	quietLog     *partition.Log // the log then (a recreated topic has another)
	quietChanges uint64
	quietOffset  int64
	quietEpoch   int32
}

// fetchSession is one cached session; guarded by fetchSessionCache.mu.
type fetchSession struct {
	id         int32
	privileged bool // created by a follower
	usesIDs    bool // v13+
	epoch      int32
	createdMs  int64
	lastUsedMs int64
	parts      map[fetchSessionKey]*sessionPart
	order      []*sessionPart

	inCache     bool
	cachedSize  int  // partitions as of the last touch
	evictByAll  bool // created more than evictionMs before the last touch
	evictByPriv bool // evictByAll, or not privileged
}

// fetchSessionCache is the broker's FetchSessionCache.
type fetchSessionCache struct {
	slots      int
	evictionMs int64

	mu struct {
		sync.Mutex
		sessions   map[int32]*fetchSession
		partitions int64 // sum of cachedSize
		evictions  int64
	}
}

func newFetchSessionCache(slots int, evictionMs int64) *fetchSessionCache {
	c := &fetchSessionCache{slots: slots, evictionMs: evictionMs}
	c.mu.sessions = make(map[int32]*fetchSession)
	return c
}

// nextFetchEpoch is the epoch after prev (Kafka's FetchMetadata.nextEpoch).
func nextFetchEpoch(prev int32) int32 {
	switch {
	case prev < 0:
		return -1
	case prev == math.MaxInt32:
		return 1
	default:
		return prev + 1
	}
}

// fetchCtxKind is how a Fetch is served.
type fetchCtxKind int

const (
	fetchSessionless  fetchCtxKind = iota // no session: answer every partition, id 0
	fetchFull                             // full fetch that may create a session
	fetchIncremental                      // fetch the session's partitions
	fetchSessionError                     // errCode, no partitions
)

// fetchContext is what a Fetch request resolved to (Kafka's FetchContext).
type fetchContext struct {
	kind    fetchCtxKind
	errCode int16
	sess    *fetchSession // incremental
	expect  int32         // incremental: the session's epoch after this request
	parts   []sessionPart // incremental: a copy of the session's partitions, in order
	// ptrs are the session's partitions themselves, in the same order:
	// while the session's epoch is still expect, nothing changed them
	// (only newContext does, and it moves the epoch), so
	// finishIncremental finds each by its place (pairSession) instead of
	// its key.
	ptrs []*sessionPart
}

// newContext decides how req is served, updating the session it names.
// An incremental one copies the session's partitions into sc's array
// (nil: a new one).
func (c *fetchSessionCache) newContext(req *kmsg.FetchRequest, nowMs int64, sc *fetchScratch) fetchContext {
	if req.Version < 7 {
		return fetchContext{kind: fetchSessionless}
	}
	if req.SessionEpoch == 0 || req.SessionEpoch == -1 {
		if req.SessionID != 0 {
			c.remove(req.SessionID) // a full fetch closes the session it names
		}
		if req.SessionEpoch == -1 || c.slots <= 0 {
			return fetchContext{kind: fetchSessionless}
		}
		return fetchContext{kind: fetchFull}
	}
	if req.SessionID == 0 {
		return fetchContext{kind: fetchSessionError, errCode: kerr.InvalidFetchSessionEpoch.Code}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.mu.sessions[req.SessionID]
	switch {
	case s == nil:
		return fetchContext{kind: fetchSessionError, errCode: kerr.FetchSessionIDNotFound.Code}
	case s.epoch != req.SessionEpoch:
		return fetchContext{kind: fetchSessionError, errCode: kerr.InvalidFetchSessionEpoch.Code}
	case s.usesIDs != (req.Version >= 13):
		return fetchContext{kind: fetchSessionError, errCode: kerr.FetchSessionTopicIDError.Code}
	}
	s.updateLocked(req)
	if len(s.order) == 0 {
		c.removeLocked(s)
		return fetchContext{kind: fetchSessionless}
	}
	c.touchLocked(s, nowMs)
	s.epoch = nextFetchEpoch(s.epoch)
	ctx := fetchContext{kind: fetchIncremental, sess: s, expect: s.epoch}
	if sc != nil {
		sc.sess = slices.Grow(sc.sess[:0], len(s.order))[:len(s.order)]
		sc.sessPtrs = append(sc.sessPtrs[:0], s.order...)
		ctx.parts, ctx.ptrs = sc.sess, sc.sessPtrs
	} else {
		ctx.parts, ctx.ptrs = make([]sessionPart, len(s.order)), slices.Clone(s.order)
	}
	for i, p := range s.order {
		ctx.parts[i] = *p
	}
	return ctx
}

// requestKeys calls f with each partition of req's topics and its key.
func requestKeys(req *kmsg.FetchRequest, f func(key fetchSessionKey, rp *kmsg.FetchRequestTopicPartition)) {
	for i := range req.Topics {
		rt := &req.Topics[i]
		for k := range rt.Partitions {
			f(sessionKey(req.Version, rt.Topic, rt.TopicID, rt.Partitions[k].Partition), &rt.Partitions[k])
		}
	}
}

func sessionKey(version int16, topic string, id [16]byte, partition int32) fetchSessionKey {
	if version >= 13 {
		return fetchSessionKey{id: id, partition: partition}
	}
	return fetchSessionKey{topic: topic, partition: partition}
}

// updateLocked adds or updates the request's partitions, then removes the
// forgotten ones.
func (s *fetchSession) updateLocked(req *kmsg.FetchRequest) {
	requestKeys(req, func(key fetchSessionKey, rp *kmsg.FetchRequestTopicPartition) {
		p := s.parts[key]
		if p == nil {
			p = &sessionPart{key: key, highWatermark: -1, lastStable: -1, logStart: -1}
			s.parts[key] = p
			s.order = append(s.order, p)
		}
		p.setRequest(req.Version, rp)
	})
	removed := false
	for i := range req.ForgottenTopics {
		ft := &req.ForgottenTopics[i]
		for _, part := range ft.Partitions {
			key := sessionKey(req.Version, ft.Topic, ft.TopicID, part)
			if _, ok := s.parts[key]; ok {
				delete(s.parts, key)
				removed = true
			}
		}
	}
	if removed {
		kept := s.order[:0]
		for _, p := range s.order {
			if s.parts[p.key] == p {
				kept = append(kept, p)
			}
		}
		clear(s.order[len(kept):])
		s.order = kept
	}
}

func (p *sessionPart) setRequest(version int16, rp *kmsg.FetchRequestTopicPartition) {
	p.fetchOffset, p.maxBytes, p.fetcherLogStart = rp.FetchOffset, rp.PartitionMaxBytes, rp.LogStartOffset
	p.leaderEpoch = rp.CurrentLeaderEpoch
	if version < 9 {
		p.leaderEpoch = -1
	}
	p.lastFetched = -1
	if version >= 12 {
		p.lastFetched = rp.LastFetchedEpoch
	}
}

// sessionTopics rebuilds request topics from a session's partitions, one
// topic entry per run of partitions of the same topic.
// They are made in sc's arrays (nil: new ones); every topic's partitions
// are a piece of one array.
func sessionTopics(parts []sessionPart, sc *fetchScratch) []kmsg.FetchRequestTopic {
	if sc == nil {
		sc = new(fetchScratch)
	}
	all := slices.Grow(sc.reqParts[:0], len(parts))[:len(parts)]
	out := sc.reqTopics[:0]
	start := 0
	for i := range parts {
		p := &parts[i]
		if n := len(out); n == 0 || out[n-1].Topic != p.key.topic || out[n-1].TopicID != p.key.id {
			if n > 0 {
				out[n-1].Partitions = all[start:i:i]
			}
			out = append(out, kmsg.FetchRequestTopic{Topic: p.key.topic, TopicID: p.key.id})
			start = i
		}
		rp := &all[i]
		*rp = kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p.key.partition, p.fetchOffset, p.maxBytes
		rp.CurrentLeaderEpoch, rp.LogStartOffset = p.leaderEpoch, p.fetcherLogStart
		rp.LastFetchedEpoch = p.lastFetched
	}
	if n := len(out); n > 0 {
		out[n-1].Partitions = all[start:len(parts):len(parts)]
	}
	sc.reqParts, sc.reqTopics = all, out
	return out
}

// answered is what a partition's response says: the offsets as encoded
// (-1 on error) and whether it carries records.
func answered(fp *fetchPart) (hw, lso, start int64, records bool) {
	if fp.code != 0 {
		return -1, -1, -1, false
	}
	return fp.res.HighWatermark, fp.res.LastStableOffset, fp.res.LogStartOffset, fp.res.Bytes > 0 || len(fp.legacy) > 0
}

// finishFull creates a session for a full fetch's partitions if the cache
// allows, and returns its id (0: none).
func (c *fetchSessionCache) finishFull(req *kmsg.FetchRequest, topics []fetchTopic, privileged bool, nowMs int64) int32 {
	size := 0
	for i := range topics {
		size += len(topics[i].parts)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.mu.sessions) >= c.slots && !c.tryEvictLocked(privileged, size, nowMs) {
		return 0
	}
	s := &fetchSession{id: c.newIDLocked(), privileged: privileged, usesIDs: req.Version >= 13,
		epoch: nextFetchEpoch(0), createdMs: nowMs, parts: make(map[fetchSessionKey]*sessionPart, size)}
	for i := range req.Topics {
		rt, ft := &req.Topics[i], &topics[i]
		for k := range rt.Partitions {
			key := sessionKey(req.Version, rt.Topic, rt.TopicID, rt.Partitions[k].Partition)
			if s.parts[key] != nil {
				continue // a partition listed twice: the first wins
			}
			p := &sessionPart{key: key}
			p.setRequest(req.Version, &rt.Partitions[k])
			p.highWatermark, p.lastStable, p.logStart, _ = answered(&ft.parts[k])
			s.parts[key] = p
			s.order = append(s.order, p)
		}
	}
	c.mu.sessions[s.id] = s
	s.inCache = true
	c.touchLocked(s, nowMs)
	return s.id
}

// finishIncremental keeps the partitions of topics the client must hear
// about (releasing nothing: omitted partitions carry no records), records
// what was answered, and moves the partitions with records to the end of
// the session. It returns the error to answer instead: when the session
// moved to another epoch meanwhile, INVALID_FETCH_SESSION_EPOCH.
func (c *fetchSessionCache) finishIncremental(fc *fetchContext, topics []fetchTopic, version int16) ([]fetchTopic, int16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := fc.sess
	if s.epoch != fc.expect {
		return nil, kerr.InvalidFetchSessionEpoch.Code
	}
	var moved []*sessionPart
	out := topics[:0]
	for i := range topics {
		ft := topics[i]
		kept := ft.parts[:0]
		for k := range ft.parts {
			fp := &ft.parts[k]
			var p *sessionPart
			if fp.sessAt > 0 { // paired by pairSession
				p = fc.ptrs[fp.sessAt-1]
			} else {
				p = s.parts[sessionKey(version, ft.name, ft.id, fp.partition)]
			}
			if p == nil {
				continue // BUG guard: every fetched partition came from the session
			}
			must, records := p.answer(fp)
			if !must {
				continue
			}
			kept = append(kept, *fp)
			if records {
				moved = append(moved, p)
			}
		}
		if len(kept) > 0 {
			ft.parts = kept
			out = append(out, ft)
		}
	}
	s.moveToEnd(moved)
	return out, 0
}

// answer compares a partition's response with what the session last
// answered, records it, and reports whether the client must hear it.
func (p *sessionPart) answer(fp *fetchPart) (must, records bool) {
	hw, lso, start, records := answered(fp)
	must = records || fp.code != 0 || fp.redirect > 0 || hw != p.highWatermark || lso != p.lastStable || start != p.logStart
	p.highWatermark, p.lastStable, p.logStart = hw, lso, start
	end := hw
	if fp.committed {
		end = lso
	}
	p.quiet = !records && fp.code == 0 && fp.st == nil && fp.redirect == 0 && !fp.diverged &&
		!fp.throttled && fp.offset >= end
	p.quietLog, p.quietChanges, p.quietOffset, p.quietEpoch = fp.log, fp.changes, fp.offset, fp.epoch
	if !p.quiet {
		p.quietLog = nil // no log kept alive for nothing
	}
	return must, records
}

// pairSession pairs an incremental Fetch's partitions (in the session's
// order, as sessionTopics made them) with their places in fc, for
// finishIncremental, and marks those whose last answer was quiet at the
// same log, offset and epoch: readPart skips them while their log's
// change count is the one then.
func pairSession(topics []fetchTopic, fc *fetchContext, version int16) {
	at := 0
	for i := range topics {
		ft := &topics[i]
		for k := range ft.parts {
			fp := &ft.parts[k]
			if at < len(fc.parts) && fc.parts[at].key == sessionKey(version, ft.name, ft.id, fp.partition) {
				fp.sessAt = int32(at + 1)
				p := &fc.parts[at]
				if p.quiet && p.quietLog == fp.log && fp.log != nil && p.quietOffset == fp.offset && p.quietEpoch == fp.epoch {
					fp.quiet, fp.quietChanges = true, p.quietChanges
					fp.quietRes = partition.ReadResult{HighWatermark: p.highWatermark, LastStableOffset: p.lastStable,
						LogStartOffset: p.logStart}
				}
			}
			at++
		}
	}
}

// moveToEnd moves parts (in the session, in order) to the end of its order.
func (s *fetchSession) moveToEnd(parts []*sessionPart) {
	if len(parts) == 0 {
		return
	}
	set := make(map[*sessionPart]bool, len(parts))
	for _, p := range parts {
		set[p] = true
	}
	kept := s.order[:0]
	for _, p := range s.order {
		if !set[p] {
			kept = append(kept, p)
		}
	}
	s.order = append(kept, parts...)
}

// newIDLocked picks an unused positive session id.
func (c *fetchSessionCache) newIDLocked() int32 {
	for {
		id := rand.Int32N(math.MaxInt32-1) + 1
		if c.mu.sessions[id] == nil {
			return id
		}
	}
}

// touchLocked marks s used at nowMs and refreshes its eviction standing.
func (c *fetchSessionCache) touchLocked(s *fetchSession, nowMs int64) {
	s.lastUsedMs = nowMs
	c.mu.partitions += int64(len(s.order) - s.cachedSize)
	s.cachedSize = len(s.order)
	old := nowMs-s.createdMs > c.evictionMs
	s.evictByAll = old
	s.evictByPriv = old || !s.privileged
}

// remove closes session id, if cached.
func (c *fetchSessionCache) remove(id int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.mu.sessions[id]; s != nil {
		c.removeLocked(s)
	}
}

func (c *fetchSessionCache) removeLocked(s *fetchSession) {
	if !s.inCache {
		return
	}
	delete(c.mu.sessions, s.id)
	c.mu.partitions -= int64(s.cachedSize)
	s.inCache, s.cachedSize = false, 0
}

// evictionRank orders sessions by value: privileged, then size, then id.
type evictionRank struct {
	privileged bool
	size       int
	id         int32
}

func (a evictionRank) less(b evictionRank) bool {
	if a.privileged != b.privileged {
		return !a.privileged
	}
	if a.size != b.size {
		return a.size < b.size
	}
	return a.id < b.id
}

// tryEvictLocked makes room for a new session of size partitions, if the
// policy allows (see the file comment).
func (c *fetchSessionCache) tryEvictLocked(privileged bool, size int, nowMs int64) bool {
	var lru, cheapest *fetchSession
	for _, s := range c.mu.sessions {
		if lru == nil || s.lastUsedMs < lru.lastUsedMs || s.lastUsedMs == lru.lastUsedMs && s.id < lru.id {
			lru = s
		}
		if !(privileged && s.evictByPriv || s.evictByAll) {
			continue
		}
		if cheapest == nil || s.rank().less(cheapest.rank()) {
			cheapest = s
		}
	}
	victim := cheapest
	switch {
	case lru == nil:
		return false
	case nowMs-lru.lastUsedMs > c.evictionMs:
		victim = lru
	case cheapest == nil || (evictionRank{privileged, size, 0}).less(cheapest.rank()):
		return false
	}
	c.removeLocked(victim)
	c.mu.evictions++
	return true
}

func (s *fetchSession) rank() evictionRank {
	return evictionRank{s.privileged, s.cachedSize, s.id}
}

// FetchSessionStats is the state of the fetch session cache and what Fetch
// requests carried, for metrics: Kafka's NumIncrementalFetchSessions,
// NumIncrementalFetchPartitionsCached and IncrementalFetchSessionEvictions,
// plus the Fetch requests served and the partitions they listed (a client
// using sessions lists far fewer than it fetches).
type FetchSessionStats struct {
	Sessions, Partitions, Evictions int64
	Requests, RequestPartitions     int64
}

func (c *fetchSessionCache) stats() FetchSessionStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return FetchSessionStats{Sessions: int64(len(c.mu.sessions)), Partitions: c.mu.partitions, Evictions: c.mu.evictions}
}
