package netio

import (
	"bytes"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/testlog"
)

func TestTLSClientHelloHeader(t *testing.T) {
	f := func(b []byte, want bool) {
		t.Helper()
		if got := tlsClientHello(b); got != want {
			t.Fatalf("tlsClientHello(% x) = %v, want %v", b, got, want)
		}
	}
	f([]byte{0x16, 0x03, 0x00}, true) // SSL 3.0
	f([]byte{0x16, 0x03, 0x01}, true) // TLS 1.0, and 1.3's record version
	f([]byte{0x16, 0x03, 0x03}, true) // TLS 1.2
	f([]byte{0x16, 0x03, 0x04}, true)
	f([]byte{0x16, 0x03, 0x05}, false)
	f([]byte{0x15, 0x03, 0x03}, false) // an alert record is not a client's first bytes
	f([]byte{0x16, 0x02, 0x01}, false)
	f([]byte{0x00, 0x00, 0x00}, false) // a Kafka request under 16 MiB
	f([]byte{0x00, 0x00, 0x01}, false)
}

// TestTLSOnPlaintextClosedAtOnce: a real TLS client (crypto/tls) gets a
// handshake_failure alert, not a timeout or a bare EOF; every attempt is counted and a
// client address is logged once per WrongProtocolLogEvery. Kafka clients
// on the same listener go on being served.
func TestTLSOnPlaintextClosedAtOnce(t *testing.T) {
	var logs testlog.Buffer
	cfg := testConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	h := newTestHandler(t, 0)
	s := startServer(t, cfg, h)

	for i := range 3 {
		nc, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		// The deadline bounds a hang (a regression would wait for a
		// ServerHello forever); the handshake fails long before.
		nc.SetDeadline(time.Now().Add(20 * time.Second))
		err = tls.Client(nc, &tls.Config{ServerName: "localhost"}).Handshake()
		nc.Close()
		if err == nil || !strings.Contains(err.Error(), "remote error: tls: handshake failure") {
			t.Fatalf("handshake %d: got %v, want a handshake_failure alert", i, err)
		}
		t.Logf("handshake %d: %v", i, err)
	}
	eventually(t, "3 TLS connections counted", func() bool { return s.Stats().RefusedTLS == 3 })
	if n := logs.Count("TLS handshake on a PLAINTEXT listener"); n != 1 {
		t.Fatalf("logged %d times for one client, want once:\n%s", n, logs.String())
	}
	if n := logs.Count("client=127.0.0.1"); n != 1 {
		t.Fatalf("the log line does not name the client:\n%s", logs.String())
	}
	if st := s.Stats(); st.FramesRejected != 0 {
		t.Fatalf("TLS connections counted as rejected frames too: %+v", st)
	}
	roundTrip(t, s, h)
}

// TestTLSHeaderSplitAcrossReads: the check waits for three bytes, however
// they arrive; the answer is the alert, then the close.
func TestTLSHeaderSplitAcrossReads(t *testing.T) {
	h := newTestHandler(t, 0)
	s := startServer(t, testConfig(), h)
	c := dial(t, s)
	c.write([]byte{0x16})
	c.write([]byte{0x03})
	c.write([]byte{0x01, 0x02, 0x00, 0x01})
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c.r)
	if err != nil || !bytes.Equal(got, tlsHandshakeFailure) {
		t.Fatalf("got % x, %v; want the alert % x and EOF", got, err, tlsHandshakeFailure)
	}
	eventually(t, "the TLS connection counted", func() bool { return s.Stats().RefusedTLS == 1 })
}

// TestTLSBytesAfterFirstFrame: only a connection's first bytes are taken
// for a ClientHello; the same bytes later are an oversized frame.
func TestTLSBytesAfterFirstFrame(t *testing.T) {
	h := newTestHandler(t, 0)
	s := startServer(t, testConfig(), h)
	c := dial(t, s)
	q := req(opEcho, 1, []byte("x"))
	c.send(q)
	if got := c.recv(); !bytes.Equal(got, h.want(q)) {
		t.Fatalf("echo: got %q", got)
	}
	c.write([]byte{0x16, 0x03, 0x01, 0x02, 0x00})
	c.expectClosed()
	eventually(t, "the frame rejected", func() bool { return s.Stats().FramesRejected == 1 })
	if st := s.Stats(); st.RefusedTLS != 0 {
		t.Fatalf("a later frame counted as TLS: %+v", st)
	}
}
