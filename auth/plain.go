package auth

import (
	"bytes"
	"crypto/subtle"
	"fmt"
)

// plainSession is SASL/PLAIN (RFC 4616), checked as Kafka's
// PlainSaslServer does, with Kafka's messages.
type plainSession struct {
	creds Credentials
	user  string
	done  bool
}

func (s *plainSession) User() string { return s.user }

func (s *plainSession) Step(token []byte) ([]byte, bool, error) {
	if s.done {
		return nil, false, &Failure{Reason: "PLAIN token after the exchange ended", Message: invalidCredentials(Plain)}
	}
	s.done = true
	parts := bytes.Split(token, []byte{0})
	if len(parts) != 3 {
		msg := fmt.Sprintf("Invalid SASL/PLAIN response: expected 3 tokens, got %d", len(parts))
		return nil, false, &Failure{Reason: msg, Message: msg}
	}
	authzid, user, pass := string(parts[0]), string(parts[1]), parts[2]
	switch {
	case user == "":
		return nil, false, &Failure{Reason: "no user name", Message: "Authentication failed: username not specified"}
	case len(pass) == 0:
		return nil, false, &Failure{Reason: "no password", Message: "Authentication failed: password not specified"}
	case authzid != "" && authzid != user:
		return nil, false, &Failure{Reason: fmt.Sprintf("authorization id %q differs from user %q", authzid, user),
			Message: "Authentication failed: Client requested an authorization id that is different from username"}
	}
	want, ok := s.creds.PlainPassword(user)
	// Compare even for an unknown user, so both take about as long.
	eq := subtle.ConstantTimeCompare([]byte(want), pass) == 1
	if !ok || !eq {
		reason := "wrong password for user " + user
		if !ok {
			reason = "unknown user " + user
		}
		return nil, false, &Failure{Reason: reason, Message: "Authentication failed: Invalid username or password"}
	}
	s.user = user
	return []byte{}, true, nil
}
