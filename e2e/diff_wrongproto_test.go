package e2e

import (
	"context"
	"crypto/tls"
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

	"github.com/twmb/franz-go/pkg/kmsg"
)

// scWrongProtocol: what a client configured for another security.protocol
// meets on a PLAINTEXT listener. SASL_PLAINTEXT: SASLHandshake and
// SASLAuthenticate answers. SSL: what a TLS client's handshake gets.
func scWrongProtocol(ctx context.Context, tg *diffTarget, rec recordFunc) {
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Mechanism = "PLAIN"
	if resp, err := tg.request(ctx, hs); err != nil {
		rec("SASLHandshake PLAIN", tg.reqErr(err))
	} else {
		r := resp.(*kmsg.SASLHandshakeResponse)
		rec("SASLHandshake PLAIN: error", errName(r.ErrorCode))
		rec("SASLHandshake PLAIN: enabled mechanisms", fmt.Sprint(r.SupportedMechanisms))
	}
	auth := kmsg.NewPtrSASLAuthenticateRequest()
	auth.SASLAuthBytes = []byte("\x00a\x00b")
	if resp, err := tg.request(ctx, auth); err != nil {
		rec("SASLAuthenticate", tg.reqErr(err))
	} else {
		rec("SASLAuthenticate: error", errName(resp.(*kmsg.SASLAuthenticateResponse).ErrorCode))
	}
	rec("TLS ClientHello", tlsHandshakeOutcome(ctx, tg.addr))
}

// tlsHandshakeOutcome runs a crypto/tls handshake against addr and says
// how it ended, without addresses or timings.
func tlsHandshakeOutcome(ctx context.Context, addr string) string {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "dial failed: " + err.Error()
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	err = tls.Client(nc, &tls.Config{ServerName: "localhost"}).HandshakeContext(ctx)
	var ne net.Error
	switch {
	case err == nil:
		return "handshake succeeded"
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		return "connection closed, no answer"
	case errors.As(err, &ne) && ne.Timeout():
		return "no answer within 20 s"
	}
	return "handshake failed: " + err.Error()
}

// wrongProtocolProps writes two client configs for a PLAINTEXT broker:
// SASL_PLAINTEXT with PLAIN, and SSL.
func wrongProtocolProps(t *testing.T) (sasl, ssl string) {
	t.Helper()
	dir := t.TempDir()
	sasl, ssl = filepath.Join(dir, "sasl.properties"), filepath.Join(dir, "ssl.properties")
	write := func(p, body string) {
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(sasl, "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"+
		"sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"a\" password=\"b\";\n")
	write(ssl, "security.protocol=SSL\n")
	return sasl, ssl
}

// failsWith checks that a tool exited 1, within a bound far below the
// admin client's 60 s default timeout (so it failed on the broker's
// answer, not by timing out), naming each of want.
func failsWith(want ...string) toolCheck {
	return func(r *toolResult) string {
		if r.exit != "1" {
			return fmt.Sprintf("exit %s, want 1", r.exit)
		}
		if r.ms > 30000 {
			return fmt.Sprintf("took %d ms: timed out rather than failing on the broker's answer", r.ms)
		}
		for _, w := range want {
			if !strings.Contains(r.stdout+r.stderr, w) {
				return fmt.Sprintf("output lacks %q", w)
			}
		}
		return ""
	}
}
