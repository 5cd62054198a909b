package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
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
