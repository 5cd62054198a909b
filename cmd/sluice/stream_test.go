package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// producer returns a client producing to topic, created with one partition.
func producer(t *testing.T, addr, topic string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	return cl
}

func produceOne(t *testing.T, cl *kgo.Client, v string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// tailTest runs `sluice consume` writing to out (read back from in) and
// checks that each record is printed while the producer is still going:
// the second record is produced only after the first was read.
func tailTest(t *testing.T, out *os.File, in io.Reader) {
	addr := startBroker(t)
	cl := producer(t, addr, "tail")
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- run([]string{"consume", "tail", "--num", "2", "--format", `got %v\n`, "--brokers", addr}, out, &stderr)
	}()
	lines := make(chan string, 2)
	go func() {
		r := bufio.NewReader(in)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				close(lines)
				return
			}
			lines <- strings.TrimRight(l, "\r\n")
		}
	}()
	// The consumer starts at the end: produce until the first record
	// is printed (polling, as the consumer may not have joined yet).
	deadline := time.After(30 * time.Second)
	for first := false; !first; {
		produceOne(t, cl, "first")
		select {
		case l := <-lines:
			if l != "got first" {
				t.Fatalf("line %q, want %q", l, "got first")
			}
			first = true
		case <-time.After(time.Second):
		case <-deadline:
			t.Fatalf("no record printed within 30s; stderr: %s", stderr.String())
		}
	}
	produceOne(t, cl, "second")
	for {
		select {
		case l := <-lines:
			if l == "got first" {
				continue // produced twice while the consumer was starting
			}
			if l != "got second" {
				t.Fatalf("line %q, want %q", l, "got second")
			}
			if code := <-done; code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			return
		case <-deadline:
			t.Fatalf("second record not printed within 30s; stderr: %s", stderr.String())
		}
	}
}

// TestConsumeToPipeStreams: records reach a pipe as they arrive, not at exit.
func TestConsumeToPipeStreams(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	tailTest(t, w, r)
}

// TestConsumeToTerminalStreams: on a terminal (a pty), each record is
// printed as it arrives.
func TestConsumeToTerminalStreams(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	if !isTerminal(tty) {
		t.Fatal("isTerminal(pty) = false")
	}
	tailTest(t, tty, ptmx)
}

// refusedAddr is a loopback address where nothing listens: port 1
// (tcpmux), which no test binds and which needs privileges to bind. A
// port found by binding :0 and closing it could be taken by another
// package's test, running at the same time, before the command dials it.
func refusedAddr(t *testing.T) string {
	t.Helper()
	const addr = "127.0.0.1:1"
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Skipf("something listens on %s", addr)
	}
	return addr
}

// TestBrokerDown: every broker command fails at once, naming the address
// and the reason, with exit status 1.
func TestBrokerDown(t *testing.T) {
	addr := refusedAddr(t)
	cmds := [][]string{
		{"produce", "keys"}, {"consume", "keys"}, {"consume", "keys", "--group", "g"},
		{"topics", "list"}, {"topics", "describe", "x"}, {"groups", "list"}, {"cluster", "info"},
	}
	for _, c := range cmds {
		stdin = strings.NewReader("x\n")
		var stdout, stderr bytes.Buffer
		start := time.Now()
		code := run(append(c, "--brokers", addr, "--request-timeout", "5s"), &stdout, &stderr)
		took := time.Since(start)
		want := "cannot reach " + addr + ": connection refused\n"
		if code != 1 || stdout.Len() > 0 || !strings.HasSuffix(stderr.String(), want) || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 1 and %q", c, code, stdout.String(), stderr.String(), want)
		}
		if took > 5*time.Second {
			t.Errorf("%v: took %v, over its 5s --request-timeout", c, took)
		}
	}
	stdin = os.Stdin
}

// TestConsumeTimeoutAndUnknownTopic: --timeout with no record, and an
// unknown topic (with or without --group), exit 1 with a message.
func TestConsumeTimeoutAndUnknownTopic(t *testing.T) {
	addr := startBroker(t)
	producer(t, addr, "quiet")
	f := func(wantCode int, wantErr string, args ...string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		start := time.Now()
		code := run(append(args, "--brokers", addr), &stdout, &stderr)
		if code != wantCode || stderr.String() != wantErr || stdout.Len() > 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d and %q", args, code, stdout.String(), stderr.String(), wantCode, wantErr)
		}
		if took := time.Since(start); took > 20*time.Second {
			t.Errorf("%v: took %v", args, took)
		}
	}
	f(1, "sluice consume: no record arrived within 500ms\n", "consume", "quiet", "--timeout", "500ms")
	f(0, "", "consume", "quiet", "-e", "--offset", "beginning")
	f(1, "sluice consume: topic \"nosuch\" does not exist\n", "consume", "nosuch", "--timeout", "3s")
	f(1, "sluice consume: topic \"nosuch\" does not exist\n", "consume", "nosuch", "--group", "g")
}

// TestClusterInfo checks the table's sections and the JSON's fields, on
// a combined node (broker and its one-voter controller quorum).
func TestClusterInfo(t *testing.T) {
	addr := startCombinedNode(t)
	out := sluice(t, "cluster", "info", "--brokers", addr)
	for _, want := range []string{"CLUSTER-ID  ", "CONTROLLER  1\n", "\nID  STATE  HOST       PORT", "\n1   alive  127.0.0.1  ",
		"\nQUORUM-LEADER   1\n", "\nNODE  ROLE    LOG-END-OFFSET  LAG  LAST-FETCH\n1     leader  ",
		"\nBROKER  KEY  API ", "\n1       0    Produce  "} {
		if !strings.Contains(out, want) {
			t.Errorf("cluster info: no %q in\n%s", want, out)
		}
	}
	var info clusterInfo
	if err := jsonUnmarshal(sluice(t, "cluster", "info", "--brokers", addr, "--output", "json"), &info); err != nil {
		t.Fatal(err)
	}
	if info.ClusterID == "" || info.Controller != 1 || len(info.Brokers) != 1 || info.Brokers[0].Host != "127.0.0.1" ||
		info.Brokers[0].State != "alive" || len(info.APIVersions) < 10 || info.APIVersions[0].API != "Produce" {
		t.Fatalf("cluster info --output json: %+v", info)
	}
	q := info.Quorum
	if q == nil || q.Leader != 1 || q.Epoch < 1 || q.HighWatermark < 1 || len(q.Replicas) != 1 ||
		q.Replicas[0] != (quorumState{ID: 1, Role: "leader", LogEndOffset: q.Replicas[0].LogEndOffset, Lag: 0, LastFetchMs: -1}) {
		t.Fatalf("cluster info --output json: quorum %+v (error %q)", q, info.QuorumError)
	}
}

// A broker without a quorum (embedded, no controller) still shows its
// brokers, and says why there is no quorum.
func TestClusterInfoWithoutQuorum(t *testing.T) {
	addr := startBroker(t)
	out := sluice(t, "cluster", "info", "--brokers", addr)
	for _, want := range []string{"\n1   alive  127.0.0.1  ", "\nQUORUM unavailable: ", "NOT_LEADER"} {
		if !strings.Contains(out, want) {
			t.Errorf("cluster info: no %q in\n%s", want, out)
		}
	}
}
