package main

import (
	"crypto/tls"
	binenc "encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/broker"
	"github.com/sluice/sluice/netio"
)

// TestWrongSecurityProtocolLoggedAndCounted: against the daemon, a TLS
// client and a SASL_PLAINTEXT client each get a clear answer, a warning
// naming security.protocol and the client, and a count in /metrics.
func TestWrongSecurityProtocolLoggedAndCounted(t *testing.T) {
	p := start(t, nil, "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0")
	defer p.stop()

	nc, err := net.DialTimeout("tcp", p.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(20 * time.Second)) // bounds a hang
	err = tls.Client(nc, &tls.Config{ServerName: "localhost"}).Handshake()
	nc.Close()
	if err == nil || !strings.Contains(err.Error(), "handshake failure") {
		t.Fatalf("TLS handshake: %v, want a handshake_failure alert", err)
	}

	if code := saslHandshakeRaw(t, p.addr); code != kerr.IllegalSaslState.Code {
		t.Fatalf("SASLHandshake: error %d, want ILLEGAL_SASL_STATE", code)
	}

	checkMetrics(t, p, `sluice_connections_refused_total{reason="tls_on_plaintext"} 1`)
	checkMetrics(t, p, `sluice_connections_refused_total{reason="sasl_on_plaintext"} 1`)
	for _, msg := range []string{netio.TLSOnPlaintextMsg, broker.SASLOnPlaintextMsg} {
		rec := p.waitLog(msg)
		if rec["level"] != "WARN" || rec["client"] != "127.0.0.1" {
			t.Fatalf("log record %v: want a WARN naming client 127.0.0.1", rec)
		}
	}
}

// saslHandshakeRaw sends SASLHandshake v1 (PLAIN) and returns the error
// code.
func saslHandshakeRaw(t *testing.T, addr string) int16 {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	req := kmsg.NewPtrSASLHandshakeRequest()
	req.Version, req.Mechanism = 1, "PLAIN"
	if _, err := nc.Write(kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)); err != nil {
		t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(nc, size[:]); err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, binenc.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(nc, frame); err != nil {
		t.Fatal(err)
	}
	resp := req.ResponseKind()
	if err := resp.ReadFrom(frame[4:]); err != nil { // after the correlation id
		t.Fatal(err)
	}
	return resp.(*kmsg.SASLHandshakeResponse).ErrorCode
}
