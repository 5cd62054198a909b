package broker

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTransactionalProducerFailsFast: until transactions exist, a franz-go
// transactional producer gets UNSUPPORTED_VERSION from BeginTransaction's
// InitProducerId path instead of retrying COORDINATOR_NOT_AVAILABLE to its
// timeout. The deadline below is far above what it takes (measured by
// hand in the report); it only keeps a regression from hanging.
func TestTransactionalProducerFailsFast(t *testing.T) {
	ts := startServer(t, "")
	ts.createTopic(t, "tx", 1, nil)
	cl := newKgo(t, ts.addr, kgo.TransactionalID("tx-1"), kgo.DefaultProduceTopic("tx"),
		kgo.RequestTimeoutOverhead(time.Second), kgo.RetryTimeout(30*time.Second))
	ctx := testCtx(t)
	start := time.Now()
	err := cl.BeginTransaction()
	if err == nil {
		err = cl.ProduceSync(ctx, kgo.StringRecord("v")).FirstErr()
	}
	t.Logf("transactional producer failed after %v: %v", time.Since(start), err)
	if !errors.Is(err, kerr.UnsupportedVersion) {
		t.Fatalf("got %v, want UNSUPPORTED_VERSION", err)
	}
}

// TestKcatTransactionalProducerFailsFast: librdkafka (Debian's kcat)
// stops init_transactions at once on the FindCoordinator answer and prints
// the broker's message, instead of retrying to its timeout. Skipped
// without kcat.
func TestKcatTransactionalProducerFailsFast(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed")
	}
	ts := startServer(t, "")
	ts.createTopic(t, "tx", 1, nil)
	// A regression would retry until kcat's own timeout (about 5 s); the
	// error comes long before. testCtx bounds a hang.
	cmd := exec.CommandContext(testCtx(t), kcat, "-P", "-b", ts.addr, "-t", "tx",
		"-X", "transactional.id=tx-kcat", "-X", "transaction.timeout.ms=30000")
	cmd.Stdin = strings.NewReader("v\n")
	out, err := cmd.CombinedOutput()
	t.Logf("kcat: %v\n%s", err, out)
	if err == nil || !strings.Contains(string(out), txnUnsupported) {
		t.Fatalf("kcat did not fail with %q", txnUnsupported)
	}
}
