package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/sluice/sluice/internal/testlog"
	"github.com/sluice/sluice/netio"
)

func withLogTo(w *testlog.Buffer) func(*ServerConfig) {
	return func(c *ServerConfig) { c.Logger = slog.New(slog.NewTextHandler(w, nil)) }
}

// TestSASLOnPlaintextRaw: SASLHandshake v0-1 and SASLAuthenticate v0-2
// get ILLEGAL_SASL_STATE with no mechanisms, as Kafka answers on a
// listener without SASL; the connection stays usable, every request is
// counted and the client address logged once.
func TestSASLOnPlaintextRaw(t *testing.T) {
	var logs testlog.Buffer
	ts := startServer(t, "", withLogTo(&logs))
	rc := dialRaw(t, ts.addr)
	for v := int16(0); v <= 1; v++ {
		req := kmsg.NewPtrSASLHandshakeRequest()
		req.Version, req.Mechanism = v, "PLAIN"
		resp := rc.roundTrip(req).(*kmsg.SASLHandshakeResponse)
		if resp.ErrorCode != kerr.IllegalSaslState.Code || len(resp.SupportedMechanisms) != 0 {
			t.Fatalf("SASLHandshake v%d: error %d, mechanisms %q; want ILLEGAL_SASL_STATE, none",
				v, resp.ErrorCode, resp.SupportedMechanisms)
		}
	}
	for v := int16(0); v <= 2; v++ {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.Version, req.SASLAuthBytes = v, []byte("\x00a\x00b")
		resp := rc.roundTrip(req).(*kmsg.SASLAuthenticateResponse)
		if resp.ErrorCode != kerr.IllegalSaslState.Code || resp.ErrorMessage == nil ||
			!strings.Contains(*resp.ErrorMessage, "security.protocol") {
			t.Fatalf("SASLAuthenticate v%d: error %d, message %v", v, resp.ErrorCode, resp.ErrorMessage)
		}
	}
	if resp := rc.roundTrip(kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse); len(resp.Brokers) != 1 {
		t.Fatalf("Metadata after the SASL errors: %d brokers", len(resp.Brokers))
	}
	if n := ts.Broker().SASLRefused(); n != 5 {
		t.Fatalf("SASLRefused = %d, want 5", n)
	}
	out := logs.String()
	if n := strings.Count(out, SASLOnPlaintextMsg); n != 1 {
		t.Fatalf("logged %d times for one client, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "client=127.0.0.1") || !strings.Contains(out, "mechanism=PLAIN") {
		t.Fatalf("the log line does not name the client and mechanism:\n%s", out)
	}
}

// TestFranzGoSASLOnPlaintextFailsFast: a franz-go client with SASL/PLAIN
// gets ILLEGAL_SASL_STATE, not a retry loop to its timeout. testCtx only
// bounds a hang.
func TestFranzGoSASLOnPlaintextFailsFast(t *testing.T) {
	ts := startServer(t, "")
	cl := newKgo(t, ts.addr, kgo.SASL(plain.Auth{User: "a", Pass: "b"}.AsMechanism()))
	start := time.Now()
	err := cl.Ping(testCtx(t))
	t.Logf("franz-go SASL client failed after %v: %v", time.Since(start), err)
	if !errors.Is(err, kerr.IllegalSaslState) {
		t.Fatalf("got %v, want ILLEGAL_SASL_STATE", err)
	}
	if ts.Broker().SASLRefused() == 0 {
		t.Fatal("the handshake was not counted")
	}
}

// TestTLSOnPlaintextBroker: a TLS client's handshake fails at once on a
// handshake_failure alert and the broker logs the likely
// misconfiguration.
func TestTLSOnPlaintextBroker(t *testing.T) {
	var logs testlog.Buffer
	ts := startServer(t, "", withLogTo(&logs))
	nc, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(20 * time.Second)) // bounds a hang
	err = tls.Client(nc, &tls.Config{ServerName: "localhost"}).Handshake()
	if err == nil || !strings.Contains(err.Error(), "handshake failure") {
		t.Fatalf("TLS handshake: got %v, want a handshake_failure alert", err)
	}
	pollUntil(t, "the TLS connection counted", func() bool { return ts.NetStats().RefusedTLS == 1 })
	// The count and the log line come from the same close, in either order.
	pollUntil(t, "a log line naming security.protocol", func() bool {
		return strings.Contains(logs.String(), "security.protocol=SSL or SASL_SSL")
	})
}

// pollUntil polls cond until it holds or 10 s pass.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling interval, not a wait for the condition
	}
}

// runKcatWrongProtocol runs kcat -L with extra settings against ts and
// returns its combined output; it must exit non-zero on its own, within
// a bound far above its 2 s metadata timeout (a hang bound, not a speed
// claim). Skipped without kcat.
func runKcatWrongProtocol(t *testing.T, ts *testServer, settings ...string) string {
	t.Helper()
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	args := []string{"-L", "-b", ts.addr, "-m", "2"}
	for _, s := range settings {
		args = append(args, "-X", s)
	}
	start := time.Now()
	out, err := exec.CommandContext(ctx, kcat, args...).CombinedOutput()
	took := time.Since(start)
	t.Logf("kcat %v after %v: %v\n%s", settings, took, err, out)
	if err == nil {
		t.Fatal("kcat -L succeeded against the wrong security.protocol")
	}
	if ctx.Err() != nil {
		t.Fatalf("kcat did not exit on its own within 15 s")
	}
	return string(out)
}

// TestKcatSSLOnPlaintext: Debian's kcat with security.protocol=SSL fails
// its handshake at once on the broker's alert ("SSL handshake failed: …
// sslv3 alert handshake failure"), and the broker counts and logs it.
func TestKcatSSLOnPlaintext(t *testing.T) {
	var logs testlog.Buffer
	ts := startServer(t, "", withLogTo(&logs))
	out := runKcatWrongProtocol(t, ts, "security.protocol=SSL")
	// librdkafka words the failure "SSL handshake failed: … alert handshake
	// failure" or, on a retry, "… sslv3 alert handshake failure: SSL alert
	// number 40": the alert is what matters.
	if !strings.Contains(out, "alert handshake failure") {
		t.Fatalf("kcat did not report the broker's handshake_failure alert:\n%s", out)
	}
	if ts.NetStats().RefusedTLS == 0 || !strings.Contains(logs.String(), netio.TLSOnPlaintextMsg) {
		t.Fatalf("not counted (%d) or not logged:\n%s", ts.NetStats().RefusedTLS, logs.String())
	}
}

// TestKcatSASLOnPlaintext: Debian's kcat with SASL_PLAINTEXT/PLAIN gets
// the broker's ILLEGAL_SASL_STATE ("Request not valid in current SASL
// state") on its first handshake instead of a transport failure.
func TestKcatSASLOnPlaintext(t *testing.T) {
	var logs testlog.Buffer
	ts := startServer(t, "", withLogTo(&logs))
	out := runKcatWrongProtocol(t, ts, "security.protocol=SASL_PLAINTEXT", "sasl.mechanisms=PLAIN",
		"sasl.username=a", "sasl.password=b")
	if !strings.Contains(out, "not valid in current SASL state") {
		t.Fatalf("kcat did not report ILLEGAL_SASL_STATE:\n%s", out)
	}
	if ts.Broker().SASLRefused() == 0 || !strings.Contains(logs.String(), SASLOnPlaintextMsg) {
		t.Fatalf("not counted (%d) or not logged:\n%s", ts.Broker().SASLRefused(), logs.String())
	}
}
