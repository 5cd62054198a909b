package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"

	"github.com/xdg-go/scram"
)

// Iteration bounds of SCRAM credentials, as Kafka's ScramMechanism
// (KIP-554: AlterUserScramCredentials refuses counts outside them).
const (
	MinIterations = 4096
	MaxIterations = 16384
)

// ScramCredential is what Kafka stores for a SCRAM user (ScramCredential):
// never the password, only what verifies it.
type ScramCredential struct {
	Salt       []byte
	StoredKey  []byte // H(ClientKey), ClientKey = HMAC(SaltedPassword, "Client Key")
	ServerKey  []byte // HMAC(SaltedPassword, "Server Key")
	Iterations int32
}

func (m Mechanism) hash() func() hash.Hash {
	if m == ScramSHA512 {
		return sha512.New
	}
	return sha256.New
}

// NewScramCredential derives the stored credential from a salted password
// (AlterUserScramCredentials' upsertion: the client salts, RFC 5802's Hi).
func NewScramCredential(m Mechanism, salt, saltedPassword []byte, iterations int32) ScramCredential {
	h := m.hash()
	clientKey := hmacOf(h, saltedPassword, "Client Key")
	sum := h()
	sum.Write(clientKey)
	return ScramCredential{
		Salt:       append([]byte(nil), salt...),
		StoredKey:  sum.Sum(nil),
		ServerKey:  hmacOf(h, saltedPassword, "Server Key"),
		Iterations: iterations,
	}
}

func hmacOf(h func() hash.Hash, key []byte, s string) []byte {
	mac := hmac.New(h, key)
	mac.Write([]byte(s))
	return mac.Sum(nil)
}

// SaltPassword is RFC 5802's Hi(password, salt, iterations): what a
// client sends in an upsertion.
func SaltPassword(m Mechanism, password string, salt []byte, iterations int) ([]byte, error) {
	h := m.hash()
	return pbkdf2.Key(h, password, salt, iterations, h().Size())
}

// NewSalt returns a random salt (32 bytes, as Kafka's ScramFormatter).
func NewSalt() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

// scramSession runs xdg-go/scram's server conversation for the first
// message (parsing, credential lookup, server nonce), with Kafka's checks
// around it: the user name is decoded (RFC 5802 saslname), an
// authorization id must be the user, and any token after the exchange
// (a replay) fails. The final message is checked here (see final).
type scramSession struct {
	m     Mechanism
	creds Credentials
	conv  *scram.ServerConversation
	steps int
	user  string

	// Kept from the first step for the final one.
	cred      ScramCredential
	gs2Header string // "n,," or "n,a=user,"
	c1b       string // client-first-message-bare
	s1        string // server-first-message
	nonce     string // the combined nonce s1 sent
	verified  bool   // the client's proof was checked
}

func newScramSession(m Mechanism, creds Credentials) *scramSession {
	s := &scramSession{m: m, creds: creds}
	hf := scram.SHA256
	if m == ScramSHA512 {
		hf = scram.SHA512
	}
	srv, err := hf.NewServer(s.lookup)
	if err != nil {
		panic("BUG: auth: scram.NewServer: " + err.Error()) // only fails for a nil lookup
	}
	s.conv = srv.NewConversation()
	return s
}

var errUnknownUser = errors.New("unknown user")

// lookup is the conversation's credential callback.
func (s *scramSession) lookup(name string) (scram.StoredCredentials, error) {
	user, err := decodeSaslName(name)
	if err != nil {
		return scram.StoredCredentials{}, err
	}
	c, ok := s.creds.Scram(s.m, user)
	if !ok {
		return scram.StoredCredentials{}, errUnknownUser
	}
	s.cred = c
	return scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(c.Salt), Iters: int(c.Iterations)},
		StoredKey:  c.StoredKey, ServerKey: c.ServerKey,
	}, nil
}

func (s *scramSession) User() string {
	if !s.verified {
		return ""
	}
	return s.user
}

func (s *scramSession) fail(reason string) error {
	return &Failure{Reason: reason, Message: invalidCredentials(s.m)}
}

func (s *scramSession) Step(token []byte) ([]byte, bool, error) {
	s.steps++
	switch s.steps {
	case 1:
		return s.first(string(token))
	case 2:
		return s.final(string(token))
	}
	return nil, false, s.fail("SCRAM message after the exchange ended (replayed?)")
}

func (s *scramSession) first(msg string) ([]byte, bool, error) {
	// xdg-go/scram indexes the GS2 flag without a length check.
	if !strings.HasPrefix(msg, "n,") && !strings.HasPrefix(msg, "y,") {
		return nil, false, s.fail(fmt.Sprintf("bad SCRAM client-first message (%d bytes): want a GS2 header n, or y,", len(msg)))
	}
	out, err := s.conv.Step(msg)
	if err != nil {
		name, _ := decodeSaslName(s.conv.Username())
		return nil, false, s.fail(fmt.Sprintf("client-first message of user %q: %v", name, err))
	}
	user, _ := decodeSaslName(s.conv.Username())
	if a := s.conv.AuthzID(); a != "" && a != user {
		return nil, false, &Failure{Reason: fmt.Sprintf("authorization id %q differs from user %q", a, user),
			Message: "Authentication failed: Client requested an authorization id that is different from username"}
	}
	i := strings.IndexByte(msg[2:], ',') + 3 // end of the GS2 header (the conversation parsed it)
	s.gs2Header, s.c1b, s.s1, s.user = msg[:i], msg[i:], out, user
	s.nonce, _, _ = strings.Cut(strings.TrimPrefix(out, "r="), ",")
	return []byte(out), false, nil
}

// final verifies the client-final message (RFC 5802 §3) itself rather
// than with the conversation, for one difference: like Kafka up to 4.0
// (ScramSaslServer: nonce().endsWith), the nonce may be preceded by more
// than the server sent, because librdkafka 2.0 (Debian's kcat) repeats the
// client nonce there. The proof covers the nonce as the client sent it,
// and the server's part is fresh, so a replay still fails.
func (s *scramSession) final(msg string) ([]byte, bool, error) {
	fields := strings.Split(msg, ",")
	if len(fields) < 3 {
		return nil, false, s.fail(fmt.Sprintf("client-final message of user %q: %d fields", s.user, len(fields)))
	}
	cbind, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(fields[0], "c="))
	if !strings.HasPrefix(fields[0], "c=") || err != nil || string(cbind) != s.gs2Header {
		return nil, false, s.fail(fmt.Sprintf("client-final message of user %q: channel binding does not match", s.user))
	}
	nonce, ok := strings.CutPrefix(fields[1], "r=")
	if !ok || !strings.HasSuffix(nonce, s.nonce) {
		return nil, false, s.fail(fmt.Sprintf("client-final message of user %q: nonce does not match the server's", s.user))
	}
	last := fields[len(fields)-1]
	proof, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(last, "p="))
	h := s.m.hash()
	if !strings.HasPrefix(last, "p=") || err != nil || len(proof) != h().Size() {
		return nil, false, s.fail(fmt.Sprintf("client-final message of user %q: bad proof", s.user))
	}
	authMsg := s.c1b + "," + s.s1 + "," + msg[:strings.LastIndexByte(msg, ',')]
	clientKey := hmacOf(h, s.cred.StoredKey, authMsg)
	for i := range clientKey {
		clientKey[i] ^= proof[i]
	}
	sum := h()
	sum.Write(clientKey)
	if !hmac.Equal(sum.Sum(nil), s.cred.StoredKey) {
		return nil, false, s.fail(fmt.Sprintf("client-final message of user %q: invalid proof (wrong password)", s.user))
	}
	s.verified = true
	return []byte("v=" + base64.StdEncoding.EncodeToString(hmacOf(h, s.cred.ServerKey, authMsg))), true, nil
}

// decodeSaslName undoes RFC 5802's escaping of ',' (=2C) and '=' (=3D).
func decodeSaslName(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", fmt.Errorf("bad escape in user name %q", s)
		}
		i += 2
	}
	return b.String(), nil
}

// VerifyScram reports whether password matches cred: it derives the
// client key from the password with the stored salt and iterations and
// compares its hash with the StoredKey, as the server's check of a SCRAM
// proof does (a login form's password, not a SASL exchange).
func VerifyScram(m Mechanism, cred ScramCredential, password string) bool {
	salted, err := SaltPassword(m, password, cred.Salt, int(cred.Iterations))
	if err != nil {
		return false
	}
	h := m.hash()
	sum := h()
	sum.Write(hmacOf(h, salted, "Client Key"))
	return hmac.Equal(sum.Sum(nil), cred.StoredKey)
}
