package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/netio"
)

// SASLAuthenticate: v0-2
//
// Behavior on a SASL listener, after a SaslHandshake v1 (see auth.go):
// * Each request carries the client's next token; the response carries
//   the server's. Once authenticated, v1+ responses carry
//   session_lifetime_ms = connections.max.reauth.ms (0: no expiry), after
//   which the client must re-authenticate (KIP-368) or is closed.
// * A failed authentication (unknown user, wrong password, malformed,
//   truncated or replayed SCRAM message, wrong nonce) answers
//   SASL_AUTHENTICATION_FAILED (58) with Kafka's message after
//   connection.failed.authentication.delay.ms, then closes the connection
//   (Java: SaslAuthenticationException). Counted and logged.
// * From a client address that failed FailedAuthMax times within
//   FailedAuthWindow: SASL_AUTHENTICATION_FAILED ("too many failed
//   authentications") without checking the credentials (authlimit.go).
// * Without a handshake first (or after authentication without a new
//   handshake): ILLEGAL_SASL_STATE and closed.
//
// Behavior on a listener without SASL: ILLEGAL_SASL_STATE (34). Kafka's
// message assumes a finished authentication; Sluice's names the likely
// misconfiguration instead (saslAuthenticateMsg). Counted and logged as a
// SASLHandshake is (17_sasl_handshake.go). Advertised (v0-2), as Kafka
// advertises it on every listener.

func init() { register(36, 0, 2, handleSASLAuthenticate) }

const saslAuthenticateMsg = "SASL is not enabled on this PLAINTEXT listener: check the client's security.protocol"

func handleSASLAuthenticate(ctx context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	a := authOf(r.conn)
	if a == nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := saslAuthenticateMsg
		resp.ErrorMessage = &msg
		b.refuseSASL(r)
		return r.respond(resp), nil
	}
	if a.state != authAuthenticate || a.rawV0 {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "Unexpected SaslAuthenticate request: no SaslHandshake v1 started an authentication"
		resp.ErrorMessage = &msg
		b.authLog(r.conn, "SaslAuthenticate out of turn: closing the connection")
		return r.respond(resp), errClose("SaslAuthenticate without a handshake")
	}
	res := b.authenticate(ctx, r.conn, a, req.SASLAuthBytes)
	if f := res.failure; f != nil {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := f.Message
		resp.ErrorMessage = &msg
		return r.respond(resp), errClose("SASL authentication failed: %s", f.Reason)
	}
	resp.SASLAuthBytes = res.token
	resp.SessionLifetimeMillis = res.lifetime.Milliseconds()
	return r.respond(resp), nil
}
