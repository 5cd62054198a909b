package main

import (
	"context"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/bench"
)

// tagBomb is ListGroups v3 whose body is only a tagged-field count of
// 2^32-1: kmsg v1.15.0 looped once per claimed tag (110 CPU-seconds for
// these 20 bytes).
const tagBomb = "000000100010000300000007ffff00ffffffff0f"

// TestTagCountFrameCostsNothing sends the 20-byte frame on 10 connections
// to a real sluiced: the broker closes each (the body does not decode),
// the ten cost it less than one CPU-second in all (they cost ~0; the bug
// cost minutes each), and another client is still served.
func TestTagCountFrameCostsNothing(t *testing.T) {
	frame, err := hex.DecodeString(tagBomb)
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, nil, "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0")
	defer p.stop()
	produce(t, p.addr, "warm", 1) // start-up work done before measuring
	pid := p.cmd.Process.Pid
	before, err := bench.ProcCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]net.Conn, 10)
	for i := range conns {
		if conns[i], err = net.Dial("tcp", p.addr); err != nil {
			t.Fatal(err)
		}
		defer conns[i].Close()
		if _, err := conns[i].Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	// Each connection is closed by the broker once the frame is rejected;
	// if it loops instead, CPU time passes the bound first.
	deadline := time.Now().Add(60 * time.Second)
	for i, c := range conns {
		for {
			c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			n, err := c.Read(make([]byte, 64))
			if n > 0 {
				t.Fatalf("connection %d: %d response bytes to an undecodable frame", i, n)
			}
			if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				break // EOF or reset: the broker closed it
			}
			cpu, cerr := bench.ProcCPU(pid)
			if cerr != nil {
				t.Fatal(cerr)
			}
			if cpu-before >= 1 || time.Now().After(deadline) {
				t.Fatalf("connection %d still open after %.2f CPU-seconds", i, cpu-before)
			}
		}
	}
	after, err := bench.ProcCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("10 frames cost %.2f CPU-seconds", after-before)
	if after-before >= 1 {
		t.Fatalf("10 frames of %d bytes cost %.2f CPU-seconds, want < 1", len(frame), after-before)
	}
	produce(t, p.addr, "after", 3)
}

// TestNonUTF8GroupMetrics commits an offset for a group whose name is not
// UTF-8 (a raw OffsetCommit; Kafka's protocol does not reject it), then
// /metrics answers 200 with the name escaped, also after a restart that
// replays the commit from __consumer_offsets; the page never shows a stack.
func TestNonUTF8GroupMetrics(t *testing.T) {
	const group = "g\xff\xfe"
	dir := t.TempDir()
	args := []string{"--data-dir", dir, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"}
	p := start(t, nil, args...)
	produce(t, p.addr, "t", 3)
	commitRaw(t, p.addr, group, "t", 2)
	want := `sluice_consumer_group_committed_offset{group="g\\xff\\xfe",partition="0",topic="t"} 2`
	checkMetrics(t, p, want)
	p.stop()

	p = start(t, nil, args...)
	defer p.stop()
	checkMetrics(t, p, want)
}

// commitRaw sends OffsetCommit v2 (generation -1: a simple commit) for one
// partition through the group's coordinator.
func commitRaw(t *testing.T, addr, group, topic string, offset int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 2
	req.Group, req.Generation, req.RetentionTimeMillis = group, -1, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Offset = offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("OffsetCommit response %+v", resp)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode); err != nil {
		t.Fatalf("OffsetCommit: %v", err)
	}
}

// checkMetrics polls /metrics until it holds want (lag is read at scrape
// time); every answer must be a 200 without a stack trace.
func checkMetrics(t *testing.T, p *proc, want string) {
	t.Helper()
	base := "http://" + p.waitLog("http listening")["addr"].(string)
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := httpGet(t, base+"/metrics")
		if code != 200 || strings.Contains(body, "goroutine ") || strings.Contains(body, ".go:") {
			t.Fatalf("/metrics: %d\n%s", code, body)
		}
		if strings.Contains(body, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics has no %q:\n%s", want, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
