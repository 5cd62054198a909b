package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKillDuringBigTopicCreateAndDelete kills sluiced (SIGKILL) while a
// 500-partition topic is being created, and again while it is being
// deleted (after a record to each partition made its directory): every restart must succeed, with the topic wholly there (every
// partition, its config) or wholly gone.
func TestKillDuringBigTopicCreateAndDelete(t *testing.T) {
	if testing.Short() {
		t.Skip("about 15 s (30 s with a -race binary on a loaded machine)")
	}
	const topic, n = "big", 500
	dataDir := t.TempDir()
	d := start(t, dataDir)
	createTopic(t, d.Addr, "other", 2)

	go func() { // fails when the broker dies under it
		cl := newClient(t, d.Addr)
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		kadm.NewClient(cl).CreateTopic(ctx, n, 1, map[string]*string{"cleanup.policy": strPtr("compact")}, topic)
	}()
	// A partition's directory is made by its first write, so creation
	// leaves no directory to count: the kill comes once the topic is in
	// the metadata, while its partitions are still being set up.
	waitFor(t, "the new topic in the metadata", ioTimeout, func() bool { return topicListed(t, d.Addr, topic) })
	d.Kill()

	d = start(t, dataDir)
	parts, compact := describeTopic(t, d.Addr, topic)
	t.Logf("killed once the topic was listed; after restart the topic has %d of %d partitions", parts, n)
	if parts != 0 && parts != n || parts == n && !compact {
		t.Fatalf("after a crash during creation: %d partitions (compact %v), want 0 or %d with cleanup.policy=compact", parts, compact, n)
	}
	if parts == 0 {
		createTopicConfigs(t, d.Addr, topic, n, map[string]*string{"cleanup.policy": strPtr("compact")})
	}
	requireHealthy(t, d.Addr, "other")
	writeEveryPartition(t, d.Addr, topic, n) // every partition gets its directory
	if got := countDirs(t, dataDir, topic); got != n {
		t.Fatalf("%d partition directories after a record to each of %d partitions", got, n)
	}

	go func() {
		cl := newClient(t, d.Addr)
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		kadm.NewClient(cl).DeleteTopics(ctx, topic)
	}()
	waitFor(t, "the deletion to start", ioTimeout, func() bool { return countDirs(t, dataDir, topic) <= n-20 })
	d.Kill()
	left := countDirs(t, dataDir, topic)

	d = start(t, dataDir)
	parts, _ = describeTopic(t, d.Addr, topic)
	t.Logf("killed with %d of %d partition directories left; after restart the topic has %d partitions", left, n, parts)
	if parts != 0 || countDirs(t, dataDir, topic) != 0 {
		t.Fatalf("after a crash during deletion: %d partitions, %d directories", parts, countDirs(t, dataDir, topic))
	}
	requireHealthy(t, d.Addr, "other")
	d.Stop()
}

func strPtr(s string) *string { return &s }

// countDirs counts topic's partition directories (not renamed for deletion).
func countDirs(t *testing.T, dataDir, topic string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dataDir, topic+"-*"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range m {
		if !strings.HasSuffix(p, "-delete") && !strings.HasSuffix(p, "-new") {
			n++
		}
	}
	return n
}

// topicListed says whether Metadata lists topic (without creating it).
func topicListed(t *testing.T, addr, topic string) bool {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	td, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		return false
	}
	d, ok := td[topic]
	return ok && d.Err == nil && len(d.Partitions) > 0
}

// writeEveryPartition produces one keyed record to each of topic's n
// partitions and waits for every acknowledgement.
func writeEveryPartition(t *testing.T, addr, topic string, n int) {
	t.Helper()
	cl := newClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 2*ioTimeout)
	defer cancel()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: int32(i), Key: []byte("k"), Value: []byte("v")}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce to every partition of %s: %v", topic, err)
	}
}

// describeTopic returns the topic's partition count (0: no such topic) and
// whether its cleanup.policy is compact.
func describeTopic(t *testing.T, addr, topic string) (int, bool) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr)) // no auto-creation: asking must not create it
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	d, ok := td[topic]
	if !ok || d.Err != nil {
		return 0, false
	}
	for _, p := range d.Partitions {
		if p.Err != nil || p.Leader < 0 {
			t.Fatalf("%s-%d: %v leader %d", topic, p.Partition, p.Err, p.Leader)
		}
	}
	rc, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatalf("describe configs: %v", err)
	}
	compact := false
	for _, c := range rc[0].Configs {
		if c.Key == "cleanup.policy" && c.Value != nil && *c.Value == "compact" {
			compact = true
		}
	}
	return len(d.Partitions), compact
}

func createTopicConfigs(t *testing.T, addr, topic string, n int32, configs map[string]*string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*ioTimeout)
	defer cancel()
	resp, err := kadm.NewClient(newClient(t, addr)).CreateTopic(ctx, n, 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
}
