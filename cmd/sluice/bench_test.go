package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sluice/sluice/bench"
)

// runSluiceBT runs the CLI and returns stdout, stderr and the exit status.
func runSluiceBT(args ...string) (string, string, int) {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return stdout.String(), stderr.String(), code
}

// TestBenchOutput: every bench mode prints its result alone on stdout, as
// labelled lines, JSON or YAML; the report files are announced on stderr.
func TestBenchOutput(t *testing.T) {
	addr := startBroker(t)
	b := func(args ...string) (string, string) {
		t.Helper()
		out, errOut, code := runSluiceBT(append([]string{"bench"}, append(args, "--brokers", addr)...)...)
		if code != 0 {
			t.Fatalf("sluice bench %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
		return out, errOut
	}
	line := `MB/s=[0-9.]+ records/s=[0-9]+ p50=\S+ p99=\S+ p99\.9=\S+ max=\S+`

	report := t.TempDir()
	out, errOut := b("produce", "--topic", "b", "--total-bytes", "2M", "--record-size", "1000", "--report", report)
	if !regexp.MustCompile(`^produce: ` + line + "\n$").MatchString(out) {
		t.Fatalf("produce table:\n%s", out)
	}
	if !strings.Contains(errOut, filepath.Join(report, "chart.svg")) {
		t.Fatalf("report not announced on stderr: %q", errOut)
	}
	var saved bench.Result
	js, _ := os.ReadFile(filepath.Join(report, "results.json"))
	if err := json.Unmarshal(js, &saved); err != nil || saved.RecordSize != 1000 {
		t.Fatalf("results.json: %v %+v", err, saved)
	}

	for _, args := range [][]string{{"--output", "json"}, {"--json"}} {
		out, _ = b(append([]string{"consume", "--topic", "b"}, args...)...)
		var res bench.Result
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("consume %v: stdout is not one JSON object: %v\n%s", args, err, out)
		}
		if res.Mode != "consume" || res.RecordSize != 1000 || res.Bytes == 0 {
			t.Fatalf("consume %v: %+v", args, res)
		}
	}

	out, _ = b("consume", "--topic", "b", "--output", "yaml")
	for _, want := range []string{"mode: consume\n", "record_size: 1000\n", "latency:\n  count: ", "  p99_ms: "} {
		if !strings.Contains(out, want) {
			t.Fatalf("consume yaml lacks %q:\n%s", want, out)
		}
	}

	out, _ = b("e2e", "--topic", "e", "--duration", "300ms", "--rate", "5MB/s", "--record-size", "1000")
	if !regexp.MustCompile(`^produce: ` + line + "\ne2e: " + line + "\n$").MatchString(out) {
		t.Fatalf("e2e table: want a produce: and an e2e: line:\n%s", out)
	}

	out, _ = b("floor", "--total-bytes", "4M", "--dir", t.TempDir(), "--output", "json")
	var floors []bench.Floor
	if err := json.Unmarshal([]byte(out), &floors); err != nil || len(floors) != 2 || floors[1].Measures == "" {
		t.Fatalf("floor json: %v %+v\n%s", err, floors, out)
	}
}

func TestBenchBadOutput(t *testing.T) {
	out, errOut, code := runSluiceBT("bench", "produce", "--output", "xml")
	if code != 2 || out != "" || !strings.Contains(errOut, `--output "xml"`) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
