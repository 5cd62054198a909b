package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluice/sluice/acl"
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
	// A later topic change and a cluster-wide broker default, kept in
	// topic-configs.json and broker-configs.json, are imported too.
	set := kmsg.IncrementalAlterConfigOpSet
	if err := alterVia(srv.Addr().String(), kmsg.ConfigResourceTypeTopic, "old-a", op(set, "retention.ms", "222222")); err != nil {
		t.Fatal(err)
	}
	if err := alterVia(srv.Addr().String(), kmsg.ConfigResourceTypeBroker, "", op(set, "log.roll.ms", "333333")); err != nil {
		t.Fatal(err)
	}
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
		// At run 2 the caches are gone: the configs come from the image.
		everywhere(t, []string{p.addr}, "old-a", "retention.ms", "222222/DYNAMIC_TOPIC_CONFIG")
		everywhere(t, []string{p.addr}, "old-b", "segment.ms", "333333/DYNAMIC_DEFAULT_BROKER_CONFIG")
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
		for _, f := range []string{"topic-configs.json", "broker-configs.json"} {
			if err := os.Remove(filepath.Join(dir, f)); err != nil {
				t.Fatalf("run %d: the cache %s: %v", run, f, err)
			}
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

// A data directory whose standalone broker kept ACLs in acls.json and
// SCRAM credentials in scram-credentials.json is taken over at sluiced's
// first start: both are imported into the metadata log (the ACL listed
// and enforced, the user authenticating), the files are renamed
// *.imported; a second start keeps them from the log alone.
func TestTakeoverOfSecurityFiles(t *testing.T) {
	dir := t.TempDir()
	ncfg := netio.DefaultConfig()
	ncfg.Addr = "127.0.0.1:0"
	bcfg := broker.DefaultConfig()
	bcfg.Authorizer = &acl.Config{SuperUsers: []string{"User:ANONYMOUS"}}
	srv, err := broker.StartServer(broker.ServerConfig{
		Store:  partition.StoreConfig{Dir: dir, Defaults: partition.DefaultConfig()},
		Net:    ncfg,
		Broker: bcfg,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	old := adminAt(t, srv.Addr().String())
	if err := upsertUser(ctx, old, "carol", "carol-secret"); err != nil {
		t.Fatal(err)
	}
	if err := createACL(ctx, old, kadm.NewACLs().Topics("t").ResourcePatternType(kadm.ACLPatternLiteral).
		Operations(kadm.OpRead).Allow("User:carol").AllowHosts()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"acls.json", "scram-credentials.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("the standalone broker wrote no %s: %v", f, err)
		}
	}

	n := secNode{id: 1, plain: fmt.Sprintf("127.0.0.1:%d", freePort(t)), sasl: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		ctl: fmt.Sprintf("127.0.0.1:%d", freePort(t)), dir: dir}
	conf := writeFile(t, "server.properties", secConfig(n, "1@"+n.ctl))
	for run := 1; run <= 2; run++ {
		p := start(t, nil, "--config", conf)
		if p.addr == "" {
			t.Fatalf("sluiced did not start:\n%s", p.stderr)
		}
		if run == 1 {
			p.waitLog("took over acls.json into the metadata log")
			p.waitLog("took over scram-credentials.json into the metadata log")
		}
		adm := adminAt(t, n.plain)
		pollUntil(t, 10*time.Second, fmt.Sprintf("run %d: the old ACL and user", run), func() error {
			d, err := adm.DescribeACLs(ctx, kadm.NewACLs().Topics().ResourcePatternType(kadm.ACLPatternAny).
				Operations(kadm.OpAny).Allow().AllowHosts().Deny().DenyHosts())
			if err != nil {
				return err
			}
			var got []kadm.DescribedACL
			for _, r := range d {
				got = append(got, r.Described...)
			}
			if len(got) != 1 || got[0].Principal != "User:carol" || got[0].Name != "t" || got[0].Operation != kmsg.ACLOperationRead {
				return fmt.Errorf("described %+v", got)
			}
			return authenticate(ctx, n.sasl, "carol", "carol-secret")
		})
		// Enforced: carol may read t but not write it.
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, "t"); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			t.Fatal(err)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.sasl), kgo.SASL(scram.Auth{User: "carol", Pass: "carol-secret"}.AsSha512Mechanism()),
			kgo.DisableIdempotentWrite(), kgo.RequestRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("run %d: carol's produce: %v, want TOPIC_AUTHORIZATION_FAILED", run, err)
		}
		cl.Close()
		p.stop()
		if len(p.logs("took over acls.json into the metadata log")) != map[int]int{1: 1, 2: 0}[run] {
			t.Fatalf("run %d: import logs %v", run, p.logs("took over acls.json into the metadata log"))
		}
		for _, f := range []string{"acls.json", "scram-credentials.json"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				t.Fatalf("run %d: %s still there", run, f)
			}
			if _, err := os.Stat(filepath.Join(dir, f+".imported")); err != nil {
				t.Fatalf("run %d: %v", run, err)
			}
		}
	}
}
