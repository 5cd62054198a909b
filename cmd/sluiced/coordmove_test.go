package main

import (
	"context"
	be "encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/group"
	"github.com/sluice/sluice/txn"
)

// restartableNodes is threeNodes with each node's directory and addresses
// kept, so a killed node restarts as itself.
func restartableNodes(t *testing.T, clusterID string) (nodes []*proc, addrs []string, restart func(i int) *proc) {
	t.Helper()
	var voters []string
	var clientPorts []int
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	for id := 1; id <= 3; id++ {
		clientPorts = append(clientPorts, freePort(t))
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", id, freePort(t)))
	}
	env := []string{
		"SLUICE_CONTROLLER_QUORUM_VOTERS=" + strings.Join(voters, ","),
		"SLUICE_BROKER_HEARTBEAT_INTERVAL_MS=500",
		"SLUICE_BROKER_SESSION_TIMEOUT_MS=3000",
		"SLUICE_GROUP_INITIAL_REBALANCE_DELAY_MS=0",
	}
	restart = func(i int) *proc {
		_, ctl, _ := strings.Cut(voters[i], "@")
		p := start(t, env, "--node-id", strconv.Itoa(i+1), "--cluster-id", clusterID, "--data-dir", dirs[i],
			"--listen", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://%s", clientPorts[i], ctl))
		if p.addr == "" {
			t.Fatalf("node %d did not start:\n%s", i+1, p.stderr)
		}
		return p
	}
	for i := range 3 {
		p := restart(i)
		nodes, addrs = append(nodes, p), append(addrs, p.addr)
	}
	agreed(t, addrs, 20*time.Second, allThree)
	return nodes, addrs, restart
}

// stopAll stops the nodes still running.
func stopAll(nodes []*proc) {
	for _, n := range nodes {
		select {
		case <-n.done:
		default:
			n.stop()
		}
	}
}

// eventually polls check (an empty string: done) until the deadline.
func eventually(t *testing.T, timeout time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(20 * time.Millisecond) // polling a remote condition, bounded by the deadline
	}
}

// coordinatorOf asks addr for the coordinator of key (keyType 0: group,
// 1: transactional id).
func coordinatorOf(addr string, keyType int8, key string) (int32, error) {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version, req.CoordinatorType, req.CoordinatorKeys = 4, keyType, []string{key}
	r, err := request(addr, req)
	if err != nil {
		return -1, err
	}
	c := r.(*kmsg.FindCoordinatorResponse).Coordinators[0]
	if c.ErrorCode != 0 {
		return -1, kerr.ErrorForCode(c.ErrorCode)
	}
	return c.NodeID, nil
}

// movedCoordinator waits until every address in live names the same
// coordinator of key, other than old, and returns it.
func movedCoordinator(t *testing.T, live []string, keyType int8, key string, old int32) int32 {
	t.Helper()
	var got int32
	eventually(t, 20*time.Second, func() string {
		var ids []int32
		for _, a := range live {
			id, err := coordinatorOf(a, keyType, key)
			if err != nil {
				return fmt.Sprintf("FindCoordinator(%s) at %s: %v", key, a, err)
			}
			ids = append(ids, id)
		}
		if ids[0] == old || slices.ContainsFunc(ids, func(id int32) bool { return id != ids[0] }) {
			return fmt.Sprintf("coordinators of %s named by %v: %v (old %d)", key, live, ids, old)
		}
		got = ids[0]
		return ""
	})
	return got
}

// leadersNow polls Metadata at addr until topic has a live leader on every
// partition not led by a broker in dead (those may have none).
func leadersNow(t *testing.T, addr, topic string, dead ...int32) []int32 {
	t.Helper()
	var got []int32
	eventually(t, 20*time.Second, func() string {
		ls, err := leadersOf(addr, topic)
		if err != nil {
			return err.Error()
		}
		for _, l := range ls {
			if slices.Contains(dead, l) {
				return fmt.Sprintf("%s leaders %v: some on dead brokers %v", topic, ls, dead)
			}
		}
		got = ls
		return ""
	})
	return got
}

// Groups move with their __consumer_offsets partition: kill -9 of the
// coordinator's broker moves the partition's leadership, the new leader
// loads the partition and the members of a franz-go group find it, rejoin
// and keep consuming; the old coordinator, restarted, answers
// NOT_COORDINATOR for the group. Committed offsets survive the move (the
// partition is replicated; checked on a group without members).
func TestThreeNodeGroupCoordinatorMoves(t *testing.T) {
	nodes, addrs, restart := restartableNodes(t, "group-coordinator-moves")
	defer stopAll(nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RequestRetries(20), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if res, err := adm.CreateTopic(ctx, 6, 1, nil, "gm"); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	const gid = "movers"
	var coord int32
	eventually(t, 20*time.Second, func() string {
		var err error
		if coord, err = coordinatorOf(addrs[0], 0, gid); err != nil {
			return fmt.Sprintf("FindCoordinator: %v", err)
		}
		return ""
	})
	offLeaders := leadersNow(t, addrs[0], group.TopicName)
	nparts := int32(len(offLeaders))
	// A group without members on another partition the same broker leads:
	// its committed offsets are the "intact after the move" witness.
	idle := ""
	for i := 0; idle == ""; i++ {
		g := "idle-" + strconv.Itoa(i)
		if p := group.PartitionFor(g, nparts); offLeaders[p] == coord && p != group.PartitionFor(gid, nparts) {
			idle = g
		}
	}
	var idleOffsets kadm.Offsets
	idleOffsets.AddOffset("gm", 0, 7, -1)
	if resp, err := adm.CommitOffsets(ctx, idle, idleOffsets); err != nil || resp.Error() != nil {
		t.Fatalf("commit %s: %v %v", idle, err, resp.Error())
	}

	produce := func(prefix string, dead ...int32) []string {
		t.Helper()
		at := addrs[0]
		for i, a := range addrs {
			if !slices.Contains(dead, int32(i+1)) {
				at = a
				break
			}
		}
		leaders := leadersNow(t, at, "gm", dead...)
		var recs []*kgo.Record
		var vals []string
		for p, l := range leaders {
			if slices.Contains(dead, l) || l < 0 {
				continue
			}
			v := fmt.Sprintf("%s-%d", prefix, p)
			recs = append(recs, &kgo.Record{Topic: "gm", Partition: int32(p), Value: []byte(v)})
			vals = append(vals, v)
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", prefix, err)
		}
		return vals
	}

	seen := newSeenValues()
	for range 2 {
		m, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumerGroup(gid), kgo.ConsumeTopics("gm"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.SessionTimeout(6*time.Second),
			kgo.HeartbeatInterval(300*time.Millisecond), kgo.AutoCommitInterval(200*time.Millisecond),
			kgo.RetryTimeout(30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		go seen.consume(ctx, m)
	}
	allSeen := func(vals []string) func() string { return seen.missing(vals, "not consumed by the group") }
	eventually(t, 30*time.Second, allSeen(produce("before")))
	described := func(addr string, want int) func() string {
		return func() string {
			req := kmsg.NewPtrDescribeGroupsRequest()
			req.Groups = []string{gid}
			r, err := request(addr, req)
			if err != nil {
				return err.Error()
			}
			g := r.(*kmsg.DescribeGroupsResponse).Groups[0]
			if g.ErrorCode != 0 || g.State != "Stable" || len(g.Members) != want {
				return fmt.Sprintf("group %s at %s: %v %s with %d members, want Stable with %d",
					gid, addr, kerr.ErrorForCode(g.ErrorCode), g.State, len(g.Members), want)
			}
			return ""
		}
	}
	eventually(t, 30*time.Second, described(addrs[coord-1], 2))

	// kill -9 of the coordinator's broker.
	nodes[coord-1].kill()
	killedAt := time.Now()
	live := slices.Delete(slices.Clone(addrs), int(coord-1), int(coord))
	newCoord := movedCoordinator(t, live, 0, gid, coord)
	t.Logf("group %s: coordinator %d -> %d %.2fs after kill -9", gid, coord, newCoord, time.Since(killedAt).Seconds())
	eventually(t, 30*time.Second, allSeen(produce("after", coord)))
	eventually(t, 30*time.Second, described(addrs[newCoord-1], 2))
	t.Logf("both members consume again through broker %d %.2fs after kill -9", newCoord, time.Since(killedAt).Seconds())

	// Offsets intact after the coordinator died: only a replicated
	// partition can keep them.
	idleP := group.PartitionFor(idle, nparts)
	idleLeader := movedCoordinator(t, live, 0, idle, coord)
	var committed int64 = -1
	eventually(t, 20*time.Second, func() string {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = 8
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = idle
		req.Groups = append(req.Groups, rg)
		r, err := request(addrs[idleLeader-1], req)
		if err != nil {
			return err.Error()
		}
		g := r.(*kmsg.OffsetFetchResponse).Groups[0]
		if g.ErrorCode != 0 {
			return fmt.Sprintf("OffsetFetch %s at broker %d: %v", idle, idleLeader, kerr.ErrorForCode(g.ErrorCode))
		}
		for _, rt := range g.Topics {
			for _, rp := range rt.Partitions {
				if rt.Topic == "gm" && rp.Partition == 0 {
					committed = rp.Offset
				}
			}
		}
		return ""
	})
	if committed != 7 {
		t.Fatalf("group %s after the move: committed offset %d, want 7; its partition holds %d records on broker %d",
			idle, committed, partitionEnd(t, addrs[idleLeader-1], group.TopicName, idleP), idleLeader)
	}
	t.Logf("group %s's committed offset survived the move to broker %d", idle, idleLeader)

	// The old coordinator comes back: it no longer leads the partition and
	// answers NOT_COORDINATOR for the group.
	nodes[coord-1] = restart(int(coord - 1))
	agreed(t, addrs, 20*time.Second, allThree)
	eventually(t, 20*time.Second, func() string {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = 8
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = gid
		req.Groups = append(req.Groups, rg)
		r, err := request(addrs[coord-1], req)
		if err != nil {
			return err.Error()
		}
		code := r.(*kmsg.OffsetFetchResponse).Groups[0].ErrorCode
		if code == 0 {
			t.Fatalf("restarted broker %d answers OffsetFetch for %s, which broker %d now coordinates", coord, gid, newCoord)
		}
		if code != kerr.NotCoordinator.Code {
			return fmt.Sprintf("restarted broker %d: OffsetFetch %v, want NOT_COORDINATOR", coord, kerr.ErrorForCode(code))
		}
		return ""
	})
	if id, err := coordinatorOf(addrs[coord-1], 0, gid); err != nil || id != newCoord {
		t.Fatalf("restarted broker %d names coordinator %d (%v), want %d", coord, id, err, newCoord)
	}
}

// partitionEnd is the end offset of topic/p at its leader addr.
func partitionEnd(t *testing.T, addr, topic string, p int32) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 7
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	r, err := request(addr, req)
	if err != nil {
		t.Fatal(err)
	}
	out := r.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	if out.ErrorCode != 0 {
		t.Fatalf("ListOffsets %s-%d at %s: %v", topic, p, addr, kerr.ErrorForCode(out.ErrorCode))
	}
	return out.Offset
}

// Transactions across brokers: a transaction over partitions led by all
// three brokers commits (the coordinator sends the markers of the others'
// partitions with WriteTxnMarkers) and a read_committed consumer sees it
// on every partition, while an aborted one stays hidden; after kill -9 of
// the transaction coordinator's broker the producer finds the new
// coordinator and completes a new transaction.
func TestThreeNodeTransactionsAcrossBrokers(t *testing.T) {
	nodes, addrs, _ := restartableNodes(t, "txn-across-brokers")
	defer stopAll(nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(mustClient(t, kgo.SeedBrokers(addrs...), kgo.RequestRetries(20)))
	if res, err := adm.CreateTopic(ctx, 3, 1, nil, "tx"); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	leaders := leadersNow(t, addrs[0], "tx")
	if slices.Sorted(slices.Values(leaders))[0] == slices.Sorted(slices.Values(leaders))[2] {
		t.Fatalf("tx leaders %v: all on one broker", leaders)
	}
	const id = "tx-app"
	newProducer := func() *kgo.Client {
		return mustClient(t, kgo.SeedBrokers(addrs...), kgo.TransactionalID(id), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.TransactionTimeout(20*time.Second), kgo.RequestRetries(50), kgo.RetryTimeout(30*time.Second))
	}
	var lastPID int64 = -1 // the producer id and epoch of the last record produced
	var lastEpoch int16 = -1
	tryTxn := func(p *kgo.Client, prefix string, commit bool, dead ...int32) ([]string, error) {
		if err := p.BeginTransaction(); err != nil {
			return nil, err
		}
		var vals []string
		for part, l := range leaders {
			if slices.Contains(dead, l) {
				continue
			}
			vs := []string{fmt.Sprintf("%s-%d", prefix, part)}
			if prefix == "c1" {
				// Two batches: the leader verifies the first with the
				// coordinator; the second finds the transaction ongoing.
				vs = append(vs, vs[0]+"-second")
			}
			for _, v := range vs {
				rec, err := p.ProduceSync(ctx, &kgo.Record{Topic: "tx", Partition: int32(part), Value: []byte(v)}).First()
				if err != nil {
					return nil, fmt.Errorf("produce %s: %w", v, err)
				}
				lastPID, lastEpoch = rec.ProducerID, rec.ProducerEpoch
				vals = append(vals, v)
			}
		}
		if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			return nil, fmt.Errorf("end transaction %s (commit %v): %w", prefix, commit, err)
		}
		return vals, nil
	}
	txnOf := func(p *kgo.Client, prefix string, commit bool, dead ...int32) []string {
		t.Helper()
		vals, err := tryTxn(p, prefix, commit, dead...)
		if err != nil {
			t.Fatal(err)
		}
		return vals
	}
	prod := newProducer()
	committed := txnOf(prod, "c1", true)
	aborted := txnOf(prod, "a1", false)
	committed = append(committed, txnOf(prod, "c2", true)...)
	coord, err := coordinatorOf(addrs[0], 1, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("transactional id %s coordinated by broker %d; tx leaders %v", id, coord, leaders)
	// Outside a transaction, a transactional batch to a partition another
	// broker leads is refused: that leader asks the coordinator, which
	// answers INVALID_TXN_STATE (TRANSACTION_ABORTABLE for Produce v11+).
	// (The epoch is the coordinator's now: with transactions v2 each
	// commit bumps it.)
	dreq := kmsg.NewPtrDescribeTransactionsRequest()
	dreq.TransactionalIDs = []string{id}
	dr, err := request(addrs[coord-1], dreq)
	if err != nil {
		t.Fatal(err)
	}
	if ds := dr.(*kmsg.DescribeTransactionsResponse).TransactionStates; len(ds) != 1 || ds[0].ErrorCode != 0 || ds[0].ProducerID != lastPID {
		t.Fatalf("DescribeTransactions %s at its coordinator: %+v", id, ds)
	} else {
		lastEpoch = ds[0].ProducerEpoch
	}
	other := int32(slices.IndexFunc(leaders, func(l int32) bool { return l != coord }))
	if code := produceTxnBatch(t, addrs[leaders[other]-1], id, "tx", other, lastPID, lastEpoch); code != kerr.TransactionAbortable.Code {
		t.Fatalf("transactional produce to tx-%d (leader %d) outside a transaction: %v, want TRANSACTION_ABORTABLE (v11+)",
			other, leaders[other], kerr.ErrorForCode(code))
	}

	cons := mustClient(t, kgo.SeedBrokers(addrs...), kgo.ConsumeTopics("tx"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := newSeenValues()
	go seen.consume(ctx, cons)
	allSeen := func(vals []string) func() string {
		return seen.missing(vals, "(committed) not seen by the read_committed consumer")
	}
	eventually(t, 20*time.Second, allSeen(committed))
	for _, v := range aborted {
		if seen.has(v) {
			t.Errorf("aborted record %s seen by the read_committed consumer", v)
		}
	}

	// kill -9 of the coordinator's broker: the producer finds the new
	// coordinator and completes a transaction on the partitions still led.
	nodes[coord-1].kill()
	killedAt := time.Now()
	live := slices.Delete(slices.Clone(addrs), int(coord-1), int(coord))
	newCoord := movedCoordinator(t, live, 1, id, coord)
	t.Logf("transactional id %s: coordinator %d -> %d %.2fs after kill -9", id, coord, newCoord, time.Since(killedAt).Seconds())
	// The same producer goes on: the new coordinator loaded the id's state
	// from its replica of the __transaction_state partition.
	after, err := tryTxn(prod, "c3", true, coord)
	if err != nil {
		stateP := txn.PartitionFor(id, int32(len(leadersNow(t, live[0], txn.TopicName, coord))))
		t.Fatalf("after the move (%s-%d holds %d records on broker %d): %v", txn.TopicName, stateP,
			partitionEnd(t, addrs[newCoord-1], txn.TopicName, stateP), newCoord, err)
	}
	eventually(t, 20*time.Second, allSeen(after))
	t.Logf("transaction completed through broker %d %.2fs after kill -9", newCoord, time.Since(killedAt).Seconds())
}

func mustClient(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produceTxnBatch sends one transactional batch of producer pid at epoch
// (transactional id id) to topic/p at addr and returns the partition's
// error code.
func produceTxnBatch(t *testing.T, addr, id, topic string, p int32, pid int64, epoch int16) int16 {
	t.Helper()
	now := time.Now().UnixMilli()
	rec := kmsg.Record{Value: []byte("stray")}
	rec.Length = int32(len(rec.AppendTo(nil)) - 1)
	b := kmsg.RecordBatch{Magic: 2, Attributes: 0x10, FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: pid, ProducerEpoch: epoch, FirstSequence: 1000, NumRecords: 1, Records: rec.AppendTo(nil)}
	raw := b.AppendTo(nil)
	be.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	be.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis, req.TransactionID = 11, -1, 5000, &id
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = p, raw
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	r, err := request(addr, req)
	if err != nil {
		t.Fatal(err)
	}
	return r.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
}

// A franz-go GroupTransactSession whose group and transactional id have
// coordinators on different brokers copies a topic in transactions: the
// offsets go to the group's coordinator (TxnOffsetCommit; with
// transactions v2 that broker adds its __consumer_offsets partition to
// the transaction on the transaction coordinator), and the commit marker
// on that partition, sent by the transaction coordinator with
// WriteTxnMarkers, makes them the group's committed offsets.
func TestThreeNodeGroupTransactSessionAcrossBrokers(t *testing.T) {
	nodes, addrs, _ := restartableNodes(t, "txn-offsets-across-brokers")
	defer stopAll(nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := mustClient(t, kgo.SeedBrokers(addrs...), kgo.RequestRetries(20), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(cl)
	for _, topic := range []string{"etl-in", "etl-out"} {
		if res, err := adm.CreateTopic(ctx, 3, 1, nil, topic); err != nil || res.Err != nil {
			t.Fatalf("create %s: %v %v", topic, err, res.Err)
		}
	}
	const id = "etl-app"
	var txnCoord int32
	eventually(t, 20*time.Second, func() string {
		var err error
		if txnCoord, err = coordinatorOf(addrs[0], 1, id); err != nil {
			return fmt.Sprintf("FindCoordinator(%s): %v", id, err)
		}
		return ""
	})
	gid, groupCoord := "", int32(-1)
	for i := 0; gid == ""; i++ {
		g := "etl-" + strconv.Itoa(i)
		var c int32
		eventually(t, 20*time.Second, func() string {
			var err error
			if c, err = coordinatorOf(addrs[0], 0, g); err != nil {
				return fmt.Sprintf("FindCoordinator(%s): %v", g, err)
			}
			return ""
		})
		if c != txnCoord {
			gid, groupCoord = g, c
		}
	}
	t.Logf("transactional id %s coordinated by broker %d, group %s by broker %d", id, txnCoord, gid, groupCoord)

	var recs []*kgo.Record
	for p := range int32(3) {
		for i := range 5 {
			recs = append(recs, &kgo.Record{Topic: "etl-in", Partition: p, Value: []byte(fmt.Sprintf("%d-%d", p, i))})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(addrs...), kgo.TransactionalID(id), kgo.ConsumerGroup(gid),
		kgo.ConsumeTopics("etl-in"), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.DefaultProduceTopic("etl-out"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	copied := 0
	for copied < len(recs) {
		if ctx.Err() != nil {
			t.Fatalf("copied %d of %d records", copied, len(recs))
		}
		pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := sess.PollFetches(pctx)
		pcancel()
		got := fs.Records()
		if len(got) == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			t.Fatal(err)
		}
		for _, r := range got {
			sess.Produce(ctx, &kgo.Record{Value: r.Value}, nil)
		}
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			t.Fatalf("end: %v", err)
		}
		if committed {
			copied += len(got)
		}
	}
	// The group's committed offsets, at its coordinator, are the ends of
	// the input partitions.
	eventually(t, 20*time.Second, func() string {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = 8
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = gid
		req.Groups = append(req.Groups, rg)
		r, err := request(addrs[groupCoord-1], req)
		if err != nil {
			return err.Error()
		}
		g := r.(*kmsg.OffsetFetchResponse).Groups[0]
		if g.ErrorCode != 0 {
			return fmt.Sprintf("OffsetFetch %s: %v", gid, kerr.ErrorForCode(g.ErrorCode))
		}
		n := 0
		for _, rt := range g.Topics {
			for _, rp := range rt.Partitions {
				if rt.Topic == "etl-in" && rp.Offset == 5 {
					n++
				}
			}
		}
		if n != 3 {
			return fmt.Sprintf("group %s committed %+v, want offset 5 on the three etl-in partitions", gid, g.Topics)
		}
		return ""
	})
}

// seenValues is the set of record values some consumers have read.
type seenValues struct {
	mu sync.Mutex
	m  map[string]bool
}

func newSeenValues() *seenValues { return &seenValues{m: map[string]bool{}} }

// consume polls cl until ctx ends, recording every value it reads.
func (s *seenValues) consume(ctx context.Context, cl *kgo.Client) {
	for ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			s.mu.Lock()
			s.m[string(r.Value)] = true
			s.mu.Unlock()
		})
	}
}

func (s *seenValues) has(v string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[v]
}

// missing is a condition for eventually: the first of vals not read yet,
// as "record V " + what, or "" when all were.
func (s *seenValues) missing(vals []string, what string) func() string {
	return func() string {
		for _, v := range vals {
			if !s.has(v) {
				return fmt.Sprintf("record %s %s", v, what)
			}
		}
		return ""
	}
}
