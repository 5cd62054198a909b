package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRunServesAndStopsCleanly starts the daemon in-process, produces and
// consumes through it, stops it as a signal would, and starts it again on
// the same directory.
func TestRunServesAndStopsCleanly(t *testing.T) {
	dir := t.TempDir()
	for round := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"--data-dir", dir, "--listen", "127.0.0.1:0", "--fsync", "always", "--log-level", "error"}, nil, pw, io.Discard)
			pw.Close()
		}()
		line, err := bufio.NewReader(pr).ReadString('\n')
		if err != nil {
			t.Fatalf("round %d: no ready line: %v (run: %v)", round, err, <-done)
		}
		go io.Copy(io.Discard, pr)
		addr := strings.TrimSpace(strings.TrimPrefix(line, "sluiced listening on "))
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("cmd"), kgo.AllowAutoTopicCreation(),
			kgo.ConsumeTopics("cmd"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		pctx, pcancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := cl.ProduceSync(pctx, &kgo.Record{Value: []byte("hello")}).FirstErr(); err != nil {
			t.Fatalf("round %d: produce: %v", round, err)
		}
		var got int
		for got < round+1 && pctx.Err() == nil {
			got += len(cl.PollFetches(pctx).Records())
		}
		if got != round+1 {
			t.Fatalf("round %d: consumed %d records, want %d", round, got, round+1)
		}
		pcancel()
		cl.Close()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("round %d: run: %v", round, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: run did not return after cancel", round)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "meta.properties")); err != nil {
		t.Fatalf("meta.properties: %v", err)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	f := func(args ...string) {
		t.Helper()
		err := run(context.Background(), args, nil, io.Discard, io.Discard)
		if err == nil || !isUsageError(err) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	f("--fsync", "sometimes")
	f("--log-level", "loud")
	f("--segment-bytes", "0")
	f("extra")
	f("--no-such-flag")
}

// TestHealthzReportsListener: /healthz is 503 with the reason while the
// listener's health check fails, 200 otherwise.
func TestHealthzReportsListener(t *testing.T) {
	d := &daemon{}
	get := func() (int, string) {
		rec := httptest.NewRecorder()
		d.healthz(rec, httptest.NewRequest("GET", "/healthz", nil))
		return rec.Code, rec.Body.String()
	}
	if code, _ := get(); code != http.StatusOK {
		t.Fatalf("before the listener starts: %d", code)
	}
	var fault error
	check := func() error { return fault }
	d.netHealth.Store(&check)
	if code, _ := get(); code != http.StatusOK {
		t.Fatalf("healthy listener: %d", code)
	}
	fault = errors.New("out of file descriptors")
	if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "out of file descriptors") {
		t.Fatalf("failing listener: %d %q", code, body)
	}
}
