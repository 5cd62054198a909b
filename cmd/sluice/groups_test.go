package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// sluice runs the CLI and returns stdout; it fails the test on a non-zero
// exit.
func sluice(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("sluice %s: exit %d\n%s", strings.Join(args, " "), code, stderr.String())
	}
	return stdout.String()
}

// describeLag runs `sluice groups describe` and returns its rows (fields)
// after checking the header, and the sum of the LAG column.
func describeLag(t *testing.T, addr, grp string) ([][]string, int64) {
	t.Helper()
	out := sluice(t, "groups", "describe", grp, "--brokers", addr)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if got := strings.Join(strings.Fields(lines[0]), " "); got != "GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID" {
		t.Fatalf("header %q", got)
	}
	var rows [][]string
	var sum int64
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 9 {
			t.Fatalf("row %q: %d columns", l, len(f))
		}
		lag, err := strconv.ParseInt(f[5], 10, 64)
		if err != nil {
			t.Fatalf("row %q: LAG %q", l, f[5])
		}
		rows, sum = append(rows, f), sum+lag
	}
	return rows, sum
}

func TestGroupsCommands(t *testing.T) {
	addr := startBroker(t)
	const topic, grp, n = "cli", "cli-group", 90
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(grp), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(200*time.Millisecond), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprint(i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for got := 0; got < n; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d", got, n)
		}
		got += len(fs.Records())
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}

	rows, lag := describeLag(t, addr, grp)
	if len(rows) != 3 || lag != 0 {
		t.Fatalf("describe of a fully consumed topic: %d rows, lag %d\n%v", len(rows), lag, rows)
	}
	for _, r := range rows {
		if r[0] != grp || r[1] != topic || r[6] == "-" || r[7] != "/127.0.0.1" {
			t.Fatalf("row %v: want the group, the topic and the consumer", r)
		}
	}
	if out := sluice(t, "groups", "list", "--brokers", addr); !regexp.MustCompile(`(?m)^GROUP +STATE +PROTOCOL-TYPE\n` + grp + ` +Stable +consumer$`).MatchString(out) {
		t.Fatalf("list: %q", out)
	}
	var listed []groupRow
	if err := json.Unmarshal([]byte(sluice(t, "groups", "list", "--brokers", addr, "--output", "json")), &listed); err != nil ||
		len(listed) != 1 || listed[0] != (groupRow{grp, "Stable", "consumer"}) {
		t.Fatalf("list --output json: %+v %v", listed, err)
	}
	var lagRows []map[string]any
	if err := json.Unmarshal([]byte(sluice(t, "groups", "describe", grp, "--brokers", addr, "--output", "json")), &lagRows); err != nil || len(lagRows) != 3 {
		t.Fatalf("describe --output json: %v %v", lagRows, err)
	}
	for _, r := range lagRows {
		want := []string{"group", "topic", "partition", "current_offset", "log_end_offset", "lag", "consumer_id", "host", "client_id"}
		for _, k := range want {
			if _, ok := r[k]; !ok {
				t.Fatalf("describe --output json: row %v has no %q", r, k)
			}
		}
		if r["group"] != grp || r["lag"] != float64(0) || r["host"] != "/127.0.0.1" {
			t.Fatalf("describe --output json: row %v", r)
		}
	}
	cl.LeaveGroup()

	plan := sluice(t, "groups", "reset-offsets", grp, "--topic", topic, "--to-earliest", "--brokers", addr)
	if !strings.Contains(plan, "NEW-OFFSET") || !strings.Contains(plan, "Dry run") {
		t.Fatalf("plan: %q", plan)
	}
	if _, lag := describeLag(t, addr, grp); lag != 0 {
		t.Fatalf("a dry run changed the offsets: lag %d", lag)
	}
	var executed struct {
		Executed bool       `json:"executed"`
		Offsets  []resetRow `json:"offsets"`
	}
	out := sluice(t, "groups", "reset-offsets", grp, "--topic", topic, "--to-earliest", "--execute", "--brokers", addr, "--output", "json")
	if err := json.Unmarshal([]byte(out), &executed); err != nil || !executed.Executed || len(executed.Offsets) != 3 || executed.Offsets[2] != (resetRow{grp, topic, 2, 0}) {
		t.Fatalf("reset-offsets --output json: %+v %v\n%s", executed, err, out)
	}
	if _, lag := describeLag(t, addr, grp); lag != n {
		t.Fatalf("after reset to earliest: lag %d, want %d", lag, n)
	}
	sluice(t, "groups", "reset-offsets", grp, "--topic", topic, "--to-offset", "10", "--execute", "--brokers", addr)
	if _, lag := describeLag(t, addr, grp); lag != n-30 {
		t.Fatalf("after reset to offset 10: lag %d, want %d", lag, n-30)
	}
	sluice(t, "groups", "reset-offsets", grp, "--topic", topic, "--to-datetime", "2000-01-01T00:00:00Z", "--execute", "--brokers", addr)
	if _, lag := describeLag(t, addr, grp); lag != n {
		t.Fatalf("after reset to 2000: lag %d, want %d", lag, n)
	}
	sluice(t, "groups", "delete", grp, "--brokers", addr)
	if out := sluice(t, "groups", "list", "--brokers", addr); strings.Contains(out, grp) {
		t.Fatalf("list after delete: %q", out)
	}
	var stderr bytes.Buffer
	if code := run([]string{"groups", "reset-offsets", grp, "--brokers", addr}, io.Discard, &stderr); code != 2 {
		t.Fatalf("reset-offsets without --topic: exit %d", code)
	}
	if code := run([]string{"groups", "frobnicate"}, io.Discard, &stderr); code != 2 {
		t.Fatalf("unknown subcommand: exit %d", code)
	}
}
