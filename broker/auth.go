package broker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice/sluice/auth"
	"github.com/sluice/sluice/internal/lograte"
	"github.com/sluice/sluice/listener"
	"github.com/sluice/sluice/netio"
)

// Authentication on SASL listeners, as Kafka's SaslServerAuthenticator.
//
// A connection on a SASL_PLAINTEXT or SASL_SSL listener goes through
//
//	handshake ──SaslHandshake──▶ authenticate ──SaslAuthenticate…──▶ authenticated
//	(ApiVersions,                (v1: SaslAuthenticate requests;       (everything; after
//	 SaslHandshake)               v0: raw token frames)                  session_lifetime_ms only a
//	                                                                     re-authentication, KIP-368)
//
// Before authentication nothing but ApiVersions, SaslHandshake and
// SaslAuthenticate is served, and requests are bounded by
// sasl.server.max.receive.size (netio.Config.SASLMaxReceiveBytes); any
// other request closes the connection (logged, counted). A failed
// authentication answers SASL_AUTHENTICATION_FAILED with Kafka's message
// after connection.failed.authentication.delay.ms and closes the
// connection; a client address that failed too often lately is refused
// without its credentials being checked (authlimit.go). The state (connAuth, in connState) lives in the connection's netio.Conn
// (SetState): one connection's requests are handled one at a time, so it
// needs no lock.

const (
	saslHandshakeKey    = 17
	saslAuthenticateKey = 36
)

// SASLConfig configures authentication on SASL listeners.
type SASLConfig struct {
	// Mechanisms are sasl.enabled.mechanisms. Default SCRAM-SHA-256 and
	// SCRAM-SHA-512.
	Mechanisms []auth.Mechanism
	// PlainUsers are PLAIN users per listener name, from
	// listener.name.<listener>.plain.sasl.jaas.config (user → password).
	PlainUsers map[string]map[string]string
	// PlainUsersAll are PLAIN users of every listener (sasl.plain.users.file);
	// a listener's own users win.
	PlainUsersAll map[string]string
	// Reauth is connections.max.reauth.ms: the session lifetime given to
	// clients (SaslAuthenticate v1+), after which a connection that has not
	// re-authenticated is closed at its next request. 0: sessions never
	// expire (Kafka's default).
	Reauth time.Duration
	// FailedAuthDelay is connection.failed.authentication.delay.ms: how long
	// a failed authentication's answer and close are held back, slowing
	// password guessing. Default 100 ms; 0: none.
	FailedAuthDelay time.Duration
	// FailedAuthMax and FailedAuthWindow limit failed authentications per
	// client address (authlimit.go): an address that failed FailedAuthMax
	// times within FailedAuthWindow of its first failure is refused until
	// the window ends. FailedAuthMax 0 (the default, as Kafka): no limit;
	// FailedAuthWindow default 1 minute.
	FailedAuthMax    int
	FailedAuthWindow time.Duration

	now func() time.Time // session expiry clock; nil: time.Now (tests set it)
}

func (c *SASLConfig) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// authState is where a connection is in its authentication.
type authState int

const (
	authHandshake    authState = iota // waiting for SaslHandshake
	authAuthenticate                  // mechanism chosen, exchanging tokens
	authDone                          // authenticated
)

// connAuth is one SASL connection's authentication state.
type connAuth struct {
	state   authState
	rawV0   bool // SaslHandshake v0: tokens come as raw frames
	mech    auth.Mechanism
	sess    auth.Session
	user    string    // authenticated user; kept through a re-authentication
	princ   string    // "User:" + user, made once (ACL checks read it per request)
	expires time.Time // zero: the session does not expire
}

// connState is the broker's state of one connection, kept in its
// netio.Conn (SetState). Add fields here for other per-connection state
// (an authorizer's cache): one connection's requests are handled one at a
// time, so none needs a lock.
type connState struct {
	auth connAuth // SASL listeners only
	ssl  string   // SSL listeners only: the principal from the client certificate, once worked out
	// local is the principal of an in-process connection (DialAs).
	local    string
	internal bool // DialInternal: the broker's own requests pass every ACL check
	// clientID is the client id of the connection's last request, reused
	// by the next one that sends the same (dispatch, parseHeaderAfter).
	clientID *string
}

// stateOf is c's state, created on its first request.
func stateOf(c *netio.Conn) *connState {
	st, _ := c.State().(*connState)
	if st == nil {
		st = &connState{}
		c.SetState(st)
	}
	return st
}

// authOf is c's authentication state, nil unless c is on a SASL listener.
func authOf(c *netio.Conn) *connAuth {
	if c == nil || !c.SecurityProtocol().SASL() {
		return nil
	}
	return &stateOf(c).auth
}

// principal is the Kafka principal of c's client: "User:<name>" once it
// authenticated with SASL, "User:ANONYMOUS" on a listener without SASL
// (as Kafka names it), "" while a SASL connection has not authenticated.
func (b *Broker) principal(c *netio.Conn) string {
	if c == nil {
		return anonymous
	}
	if st, _ := c.State().(*connState); st != nil && st.local != "" {
		return st.local
	}
	if c.SecurityProtocol() == listener.SSL {
		return b.sslPrincipal(c)
	}
	a := authOf(c)
	if a == nil {
		return "User:ANONYMOUS"
	}
	return a.princ
}

// preAuthAllowed reports whether key may be served before authentication.
func preAuthAllowed(key int16) bool {
	return key == apiVersionsKey || key == saslHandshakeKey || key == saslAuthenticateKey
}

// checkAuthenticated closes a connection on a SASL listener that sends
// anything but ApiVersions or the SASL APIs before it has authenticated,
// or once its session expired, anything but a re-authentication.
func (b *Broker) checkAuthenticated(c *netio.Conn, h header) error {
	a := authOf(c)
	switch {
	case a == nil:
		return nil
	case a.user == "" && preAuthAllowed(h.key):
		return nil
	case a.user == "":
		n := b.saslStats.unauthenticated.Add(1)
		b.authLog(c, "request before SASL authentication: closing the connection", "api_key", h.key,
			"client_id", strOrNil(h.clientID), "unauthenticated_requests_total", n)
		return errClose("api key %d before SASL authentication on listener %s", h.key, c.ListenerName())
	case a.state == authAuthenticate && h.key != saslAuthenticateKey:
		n := b.saslStats.unauthenticated.Add(1)
		b.authLog(c, "request during SASL re-authentication: closing the connection", "api_key", h.key,
			"user", a.user, "unauthenticated_requests_total", n)
		return errClose("api key %d during SASL re-authentication", h.key)
	case !a.expires.IsZero() && h.key != saslHandshakeKey && h.key != saslAuthenticateKey && !b.cfg.SASL.clock().Before(a.expires):
		n := b.saslStats.expired.Add(1)
		b.authLog(c, "SASL session expired without re-authentication: closing the connection", "api_key", h.key,
			"user", a.user, "expired_total", n)
		return errClose("SASL session of user %s expired", a.user)
	}
	return nil
}

// authLog logs a SASL event at most once per client address per
// netio.WrongProtocolLogEvery.
func (b *Broker) authLog(c *netio.Conn, msg string, args ...any) {
	ip := clientIP(c)
	if !b.saslStats.log.Allow(ip, time.Now()) {
		return
	}
	args = append([]any{"client", ip, "remote", c.RemoteAddr(), "listener", c.ListenerName()}, args...)
	b.log.Warn(msg, args...)
}

// handshake chooses c's mechanism (SaslHandshake on a SASL listener). The
// error closes the connection after the response.
func (b *Broker) handshake(c *netio.Conn, a *connAuth, version int16, mech string) (int16, error) {
	if a.state == authAuthenticate {
		return kerr.IllegalSaslState.Code, errClose("SaslHandshake during SASL authentication")
	}
	m, ok := auth.ParseMechanism(mech)
	if !ok || !slices.Contains(b.cfg.SASL.Mechanisms, m) {
		return kerr.UnsupportedSaslMechanism.Code, errClose("unsupported SASL mechanism %q", mech)
	}
	if a.user != "" && (version == 0 || m != a.mech) { // re-authentication (KIP-368)
		return kerr.IllegalSaslState.Code, errClose("re-authentication with SaslHandshake v%d mechanism %s (first %s)", version, m, a.mech)
	}
	sess, err := auth.NewSession(m, listenerCreds{b, c.ListenerName()})
	if err != nil {
		return kerr.UnsupportedSaslMechanism.Code, errClose("%v", err)
	}
	a.state, a.rawV0, a.mech, a.sess = authAuthenticate, version == 0, m, sess
	return 0, nil
}

// enabledMechanisms is the list a SaslHandshake response carries.
func (b *Broker) enabledMechanisms() []string {
	out := make([]string, len(b.cfg.SASL.Mechanisms))
	for i, m := range b.cfg.SASL.Mechanisms {
		out[i] = string(m)
	}
	return out
}

// stepResult is one token exchanged.
type stepResult struct {
	token    []byte
	lifetime time.Duration // set when authentication completed with expiring sessions
	failure  *auth.Failure // authentication failed: answer, then close
}

// authenticate feeds token to c's session. A failure is counted, logged
// and held back by FailedAuthDelay (ctx cuts the wait short).
func (b *Broker) authenticate(ctx context.Context, c *netio.Conn, a *connAuth, token []byte) stepResult {
	if f := b.authRateLimited(c, a); f != nil {
		a.sess = nil
		b.failedAuthDelay(ctx)
		return stepResult{failure: f}
	}
	out, done, err := a.sess.Step(token)
	if err == nil && done && a.user != "" && a.sess.User() != a.user {
		err = &auth.Failure{Reason: "re-authentication as " + a.sess.User() + " on a connection of " + a.user,
			Message: "Cannot change principals during re-authentication from User:" + a.user + ": User:" + a.sess.User()}
	}
	if err != nil {
		return stepResult{failure: b.authFailed(ctx, c, a, err)}
	}
	if !done {
		return stepResult{token: out}
	}
	if a.user == "" {
		b.saslStats.succeeded.Add(1)
	} else {
		b.saslStats.reauthenticated.Add(1)
	}
	if u := a.sess.User(); u != a.user {
		a.princ = "User:" + u
	}
	a.user, a.state, a.sess = a.sess.User(), authDone, nil
	c.SetMaxRequestBytes(0)
	r := stepResult{token: out}
	if b.cfg.SASL.Reauth > 0 {
		a.expires = b.cfg.SASL.clock().Add(b.cfg.SASL.Reauth)
		r.lifetime = b.cfg.SASL.Reauth
	}
	b.log.Debug("SASL authenticated", "client", clientIP(c), "listener", c.ListenerName(), "mechanism", a.mech, "principal", b.principal(c))
	return r
}

func (b *Broker) authFailed(ctx context.Context, c *netio.Conn, a *connAuth, err error) *auth.Failure {
	var f *auth.Failure
	if !errors.As(err, &f) {
		f = &auth.Failure{Reason: err.Error(), Message: "Authentication failed during authentication due to invalid credentials with SASL mechanism " + string(a.mech)}
	}
	n := b.saslStats.failed.Add(1)
	b.authLog(c, "SASL authentication failed", "mechanism", a.mech, "reason", f.Reason, "failed_total", n)
	a.sess = nil
	if ip := clientIP(c); b.saslStats.limit.failed(ip, b.cfg.SASL.clock()) {
		b.log.Warn("SASL: too many failed authentications from a client address: refusing its authentications until the window ends",
			"client", ip, "failures", b.cfg.SASL.FailedAuthMax, "window", b.cfg.SASL.FailedAuthWindow, "listener", c.ListenerName())
	}
	b.failedAuthDelay(ctx)
	return f
}

// failedAuthDelay waits connection.failed.authentication.delay.ms (ctx
// cuts it short).
func (b *Broker) failedAuthDelay(ctx context.Context) {
	d := b.cfg.SASL.FailedAuthDelay
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	t.Stop()
}

// authRateLimited is the failure that refuses an authentication from an
// address that failed too often lately (authlimit.go), else nil. Counted,
// and logged once per interval per address.
func (b *Broker) authRateLimited(c *netio.Conn, a *connAuth) *auth.Failure {
	ip := clientIP(c)
	blocked, until := b.saslStats.limit.blocked(ip, b.cfg.SASL.clock())
	if !blocked {
		return nil
	}
	n := b.saslStats.rateLimited.Add(1)
	b.authLog(c, "SASL authentication refused: too many failed authentications from this address", "mechanism", a.mech,
		"until", until.UTC().Format(time.RFC3339), "rate_limited_total", n)
	return &auth.Failure{Reason: "too many failed authentications from " + ip,
		Message: "Authentication failed: too many failed authentications from this address, retry after " + until.UTC().Format(time.RFC3339)}
}

// rawToken serves a frame of a SaslHandshake v0 exchange: the frame is
// the token and the response is the server's token, both without Kafka
// headers. A failure closes the connection without an answer, as Kafka.
func (b *Broker) rawToken(ctx context.Context, c *netio.Conn, a *connAuth, frame []byte) (*netio.Response, error) {
	r := b.authenticate(ctx, c, a, frame)
	if r.failure != nil {
		return nil, errClose("SASL authentication failed: %s", r.failure.Reason)
	}
	out := new(netio.Response)
	out.AppendBytes(r.token)
	return out, nil
}

// saslStats are the SASL listeners' counters.
type saslStats struct {
	log                                                          *lograte.PerKey // set by New
	limit                                                        *authLimiter    // set by New
	unauthenticated, expired, failed, succeeded, reauthenticated atomic.Uint64
	rateLimited                                                  atomic.Uint64
}

// SASLStats are the SASL listeners' counters since start.
type SASLStats struct {
	Succeeded       uint64 // authentications that succeeded
	Failed          uint64 // authentications that failed (SASL_AUTHENTICATION_FAILED, or closed on v0)
	Reauthenticated uint64 // re-authentications that succeeded (KIP-368)
	// Unauthenticated counts connections closed for a request other than
	// ApiVersions or the SASL APIs before authentication.
	Unauthenticated uint64
	Expired         uint64 // connections closed because their session expired
	// RateLimited counts authentications refused because their client
	// address failed FailedAuthMax times within FailedAuthWindow.
	RateLimited uint64
	// BlockedAddrs is how many client addresses are refused now.
	BlockedAddrs int
}

// SASLStats returns the SASL listeners' counters.
func (b *Broker) SASLStats() SASLStats {
	s := &b.saslStats
	return SASLStats{Succeeded: s.succeeded.Load(), Failed: s.failed.Load(), Reauthenticated: s.reauthenticated.Load(),
		Unauthenticated: s.unauthenticated.Load(), Expired: s.expired.Load(), RateLimited: s.rateLimited.Load(),
		BlockedAddrs: s.limit.blockedAddrs(b.cfg.SASL.clock())}
}

// listenerCreds are the users of one listener: SCRAM users (the
// broker's, from AlterUserScramCredentials) and PLAIN users (the
// listener's JAAS users, then the users file).
type listenerCreds struct {
	b        *Broker
	listener string
}

func (l listenerCreds) Scram(m auth.Mechanism, user string) (auth.ScramCredential, bool) {
	return l.b.scram.lookup(m, user)
}

func (l listenerCreds) PlainPassword(user string) (string, bool) {
	if pw, ok := l.b.cfg.SASL.PlainUsers[l.listener][user]; ok {
		return pw, true
	}
	pw, ok := l.b.cfg.SASL.PlainUsersAll[user]
	return pw, ok
}

// mechanismNames formats ms for logs and messages.
func mechanismNames(ms []auth.Mechanism) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = string(m)
	}
	return strings.Join(parts, ",")
}
