package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/kafkaref"
)

// requireKafka returns the Kafka jar directory, or skips the test when
// java or the jars are missing; under CI=true or SLUICE_REQUIRE_JAVA=1 it
// fails instead.
func requireKafka(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	lib := kafkaref.LibDir(root)
	if err := kafkaref.Check(lib); err != nil {
		if !errors.Is(err, kafkaref.ErrMissing) {
			t.Fatal(err)
		}
		if os.Getenv("CI") == "true" || os.Getenv("SLUICE_REQUIRE_JAVA") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return lib
}

// startKafka starts Apache Kafka (one KRaft node) on a fresh directory and
// stops it at cleanup; its output is logged if the test fails. The JVM
// runs with the C1 compiler only, which spends less CPU at start on two
// loaded cores; what the broker answers does not depend on it.
func startKafka(t testing.TB, lib string, props map[string]string) *kafkaref.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	out := &tailBuffer{max: 64 << 10}
	b, err := kafkaref.Start(ctx, kafkaref.Options{LibDir: lib, Dir: t.TempDir(), Props: props, Output: out,
		JVMArgs: []string{"-XX:TieredStopAtLevel=1"}})
	if err != nil {
		t.Fatalf("start Apache Kafka: %v\noutput:\n%s", err, out.String())
	}
	t.Cleanup(func() {
		if err := b.Stop(60 * time.Second); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("Apache Kafka output (tail):\n%s", strings.TrimSpace(out.String()))
		}
	})
	return b
}
