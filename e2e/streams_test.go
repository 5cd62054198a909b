package e2e

// Kafka Streams with exactly_once_v2 (issue 16): the Java kit's WordCount
// counts words through a repartition topic and a changelogged store while
// sluiced is killed with SIGKILL and started again; the counts it
// publishes (read_committed) end exactly right, never above.

import (
	"context"
	"encoding/binary"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestStreamsExactlyOnceAcrossKill(t *testing.T) {
	kit := requireJava(t)
	if !isFile(filepath.Join("java", "target", "classes", "io", "sluice", "kit", "WordCount.class")) {
		t.Skip("the Java kit predates WordCount: run scripts/test-deps.sh")
	}
	dir := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(cfg, []byte("transaction.state.log.num.partitions=3\noffsets.topic.num.partitions=1\n"+
		"transaction.abort.timed.out.transaction.cleanup.interval.ms=200\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := start(t, dir, "--config", cfg, "--group-initial-rebalance-delay", "0")
	addr := d.Addr
	const in, out = "wc-in", "wc-out"
	createTopic(t, addr, in, 3)
	createTopic(t, addr, out, 3)

	words := strings.Fields("alpha beta gamma delta epsilon zeta eta theta")
	want := map[string]int64{}
	seq := 0
	batch := func(n int) []*kgo.Record {
		var recs []*kgo.Record
		for range n {
			var line []string
			for j := range 3 {
				w := words[(seq*7+j*3)%len(words)]
				line = append(line, w)
				want[w]++
			}
			r := kgo.StringRecord(strings.Join(line, " "))
			r.Topic = in
			recs = append(recs, r)
			seq++
		}
		return recs
	}

	ctx, cancel := context.WithTimeout(context.Background(), javaTimeout)
	defer cancel()
	cmd := kit.command(ctx, "io.sluice.kit.WordCount", addr, in, out, "wc-app", t.TempDir())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	jout, jerr := &tailBuffer{max: 16 << 10}, &tailBuffer{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = jout, jerr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("WordCount stdout:\n%s\nstderr (tail):\n%s", jout.String(), tail(jerr.String(), 8192))
		}
	})

	// The counts as published: the last committed value of each word.
	reader := newClient(t, addr, kgo.ConsumeTopics(out), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]int64{}
	poll := func(until func() bool, what string, limit time.Duration) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !until() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v; counts %v, want %v", what, limit, got, want)
			}
			pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
			fs := reader.PollFetches(pctx)
			pcancel()
			fs.EachRecord(func(r *kgo.Record) {
				if len(r.Value) != 8 {
					t.Fatalf("count of %q: %d bytes, want a long", r.Key, len(r.Value))
				}
				n := int64(binary.BigEndian.Uint64(r.Value))
				got[string(r.Key)] = n
			})
			for w, n := range got {
				if n > want[w] {
					t.Fatalf("%q counted %d times, only %d produced: not exactly once", w, n, want[w])
				}
			}
		}
	}

	produceSync(t, newClient(t, addr), batch(200)...)
	poll(func() bool { return len(got) > 0 }, "first counts", 60*time.Second)
	second := batch(200)
	pcl := newClient(t, addr)
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	if err := pcl.ProduceSync(pctx, second[:100]...).FirstErr(); err != nil { // processed as the broker dies
		t.Fatal(err)
	}
	pcancel()
	d.Kill()
	pcl.Close()
	start(t, dir, "--config", cfg, "--group-initial-rebalance-delay", "0", "--listen", addr) // stopped at cleanup
	produceSync(t, newClient(t, addr), second[100:]...)
	produceSync(t, newClient(t, addr), batch(200)...)
	poll(func() bool { return maps.Equal(got, want) }, "exact counts after the kill", 90*time.Second)
	t.Logf("counts %v after a SIGKILL mid-run", got)
}
