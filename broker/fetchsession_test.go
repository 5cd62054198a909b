package broker

import (
	"fmt"
	"math"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/partition"
)

// sp names a partition of topic "t<topic>" in the session tests.
type sp struct {
	topic     int
	partition int32
	offset    int64
}

// sessReq builds a Fetch with the given session id and epoch, partitions
// and forgotten partitions.
func sessReq(version int16, id, epoch int32, parts []sp, forget ...sp) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.SessionID, req.SessionEpoch, req.ReplicaID = version, id, epoch, -1
	for _, p := range parts {
		name, tid := fmt.Sprintf("t%d", p.topic), [16]byte{byte(p.topic + 1)}
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != name {
			req.Topics = append(req.Topics, kmsg.FetchRequestTopic{Topic: name, TopicID: tid})
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p.partition, p.offset, 1<<20
		rt := &req.Topics[len(req.Topics)-1]
		rt.Partitions = append(rt.Partitions, rp)
	}
	for _, p := range forget {
		ft := kmsg.NewFetchRequestForgottenTopic()
		ft.Topic, ft.TopicID, ft.Partitions = fmt.Sprintf("t%d", p.topic), [16]byte{byte(p.topic + 1)}, []int32{p.partition}
		req.ForgottenTopics = append(req.ForgottenTopics, ft)
	}
	return req
}

// answer is what the test "read" for a partition.
type answer struct {
	hw, start int64
	bytes     int64
	code      int16
}

// fetchResult is what resolveFetch and a read would give for topics, with
// answers by "t<topic>/<partition>" (missing: hw 10, start 0, no bytes).
func fetchResult(topics []kmsg.FetchRequestTopic, answers map[string]answer) []fetchTopic {
	out := make([]fetchTopic, len(topics))
	for i, rt := range topics {
		out[i] = fetchTopic{name: rt.Topic, id: rt.TopicID}
		if rt.Topic == "" { // v13+: resolveFetch names topics by id
			out[i].name = fmt.Sprintf("t%d", rt.TopicID[0]-1)
		}
		for _, rp := range rt.Partitions {
			a, ok := answers[fmt.Sprintf("%s/%d", out[i].name, rp.Partition)]
			if !ok {
				a = answer{hw: 10}
			}
			out[i].parts = append(out[i].parts, fetchPart{partition: rp.Partition, offset: rp.FetchOffset, code: a.code,
				res: partition.ReadResult{HighWatermark: a.hw, LastStableOffset: a.hw, LogStartOffset: a.start, Bytes: a.bytes}})
		}
	}
	return out
}

// names lists topics' partitions as "t<topic>/<partition>".
func names(topics []fetchTopic) []string {
	var out []string
	for _, t := range topics {
		for _, p := range t.parts {
			out = append(out, fmt.Sprintf("%s/%d", t.name, p.partition))
		}
	}
	return out
}

func partNames(parts []sessionPart) []string {
	var out []string
	for _, p := range parts {
		name := p.key.topic
		if name == "" {
			name = fmt.Sprintf("t%d", p.key.id[0]-1)
		}
		out = append(out, fmt.Sprintf("%s/%d@%d", name, p.key.partition, p.fetchOffset))
	}
	return out
}

// TestFetchSessionProtocol drives one session through the cases of
// KIP-227: creation, incremental adds, changes and forgets, omitted
// partitions, rotation, and every session error.
func TestFetchSessionProtocol(t *testing.T) {
	for _, version := range []int16{12, 13} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			testFetchSessionProtocol(t, version)
		})
	}
}

func testFetchSessionProtocol(t *testing.T, version int16) {
	c := newFetchSessionCache(10, 1000)
	now := int64(1_000_000)
	three := []sp{{0, 0, 5}, {0, 1, 6}, {1, 0, 7}}

	// A full fetch at epoch 0 creates a session; epoch -1 does not.
	if fc := c.newContext(sessReq(version, 0, -1, three), now, nil); fc.kind != fetchSessionless {
		t.Fatalf("epoch -1: kind %d", fc.kind)
	}
	full := sessReq(version, 0, 0, three)
	if fc := c.newContext(full, now, nil); fc.kind != fetchFull {
		t.Fatalf("epoch 0: kind %d", fc.kind)
	}
	id := c.finishFull(full, fetchResult(full.Topics, nil), false, now)
	if id <= 0 {
		t.Fatalf("session id %d", id)
	}
	if st := c.stats(); st.Sessions != 1 || st.Partitions != 3 {
		t.Fatalf("stats %+v", st)
	}

	epoch := int32(1)
	// step sends an incremental request and checks which partitions it
	// fetches (with offsets) and which the response keeps.
	step := func(parts []sp, forget []sp, answers map[string]answer, wantFetch, wantKept []string) {
		t.Helper()
		fc := c.newContext(sessReq(version, id, epoch, parts, forget...), now, nil)
		if fc.kind != fetchIncremental {
			t.Fatalf("epoch %d: kind %d (error %d)", epoch, fc.kind, fc.errCode)
		}
		if got := partNames(fc.parts); fmt.Sprint(got) != fmt.Sprint(wantFetch) {
			t.Fatalf("epoch %d fetches %v, want %v", epoch, got, wantFetch)
		}
		kept, code := c.finishIncremental(&fc, fetchResult(sessionTopics(fc.parts, nil), answers), version)
		if code != 0 {
			t.Fatalf("epoch %d: finish error %d", epoch, code)
		}
		if got := names(kept); fmt.Sprint(got) != fmt.Sprint(wantKept) {
			t.Fatalf("epoch %d answers %v, want %v", epoch, got, wantKept)
		}
		epoch++
	}
	// Nothing changed: every partition is fetched, none answered.
	step(nil, nil, nil, []string{"t0/0@5", "t0/1@6", "t1/0@7"}, nil)
	// Records on t0/0: answered, and moved to the end of the session.
	step(nil, nil, map[string]answer{"t0/0": {hw: 12, bytes: 100}}, []string{"t0/0@5", "t0/1@6", "t1/0@7"}, []string{"t0/0"})
	// The client moves t0/0 on and adds t2/3; t1/0's log start moved.
	step([]sp{{0, 0, 12}, {2, 3, 0}}, nil, map[string]answer{"t0/0": {hw: 12}, "t1/0": {hw: 10, start: 4}},
		[]string{"t0/1@6", "t1/0@7", "t0/0@12", "t2/3@0"}, []string{"t1/0", "t2/3"})
	// An error is always answered, and so is the recovery after it.
	step(nil, nil, map[string]answer{"t0/1": {code: kerr.NotLeaderForPartition.Code}, "t1/0": {hw: 10, start: 4}, "t0/0": {hw: 12}},
		[]string{"t0/1@6", "t1/0@7", "t0/0@12", "t2/3@0"}, []string{"t0/1"})
	step(nil, nil, map[string]answer{"t1/0": {hw: 10, start: 4}, "t0/0": {hw: 12}},
		[]string{"t0/1@6", "t1/0@7", "t0/0@12", "t2/3@0"}, []string{"t0/1"})
	// Forget t0/1 and t1/0 (and one never added).
	step(nil, []sp{{0, 1, 0}, {1, 0, 0}, {9, 9, 0}}, map[string]answer{"t0/0": {hw: 12}},
		[]string{"t0/0@12", "t2/3@0"}, nil)
	if st := c.stats(); st.Partitions != 2 {
		t.Fatalf("after forgets: stats %+v", st)
	}

	// Session errors: no partitions, session id 0.
	errCase := func(req *kmsg.FetchRequest, want int16) {
		t.Helper()
		if fc := c.newContext(req, now, nil); fc.kind != fetchSessionError || fc.errCode != want {
			t.Fatalf("id %d epoch %d: kind %d error %d, want error %d", req.SessionID, req.SessionEpoch, fc.kind, fc.errCode, want)
		}
	}
	errCase(sessReq(version, id, epoch+1, nil), kerr.InvalidFetchSessionEpoch.Code)
	errCase(sessReq(version, id, epoch-1, nil), kerr.InvalidFetchSessionEpoch.Code)
	errCase(sessReq(version, id+1, 1, nil), kerr.FetchSessionIDNotFound.Code)
	errCase(sessReq(version, 0, 1, nil), kerr.InvalidFetchSessionEpoch.Code)
	other := int16(12)
	if version == 12 {
		other = 13
	}
	errCase(sessReq(other, id, epoch, nil), kerr.FetchSessionTopicIDError.Code)

	// A request racing another at the same epoch is refused; a fetch
	// whose session moved on meanwhile answers INVALID_FETCH_SESSION_EPOCH.
	fc := c.newContext(sessReq(version, id, epoch, nil), now, nil)
	errCase(sessReq(version, id, epoch, nil), kerr.InvalidFetchSessionEpoch.Code)
	epoch++
	fc2 := c.newContext(sessReq(version, id, epoch, nil), now, nil)
	if fc2.kind != fetchIncremental {
		t.Fatalf("next epoch: kind %d", fc2.kind)
	}
	epoch++
	if _, code := c.finishIncremental(&fc, fetchResult(sessionTopics(fc.parts, nil), nil), version); code != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("stale fetch: error %d", code)
	}

	// Forgetting every partition closes the session: answered sessionless.
	if fc := c.newContext(sessReq(version, id, epoch, nil, sp{0, 0, 0}, sp{2, 3, 0}), now, nil); fc.kind != fetchSessionless {
		t.Fatalf("empty session: kind %d", fc.kind)
	}
	if st := c.stats(); st.Sessions != 0 || st.Partitions != 0 {
		t.Fatalf("after closing: stats %+v", st)
	}

	// A full fetch naming a session closes it, then starts a new one.
	id = c.finishFull(full, fetchResult(full.Topics, nil), false, now)
	if fc := c.newContext(sessReq(version, id, 0, three), now, nil); fc.kind != fetchFull {
		t.Fatalf("full with id: kind %d", fc.kind)
	}
	if st := c.stats(); st.Sessions != 0 {
		t.Fatalf("full fetch did not close session %d: %+v", id, st)
	}
	errCase(sessReq(version, id, 1, nil), kerr.FetchSessionIDNotFound.Code)
}

// TestFetchSessionFirstIncrementalAnswersChanges checks that the answer to
// a full fetch is what the session remembers: an unchanged partition is
// then omitted, a moved high watermark answered.
func TestFetchSessionFirstIncrementalAnswersChanges(t *testing.T) {
	c := newFetchSessionCache(1, 1000)
	full := sessReq(12, 0, 0, []sp{{0, 0, 0}, {0, 1, 0}})
	id := c.finishFull(full, fetchResult(full.Topics, map[string]answer{"t0/0": {hw: 3}, "t0/1": {code: kerr.UnknownTopicOrPartition.Code}}), false, 0)
	fc := c.newContext(sessReq(12, id, 1, nil), 0, nil)
	kept, _ := c.finishIncremental(&fc, fetchResult(sessionTopics(fc.parts, nil), map[string]answer{"t0/0": {hw: 3}, "t0/1": {hw: 0}}), 12)
	if got := fmt.Sprint(names(kept)); got != "[t0/1]" {
		t.Fatalf("answered %s, want [t0/1]", got)
	}
}

func TestNextFetchEpoch(t *testing.T) {
	f := func(prev, want int32) {
		t.Helper()
		if got := nextFetchEpoch(prev); got != want {
			t.Fatalf("nextFetchEpoch(%d) = %d, want %d", prev, got, want)
		}
	}
	f(0, 1)
	f(1, 2)
	f(math.MaxInt32, 1)
	f(-1, -1)
}

// TestFetchSessionEviction checks the cache's eviction policy on a cache
// of two slots with an eviction time of 100 ms.
func TestFetchSessionEviction(t *testing.T) {
	type sess struct {
		size       int
		privileged bool
		created    int64 // ms; last used then too
		used       int64 // ms of the last use, if later
	}
	// f fills the cache with have, then tries a session of size (privileged
	// or not) at now, and checks whether it was created and which of have
	// remain (by index).
	f := func(have []sess, size int, privileged bool, now int64, wantCreated bool, wantKept ...int) {
		t.Helper()
		c := newFetchSessionCache(2, 100)
		ids := make([]int32, len(have))
		for i, s := range have {
			parts := make([]sp, s.size)
			for k := range parts {
				parts[k] = sp{i, int32(k), 0}
			}
			req := sessReq(12, 0, 0, parts)
			if ids[i] = c.finishFull(req, fetchResult(req.Topics, nil), s.privileged, s.created); ids[i] == 0 {
				t.Fatalf("setup: session %d not created", i)
			}
			if s.used > s.created {
				if fc := c.newContext(sessReq(12, ids[i], 1, nil), s.used, nil); fc.kind != fetchIncremental {
					t.Fatalf("setup: touching session %d: kind %d", i, fc.kind)
				}
			}
		}
		parts := make([]sp, size)
		for k := range parts {
			parts[k] = sp{9, int32(k), 0}
		}
		req := sessReq(12, 0, 0, parts)
		if created := c.finishFull(req, fetchResult(req.Topics, nil), privileged, now) != 0; created != wantCreated {
			t.Fatalf("created %v, want %v", created, wantCreated)
		}
		var kept []int
		c.mu.Lock()
		for i, id := range ids {
			if c.mu.sessions[id] != nil {
				kept = append(kept, i)
			}
		}
		c.mu.Unlock()
		if fmt.Sprint(kept) != fmt.Sprint(wantKept) {
			t.Fatalf("kept %v, want %v", kept, wantKept)
		}
	}
	young := func(size int) sess { return sess{size: size, created: 1000} }
	// Room left: no eviction.
	f([]sess{young(5)}, 1, false, 1010, true, 0)
	// Full of young, recently used sessions: a consumer cannot evict.
	f([]sess{young(5), young(1)}, 50, false, 1010, false, 0, 1)
	// The least recently used session is stale: evicted whatever its size.
	f([]sess{{size: 50, created: 1000}, {size: 1, created: 1000, used: 1090}}, 1, false, 1101, true, 1)
	// Old (created > 100 ms before their last use) but not stale: a larger
	// new session evicts the smallest; a smaller or equal one cannot.
	old := func(size int) sess { return sess{size: size, created: 1000, used: 1150} }
	f([]sess{old(5), old(3)}, 4, false, 1200, true, 0)
	f([]sess{old(5), old(3)}, 3, false, 1200, false, 0, 1)
	// A follower's (privileged) session evicts a young consumer session,
	// the smallest first, but not a young privileged one.
	f([]sess{young(5), young(3)}, 1, true, 1010, true, 0)
	f([]sess{{size: 5, privileged: true, created: 1000}, {size: 3, privileged: true, created: 1000}}, 100, true, 1010, false, 0, 1)
	// A consumer cannot evict an old privileged session of more partitions,
	// nor of fewer (privileged ranks first).
	f([]sess{{size: 5, privileged: true, created: 1000, used: 1150}, {size: 3, privileged: true, created: 1000, used: 1150}}, 100, false, 1200, false, 0, 1)

	// No slots: sessions are off.
	c := newFetchSessionCache(0, 100)
	if fc := c.newContext(sessReq(12, 0, 0, []sp{{0, 0, 0}}), 0, nil); fc.kind != fetchSessionless {
		t.Fatalf("0 slots: kind %d", fc.kind)
	}
}
