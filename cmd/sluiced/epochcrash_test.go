package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestKill9WithEmptyEpochCheckpoint: sluiced is killed (-9) after records
// reached a new partition, before any flush: its leader-epoch-checkpoint
// entries were recorded in memory only, so there is no file; or the file
// is left empty, as a power loss can leave it after a flush's rename. The
// restart re-learns the epochs from the batches: OffsetForLeaderEpoch
// answers as before the kill and every record is there.
func TestKill9WithEmptyEpochCheckpoint(t *testing.T) {
	for _, empty := range []bool{false, true} {
		t.Run(fmt.Sprintf("empty=%v", empty), func(t *testing.T) { kill9EpochCheckpoint(t, empty) })
	}
}

func kill9EpochCheckpoint(t *testing.T, empty bool) {
	dir := t.TempDir()
	p := start(t, nil, "--data-dir", dir, "--listen", "127.0.0.1:0", "--num-partitions", "1")
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr), kgo.DefaultProduceTopic("ep"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range 10 {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("v%d", i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	before := epochEnds(ctx, t, cl)
	cl.Close()
	p.kill()
	ckpt := filepath.Join(dir, "ep-0", "leader-epoch-checkpoint")
	if _, err := os.Stat(ckpt); !os.IsNotExist(err) {
		t.Fatalf("a checkpoint file before any flush: %v", err)
	}
	if empty {
		if err := os.WriteFile(ckpt, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p2 := start(t, nil, "--data-dir", dir, "--listen", "127.0.0.1:0")
	if empty {
		p2.waitLog("leader epoch checkpoint unreadable after an unclean shutdown: re-learning every epoch from the batch headers")
	}
	cl2, err := kgo.NewClient(kgo.SeedBrokers(p2.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	after := epochEnds(ctx, t, cl2)
	for e, want := range before {
		if after[e] != want {
			t.Errorf("OffsetForLeaderEpoch(%d): %v after the restart, %v before", e, after[e], want)
		}
	}
	if got := consumeAll(t, p2.addr, "ep"); len(got) != 10 {
		t.Fatalf("%d records after the restart, want 10", len(got))
	}
	p2.stop()
}

// epochEnds asks OffsetForLeaderEpoch of ep-0 for epochs 0 up to the
// partition's current leader epoch, waiting for the partition to have a
// leader: epoch -> [leader epoch, end offset] answered.
func epochEnds(ctx context.Context, t *testing.T, cl *kgo.Client) map[int32][2]int64 {
	t.Helper()
	var current int32 = -1
	for deadline := time.Now().Add(30 * time.Second); current < 0; {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("ep")
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err == nil && len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1 &&
			resp.Topics[0].Partitions[0].ErrorCode == 0 && resp.Topics[0].Partitions[0].Leader >= 0 {
			current = resp.Topics[0].Partitions[0].LeaderEpoch
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ep-0 has no leader: %v %+v", err, resp)
		}
		time.Sleep(50 * time.Millisecond)
	}
	out := map[int32][2]int64{}
	for e := int32(0); e <= current; e++ {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.ReplicaID = -1
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = "ep"
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.LeaderEpoch, rp.CurrentLeaderEpoch = e, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		got := resp.Topics[0].Partitions[0]
		if got.ErrorCode != 0 {
			t.Fatalf("OffsetForLeaderEpoch(%d): error %d", e, got.ErrorCode)
		}
		out[e] = [2]int64{int64(got.LeaderEpoch), got.EndOffset}
	}
	if out[current][1] != 10 {
		t.Fatalf("OffsetForLeaderEpoch(%d) = %v, want end offset 10", current, out[current])
	}
	return out
}
