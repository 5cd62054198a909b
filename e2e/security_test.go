package e2e

// The security client matrix (issue 17): every client library of the suite
// over SSL, SASL_PLAINTEXT and SASL_SSL with PLAIN and SCRAM-SHA-512,
// producing and then consuming with a group, against one sluiced; the
// errors each client surfaces for a wrong password, an unknown user, an
// expired server certificate and a wrong CA; and the issue's acceptance
// check, a SASL_SSL broker with the StandardAuthorizer.
//
// Combinations other tests already cover are not repeated here:
// franz-go over SSL and SASL_SSL (tls_test.go), kcat and the Java client
// over SASL_PLAINTEXT (sasl_test.go), the Java client's group over SSL
// (TestJavaClientsTLS).

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafkago "github.com/segmentio/kafka-go"
	kgosasl "github.com/segmentio/kafka-go/sasl"
	kgoplain "github.com/segmentio/kafka-go/sasl/plain"
	kgoscram "github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	xdgscram "github.com/xdg-go/scram"

	"github.com/sluice/sluice/internal/kafkaref"
	"github.com/sluice/sluice/internal/testcerts"
)

// secBroker is one sluiced with a listener per security protocol:
// PLAINTEXT (for setup), SSL, SASL_PLAINTEXT, SASL_SSL, and EXPIRED (SSL
// serving an expired certificate). PLAIN user alice (alice-pw) comes from
// JAAS; SCRAM-SHA-512 user bob (bob-pw) from AlterUserScramCredentials.
type secBroker struct {
	*daemon
	addrs       map[string]string // listener name → address
	ca, otherCA *testcerts.CA
	caPath      string // the CA that signed both server certificates
	otherCAPath string // a CA that signed nothing the broker serves
}

func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := kafkaref.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

func startSecBroker(t *testing.T) *secBroker {
	t.Helper()
	dir := t.TempDir()
	b := &secBroker{ca: testcerts.NewCA(t, "e2e CA"), otherCA: testcerts.NewCA(t, "another CA"), addrs: map[string]string{}}
	b.caPath = b.ca.WriteCA(t, dir, "ca.pem")
	b.otherCAPath = b.otherCA.WriteCA(t, dir, "other-ca.pem")
	good := b.ca.Issue(t, testcerts.Options{}).WriteKeystore(t, dir, "server.pem")
	expired := b.ca.Issue(t, testcerts.Options{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)}).
		WriteKeystore(t, dir, "expired.pem")
	jaas := `org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-pw";`
	props := strings.Join([]string{
		"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,EXPIRED:SSL",
		"ssl.keystore.type=PEM",
		"ssl.keystore.location=" + good,
		"listener.name.expired.ssl.keystore.location=" + expired,
		"sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512",
		"listener.name.sasl_plaintext.plain.sasl.jaas.config=" + jaas,
		"listener.name.sasl_ssl.plain.sasl.jaas.config=" + jaas,
		"connection.failed.authentication.delay.ms=10",
		"offsets.topic.num.partitions=1",
	}, "\n") + "\n"
	cfg := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(cfg, []byte(props), 0o600); err != nil {
		t.Fatal(err)
	}
	var listen []string
	for _, name := range []string{"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL", "EXPIRED"} {
		b.addrs[name] = freeAddr(t)
		listen = append(listen, name+"://"+b.addrs[name])
	}
	b.daemon = start(t, filepath.Join(dir, "data"), "--config", cfg, "--group-initial-rebalance-delay", "1",
		"--listen", strings.Join(listen, ","))
	upsertSCRAM(t, newClient(t, b.addrs["PLAINTEXT"]), "bob", "bob-pw")
	return b
}

// upsertSCRAM makes user a SCRAM-SHA-512 user with password pass.
func upsertSCRAM(t *testing.T, cl *kgo.Client, user, pass string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	res, err := kadm.NewClient(cl).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: user, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: pass}})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("create SCRAM user %s: %v", user, err)
	}
}

// secCase is one cell of the matrix: a security protocol and, for SASL, a
// mechanism with its user.
type secCase struct{ proto, mech, user, pass string }

func (c secCase) String() string {
	if c.mech == "" {
		return c.proto
	}
	return c.proto + "/" + c.mech
}

// slug names the case's topic and group for client.
func (c secCase) slug(client string) string {
	return strings.ToLower(client + "-" + strings.NewReplacer("/", "-", "_", "-").Replace(c.String()))
}

func (c secCase) tls() bool { return strings.HasSuffix(c.proto, "SSL") }

var (
	secSSL        = secCase{proto: "SSL"}
	secPlainPlain = secCase{"SASL_PLAINTEXT", "PLAIN", "alice", "alice-pw"}
	secPlainScram = secCase{"SASL_PLAINTEXT", "SCRAM-SHA-512", "bob", "bob-pw"}
	secSSLPlain   = secCase{"SASL_SSL", "PLAIN", "alice", "alice-pw"}
	secSSLScram   = secCase{"SASL_SSL", "SCRAM-SHA-512", "bob", "bob-pw"}
	secAll        = []secCase{secSSL, secPlainPlain, secPlainScram, secSSLPlain, secSSLScram}
	// Wrong password and unknown user, per mechanism, over SASL_PLAINTEXT.
	secBad = []secCase{
		{"SASL_PLAINTEXT", "PLAIN", "alice", "wrong"}, {"SASL_PLAINTEXT", "PLAIN", "mallory", "x"},
		{"SASL_PLAINTEXT", "SCRAM-SHA-512", "bob", "wrong"}, {"SASL_PLAINTEXT", "SCRAM-SHA-512", "mallory", "x"},
	}
)

func badName(c secCase) string {
	if c.user == "mallory" {
		return c.mech + "-unknown-user"
	}
	return c.mech + "-wrong-password"
}

func (b *secBroker) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: b.ca.Pool, ServerName: "localhost"}
}

func TestSecurityClientMatrix(t *testing.T) {
	b := startSecBroker(t)
	for _, c := range secAll {
		for _, client := range []string{"franz-go", "sarama", "kafka-go", "kcat", "confluent", "kafkapython", "kafkajs"} {
			createTopic(t, b.addrs["PLAINTEXT"], c.slug(client), 1)
		}
	}
	// The Java client's Sasl program reads its SASL_SSL settings from here
	// (set before the parallel subtests start, as t.Setenv requires).
	javaProps := filepath.Join(t.TempDir(), "client.properties")
	if err := os.WriteFile(javaProps, []byte("security.protocol=SASL_SSL\nssl.truststore.type=PEM\nssl.truststore.location="+b.caPath+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLUICE_KIT_CLIENT_PROPERTIES", javaProps)
	t.Run("clients", func(t *testing.T) {
		t.Run("franz-go", func(t *testing.T) { t.Parallel(); testFranzGoSecurity(t, b) })
		t.Run("sarama", func(t *testing.T) { t.Parallel(); testSaramaSecurity(t, b) })
		t.Run("kafka-go", func(t *testing.T) { t.Parallel(); testKafkaGoSecurity(t, b) })
		t.Run("kcat", func(t *testing.T) { t.Parallel(); testKcatSecurity(t, b) })
		t.Run("confluent-kafka-python", func(t *testing.T) {
			t.Parallel()
			py := python(t, "confluent_kafka", "python3-confluent-kafka")
			runSecScript(t, b, "confluent", secAll, secBad, "_AUTHENTICATION", py, "py/secure.py", "confluent", b.caPath)
		})
		t.Run("kafka-python", func(t *testing.T) {
			t.Parallel()
			py := python(t, "kafka", "python3-kafka")
			// Every cell, and no spurious reconnects: kafka-python 2.0 closes a
			// connection that turns readable with no request in flight, which a
			// TLS 1.3 session ticket sent after the handshake made it do over
			// and over (issue 17; the broker issues no tickets now, see
			// auth/tlsconf). secure.py fails a cell that saw such a close.
			runSecScript(t, b, "kafkapython", secAll, nil, "", py, "py/secure.py", "kafkapython", b.caPath)
		})
		t.Run("kafkajs", func(t *testing.T) {
			t.Parallel()
			node := nodeWithKafkajs(t)
			runSecScript(t, b, "kafkajs", secAll, secBad, "KafkaJSSASLAuthenticationError", node, "node/secure.js", b.caPath)
		})
		t.Run("java/SASL_SSL", func(t *testing.T) {
			t.Parallel()
			runJavaProgram(t, requireJava(t), "Sasl", b.addrs["SASL_SSL"])
		})
		t.Run("java/SslErrors", func(t *testing.T) {
			t.Parallel()
			runJavaProgram(t, requireJava(t), "SslErrors", b.addrs["SSL"], b.addrs["EXPIRED"], b.caPath, b.otherCAPath)
		})
	})
}

// franzMech is c's franz-go SASL option (nil for SSL).
func franzMech(c secCase) sasl.Mechanism {
	switch c.mech {
	case "PLAIN":
		return plain.Auth{User: c.user, Pass: c.pass}.AsMechanism()
	case "SCRAM-SHA-512":
		return scram.Auth{User: c.user, Pass: c.pass}.AsSha512Mechanism()
	}
	return nil
}

// testFranzGoSecurity: the SASL_PLAINTEXT cells (tls_test.go has SSL and
// SASL_SSL), then SASL_AUTHENTICATION_FAILED for a wrong password and an
// unknown user with either mechanism, and x509 errors for an expired
// server certificate and a CA the client does not trust.
func testFranzGoSecurity(t *testing.T, b *secBroker) {
	for _, c := range []secCase{secPlainPlain, secPlainScram} {
		t.Run(c.String(), func(t *testing.T) {
			opts := []kgo.Opt{kgo.SASL(franzMech(c))}
			topic := c.slug("franz-go")
			produceSync(t, newClient(t, b.addrs[c.proto], opts...), &kgo.Record{Topic: topic, Value: []byte("v0")}, &kgo.Record{Topic: topic, Value: []byte("v1")})
			cons := newClient(t, b.addrs[c.proto], append(opts, kgo.ConsumeTopics(topic), kgo.ConsumerGroup(topic),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))...)
			pollN(t, cons, 2)
			ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
			defer cancel()
			if err := cons.CommitUncommittedOffsets(ctx); err != nil {
				t.Fatalf("commit: %v", err)
			}
		})
	}
	for _, c := range secBad {
		t.Run(badName(c), func(t *testing.T) {
			cl := newClient(t, b.addrs[c.proto], kgo.SASL(franzMech(c)), kgo.RetryTimeout(2*time.Second))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := cl.Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Fatalf("got %v, want SASL_AUTHENTICATION_FAILED", err)
			}
		})
	}
	t.Run("expired-server-certificate", func(t *testing.T) {
		cl := newClient(t, b.addrs["EXPIRED"], kgo.DialTLSConfig(b.tlsConfig()), kgo.RetryTimeout(2*time.Second))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := cl.Ping(ctx); err == nil || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("got %v, want an expired certificate", err)
		}
	})
	t.Run("wrong-ca", func(t *testing.T) {
		cl := newClient(t, b.addrs["SSL"], kgo.DialTLSConfig(&tls.Config{RootCAs: b.otherCA.Pool, ServerName: "localhost"}), kgo.RetryTimeout(2*time.Second))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := cl.Ping(ctx); err == nil || !strings.Contains(err.Error(), "unknown authority") {
			t.Fatalf("got %v, want an unknown authority", err)
		}
	})
}

// xdgSCRAM adapts github.com/xdg-go/scram to sarama's SCRAMClient.
type xdgSCRAM struct {
	*xdgscram.ClientConversation
}

func (x *xdgSCRAM) Begin(user, pass, authzID string) error {
	c, err := xdgscram.SHA512.NewClient(user, pass, authzID)
	if err != nil {
		return fmt.Errorf("scram client: %w", err)
	}
	x.ClientConversation = c.NewConversation()
	return nil
}

func (b *secBroker) saramaConfig(c secCase) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = "e2e-sarama-sec"
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Consumer.MaxWaitTime = 200 * time.Millisecond
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	if c.tls() {
		cfg.Net.TLS.Enable, cfg.Net.TLS.Config = true, b.tlsConfig()
	}
	if c.mech != "" {
		cfg.Net.SASL.Enable, cfg.Net.SASL.Handshake = true, true
		cfg.Net.SASL.User, cfg.Net.SASL.Password = c.user, c.pass
		cfg.Net.SASL.Mechanism = sarama.SASLMechanism(c.mech)
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &xdgSCRAM{} }
	}
	return cfg
}

// saramaGroup counts the records its session's claims deliver, marking
// each, and commits and closes done once it has seen n.
type saramaGroup struct {
	n, seen int
	mu      sync.Mutex
	done    chan struct{}
}

func (*saramaGroup) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (*saramaGroup) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (g *saramaGroup) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		s.MarkMessage(m, "")
		g.mu.Lock()
		g.seen++
		if g.seen == g.n {
			s.Commit()
			close(g.done)
		}
		g.mu.Unlock()
	}
	return nil
}

// testSaramaSecurity: for each cell, a SyncProducer and then a
// ConsumerGroup member reading everything back and committing; a wrong
// password or an unknown user gets ErrSASLAuthenticationFailed.
func testSaramaSecurity(t *testing.T, b *secBroker) {
	const n = 20
	for _, c := range secAll {
		t.Run(c.String(), func(t *testing.T) {
			topic, addr := c.slug("sarama"), b.addrs[c.proto]
			cfg := b.saramaConfig(c)
			prod, err := sarama.NewSyncProducer([]string{addr}, cfg)
			if err != nil {
				t.Fatalf("producer: %v", err)
			}
			msgs := make([]*sarama.ProducerMessage, n)
			for i := range msgs {
				msgs[i] = &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprint(i))}
			}
			err = prod.SendMessages(msgs)
			prod.Close()
			if err != nil {
				t.Fatalf("SendMessages: %v", err)
			}
			cg, err := sarama.NewConsumerGroup([]string{addr}, topic, cfg)
			if err != nil {
				t.Fatalf("consumer group: %v", err)
			}
			defer cg.Close()
			ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
			defer cancel()
			g := &saramaGroup{n: n, done: make(chan struct{})}
			errc := make(chan error, 1)
			go func() {
				for ctx.Err() == nil {
					if err := cg.Consume(ctx, []string{topic}, g); err != nil {
						errc <- err
						return
					}
				}
			}()
			select {
			case <-g.done:
			case err := <-errc:
				t.Fatalf("Consume: %v", err)
			case <-ctx.Done():
				t.Fatalf("consumed %d of %d records", g.seen, n)
			}
		})
	}
	for _, c := range secBad {
		t.Run(badName(c), func(t *testing.T) {
			cfg := b.saramaConfig(c)
			cfg.Metadata.Retry.Max = 0
			cl, err := sarama.NewClient([]string{b.addrs[c.proto]}, cfg)
			if err == nil {
				cl.Close()
			}
			if !errors.Is(err, sarama.ErrSASLAuthenticationFailed) {
				t.Fatalf("got %v, want SASL_AUTHENTICATION_FAILED", err)
			}
		})
	}
}

func kafkaGoMech(c secCase) kgosasl.Mechanism {
	switch c.mech {
	case "PLAIN":
		return kgoplain.Mechanism{Username: c.user, Password: c.pass}
	case "SCRAM-SHA-512":
		m, err := kgoscram.Mechanism(kgoscram.SHA512, c.user, c.pass)
		if err != nil {
			panic("BUG: " + err.Error())
		}
		return m
	}
	return nil
}

// testKafkaGoSecurity: for each cell, a Writer and then a Reader in a
// group, committing what it read; a wrong password or an unknown user
// gets SASLAuthenticationFailed.
func testKafkaGoSecurity(t *testing.T, b *secBroker) {
	const n = 20
	for _, c := range secAll {
		t.Run(c.String(), func(t *testing.T) {
			topic, addr := c.slug("kafka-go"), b.addrs[c.proto]
			var tc *tls.Config
			if c.tls() {
				tc = b.tlsConfig()
			}
			mech := kafkaGoMech(c)
			ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
			defer cancel()
			w := &kafkago.Writer{Addr: kafkago.TCP(addr), Topic: topic, RequiredAcks: kafkago.RequireAll,
				BatchTimeout: 5 * time.Millisecond, Transport: &kafkago.Transport{TLS: tc, SASL: mech}}
			msgs := make([]kafkago.Message, n)
			for i := range msgs {
				msgs[i] = kafkago.Message{Value: fmt.Append(nil, i)}
			}
			err := w.WriteMessages(ctx, msgs...)
			w.Close()
			if err != nil {
				t.Fatalf("WriteMessages: %v", err)
			}
			r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{addr}, GroupID: topic, Topic: topic,
				StartOffset: kafkago.FirstOffset, MaxWait: 200 * time.Millisecond,
				Dialer: &kafkago.Dialer{Timeout: 10 * time.Second, TLS: tc, SASLMechanism: mech}})
			defer r.Close()
			for i := range n {
				m, err := r.FetchMessage(ctx)
				if err != nil {
					t.Fatalf("FetchMessage %d: %v", i, err)
				}
				if err := r.CommitMessages(ctx, m); err != nil {
					t.Fatalf("CommitMessages: %v", err)
				}
			}
		})
	}
	for _, c := range secBad {
		t.Run(badName(c), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
			defer cancel()
			conn, err := (&kafkago.Dialer{Timeout: 10 * time.Second, SASLMechanism: kafkaGoMech(c)}).DialContext(ctx, "tcp", b.addrs[c.proto])
			if err == nil {
				conn.Close()
			}
			if !errors.Is(err, kafkago.SASLAuthenticationFailed) {
				t.Fatalf("got %v, want SASL_AUTHENTICATION_FAILED", err)
			}
		})
	}
}

// kcatSec is kcat's (librdkafka's) settings for c.
func (b *secBroker) kcatSec(c secCase) []string {
	args := []string{"-b", b.addrs[c.proto], "-X", "security.protocol=" + c.proto}
	if c.tls() {
		args = append(args, "-X", "ssl.ca.location="+b.caPath)
	}
	if c.mech != "" {
		args = append(args, "-X", "sasl.mechanisms="+c.mech, "-X", "sasl.username="+c.user, "-X", "sasl.password="+c.pass)
	}
	return args
}

// testKcatSecurity: the cells sasl_test.go and tls_test.go leave out
// (a group over SSL, both SASL_SSL mechanisms), then an expired
// certificate and a wrong CA.
func testKcatSecurity(t *testing.T, b *secBroker) {
	kcat := requireKcat(t)
	for _, c := range []secCase{secSSL, secSSLPlain, secSSLScram} {
		t.Run(c.String(), func(t *testing.T) {
			topic := c.slug("kcat")
			runTool(t, ioTimeout, []byte("a\nb\nc\n"), kcat, append(b.kcatSec(c), "-P", "-t", topic)...)
			out := lines(runTool(t, ioTimeout, nil, kcat, append(b.kcatSec(c), "-G", topic, "-o", "beginning", "-e", "-q", topic)...))
			if strings.Join(out, ",") != "a,b,c" {
				t.Fatalf("kcat read %q, want a, b, c", out)
			}
		})
	}
	fail := func(t *testing.T, want string, args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, kcat, append(args, "-L", "-m", "2")...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Fatalf("kcat -L: %v, want %q in\n%s", err, want, tail(string(out), 2000))
		}
	}
	t.Run("expired-server-certificate", func(t *testing.T) {
		// OpenSSL's reason (certificate has expired) stays in librdkafka's debug log.
		fail(t, "certificate verify failed", "-b", b.addrs["EXPIRED"], "-X", "security.protocol=SSL", "-X", "ssl.ca.location="+b.caPath)
	})
	t.Run("wrong-ca", func(t *testing.T) {
		fail(t, "certificate verify failed", "-b", b.addrs["SSL"], "-X", "security.protocol=SSL", "-X", "ssl.ca.location="+b.otherCAPath)
	})
}

// runSecScript runs a client script (py/secure.py, node/secure.js) over
// every cell of rt and, expecting authError for each, of bad; each case's
// line becomes a subtest.
func runSecScript(t *testing.T, b *secBroker, client string, rt, bad []secCase, authError, name string, args ...string) {
	arg := func(kind, caseName string, c secCase) string {
		mech, user, pass := c.mech, c.user, c.pass
		if mech == "" {
			mech, user, pass = "-", "-", "-"
		}
		return strings.Join([]string{kind, caseName, c.proto, b.addrs[c.proto], mech, user, pass, c.slug(client), c.slug(client)}, ",")
	}
	want := map[string]string{}
	for _, c := range rt {
		args = append(args, arg("rt", c.String(), c))
		want[c.String()] = "ok " + c.String()
	}
	for _, c := range bad {
		args = append(args, arg("bad", badName(c), c))
		want[badName(c)] = "autherr " + badName(c) + " " + authError
	}
	if client == "confluent" { // librdkafka's _SSL for an expired certificate and a wrong CA
		args = append(args, "badssl,expired-server-certificate,SSL,"+b.addrs["EXPIRED"]+",-,-,-,-,-",
			arg("badssl", "wrong-ca", secSSL)+","+b.otherCAPath)
		want["expired-server-certificate"] = "autherr expired-server-certificate _SSL"
		want["wrong-ca"] = "autherr wrong-ca _SSL"
	}
	// One process runs every case in turn: more than runScript's bound.
	began := time.Now()
	got := lines(runTool(t, 2*scriptTimeout, nil, name, args...))
	t.Logf("%s in %v:\n%s", client, time.Since(began).Round(time.Millisecond), strings.Join(got, "\n"))
	for caseName, line := range want {
		t.Run(caseName, func(t *testing.T) {
			for _, l := range got {
				if l == line {
					return
				}
			}
			for _, l := range got {
				if f := strings.Fields(l); len(f) > 1 && strings.TrimSuffix(f[1], ":") == caseName {
					t.Fatalf("%s, want %q", l, line)
				}
			}
			t.Fatalf("no line for %s in %q", caseName, got)
		})
	}
}

// TestSecurityAsChecked is the issue's acceptance check: a broker whose
// only listener is SASL_SSL, with SCRAM-SHA-512 users made by `sluice users
// create` and the StandardAuthorizer. The super user admin is a PLAIN user
// from JAAS (the bootstrap: it makes the SCRAM users). kcat and franz-go
// (alice) and the Java client (carol, the AclMatrix program: each of
// Kafka's authorization exceptions before a grant, success after) work
// within their ACLs and get TOPIC_AUTHORIZATION_FAILED outside them; a
// wrong password gets SASL_AUTHENTICATION_FAILED at once; Kafka's
// kafka-acls --list shows what `sluice acls create` made.
func TestSecurityAsChecked(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "e2e CA")
	caPath := ca.WriteCA(t, dir, "ca.pem")
	props := strings.Join([]string{
		"ssl.keystore.location=" + ca.Issue(t, testcerts.Options{}).WriteKeystore(t, dir, "server.pem"),
		"sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN",
		`listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-pw";`,
		"authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"super.users=User:admin",
		"connection.failed.authentication.delay.ms=10",
		"offsets.topic.num.partitions=1",
	}, "\n") + "\n"
	cfg := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(cfg, []byte(props), 0o600); err != nil {
		t.Fatal(err)
	}
	d := start(t, filepath.Join(dir, "data"), "--config", cfg, "--group-initial-rebalance-delay", "1",
		"--listen", "SASL_SSL://"+freeAddr(t))
	// One client properties file for sluice and Kafka's tools alike.
	adminProps := filepath.Join(dir, "admin.properties")
	if err := os.WriteFile(adminProps, []byte("security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n"+
		`sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-pw";`+"\n"+
		"ssl.truststore.type=PEM\nssl.truststore.location="+caPath+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// sluice runs `sluice CMD SUB --brokers … ARGS…` as the super user.
	sluice := func(cmd, sub string, rest ...string) {
		t.Helper()
		args := append([]string{cmd, sub, "--brokers", d.Addr, "--command-config", adminProps, "--tls-ca", caPath}, rest...)
		if code, out := runSluice(t, args...); code != 0 {
			t.Fatalf("sluice %v: exit %d\n%s", args, code, out)
		}
	}
	for _, u := range []string{"alice", "carol"} {
		sluice("users", "create", "--mechanism", "SCRAM-SHA-512", "--user-password", u+"-pw", u)
	}
	sluice("topics", "create", "--partitions", "1", "allowed-kcat", "allowed-franz", "denied")
	sluice("acls", "create", "--allow-principal", "User:alice", "--operation", "Read", "--operation", "Write",
		"--operation", "Describe", "--topic", "allowed-", "--resource-pattern-type", "prefixed")
	sluice("acls", "create", "--allow-principal", "User:alice", "--operation", "Read", "--group", "alice-",
		"--resource-pattern-type", "prefixed")

	alice := secCase{"SASL_SSL", "SCRAM-SHA-512", "alice", "alice-pw"}
	tc := kgo.DialTLSConfig(&tls.Config{RootCAs: ca.Pool, ServerName: "localhost"})
	t.Run("kcat", func(t *testing.T) {
		t.Parallel()
		kcat := requireKcat(t)
		b := &secBroker{addrs: map[string]string{"SASL_SSL": d.Addr}, caPath: caPath}
		runTool(t, ioTimeout, []byte("a\nb\n"), kcat, append(b.kcatSec(alice), "-P", "-t", "allowed-kcat")...)
		out := lines(runTool(t, ioTimeout, nil, kcat, append(b.kcatSec(alice), "-G", "alice-kcat", "-o", "beginning", "-e", "-q", "allowed-kcat")...))
		if strings.Join(out, ",") != "a,b" {
			t.Fatalf("kcat read %q, want a, b", out)
		}
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, kcat, append(b.kcatSec(alice), "-P", "-t", "denied")...)
		cmd.Stdin = strings.NewReader("x\n")
		if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "Topic authorization failed") {
			t.Fatalf("kcat producing outside its ACLs: %v, want Topic authorization failed in\n%s", err, tail(string(out), 2000))
		}
	})
	t.Run("franz-go", func(t *testing.T) {
		t.Parallel()
		mech := kgo.SASL(franzMech(alice))
		cl := newClient(t, d.Addr, tc, mech)
		produceSync(t, cl, &kgo.Record{Topic: "allowed-franz", Value: []byte("franz")})
		cons := newClient(t, d.Addr, tc, mech, kgo.ConsumeTopics("allowed-franz"), kgo.ConsumerGroup("alice-franz"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
		pollN(t, cons, 1)
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "denied", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("producing outside its ACLs: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
		bad := newClient(t, d.Addr, tc, kgo.SASL(scram.Auth{User: "alice", Pass: "wrong"}.AsSha512Mechanism()))
		began := time.Now()
		err := bad.Ping(ctx)
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
		}
		// At once: not retried until a timeout (franz-go's default is 30 s).
		if took := time.Since(began); took > 15*time.Second {
			t.Fatalf("wrong password: SASL_AUTHENTICATION_FAILED after %v", took)
		}
	})
	t.Run("java", func(t *testing.T) {
		t.Parallel()
		runJavaProgram(t, requireJava(t), "AclMatrix", d.Addr, caPath)
	})
	t.Run("kafka-acls", func(t *testing.T) {
		t.Parallel()
		kit := requireJava(t)
		r := runToolBatch(t, kit, []toolRun{{name: "list", main: "org.apache.kafka.tools.AclCommand",
			args: []string{"--bootstrap-server", d.Addr, "--command-config", adminProps, "--list"}}})["list"]
		if r == nil {
			t.Fatal("kafka-acls --list did not run")
		}
		for _, w := range []string{
			"ResourcePattern(resourceType=TOPIC, name=allowed-, patternType=PREFIXED)",
			"(principal=User:alice, host=*, operation=WRITE, permissionType=ALLOW)",
			"(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)",
			"(principal=User:alice, host=*, operation=DESCRIBE, permissionType=ALLOW)",
			"ResourcePattern(resourceType=GROUP, name=alice-, patternType=PREFIXED)",
		} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("kafka-acls --list (exit %s) lacks %q:\n%s\nstderr:\n%s", r.exit, w, r.stdout, tail(r.stderr, 2048))
			}
		}
	})
}

// TestJavaReauthentication: with connections.max.reauth.ms the Java
// client's producer and group consumer re-authenticate (KIP-368) over
// SASL_SSL with SCRAM-SHA-512 and keep working; the broker's /metrics
// counts the re-authentications (the Reauth program polls it).
func TestJavaReauthentication(t *testing.T) {
	kit := requireJava(t)
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "e2e CA")
	props := strings.Join([]string{
		"ssl.keystore.location=" + ca.Issue(t, testcerts.Options{}).WriteKeystore(t, dir, "server.pem"),
		"sasl.enabled.mechanisms=SCRAM-SHA-512",
		"connections.max.reauth.ms=1000",
		"offsets.topic.num.partitions=1",
	}, "\n") + "\n"
	cfg := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(cfg, []byte(props), 0o600); err != nil {
		t.Fatal(err)
	}
	plainAddr, httpAddr := freeAddr(t), freeAddr(t)
	d := start(t, filepath.Join(dir, "data"), "--config", cfg, "--group-initial-rebalance-delay", "1",
		"--listen", "SASL_SSL://"+freeAddr(t)+",PLAINTEXT://"+plainAddr, "--http-listen", httpAddr)
	upsertSCRAM(t, newClient(t, plainAddr), "bob", "bob-pw")
	runJavaProgram(t, kit, "Reauth", d.Addr, ca.WriteCA(t, dir, "ca.pem"), "http://"+httpAddr+"/metrics")
}
