package broker

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice/sluice/partition"
)

func TestValidateTopicName(t *testing.T) {
	f := func(name string, ok bool) {
		t.Helper()
		if err := validateTopicName(name); (err == nil) != ok {
			t.Errorf("%q: %v", name, err)
		}
	}
	f("a", true)
	f("A-b_c.9", true)
	f(strings.Repeat("x", 249), true)
	f(strings.Repeat("x", 250), false)
	f("", false)
	f(".", false)
	f("..", false)
	f("a/b", false)
	f("a b", false)
	f("é", false)
}

// TestTopicsPersist checks ids, partitions and config overrides survive a
// restart, and meta.properties pins the node id.
func TestTopicsPersist(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir)
	reg := ts.Broker().topics
	if _, err := reg.createTopic("p", 2, map[string]string{"retention.ms": "1000", "max.message.bytes": "2000"}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.createTopic("p", 1, nil); !errors.Is(err, errTopicExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := reg.createTopic("p.x", 1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.createTopic("p_x", 1, nil); !errors.Is(err, errInvalidTopic) {
		t.Fatalf("colliding name: %v", err)
	}
	if _, err := reg.createTopic("q", 1, map[string]string{"no.such": "1"}); !errors.Is(err, errInvalidConfig) {
		t.Fatalf("unknown config: %v", err)
	}
	if _, err := reg.addPartitions("p", 3); err != nil {
		t.Fatal(err)
	}
	if err := reg.deleteTopic("p.x"); err != nil {
		t.Fatal(err)
	}
	if err := reg.setConfigs("p", map[string]string{"retention.ms": "5000"}); err != nil {
		t.Fatal(err)
	}
	id := reg.get("p").id
	clusterID := ts.Broker().ClusterID()
	ts.stop(t)

	ts = startServer(t, dir)
	reg = ts.Broker().topics
	p := reg.get("p")
	if p == nil || p.id != id || len(p.partitions) != 3 || reg.get("p.x") != nil {
		t.Fatalf("after restart: %+v, p.x %v", p, reg.get("p.x"))
	}
	if got := p.partitions[2].Config().RetentionMs; got != 5000 {
		t.Fatalf("retention.ms %d after restart, want 5000", got)
	}
	if got := p.partitions[0].Config().MaxMessageBytes; got != partition.DefaultConfig().MaxMessageBytes {
		t.Fatalf("max.message.bytes %d: replaced overrides kept an old key", got)
	}
	if ts.Broker().ClusterID() != clusterID {
		t.Fatalf("cluster id changed across restart")
	}
	ts.stop(t)

	cfg := testServerConfig(dir)
	cfg.Broker.NodeID = 2
	if srv, err := StartServer(cfg); err == nil {
		srv.Shutdown(t.Context())
		t.Fatal("started with a node id other than meta.properties'")
	}
	if _, err := os.Stat(filepath.Join(dir, topicConfigsFile)); err != nil {
		t.Fatal(err)
	}
}
