package broker

import (
	"os/exec"
	"strings"
	"testing"
)

// TestKcatTransactionalProducer: librdkafka (Debian's kcat, the library
// under confluent-kafka) runs init_transactions, produces and commits;
// a read_committed kcat consumer then reads the records. Skipped without
// kcat.
func TestKcatTransactionalProducer(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed")
	}
	ts := startTxnServer(t, "")
	ts.createTopic(t, "kc", 1, nil)
	ctx := testCtx(t)
	prod := exec.CommandContext(ctx, kcat, "-P", "-b", ts.addr, "-t", "kc",
		"-X", "transactional.id=tx-kcat", "-X", "transaction.timeout.ms=30000")
	prod.Stdin = strings.NewReader("a\nb\nc\n")
	out, err := prod.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Transaction successfully committed") {
		t.Fatalf("kcat producer: %v\n%s", err, out)
	}
	cons := exec.CommandContext(ctx, kcat, "-C", "-b", ts.addr, "-t", "kc", "-e", "-q",
		"-X", "isolation.level=read_committed", "-f", "%o:%s\n")
	got, err := cons.Output()
	if err != nil || string(got) != "0:a\n1:b\n2:c\n" {
		t.Fatalf("kcat read_committed consumer: %v\n%q", err, got)
	}
}
