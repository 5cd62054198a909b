package main

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKill9AfterLazyCreate: a topic's partitions get no directory until
// their first write (partition.Store.CreateLogsLazy; the metadata log
// holds the topic). sluiced is killed (-9) right after CreateTopics
// answered: the restart has the topic, every partition led and at offsets
// 0/0, and produce works. A second kill after one partition was written:
// that partition keeps its record, the others are still empty and have no
// directory, DescribeLogDirs lists them all, and DeleteTopics removes the
// topic, written partition and never-written ones alike.
func TestKill9AfterLazyCreate(t *testing.T) {
	const topic, n = "lz", 12
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p := start(t, nil, "--data-dir", dir, "--listen", "127.0.0.1:0")
	adm, closeAdm := lazyAdmin(t, p.addr)
	if res, err := adm.CreateTopic(ctx, n, 1, nil, topic); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	closeAdm()
	p.kill()
	if d := lazyDirs(t, dir, topic); len(d) != 0 {
		t.Fatalf("partition directories before any write: %v", d)
	}

	p = start(t, nil, "--data-dir", dir, "--listen", "127.0.0.1:0")
	adm, closeAdm = lazyAdmin(t, p.addr)
	ends := lazyOffsets(ctx, t, adm, topic, n)
	for part, o := range ends {
		if o != [2]int64{0, 0} {
			t.Fatalf("partition %d after the kill: start, end %v, want 0, 0", part, o)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 3, Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("produce after the restart: %v", err)
	}
	cl.Close()
	closeAdm()
	p.kill()
	if d := lazyDirs(t, dir, topic); !slices.Equal(d, []string{topic + "-3"}) {
		t.Fatalf("partition directories after one write: %v, want [%s-3]", d, topic)
	}

	p = start(t, nil, "--data-dir", dir, "--listen", "127.0.0.1:0")
	defer p.stop()
	adm, closeAdm = lazyAdmin(t, p.addr)
	defer closeAdm()
	for part, o := range lazyOffsets(ctx, t, adm, topic, n) {
		want := [2]int64{0, 0}
		if part == 3 {
			want[1] = 1
		}
		if o != want {
			t.Fatalf("partition %d after the second kill: start, end %v, want %v", part, o, want)
		}
	}
	logDirs, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[int32]int64{}
	logDirs.Each(func(d kadm.DescribedLogDir) {
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			if p.Topic == topic {
				sizes[p.Partition] = p.Size
			}
		})
	})
	if len(sizes) != n || sizes[3] == 0 || sizes[0] != 0 {
		t.Fatalf("DescribeLogDirs sizes %v: want %d partitions, only partition 3 not empty", sizes, n)
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
}

func lazyAdmin(t *testing.T, addr string) (*kadm.Client, func()) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	return kadm.NewClient(cl), cl.Close
}

// lazyOffsets waits until every partition of topic has a leader and
// answers ListOffsets, and returns each one's [start, end].
func lazyOffsets(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, n int) map[int32][2]int64 {
	t.Helper()
	var last error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		td, err := adm.ListTopics(ctx, topic)
		if last = err; err != nil {
			continue
		}
		d, ok := td[topic]
		if !ok || d.Err != nil || len(d.Partitions) != n {
			last = errors.New("topic not described with all its partitions")
			continue
		}
		starts, err := adm.ListStartOffsets(ctx, topic)
		if err == nil {
			err = starts.Error()
		}
		var ends kadm.ListedOffsets
		if err == nil {
			ends, err = adm.ListEndOffsets(ctx, topic)
		}
		if err == nil {
			err = ends.Error()
		}
		if last = err; err != nil {
			continue
		}
		out := map[int32][2]int64{}
		starts.Each(func(o kadm.ListedOffset) { out[o.Partition] = [2]int64{o.Offset, out[o.Partition][1]} })
		ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = [2]int64{out[o.Partition][0], o.Offset} })
		if len(out) == n {
			return out
		}
	}
	t.Fatalf("%s not ready after 30 s: %v", topic, last)
	return nil
}

// lazyDirs lists topic's partition directories in dir (not the ones being
// created or deleted).
func lazyDirs(t *testing.T, dir, topic string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() && strings.HasPrefix(name, topic+"-") && !strings.Contains(name, ".") {
			out = append(out, name)
		}
	}
	return out
}
