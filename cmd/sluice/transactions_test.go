package main

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

var txnNormalizers = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\b1\d{12}\b`), "<ms.........>"},
	{regexp.MustCompile(`("transaction_duration_ms": ?)\d+`), "${1}<ms>"},
}

// TestTransactionsGolden drives `sluice transactions` against a real
// broker holding a committed transaction and an open one, which `abort`
// then closes on its partition (as kafka-transactions.sh abort does for a
// hanging transaction).
func TestTransactionsGolden(t *testing.T) {
	addr := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID("cli-txn"),
		kgo.DefaultProduceTopic("txcli"), kgo.AllowAutoTopicCreation(), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func(vals ...string) {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			if err := cl.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce("a", "b", "c")
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	produce("d", "e") // left open: offsets 4-5 after the commit marker at 3

	steps := []struct {
		name string
		args []string
	}{
		{"txn-list", []string{"transactions", "list"}},
		{"txn-list-state", []string{"transactions", "list", "--state", "Empty,CompleteCommit"}},
		{"txn-describe", []string{"transactions", "describe", "cli-txn", "--output", "json"}},
		{"txn-describe-unknown", []string{"transactions", "describe", "nope"}},
		{"txn-producers", []string{"transactions", "describe-producers", "--topic", "txcli", "--partition", "0"}},
		{"txn-find-hanging", []string{"transactions", "find-hanging", "--topic", "txcli", "--max-transaction-timeout", "0"}},
		{"txn-abort-bad", []string{"transactions", "abort", "--topic", "txcli", "--partition", "0"}},
		{"txn-abort-wrong-offset", []string{"transactions", "abort", "--topic", "txcli", "--partition", "0", "--start-offset", "1"}},
		{"txn-abort", []string{"transactions", "abort", "--topic", "txcli", "--partition", "0", "--start-offset", "4"}},
		{"txn-producers-after-abort", []string{"transactions", "describe-producers", "--topic", "txcli", "--partition", "0"}},
	}
	for _, s := range steps {
		golden(t, s.name, txnCLI(t, addr, s.args...))
	}
}

// txnCLI is cli with the timestamps normalised instead of topic ids (some
// of Kafka's column names are 22 characters long, like a topic id).
func txnCLI(t *testing.T, addr string, args ...string) string {
	t.Helper()
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
	for _, n := range txnNormalizers {
		out = n.re.ReplaceAllString(out, n.with)
	}
	return out
}
