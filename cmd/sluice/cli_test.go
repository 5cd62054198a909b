package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sluice/sluice/broker"
	"github.com/sluice/sluice/controller"
	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/partition"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// startBroker runs a broker in-process on a free port.
func startBroker(t *testing.T) string {
	t.Helper()
	addr, _ := startBrokerDir(t)
	return addr
}

// startBrokerDir runs a broker in-process on a free port and returns its
// address and data directory.
func startBrokerDir(t *testing.T) (string, string) {
	t.Helper()
	ncfg := netio.DefaultConfig()
	ncfg.Addr = "127.0.0.1:0"
	dir := t.TempDir()
	srv, err := broker.StartServer(broker.ServerConfig{
		Store:  partition.StoreConfig{Dir: dir, Defaults: partition.DefaultConfig()},
		Net:    ncfg,
		Broker: broker.DefaultConfig(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv.Addr().String(), dir
}

// startCombinedNode runs a broker with its own one-voter controller
// quorum in-process (as sluiced does by default) and returns its address
// once the broker is registered.
func startCombinedNode(t *testing.T) string {
	t.Helper()
	ncfg := netio.DefaultConfig()
	ncfg.Addr = "127.0.0.1:0"
	dir := t.TempDir()
	srv, err := broker.StartServer(broker.ServerConfig{
		Store:          partition.StoreConfig{Dir: dir, Defaults: partition.DefaultConfig()},
		Net:            ncfg,
		Broker:         broker.DefaultConfig(),
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		OpenController: oneVoter(dir),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	awaitRegistered(t, srv)
	return srv.Addr().String()
}

// oneVoter opens a one-voter controller quorum in dir, as sluiced does by
// default.
func oneVoter(dir string) func() (*controller.Controller, error) {
	return func() (*controller.Controller, error) {
		return controller.Open(controller.Config{
			NodeID: 1, Voters: []controller.Voter{{ID: 1, Addr: "127.0.0.1:0"}}, DataDir: dir, // one voter: nobody dials it
			Timeouts: controller.Timeouts{Heartbeat: 100 * time.Millisecond, Election: 100 * time.Millisecond, LeaderLease: 50 * time.Millisecond},
			Logger:   hclog.New(&hclog.LoggerOptions{Level: hclog.Off}),
		})
	}
}

// awaitRegistered waits until srv's broker joined its quorum (at once
// without one).
func awaitRegistered(t *testing.T, srv *broker.Server) {
	t.Helper()
	select {
	case <-srv.Broker().Registered():
	case <-time.After(20 * time.Second):
		t.Fatal("the broker did not register within 20 s")
	}
}

var normalizers = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?m)(^|[ "])[A-Za-z0-9_-]{22}([ "]|$)`), "${1}<topic-id............>${2}"},
	{regexp.MustCompile(`"timestamp":\d+`), `"timestamp":<ms>`},
}

// cli runs sluice with args (and input on stdin) against addr and
// returns a transcript: the command, stdout, stderr and exit status. With
// --output json, stdout must parse as JSON (or as JSON lines for consume).
func cli(t *testing.T, addr, input string, args ...string) string {
	t.Helper()
	stdin = strings.NewReader(input)
	defer func() { stdin = os.Stdin }()
	var stdout, stderr bytes.Buffer
	code := run(append(args, "--brokers", addr), &stdout, &stderr)
	if slices.Contains(args, "json") {
		checkJSON(t, args, stdout.Bytes())
	}
	out := fmt.Sprintf("$ sluice %s\n%s", strings.Join(args, " "), stdout.String())
	if stderr.Len() > 0 {
		out += "[stderr]\n" + stderr.String()
	}
	out += fmt.Sprintf("[exit %d]\n", code)
	for _, n := range normalizers {
		out = n.re.ReplaceAllString(out, n.with)
	}
	return out
}

// golden compares got with testdata/name.golden (-update rewrites it).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/sluice -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test ./cmd/sluice -update rewrites it):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestTopicsGolden drives the topic commands end to end against a real
// broker and checks their output against golden files.
func TestTopicsGolden(t *testing.T) {
	addr := startBroker(t)
	steps := []struct {
		name, input string
		args        []string
	}{
		{"create", "", []string{"topics", "create", "orders", "events", "--partitions", "3", "--config", "retention.ms=3600000"}},
		{"create-exists", "", []string{"topics", "create", "orders"}},
		{"create-single", "", []string{"topics", "create", "audit", "--output", "json"}},
		{"create-yaml", "", []string{"topics", "create", "yamlish", "--output", "yaml"}},
		{"produce", "k1:hello\nk2:world\nno key here\n", []string{"produce", "audit", "--key-separator", ":"}},
		{"produce-partition", "a\nb\n", []string{"produce", "orders", "--partition", "1", "--output", "json"}},
		{"produce-headers", "one|two|", []string{"produce", "hdrs", "--header", "trace=abc", "--header", "n=1",
			"--compression", "gzip", "--delimiter", "|", "--timestamp", "2024-01-02T15:04:05Z", "--acks", "1", "--output", "json"}},
		{"produce-binary", "\xff\xfe\x00bin", []string{"produce", "bin", "--delimiter", "", "--key-separator", "\x00"}},
		{"list", "", []string{"topics", "list"}},
		{"list-json", "", []string{"topics", "list", "--output", "json"}},
		{"describe", "", []string{"topics", "describe", "orders", "audit"}},
		{"describe-json", "", []string{"topics", "describe", "audit", "--output", "json", "--overrides"}},
		{"describe-missing", "", []string{"topics", "describe", "nope"}},
		{"describe-some-missing", "", []string{"topics", "describe", "nope", "audit", "--overrides"}},
		{"consume", "", []string{"consume", "audit", "--from-beginning", "--count", "3", "--format", `%t/%p/%o %k=%v\n`}},
		{"consume-group", "", []string{"consume", "audit", "--group", "g1", "--from-beginning", "--count", "2", "--format", `%o %v\n`}},
		{"consume-group-resume", "", []string{"consume", "audit", "--group", "g1", "--from-beginning", "--count", "1", "--timeout", "20s", "--format", `%o %v\n`}},
		{"groups-list", "", []string{"groups", "list"}},
		{"groups-list-json", "", []string{"groups", "list", "--output", "json"}},
		{"groups-describe", "", []string{"groups", "describe", "g1"}},
		{"groups-describe-json", "", []string{"groups", "describe", "g1", "--output", "json"}},
		{"groups-reset", "", []string{"groups", "reset-offsets", "g1", "--topic", "audit", "--to-offset", "1"}},
		{"groups-reset-yaml", "", []string{"groups", "reset-offsets", "g1", "--topic", "audit", "--to-earliest", "--execute", "--output", "yaml"}},
		{"groups-delete-json", "", []string{"groups", "delete", "g1", "--output", "json"}},
		{"consume-json", "", []string{"consume", "orders", "--from-beginning", "-e", "--output", "json"}},
		{"consume-headers", "", []string{"consume", "hdrs", "--offset", "beginning", "--exit", "--format", `%o %v [%h] %T %d %y %K/%S\n`}},
		{"consume-headers-json", "", []string{"consume", "hdrs", "--offset", "beginning", "-e", "--output", "json"}},
		{"consume-binary-json", "", []string{"consume", "bin", "--offset", "beginning", "-e", "--output", "json"}},
		{"consume-last", "", []string{"consume", "audit", "--offset", "-1", "-e", "--format", `%o %v\n`}},
		{"consume-offset", "", []string{"consume", "audit", "--offset", "1", "--num", "1", "--format", `%o %v\n`}},
		{"consume-past-end", "", []string{"consume", "audit", "--offset", "100", "-e", "--format", `%o %v\n`}},
		{"consume-before-start", "", []string{"consume", "audit", "--offset", "-100", "-e", "--format", `%o %v\n`}},
		{"consume-time", "", []string{"consume", "hdrs", "--offset", "@1704207845000", "-e", "--format", `%o %v\n`}},
		{"consume-time-after", "", []string{"consume", "hdrs", "--offset", "@2024-01-02T15:04:06Z", "-e", "--format", `%o %v\n`}},
		{"consume-partition", "", []string{"consume", "orders", "--partition", "1", "--offset", "beginning", "-e", "--isolation", "read_committed", "--format", `%p/%o %v\n`}},
		{"consume-empty-partition", "", []string{"consume", "orders", "--partition", "2", "--offset", "beginning", "-e"}},
		{"consume-no-partition", "", []string{"consume", "orders", "--partition", "7", "-e"}},
		{"consume-missing", "", []string{"consume", "nope", "--timeout", "20s"}},
		{"consume-bad-offset", "", []string{"consume", "audit", "--offset", "yesterday"}},
		{"consume-bad-flag", "", []string{"consume", "audit", "--bogus"}},
		{"alter-config", "", []string{"topics", "alter-config", "audit", "--set", "retention.ms=60000", "--set", "segment.bytes=1048576"}},
		{"alter-config-bad", "", []string{"topics", "alter-config", "audit", "--set", "no.such.config=1"}},
		{"describe-altered", "", []string{"topics", "describe", "audit"}},
		{"add-partitions", "", []string{"topics", "add-partitions", "audit", "--num", "2"}},
		{"add-partitions-total", "", []string{"topics", "add-partitions", "audit", "--total", "5", "--output", "json"}},
		{"add-partitions-fewer", "", []string{"topics", "add-partitions", "audit", "--total", "2"}},
		{"delete", "", []string{"topics", "delete", "orders", "nope"}},
		{"delete-json", "", []string{"topics", "delete", "yamlish", "--output", "json"}},
		{"list-after-delete", "", []string{"topics", "list"}},
		{"usage", "", []string{"topics", "create"}},
		{"bad-flag", "", []string{"topics", "list", "--bogus"}},
		{"bad-output", "", []string{"topics", "list", "--output", "xml"}},
	}
	for _, s := range steps {
		golden(t, s.name, cli(t, addr, s.input, s.args...))
	}
}

// checkJSON parses out back: one JSON value, or one per line for consume.
func checkJSON(t *testing.T, args []string, out []byte) {
	t.Helper()
	docs := [][]byte{out}
	if args[0] == "consume" {
		docs = bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	}
	for _, d := range docs {
		var v any
		if err := json.Unmarshal(d, &v); err != nil {
			t.Errorf("sluice %s: stdout is not JSON: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func TestParseFormat(t *testing.T) {
	f := func(in string, want []formatPart, wantErr bool) {
		t.Helper()
		got, err := parseFormat(in)
		if (err != nil) != wantErr || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%q: %v %v, want %v (error %v)", in, got, err, want, wantErr)
		}
	}
	f(`%v\n`, []formatPart{{verb: 'v'}, {lit: "\n"}}, false)
	f(`%k=%v 100%%\t%T`, []formatPart{{verb: 'k'}, {lit: "="}, {verb: 'v'}, {lit: " 100%\t"}, {verb: 'T'}}, false)
	f(`%h|%y|%d|%K%S%s`, []formatPart{{verb: 'h'}, {lit: "|"}, {verb: 'y'}, {lit: "|"}, {verb: 'd'}, {lit: "|"}, {verb: 'K'}, {verb: 'S'}, {verb: 's'}}, false)
	f(`%x`, nil, true)
	f(`trailing %`, []formatPart{{lit: "trailing %"}}, false)
}

func TestParseInterspersed(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	n := fs.Int("n", 0, "")
	pos, err := parseInterspersed(fs, []string{"a", "-n", "3", "b", "--", "-c"})
	if err != nil || *n != 3 || fmt.Sprint(pos) != "[a b -c]" {
		t.Fatalf("%v %d %v", pos, *n, err)
	}
}

// TestDumpGolden dumps a segment written through the broker by `sluice
// produce` (fixed timestamp, acks=1: no producer id, so the bytes and CRCs
// are the same every run), as text and as JSON.
func TestDumpGolden(t *testing.T) {
	addr, dir := startBrokerDir(t)
	defer func() { stdin = os.Stdin }()
	for _, rec := range []string{"k:hello world\n", "k2:\xff\x00bin\n"} { // one batch each
		stdin = bytes.NewReader([]byte(rec))
		var stderr bytes.Buffer
		if code := run([]string{"produce", "d", "--brokers", addr, "--acks", "1", "--key-separator", ":", "--header", "h=1",
			"--timestamp", "1700000000000"}, io.Discard, &stderr); code != 0 {
			t.Fatalf("produce: exit %d: %s", code, stderr.String())
		}
	}
	seg := filepath.Join(dir, "d-0", "00000000000000000000.log")
	f := func(name string, args ...string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"dump", seg}, args...), &stdout, &stderr)
		if slices.Contains(args, "json") {
			checkJSON(t, args, stdout.Bytes())
		}
		out := strings.ReplaceAll(fmt.Sprintf("$ sluice dump SEGMENT %s\n%s[stderr]\n%s[exit %d]\n", strings.Join(args, " "), stdout.String(), stderr.String(), code), seg, "SEGMENT")
		golden(t, name, out)
	}
	f("dump-print-data", "--print-data")
	f("dump-json", "--print-data", "--output", "json")
}

// TestElectLeadersGolden drives `sluice topics elect-leaders` against a
// node with its controller quorum: its partitions are led by their only,
// preferred replica already (the elections themselves are tested on three
// processes in cmd/sluiced/elect_test.go).
func TestElectLeadersGolden(t *testing.T) {
	addr := startCombinedNode(t)
	steps := []struct {
		name string
		args []string
	}{
		{"elect-create", []string{"topics", "create", "orders", "--partitions", "3"}},
		{"elect-topic", []string{"topics", "elect-leaders", "orders"}},
		{"elect-partition-json", []string{"topics", "elect-leaders", "orders", "--partition", "1", "--output", "json"}},
		{"elect-all", []string{"topics", "elect-leaders"}},
		{"elect-unclean", []string{"topics", "elect-leaders", "orders", "--type", "unclean"}},
		{"elect-unknown", []string{"topics", "elect-leaders", "orders", "nope", "--partition", "-1"}},
		{"elect-unknown-partition", []string{"topics", "elect-leaders", "orders", "--partition", "7"}},
		{"elect-bad-type", []string{"topics", "elect-leaders", "--type", "dirty"}},
		{"elect-partition-no-topic", []string{"topics", "elect-leaders", "--partition", "0"}},
	}
	for _, s := range steps {
		golden(t, s.name, cli(t, addr, "", s.args...))
	}
}
