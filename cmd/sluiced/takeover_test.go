package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice/sluice/broker"
	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/partition"
)

// A data directory written by a standalone broker (topics on disk, none in
// a metadata log: what single-node Sluice wrote before topics moved into
// the image) is taken over at sluiced's first start: same topics, ids,
// partition counts, config overrides and records; a second start keeps
// them (they are not mistaken for deleted topics).
func TestTakeoverOfSingleNodeDir(t *testing.T) {
	dir := t.TempDir()
	ncfg := netio.DefaultConfig()
	ncfg.Addr = "127.0.0.1:0"
	srv, err := broker.StartServer(broker.ServerConfig{
		Store:  partition.StoreConfig{Dir: dir, Defaults: partition.DefaultConfig()},
		Net:    ncfg,
		Broker: broker.DefaultConfig(),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := writeOldTopics(ctx, t, srv.Addr().String())
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "topics-in-metadata")); err == nil {
		t.Fatal("a standalone broker marked its directory as taken over")
	}

	for run := 1; run <= 2; run++ {
		p := start(t, nil, "--data-dir", dir, "--listen", "127.0.0.1:0")
		if p.addr == "" {
			t.Fatalf("sluiced did not start:\n%s", p.stderr)
		}
		if run == 1 {
			p.waitLog("took over the topics of a single-node data directory into the metadata log")
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr), kgo.ConsumeTopics("old-a", "old-b"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatal(err)
		}
		adm := kadm.NewClient(cl)
		var after kadm.TopicDetails
		deadline := time.Now().Add(10 * time.Second)
		for { // the takeover runs once the broker registered
			after, err = adm.ListTopics(ctx, "old-a", "old-b")
			if err == nil && after.Error() == nil && len(after) == 2 && leadersKnown(after) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %d: topics %v (%v)", run, after, err)
			}
			time.Sleep(20 * time.Millisecond) // polling Metadata, bounded by the deadline
		}
		for name, d := range before {
			a := after[name]
			if a.ID != d.ID || len(a.Partitions) != len(d.Partitions) {
				t.Fatalf("run %d: %s id %v with %d partitions, was %v with %d", run, name, a.ID, len(a.Partitions), d.ID, len(d.Partitions))
			}
		}
		rc, err := adm.DescribeTopicConfigs(ctx, "old-b")
		if err != nil {
			t.Fatal(err)
		}
		if v, err := rc.On("old-b", nil); err != nil || !hasConfig(v, "retention.ms", "123456789") {
			t.Fatalf("run %d: old-b configs %+v (%v)", run, v, err)
		}
		n := 0
		for n < 5 {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("run %d: read %d of 5 old records", run, n)
			}
			n += fs.NumRecords()
		}
		cl.Close()
		p.stop()
		if _, err := os.Stat(filepath.Join(dir, "topics-in-metadata")); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}
}

// writeOldTopics creates two topics (one with a config override) and five
// records through a standalone broker and returns the topics' details.
func writeOldTopics(ctx context.Context, t *testing.T, addr string) kadm.TopicDetails {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "old-a"); err != nil {
		t.Fatal(err)
	}
	ret := "123456789"
	if _, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"retention.ms": &ret}, "old-b"); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		topic := []string{"old-a", "old-b"}[i%2]
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("old")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	d, err := adm.ListTopics(ctx, "old-a", "old-b")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func leadersKnown(d kadm.TopicDetails) bool {
	for _, td := range d {
		for _, p := range td.Partitions {
			if p.Err != nil || p.Leader < 0 {
				return false
			}
		}
	}
	return true
}

func hasConfig(rc kadm.ResourceConfig, key, value string) bool {
	for _, c := range rc.Configs {
		if c.Key == key && c.Value != nil && *c.Value == value {
			return true
		}
	}
	return false
}
