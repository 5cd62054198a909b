package e2e

// SASL_PLAINTEXT with real clients: kcat (librdkafka), the Java client
// (the kit's Sasl program) and franz-go, against one sluiced serving a
// PLAINTEXT and a SASL_PLAINTEXT listener.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluice/sluice/internal/kafkaref"
)

// saslDaemon is sluiced with PLAIN user alice (alice-pw, from JAAS) and
// SCRAM user bob (bob-pw, SHA-256 and SHA-512).
type saslDaemon struct {
	*daemon
	sasl string // the SASL_PLAINTEXT listener
}

func startSASLDaemon(t *testing.T) *saslDaemon {
	t.Helper()
	port, err := kafkaref.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "server.properties")
	props := `offsets.topic.num.partitions=1
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \
    username="admin" password="admin-pw" user_alice="alice-pw";
connection.failed.authentication.delay.ms=10
`
	if err := os.WriteFile(cfg, []byte(props), 0o600); err != nil {
		t.Fatal(err)
	}
	d := start(t, t.TempDir(), "--config", cfg, "--listen", fmt.Sprintf("PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:%d", port), "--group-initial-rebalance-delay", "1")
	s := &saslDaemon{daemon: d, sasl: fmt.Sprintf("127.0.0.1:%d", port)}
	adm := kadm.NewClient(newClient(t, d.Addr))
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "bob", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "bob-pw"},
		{User: "bob", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "bob-pw"},
	})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("create SCRAM user bob: %v", err)
	}
	return s
}

func TestSASLClients(t *testing.T) {
	s := startSASLDaemon(t)
	t.Run("kcat", func(t *testing.T) { testKcatSASL(t, s) })
	t.Run("franz-go", func(t *testing.T) { testFranzGoSASL(t, s) })
	t.Run("java", func(t *testing.T) {
		kit := requireJava(t)
		runJavaProgram(t, kit, "Sasl", s.sasl)
	})
}

// kcatSASL is kcat's SASL_PLAINTEXT settings for mechanism and user.
func kcatSASL(addr, mechanism, user, pass string) []string {
	return []string{"-b", addr, "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=" + mechanism,
		"-X", "sasl.username=" + user, "-X", "sasl.password=" + pass}
}

// testKcatSASL: kcat (librdkafka) produces and consumes with SCRAM-SHA-512
// and PLAIN; a wrong password fails with librdkafka's authentication error.
func testKcatSASL(t *testing.T, s *saslDaemon) {
	kcat := requireKcat(t)
	for _, c := range []struct{ mech, user, pass string }{{"SCRAM-SHA-512", "bob", "bob-pw"}, {"PLAIN", "alice", "alice-pw"}} {
		topic := "kcat-sasl-" + strings.ToLower(c.mech)
		var in strings.Builder
		for i := range 100 {
			fmt.Fprintf(&in, "v%d\n", i)
		}
		runTool(t, ioTimeout, []byte(in.String()), kcat, append(kcatSASL(s.sasl, c.mech, c.user, c.pass), "-P", "-t", topic)...)
		out := lines(runTool(t, ioTimeout, nil, kcat, append(kcatSASL(s.sasl, c.mech, c.user, c.pass),
			"-G", "kcat-"+topic, "-o", "beginning", "-e", "-q", topic)...))
		if len(out) != 100 || out[0] != "v0" {
			t.Fatalf("%s: kcat read %d records (first %q), want 100", c.mech, len(out), out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, append(kcatSASL(s.sasl, "SCRAM-SHA-512", "bob", "wrong"), "-L", "-m", "5")...)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Authentication failed") {
		t.Fatalf("kcat with a wrong password: %v\n%s", err, tail(string(out), 2000))
	}
}

// testFranzGoSASL: franz-go with SCRAM-SHA-256 produces and consumes with
// a group.
func testFranzGoSASL(t *testing.T, s *saslDaemon) {
	mech := kgo.SASL(scram.Auth{User: "bob", Pass: "bob-pw"}.AsSha256Mechanism())
	const topic = "franz-sasl"
	p := newClient(t, s.sasl, mech, kgo.AllowAutoTopicCreation())
	for i := range 50 {
		produceSync(t, p, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "v%d", i)})
	}
	c := newClient(t, s.sasl, mech, kgo.ConsumerGroup("franz-sasl-g"), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if recs := pollN(t, c, 50); string(recs[0].Value) != "v0" {
		t.Fatalf("first record %q", recs[0].Value)
	}
}
