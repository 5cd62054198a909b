package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
)

// SASLAuthenticate: v0-2
//
// Behavior:
// * As Kafka on a listener without SASL (or after authentication):
//   ILLEGAL_SASL_STATE (34). Kafka's message assumes a finished
//   authentication; Sluice's names the likely misconfiguration instead
//   (saslAuthenticateMsg). Clients send it only after a successful
//   SASLHandshake v1, which this listener never gives, so it comes only
//   from a client that skips the handshake.
// * Counted and logged as a SASLHandshake is (17_sasl_handshake.go).
// * Advertised (v0-2), as Kafka advertises it on every listener.

func init() { register(36, 0, 2, handleSASLAuthenticate) }

const saslAuthenticateMsg = "SASL is not enabled on this PLAINTEXT listener: check the client's security.protocol"

func handleSASLAuthenticate(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	resp.ErrorCode = kerr.IllegalSaslState.Code
	msg := saslAuthenticateMsg
	resp.ErrorMessage = &msg
	b.refuseSASL(r)
	return r.respond(resp), nil
}
