package kafkaref

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
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
