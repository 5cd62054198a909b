package e2e

// TLS listeners (security.protocol=SSL) against real clients: franz-go,
// kcat and the Java client, with certificates made by the test.

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluice/sluice/internal/kafkaref"
	"github.com/sluice/sluice/internal/testcerts"
)

// tlsBroker is a sluiced with two TLS listeners: SSL (no client
// certificates) and MTLS (client certificates required, mapped to
// principals by a rule that admits only OU=ServiceUsers).
type tlsBroker struct {
	*daemon
	ca               *testcerts.CA
	keystore, caPath string
	mtls             string // the MTLS listener's address
	alice, mallory   *testcerts.Leaf
}

func startTLSBroker(t *testing.T) *tlsBroker {
	t.Helper()
	dir := t.TempDir()
	b := &tlsBroker{ca: testcerts.NewCA(t, "e2e CA")}
	b.keystore = b.ca.Issue(t, testcerts.Options{}).WriteKeystore(t, dir, "server.pem")
	b.caPath = b.ca.WriteCA(t, dir, "ca.pem")
	b.alice = b.ca.Issue(t, testcerts.Options{Subject: pkix.Name{CommonName: "Alice", OrganizationalUnit: []string{"ServiceUsers"}, Organization: []string{"Sluice"}}})
	b.mallory = b.ca.Issue(t, testcerts.Options{Subject: pkix.Name{CommonName: "mallory", OrganizationalUnit: []string{"Guests"}, Organization: []string{"Sluice"}}})
	port, err := kafkaref.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	b.mtls = fmt.Sprintf("127.0.0.1:%d", port)
	cfg := filepath.Join(dir, "server.properties")
	props := strings.Join([]string{
		"listener.security.protocol.map=SSL:SSL,MTLS:SSL",
		"ssl.keystore.type=PEM",
		"ssl.keystore.location=" + b.keystore,
		"ssl.truststore.type=PEM",
		"ssl.truststore.location=" + b.caPath,
		"listener.name.mtls.ssl.client.auth=required",
		"listener.name.mtls.ssl.principal.mapping.rules=RULE:^CN=(.*?),OU=ServiceUsers,.*$/$1/L",
		"offsets.topic.num.partitions=1",
	}, "\n") + "\n"
	if err := os.WriteFile(cfg, []byte(props), 0o600); err != nil {
		t.Fatal(err)
	}
	b.daemon = start(t, filepath.Join(dir, "data"), "--config", cfg, "--group-initial-rebalance-delay", "1",
		"--listen", "SSL://127.0.0.1:0,MTLS://"+b.mtls)
	return b
}

// clientTLS trusts the test CA, with cert as the client certificate.
func (b *tlsBroker) clientTLS(cert *testcerts.Leaf) *tls.Config {
	c := &tls.Config{RootCAs: b.ca.Pool}
	if cert != nil {
		c.Certificates = []tls.Certificate{cert.TLS}
	}
	return c
}

// dialErr is the error a TLS client gets connecting to addr: from the
// handshake or, with TLS 1.3 where the server refuses a client
// certificate after the client finished, from the first read.
func dialErr(addr string, cfg *tls.Config) error {
	cfg = cfg.Clone()
	cfg.ServerName = "localhost"
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	// An ApiVersions v0 request: the broker answers it.
	if _, err := nc.Write([]byte{0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0, 0}); err != nil {
		return err
	}
	_, err = io.ReadFull(nc, make([]byte, 4))
	return err
}

func TestTLSListeners(t *testing.T) {
	b := startTLSBroker(t)
	t.Run("FranzGoProduceConsumeGroup", func(t *testing.T) {
		const topic, n = "tls-franz", 2000
		cl := newClient(t, b.Addr, kgo.DialTLSConfig(b.clientTLS(nil)))
		recs := make([]*kgo.Record, n)
		for i := range recs {
			recs[i] = &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: []byte(strings.Repeat(fmt.Sprint(i), 50))}
		}
		produceSync(t, cl, recs...)
		cons := newClient(t, b.Addr, kgo.DialTLSConfig(b.clientTLS(nil)), kgo.ConsumeTopics(topic),
			kgo.ConsumerGroup("tls-group"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxWait(200*time.Millisecond))
		for i, r := range pollN(t, cons, n) {
			if r.Offset != int64(i) || string(r.Key) != fmt.Sprintf("k%d", i) {
				t.Fatalf("record %d: offset %d key %s", i, r.Offset, r.Key)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		if err := cons.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("commit over TLS: %v", err)
		}
	})
	t.Run("WrongCA", func(t *testing.T) {
		other := testcerts.NewCA(t, "another CA")
		err := dialErr(b.Addr, &tls.Config{RootCAs: other.Pool})
		var unknown x509UnknownAuthority
		if !errors.As(err, &unknown.err) {
			t.Fatalf("a client trusting another CA: %v", err)
		}
		// franz-go fails the same way rather than hanging.
		cl := newClient(t, b.Addr, kgo.DialTLSConfig(&tls.Config{RootCAs: other.Pool}), kgo.RetryTimeout(2*time.Second))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := cl.Ping(ctx); err == nil || !strings.Contains(err.Error(), "unknown authority") {
			t.Fatalf("franz-go with the wrong CA: %v", err)
		}
	})
	t.Run("ClientAuthRequired", func(t *testing.T) {
		if err := dialErr(b.mtls, b.clientTLS(nil)); err == nil || !strings.Contains(err.Error(), "certificate required") {
			t.Fatalf("no client certificate: %v", err)
		}
		// A certificate no mapping rule matches is refused too.
		if err := dialErr(b.mtls, b.clientTLS(b.mallory)); err == nil {
			t.Fatal("a certificate outside the mapping rules was accepted")
		}
		cl := newClient(t, b.mtls, kgo.DialTLSConfig(b.clientTLS(b.alice)))
		produceSync(t, cl, &kgo.Record{Topic: "tls-mtls", Value: []byte("from alice")})
		if r := consumeN(t, b.mtls, "tls-mtls", 1, kgo.DialTLSConfig(b.clientTLS(b.alice))); string(r[0].Value) != "from alice" {
			t.Fatalf("read back %q", r[0].Value)
		}
	})
	t.Run("GarbageAfterHandshake", func(t *testing.T) {
		cfg := b.clientTLS(nil)
		cfg.ServerName = "localhost"
		nc, err := tls.Dial("tcp", b.Addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.Write([]byte("GET / HTTP/1.1\r\nHost: sluice\r\n\r\n"))
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := io.Copy(io.Discard, nc); err != nil && !errors.Is(err, syscall.ECONNRESET) || n != 0 {
			t.Fatalf("garbage: read %d bytes, %v", n, err)
		}
		if err := dialErr(b.Addr, b.clientTLS(nil)); err != nil {
			t.Fatalf("another client after the garbage: %v", err)
		}
	})
	t.Run("Kcat", func(t *testing.T) {
		kcat := requireKcat(t)
		const topic, n = "tls-kcat", 500
		ssl := []string{"-X", "security.protocol=SSL", "-X", "ssl.ca.location=" + b.caPath}
		var in strings.Builder
		for i := range n {
			fmt.Fprintf(&in, "k%d:kcat-tls-%d\n", i, i)
		}
		runTool(t, ioTimeout, []byte(in.String()), kcat, append([]string{"-P", "-b", b.Addr, "-t", topic, "-K:"}, ssl...)...)
		out := lines(runTool(t, ioTimeout, nil, kcat, append([]string{"-C", "-b", b.Addr, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%o %k %s\n"}, ssl...)...))
		if len(out) != n || out[n-1] != fmt.Sprintf("%d k%d kcat-tls-%d", n-1, n-1, n-1) {
			t.Fatalf("kcat read %d records, last %q", len(out), out[len(out)-1])
		}
	})
	t.Run("ReloadKeepsOpenConnections", func(t *testing.T) { testTLSReload(t, b) })
}

// testTLSReload: an expired certificate put in place and signalled with
// SIGHUP makes new handshakes fail while a client connected before keeps
// producing; a fresh certificate is then picked up from the file change
// alone (no signal).
func testTLSReload(t *testing.T, b *tlsBroker) {
	old := newClient(t, b.Addr, kgo.DialTLSConfig(b.clientTLS(nil)))
	produceSync(t, old, &kgo.Record{Topic: "tls-reload", Value: []byte("before")})

	expired := b.ca.Issue(t, testcerts.Options{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	writeAtomically(t, b.keystore, expired)
	if err := b.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "new handshakes to get the expired certificate", ioTimeout, func() bool {
		err := dialErr(b.Addr, b.clientTLS(nil))
		return err != nil && strings.Contains(err.Error(), "expired")
	})
	produceSync(t, old, &kgo.Record{Topic: "tls-reload", Value: []byte("after")}) // its connection lives on

	fresh := b.ca.Issue(t, testcerts.Options{})
	writeAtomically(t, b.keystore, fresh)
	waitFor(t, "the changed file to be picked up", ioTimeout, func() bool {
		cfg := b.clientTLS(nil)
		cfg.ServerName = "localhost"
		nc, err := tls.Dial("tcp", b.Addr, cfg)
		if err != nil {
			return false
		}
		defer nc.Close()
		return nc.ConnectionState().PeerCertificates[0].SerialNumber.Cmp(fresh.Cert.SerialNumber) == 0
	})
	if r := consumeN(t, b.Addr, "tls-reload", 2, kgo.DialTLSConfig(b.clientTLS(nil))); string(r[1].Value) != "after" {
		t.Fatalf("records %q %q", r[0].Value, r[1].Value)
	}
}

// writeAtomically replaces path with leaf's keystore (key and chain) by
// a rename, as certificate tools do, so the broker never reads half.
func writeAtomically(t *testing.T, path string, leaf *testcerts.Leaf) {
	t.Helper()
	tmp := leaf.WriteKeystore(t, filepath.Dir(path), filepath.Base(path)+".tmp")
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

type x509UnknownAuthority struct {
	err *tls.CertificateVerificationError
}

// TestJavaClientsTLS runs the Java client's round trip (every codec) and
// its consumer group over an SSL listener, the client trusting the test
// CA through a PEM truststore (ssl.truststore.type=PEM, Kafka 2.7+).
func TestJavaClientsTLS(t *testing.T) {
	kit := requireJava(t)
	b := startTLSBroker(t)
	props := filepath.Join(t.TempDir(), "client.properties")
	if err := os.WriteFile(props, []byte("security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location="+b.caPath+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLUICE_KIT_CLIENT_PROPERTIES", props)
	for _, program := range []string{"RoundTrip", "Groups"} {
		t.Run(program, func(t *testing.T) { runJavaProgram(t, kit, program, b.Addr) })
	}
}

// TestSASLSSL: a SASL_SSL listener is TLS first, then SASL: franz-go
// authenticates with SCRAM-SHA-512 (credentials made over PLAINTEXT with
// AlterUserScramCredentials) and with PLAIN (JAAS users), produces and
// consumes with a group; a wrong password gets SASL_AUTHENTICATION_FAILED.
func TestSASLSSL(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "e2e CA")
	ks := ca.Issue(t, testcerts.Options{}).WriteKeystore(t, dir, "server.pem")
	port, err := kafkaref.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	plainAddr := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := filepath.Join(dir, "server.properties")
	props := "ssl.keystore.location=" + ks + "\n" +
		"sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512\n" +
		`listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-pw";` + "\n" +
		"offsets.topic.num.partitions=1\n"
	if err := os.WriteFile(cfg, []byte(props), 0o600); err != nil {
		t.Fatal(err)
	}
	d := start(t, filepath.Join(dir, "data"), "--config", cfg, "--group-initial-rebalance-delay", "1",
		"--listen", "SASL_SSL://127.0.0.1:0,PLAINTEXT://"+plainAddr)
	adm := kadm.NewClient(newClient(t, plainAddr))
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "bob", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "bob-pw"}})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("AlterUserSCRAMs: %v", err)
	}
	tc := kgo.DialTLSConfig(&tls.Config{RootCAs: ca.Pool})
	for name, mech := range map[string]sasl.Mechanism{
		"SCRAM-SHA-512": scram.Auth{User: "bob", Pass: "bob-pw"}.AsSha512Mechanism(),
		"PLAIN":         plain.Auth{User: "alice", Pass: "alice-pw"}.AsMechanism(),
	} {
		t.Run(name, func(t *testing.T) {
			topic := "sasl-ssl-" + strings.ToLower(name)
			cl := newClient(t, d.Addr, tc, kgo.SASL(mech))
			recs := make([]*kgo.Record, 300)
			for i := range recs {
				recs[i] = &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "v%d", i)}
			}
			produceSync(t, cl, recs...)
			cons := newClient(t, d.Addr, tc, kgo.SASL(mech), kgo.ConsumeTopics(topic), kgo.ConsumerGroup(topic),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
			if got := pollN(t, cons, len(recs)); string(got[299].Value) != "v299" {
				t.Fatalf("last record %q", got[299].Value)
			}
		})
	}
	t.Run("WrongPassword", func(t *testing.T) {
		cl := newClient(t, d.Addr, tc, kgo.SASL(scram.Auth{User: "bob", Pass: "nope"}.AsSha512Mechanism()), kgo.RetryTimeout(2*time.Second))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := cl.Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("wrong password: %v", err)
		}
	})
}
