package kafkaref

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestCheckMissingJars(t *testing.T) {
	err := Check(t.TempDir())
	if !errors.Is(err, ErrMissing) {
		t.Fatalf("Check(empty dir) = %v, want ErrMissing", err)
	}
}

func TestServerProps(t *testing.T) {
	dir := t.TempDir()
	p := &Plan{Addr: "127.0.0.1:1", ControllerAddr: "127.0.0.1:2", Dir: dir}
	path := filepath.Join(dir, "server.properties")
	if err := writeProps(path, serverProps(p, map[string]string{"num.partitions": "3", "node.id": "1"})); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"process.roles=broker,controller\n",
		"controller.quorum.voters=1@127.0.0.1:2\n",
		"listeners=PLAINTEXT://127.0.0.1:1,CONTROLLER://127.0.0.1:2\n",
		"log.dirs=" + filepath.Join(dir, "logs") + "\n",
		"num.partitions=3\n",
		"group.initial.rebalance.delay.ms=0\n",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("server.properties lacks %q:\n%s", want, b)
		}
	}
	for range 2000 {
		if id := clusterID(); len(id) != 22 || id[0] == '-' {
			t.Fatalf("cluster id %q: want 22 characters, not starting with '-'", id)
		}
	}
}

// TestPingNotKafka: a listener that closes every connection is not ready.
func TestPingNotKafka(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Ping(ctx, ln.Addr().String()); err == nil {
		t.Fatal("Ping succeeded against a listener that closes connections")
	}
}

// TestClusterNodeProps: every node of a three-node cluster lists the
// same three voters, has its own id, ports and log dir, and replicates the
// internal topics three times.
func TestClusterNodeProps(t *testing.T) {
	dir := t.TempDir()
	voters := "1@127.0.0.1:11,2@127.0.0.1:21,3@127.0.0.1:31"
	seen := map[string]bool{}
	for id := 1; id <= 3; id++ {
		p := &Plan{Addr: fmt.Sprintf("127.0.0.1:%d0", id), ControllerAddr: fmt.Sprintf("127.0.0.1:%d1", id),
			Dir: filepath.Join(dir, fmt.Sprintf("node%d", id))}
		m := clusterNodeProps(p, id, 3, voters, map[string]string{"min.insync.replicas": "2"})
		for k, want := range map[string]string{
			"node.id":                          strconv.Itoa(id),
			"process.roles":                    "broker,controller",
			"controller.quorum.voters":         voters,
			"listeners":                        fmt.Sprintf("PLAINTEXT://127.0.0.1:%d0,CONTROLLER://127.0.0.1:%d1", id, id),
			"advertised.listeners":             fmt.Sprintf("PLAINTEXT://127.0.0.1:%d0", id),
			"log.dirs":                         filepath.Join(p.Dir, "logs"),
			"offsets.topic.replication.factor": "3",
			"transaction.state.log.min.isr":    "2",
			"min.insync.replicas":              "2",
		} {
			if m[k] != want {
				t.Errorf("node %d: %s=%q, want %q", id, k, m[k], want)
			}
		}
		if seen[m["log.dirs"]] {
			t.Errorf("node %d shares log.dirs %s", id, m["log.dirs"])
		}
		seen[m["log.dirs"]] = true
	}
	// One node: internal topics replicated once.
	p := &Plan{Addr: "127.0.0.1:1", ControllerAddr: "127.0.0.1:2", Dir: dir}
	if m := clusterNodeProps(p, 1, 1, "1@127.0.0.1:2", nil); m["offsets.topic.replication.factor"] != "1" || m["transaction.state.log.min.isr"] != "1" {
		t.Errorf("one node: %v", m)
	}
}

func TestPrepareClusterMissingJars(t *testing.T) {
	_, err := PrepareCluster(context.Background(), ClusterOptions{LibDir: t.TempDir(), Dir: t.TempDir()})
	if !errors.Is(err, ErrMissing) {
		t.Fatalf("PrepareCluster without jars = %v, want ErrMissing", err)
	}
}
