package broker

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// producePartitions produces perPart records to each of parts of topic,
// valued "<partition>:<seq>" with seq counting on from next[partition].
func producePartitions(ctx context.Context, t testing.TB, cl *kgo.Client, topic string, parts []int32, perPart int, next map[int32]int) {
	t.Helper()
	var recs []*kgo.Record
	for _, p := range parts {
		for k := 0; k < perPart; k++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprintf("%d:%d", p, next[p]))})
			next[p]++
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// checkInOrder checks that recs continue each partition's sequence from
// seen[partition] with no gap or duplicate, and advances seen.
func checkInOrder(t *testing.T, recs []*kgo.Record, seen map[int32]int) {
	t.Helper()
	for _, r := range recs {
		want := fmt.Sprintf("%d:%d", r.Partition, seen[r.Partition])
		if string(r.Value) != want {
			t.Fatalf("partition %d offset %d: got %q, want %q (duplicate, gap or reorder)", r.Partition, r.Offset, r.Value, want)
		}
		seen[r.Partition]++
	}
}

// TestFetchSessionsKgo consumes 200 partitions with franz-go, which uses
// fetch sessions: after the first full fetch, its fetches list only the
// partitions whose position moved, and every record arrives once, in order.
func TestFetchSessionsKgo(t *testing.T) {
	ts := startServer(t, "")
	const topic, nparts = "many", 200
	ts.createTopic(t, topic, nparts, nil)
	ctx := testCtx(t)
	prod := newKgo(t, ts.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	all := make([]int32, nparts)
	for i := range all {
		all[i] = int32(i)
	}
	next, seen := map[int32]int{}, map[int32]int{}
	producePartitions(ctx, t, prod, topic, all, 3, next)

	cons := newKgo(t, ts.addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	checkInOrder(t, consumeN(ctx, t, cons, 3*nparts), seen)
	if st := ts.Broker().FetchSessions(); st.Sessions != 1 || st.Partitions != nparts {
		t.Fatalf("after the first fetches: %+v, want one session of %d partitions", st, nparts)
	}

	// The fetch after the one that returned data lists every partition
	// whose offset moved (all of them); wait for it to arrive.
	settled := ts.Broker().FetchSessions().Requests
	waitFor(t, "the fetch after the first records", 10*time.Second, func() bool {
		return ts.Broker().FetchSessions().Requests > settled
	})

	// A few rounds that write to 10 partitions each: the fetches between
	// them list only what moved.
	before := ts.Broker().FetchSessions()
	for round := 0; round < 4; round++ {
		some := make([]int32, 10)
		for i := range some {
			some[i] = int32((round*37 + i*19) % nparts)
		}
		producePartitions(ctx, t, prod, topic, some, 5, next)
		checkInOrder(t, consumeN(ctx, t, cons, 50), seen)
	}
	// Each round's records came in a fetch sent after the previous round
	// was consumed, and the fetch after the last round lists what it
	// moved: at least four fetches follow the one above. The fourth is sent
	// once the consumer took the last records, so it may not have reached
	// the broker yet when consumeN returns: wait for it.
	waitFor(t, "the fetch after the last round", 10*time.Second, func() bool {
		return ts.Broker().FetchSessions().Requests >= before.Requests+4
	})
	after := ts.Broker().FetchSessions()
	reqs, listed := after.Requests-before.Requests, after.RequestPartitions-before.RequestPartitions
	t.Logf("%d incremental fetches listed %d partitions (%.1f per fetch, of %d)", reqs, listed, float64(listed)/float64(reqs), nparts)
	if reqs < 4 || listed > 10*reqs {
		t.Fatalf("%d fetches listed %d partitions: want at most 10 per fetch with sessions", reqs, listed)
	}
	if after.Sessions != 1 {
		t.Fatalf("sessions %d, want 1", after.Sessions)
	}
	for p := int32(0); p < nparts; p++ {
		if seen[p] != next[p] {
			t.Fatalf("partition %d: consumed %d of %d records", p, seen[p], next[p])
		}
	}
}

// TestFetchSessionsKcat reads a multi-partition topic to its end with
// Debian's kcat (librdkafka, which sends sessionless fetches: epoch -1).
func TestFetchSessionsKcat(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		if os.Getenv("SLUICE_REQUIRE_KCAT") == "1" {
			t.Fatalf("kcat not found and SLUICE_REQUIRE_KCAT=1")
		}
		t.Skip("kcat not installed")
	}
	ts := startServer(t, "")
	const topic, nparts, perPart = "kc", 12, 20
	ts.createTopic(t, topic, nparts, nil)
	ctx := testCtx(t)
	prod := newKgo(t, ts.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	all := make([]int32, nparts)
	for i := range all {
		all[i] = int32(i)
	}
	next := map[int32]int{}
	producePartitions(ctx, t, prod, topic, all, perPart, next)

	cmd := exec.CommandContext(ctx, "kcat", "-C", "-b", ts.addr, "-t", topic, "-o", "beginning", "-e", "-q",
		"-f", "%p %o %s\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat -C: %v\n%s", err, stderr.String())
	}
	seen := map[int32]int{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var p int32
		var off int64
		var val string
		if _, err := fmt.Sscanf(sc.Text(), "%d %d %s", &p, &off, &val); err != nil {
			t.Fatalf("kcat line %q: %v", sc.Text(), err)
		}
		if want := fmt.Sprintf("%d:%d", p, seen[p]); val != want || off != int64(seen[p]) {
			t.Fatalf("kcat partition %d offset %d: %q, want %q at offset %d", p, off, val, want, seen[p])
		}
		seen[p]++
	}
	for p := int32(0); p < nparts; p++ {
		if seen[p] != perPart {
			t.Fatalf("kcat read %d records of partition %d, want %d\n%s", seen[p], p, perPart, strings.TrimSpace(stderr.String()))
		}
	}
	// librdkafka (rdkafka_fetcher.c) sends SessionId 0, epoch -1 even in
	// 2.x: sessionless fetches, which must not create sessions.
	st := ts.Broker().FetchSessions()
	t.Logf("kcat: %d fetches, %d partitions listed, %d sessions", st.Requests, st.RequestPartitions, st.Sessions)
	if st.Sessions != 0 {
		t.Fatalf("kcat's sessionless fetches left %d sessions", st.Sessions)
	}
}

// fetchBytes counts the Fetch requests a client writes and the bytes of
// those requests and of their responses.
type fetchBytes struct {
	reqs, reqBytes, respBytes atomic.Int64
}

func (h *fetchBytes) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, _ error) {
	if key == 1 {
		h.reqs.Add(1)
		h.reqBytes.Add(int64(n))
	}
}

func (h *fetchBytes) OnBrokerRead(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, _ error) {
	if key == 1 {
		h.respBytes.Add(int64(n))
	}
}

// BenchmarkFetchSessionBytes measures the Fetch bytes of a franz-go
// consumer of 1,000 partitions, with sessions (the default) and without
// (max.incremental.fetch.session.cache.slots=0, what every fetch cost
// before sessions), while each round writes to 10 partitions:
//
//	go test ./broker -run '^$' -bench FetchSessionBytes -benchtime 20x
func BenchmarkFetchSessionBytes(b *testing.B) {
	for _, slots := range []int{1000, 0} {
		b.Run(fmt.Sprintf("slots=%d", slots), func(b *testing.B) {
			benchFetchSessionBytes(b, slots)
		})
	}
}

func benchFetchSessionBytes(b *testing.B, slots int) {
	ts := startServer(b, "", func(c *ServerConfig) { c.Broker.FetchSessionSlots = slots })
	const topic, nparts = "bytes", 1000
	ts.createTopic(b, topic, nparts, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	prod, err := kgo.NewClient(kgo.SeedBrokers(ts.addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	hook := new(fetchBytes)
	cons, err := kgo.NewClient(kgo.SeedBrokers(ts.addr), kgo.ConsumeTopics(topic), kgo.WithHooks(hook),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cons.Close()
	next := map[int32]int{}
	all := make([]int32, nparts)
	for i := range all {
		all[i] = int32(i)
	}
	producePartitions(ctx, b, prod, topic, all, 1, next)
	if got := len(pollN(ctx, b, cons, nparts)); got < nparts {
		b.Fatalf("consumed %d", got)
	}
	b.ResetTimer()
	reqs0, req0, resp0 := hook.reqs.Load(), hook.reqBytes.Load(), hook.respBytes.Load()
	for i := 0; i < b.N; i++ {
		some := make([]int32, 10)
		for k := range some {
			some[k] = int32((i*101 + k*97) % nparts)
		}
		producePartitions(ctx, b, prod, topic, some, 1, next)
		pollN(ctx, b, cons, 10)
	}
	b.StopTimer()
	n := float64(hook.reqs.Load() - reqs0)
	b.ReportMetric(n/float64(b.N), "fetches/round")
	b.ReportMetric(float64(hook.reqBytes.Load()-req0)/n, "req-B/fetch")
	b.ReportMetric(float64(hook.respBytes.Load()-resp0)/n, "resp-B/fetch")
}

// pollN polls until n records arrived.
func pollN(ctx context.Context, b *testing.B, cl *kgo.Client, n int) []*kgo.Record {
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			b.Fatalf("consumed %d of %d records: %v", len(out), n, err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// TestFetchSessionWire drives a session with raw frames over a socket, by
// topic name (v12) and by topic id (v13 and v17).
func TestFetchSessionWire(t *testing.T) {
	ts := startServer(t, "")
	rc := dialRaw(t, ts.addr)
	for _, version := range []int16{12, 13, 17} {
		topic := fmt.Sprintf("w%d", version)
		ts.createTopic(t, topic, 3, nil)
		produceOne(t, rc, produceReq(9, 1, topic, 0, makeBatch(noProducer, []byte("a"))))
		tid := ts.Broker().topics.get(topic).id
		fetch := func(id, epoch int32, parts []int32, offsets []int64, forget ...int32) *kmsg.FetchResponse {
			t.Helper()
			req := kmsg.NewPtrFetchRequest()
			req.Version, req.ReplicaID, req.MaxBytes = version, -1, 1<<20
			req.SessionID, req.SessionEpoch = id, epoch
			if len(parts) > 0 {
				rt := kmsg.NewFetchRequestTopic()
				rt.Topic, rt.TopicID = topic, tid
				for i, p := range parts {
					rp := kmsg.NewFetchRequestTopicPartition()
					rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, offsets[i], 1<<20
					rt.Partitions = append(rt.Partitions, rp)
				}
				req.Topics = append(req.Topics, rt)
			}
			if len(forget) > 0 {
				ft := kmsg.NewFetchRequestForgottenTopic()
				ft.Topic, ft.TopicID, ft.Partitions = topic, tid, forget
				req.ForgottenTopics = append(req.ForgottenTopics, ft)
			}
			return rc.roundTrip(req).(*kmsg.FetchResponse)
		}
		// got lists a response's partitions as "p:records?".
		got := func(resp *kmsg.FetchResponse) string {
			var out []string
			for _, rt := range resp.Topics {
				if version >= 13 && rt.TopicID != tid || version < 13 && rt.Topic != topic {
					t.Fatalf("v%d: topic %q %x", version, rt.Topic, rt.TopicID)
				}
				for _, p := range rt.Partitions {
					out = append(out, fmt.Sprintf("%d:%v", p.Partition, len(p.RecordBatches) > 0))
				}
			}
			return strings.Join(out, " ")
		}
		check := func(resp *kmsg.FetchResponse, wantErr int16, wantParts string) {
			t.Helper()
			if resp.ErrorCode != wantErr || got(resp) != wantParts {
				t.Fatalf("v%d: error %d partitions %q, want error %d partitions %q", version, resp.ErrorCode, got(resp), wantErr, wantParts)
			}
		}
		full := fetch(0, 0, []int32{0, 1, 2}, []int64{0, 0, 0})
		check(full, 0, "0:true 1:false 2:false")
		id := full.SessionID
		if id == 0 {
			t.Fatalf("v%d: full fetch at epoch 0 got no session", version)
		}
		// Nothing new: an empty answer (MaxWaitMillis 0).
		check(fetch(id, 1, []int32{0}, []int64{1}), 0, "")
		// Records on partition 1 are the only news.
		produceOne(t, rc, produceReq(9, 1, topic, 1, makeBatch(noProducer, []byte("b"))))
		resp := fetch(id, 2, nil, nil)
		check(resp, 0, "1:true")
		if resp.SessionID != id {
			t.Fatalf("v%d: incremental answer carries session %d, want %d", version, resp.SessionID, id)
		}
		check(fetch(id, 2, nil, nil), kerr.InvalidFetchSessionEpoch.Code, "")
		check(fetch(id+1, 3, nil, nil), kerr.FetchSessionIDNotFound.Code, "")
		// Partition 1 moved on; partition 2 forgotten.
		check(fetch(id, 3, []int32{1}, []int64{1}, 2), 0, "")
		if st := ts.Broker().FetchSessions(); st.Partitions != 2 {
			t.Fatalf("v%d: %d partitions cached, want 2", version, st.Partitions)
		}
		// Forgetting the rest closes the session.
		if resp := fetch(id, 4, nil, nil, 0, 1); resp.SessionID != 0 || resp.ErrorCode != 0 {
			t.Fatalf("v%d: after forgetting everything: session %d error %d", version, resp.SessionID, resp.ErrorCode)
		}
		check(fetch(id, 5, nil, nil), kerr.FetchSessionIDNotFound.Code, "")
	}
}
