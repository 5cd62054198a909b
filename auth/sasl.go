package auth

import (
	"fmt"
	"slices"
	"strings"
)

// Mechanism is a SASL mechanism name as clients send it.
type Mechanism string

// The mechanisms served.
const (
	Plain       Mechanism = "PLAIN"
	ScramSHA256 Mechanism = "SCRAM-SHA-256"
	ScramSHA512 Mechanism = "SCRAM-SHA-512"
)

// Mechanisms are the mechanisms served, in Kafka's order.
var Mechanisms = []Mechanism{Plain, ScramSHA256, ScramSHA512}

// ParseMechanism returns the served mechanism named s (any case).
func ParseMechanism(s string) (Mechanism, bool) {
	m := Mechanism(strings.ToUpper(strings.TrimSpace(s)))
	return m, slices.Contains(Mechanisms, m)
}

// IsSCRAM reports whether m is a SCRAM mechanism.
func (m Mechanism) IsSCRAM() bool { return m == ScramSHA256 || m == ScramSHA512 }

// MaxTokenBytes bounds a SASL token and, before authentication, any
// request: Kafka's sasl.server.max.receive.size default (512 KiB). A
// larger frame closes the connection before it is read.
const MaxTokenBytes = 512 << 10

// Credentials is what sessions look users up in.
type Credentials interface {
	// Scram is user's credential for m, if any.
	Scram(m Mechanism, user string) (ScramCredential, bool)
	// PlainPassword is user's PLAIN password, if any.
	PlainPassword(user string) (string, bool)
}

// Session is one authentication exchange. Step takes the client's next
// token and returns the server's, with done set once the client is
// authenticated; an error (a *Failure) ends the exchange.
type Session interface {
	Step(token []byte) (challenge []byte, done bool, err error)
	// User is the authenticated user's name, once done.
	User() string
}

// NewSession starts an exchange of m with creds.
func NewSession(m Mechanism, creds Credentials) (Session, error) {
	switch m {
	case Plain:
		return &plainSession{creds: creds}, nil
	case ScramSHA256, ScramSHA512:
		return newScramSession(m, creds), nil
	}
	return nil, fmt.Errorf("auth: unsupported mechanism %q", m)
}

// Failure is a failed authentication: Reason is for the broker's log,
// Message is what the client is told (Kafka's wording).
type Failure struct {
	Reason  string
	Message string
}

func (f *Failure) Error() string { return "auth: authentication failed: " + f.Reason }

// invalidCredentials is Kafka's message for a SaslException that is not a
// SaslAuthenticationException (SaslServerAuthenticator.handleSaslToken).
func invalidCredentials(m Mechanism) string {
	return "Authentication failed during authentication due to invalid credentials with SASL mechanism " + string(m)
}
