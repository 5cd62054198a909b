package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKill9SharedPartitionMetadata: the first writes to a topic's
// partitions give their directories one partition.metadata inode (hard
// links, package partition's metalink.go). After kill -9 the restart has
// every partition with its record and the topic's id; DeleteTopics removes
// every directory; the topic created again under the same name gets a new
// id, and its new directories name the new id, not the deleted topic's.
func TestKill9SharedPartitionMetadata(t *testing.T) {
	const topic, n = "ml", 6
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	produceAll := func(addr string) {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		for p := range int32(n) {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatalf("produce to %d: %v", p, err)
			}
		}
	}
	// metadata checks that every partition's partition.metadata names id
	// and that all are one inode.
	metadata := func(id [16]byte) {
		t.Helper()
		want := "topic_id: " + base64.RawURLEncoding.EncodeToString(id[:]) + "\n"
		var first os.FileInfo
		for p := range n {
			path := filepath.Join(dir, topic+"-"+string(rune('0'+p)), "partition.metadata")
			b, err := os.ReadFile(path)
			if err != nil || !bytes.Contains(b, []byte(want)) {
				t.Fatalf("%s: %q, %v; want it to name %x", path, b, err, id)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = st
			} else if !os.SameFile(first, st) {
				t.Fatalf("%s is not the same inode as partition 0's", path)
			}
		}
	}

	p := start(t, nil, "--data-dir", dir, "--listen", "127.0.0.1:0")
	adm, closeAdm := lazyAdmin(t, p.addr)
	res, err := adm.CreateTopic(ctx, n, 1, nil, topic)
	if err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	id := [16]byte(res.ID)
	lazyOffsets(ctx, t, adm, topic, n)
	produceAll(p.addr)
	closeAdm()
	p.kill()
	metadata(id)

	p = start(t, nil, "--data-dir", dir, "--listen", "127.0.0.1:0")
	defer p.stop()
	adm, closeAdm = lazyAdmin(t, p.addr)
	defer closeAdm()
	for part, o := range lazyOffsets(ctx, t, adm, topic, n) {
		if o != [2]int64{0, 1} {
			t.Fatalf("partition %d after the kill: start, end %v, want 0, 1", part, o)
		}
	}
	if res, err := adm.DeleteTopic(ctx, topic); err != nil || res.Err != nil {
		t.Fatalf("delete: %v %v", err, res.Err)
	}
	for deadline := time.Now().Add(30 * time.Second); len(lazyDirs(t, dir, topic)) > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("directories left 30 s after DeleteTopics: %v", lazyDirs(t, dir, topic))
		}
		time.Sleep(20 * time.Millisecond)
	}
	res, err = adm.CreateTopic(ctx, n, 1, nil, topic)
	if err != nil || res.Err != nil {
		t.Fatalf("create again: %v %v", err, res.Err)
	}
	if [16]byte(res.ID) == id {
		t.Fatal("the topic created again has the deleted one's id")
	}
	lazyOffsets(ctx, t, adm, topic, n)
	produceAll(p.addr)
	metadata([16]byte(res.ID))
}
