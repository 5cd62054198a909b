package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice/sluice/config"
	"github.com/sluice/sluice/partition"
)

// TestStoreConfigCleaner maps a server.properties with the log cleaner's
// keys onto partition.StoreConfig.
func TestStoreConfigCleaner(t *testing.T) {
	f := func(props string) partition.StoreConfig {
		t.Helper()
		path := filepath.Join(t.TempDir(), "server.properties")
		if err := os.WriteFile(path, []byte(props), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, _, err := config.Load(path, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		sc := storeConfig(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err := sc.Defaults.Validate(); err != nil {
			t.Fatal(err)
		}
		return sc
	}
	sc := f("log.cleanup.policy=compact\nlog.cleaner.threads=2\nlog.cleaner.dedupe.buffer.size=33554432\n" +
		"log.cleaner.backoff.ms=500\nlog.cleaner.min.cleanable.ratio=0.1\nlog.cleaner.min.compaction.lag.ms=1000\n" +
		"log.cleaner.max.compaction.lag.ms=7200000\nlog.cleaner.delete.retention.ms=60000\n")
	d := sc.Defaults
	if sc.CleanerThreads != 2 || sc.CleanerDedupeBufferSize != 32<<20 || sc.CleanerBackoff != 500*time.Millisecond {
		t.Fatalf("cleaner: threads %d buffer %d backoff %v", sc.CleanerThreads, sc.CleanerDedupeBufferSize, sc.CleanerBackoff)
	}
	if d.CleanupPolicy != "compact" || d.MinCleanableDirtyRatio != 0.1 || d.MinCompactionLagMs != 1000 ||
		d.MaxCompactionLagMs != 7200000 || d.DeleteRetentionMs != 60000 {
		t.Fatalf("defaults: %+v", d)
	}
	if sc := f("log.cleaner.enable=false\n"); sc.CleanerThreads != -1 {
		t.Fatalf("log.cleaner.enable=false: threads %d, want -1", sc.CleanerThreads)
	}
	if def, got := partition.DefaultConfig(), f("").Defaults; got.CleanupPolicy != def.CleanupPolicy ||
		got.MinCleanableDirtyRatio != def.MinCleanableDirtyRatio || got.MaxCompactionLagMs != def.MaxCompactionLagMs ||
		got.DeleteRetentionMs != def.DeleteRetentionMs || got.MinCompactionLagMs != def.MinCompactionLagMs {
		t.Fatalf("config defaults differ from partition's: %+v", got)
	}
}

// TestBrokerConfigRebalanceDelay: group.initial.rebalance.delay.ms=0 reaches
// the coordinator as zero (no delay, as in Kafka), not as the 3 s default.
func TestBrokerConfigRebalanceDelay(t *testing.T) {
	f := func(props string, want time.Duration) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "server.properties")
		if err := os.WriteFile(path, []byte(props), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, _, err := config.Load(path, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		bc := brokerConfig(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), &tlsListeners{})
		if got := bc.Groups.InitialRebalanceDelay; got != want {
			t.Fatalf("%q: delay %v, want %v", props, got, want)
		}
	}
	f("group.initial.rebalance.delay.ms=0\n", 0)
	f("group.initial.rebalance.delay.ms=250\n", 250*time.Millisecond)
	f("", 3*time.Second)
}

// TestStaticConfigsFromSettings: every option reaches the broker's
// DescribeConfigs table, marked set only when the file set it.
func TestStaticConfigsFromSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(path, []byte("log.retention.hours=24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, settings, err := config.Load(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	bc := withStaticConfigs(brokerConfig(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), &tlsListeners{}), settings)
	want := 0
	for _, o := range config.Options {
		if !o.Pattern { // key families (JAAS configs) hold secrets: not described
			want++
		}
	}
	if len(bc.StaticConfigs) != want {
		t.Errorf("%d static configs for %d options", len(bc.StaticConfigs), want)
	}
	if sc := bc.StaticConfigs["log.retention.hours"]; sc.Value != "24" || !sc.Set {
		t.Errorf("log.retention.hours: %+v", sc)
	}
	if sc := bc.StaticConfigs["log.segment.bytes"]; sc.Value != "1073741824" || sc.Set {
		t.Errorf("log.segment.bytes: %+v", sc)
	}
}

func TestBrokerConfigAuthorizer(t *testing.T) {
	if b := brokerConfig(&config.Config{}, nil, &tlsListeners{}); b.Authorizer != nil {
		t.Fatalf("authorizer on without authorizer.class.name: %+v", b.Authorizer)
	}
	b := brokerConfig(&config.Config{Authorizer: true, SuperUsers: []string{"User:admin"}, AllowEveryoneIfNoACL: true}, nil, &tlsListeners{})
	if b.Authorizer == nil || !b.Authorizer.AllowIfNoACL || len(b.Authorizer.SuperUsers) != 1 {
		t.Fatalf("authorizer config: %+v", b.Authorizer)
	}
}
