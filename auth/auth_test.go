package auth

import (
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/xdg-go/scram"
)

// users is a Credentials of fixed users.
type users struct {
	plain map[string]string
	scram map[Mechanism]map[string]ScramCredential
}

func (u *users) Scram(m Mechanism, user string) (ScramCredential, bool) {
	c, ok := u.scram[m][user]
	return c, ok
}

func (u *users) PlainPassword(user string) (string, bool) {
	p, ok := u.plain[user]
	return p, ok
}

func testUsers(t *testing.T) *users {
	t.Helper()
	u := &users{plain: map[string]string{"alice": "alice-pw"}, scram: map[Mechanism]map[string]ScramCredential{}}
	for _, m := range []Mechanism{ScramSHA256, ScramSHA512} {
		u.scram[m] = map[string]ScramCredential{}
		for name, pw := range map[string]string{"bob": "bob-pw", "a,b=c": "odd-pw"} {
			salt := NewSalt()
			sp, err := SaltPassword(m, pw, salt, MinIterations)
			if err != nil {
				t.Fatal(err)
			}
			u.scram[m][name] = NewScramCredential(m, salt, sp, MinIterations)
		}
	}
	return u
}

func wantFailure(t *testing.T, err error, msg string) {
	t.Helper()
	var f *Failure
	if !errors.As(err, &f) || !strings.Contains(f.Message, msg) {
		t.Fatalf("err = %v, want a *Failure with message containing %q", err, msg)
	}
}

func TestPlain(t *testing.T) {
	u := testUsers(t)
	f := func(token, wantMsg string) {
		t.Helper()
		s, _ := NewSession(Plain, u)
		out, done, err := s.Step([]byte(token))
		if wantMsg == "" {
			if err != nil || !done || len(out) != 0 || s.User() != "alice" {
				t.Fatalf("%q: out %q done %v err %v user %q", token, out, done, err, s.User())
			}
			if _, _, err := s.Step([]byte(token)); err == nil {
				t.Fatalf("%q: a second token was accepted", token)
			}
			return
		}
		wantFailure(t, err, wantMsg)
	}
	f("\x00alice\x00alice-pw", "")
	f("alice\x00alice\x00alice-pw", "")
	f("\x00alice\x00wrong", "Invalid username or password")
	f("\x00mallory\x00alice-pw", "Invalid username or password")
	f("\x00alice\x00", "password not specified")
	f("\x00\x00x", "username not specified")
	f("bob\x00alice\x00alice-pw", "authorization id that is different")
	f("alice-pw", "expected 3 tokens, got 1")
	f("", "expected 3 tokens, got 1")
}

// scramClient runs xdg-go/scram's client against a Session.
func scramExchange(t *testing.T, m Mechanism, u *users, user, pass string, tamper func(step int, msg string) string) (Session, error) {
	t.Helper()
	hf := scram.SHA256
	if m == ScramSHA512 {
		hf = scram.SHA512
	}
	cl, err := hf.NewClient(user, pass, "")
	if err != nil {
		t.Fatal(err)
	}
	conv := cl.NewConversation()
	s, _ := NewSession(m, u)
	var in string
	for step := 1; step <= 2; step++ {
		out, err := conv.Step(in)
		if err != nil {
			t.Fatalf("client step %d: %v", step, err)
		}
		if tamper != nil {
			out = tamper(step, out)
		}
		resp, done, err := s.Step([]byte(out))
		if err != nil {
			return s, err
		}
		if done != (step == 2) {
			t.Fatalf("step %d: done %v", step, done)
		}
		in = string(resp)
	}
	if _, err := conv.Step(in); err != nil {
		t.Fatalf("client rejects the server's signature: %v", err)
	}
	return s, nil
}

func TestScram(t *testing.T) {
	u := testUsers(t)
	for _, m := range []Mechanism{ScramSHA256, ScramSHA512} {
		t.Run(string(m), func(t *testing.T) {
			for _, name := range []string{"bob", "a,b=c"} {
				s, err := scramExchange(t, m, u, name, u.passwordOf(name), nil)
				if err != nil || s.User() != name {
					t.Fatalf("%s: err %v user %q", name, err, s.User())
				}
				// A replayed client-final message fails.
				if _, _, err := s.Step([]byte("c=biws,r=x,p=eA==")); err == nil {
					t.Fatal("a third message was accepted")
				}
			}
			msg := "invalid credentials with SASL mechanism " + string(m)
			_, err := scramExchange(t, m, u, "bob", "wrong", nil)
			wantFailure(t, err, msg)
			_, err = scramExchange(t, m, u, "mallory", "x", nil)
			wantFailure(t, err, msg)
			wrongNonce := func(step int, s string) string {
				if step == 2 {
					return strings.Replace(s, ",r=", ",r=X", 1)
				}
				return s
			}
			_, err = scramExchange(t, m, u, "bob", "bob-pw", wrongNonce)
			wantFailure(t, err, msg)
			lastNonceByte := func(step int, s string) string {
				if step == 2 {
					i := strings.Index(s, ",p=") - 1
					return s[:i] + "#" + s[i+1:]
				}
				return s
			}
			_, err = scramExchange(t, m, u, "bob", "bob-pw", lastNonceByte)
			wantFailure(t, err, msg)
			truncate := func(step int, s string) string {
				if step == 2 {
					return s[:strings.LastIndex(s, ",")]
				}
				return s
			}
			_, err = scramExchange(t, m, u, "bob", "bob-pw", truncate)
			wantFailure(t, err, msg)
			for _, bad := range []string{"", ",", "p=tls-unique,,n=bob,r=x", "n,,n=bob", "n,,n=b=ZZob,r=abc", "n,a=alice,n=bob,r=abc"} {
				s, _ := NewSession(m, u)
				if _, _, err := s.Step([]byte(bad)); err == nil {
					t.Fatalf("client-first %q accepted", bad)
				}
			}
		})
	}
}

func (u *users) passwordOf(name string) string {
	return map[string]string{"bob": "bob-pw", "a,b=c": "odd-pw"}[name]
}

func TestNewScramCredentialMatchesXDG(t *testing.T) {
	salt := []byte("0123456789abcdef")
	for _, m := range []Mechanism{ScramSHA256, ScramSHA512} {
		hf := scram.SHA256
		if m == ScramSHA512 {
			hf = scram.SHA512
		}
		cl, _ := hf.NewClient("u", "pw", "")
		want := cl.GetStoredCredentials(scram.KeyFactors{Salt: string(salt), Iters: 4096})
		sp, err := SaltPassword(m, "pw", salt, 4096)
		if err != nil {
			t.Fatal(err)
		}
		got := NewScramCredential(m, salt, sp, 4096)
		if !reflect.DeepEqual(got.StoredKey, want.StoredKey) || !reflect.DeepEqual(got.ServerKey, want.ServerKey) {
			t.Fatalf("%s: keys differ from xdg-go/scram's", m)
		}
	}
}

func TestParsePlainJAAS(t *testing.T) {
	got, err := ParsePlainJAAS(`org.apache.kafka.common.security.plain.PlainLoginModule required
		username="admin" password="admin-secret" user_admin="admin-secret" user_alice="a \"quoted\" pw" user_bob=bare;`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"admin": "admin-secret", "alice": `a "quoted" pw`, "bob": "bare"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q", got)
	}
	for _, bad := range []string{
		`org.apache.kafka.common.security.scram.ScramLoginModule required;`,
		`org.apache.kafka.common.security.plain.PlainLoginModule maybe;`,
		`org.apache.kafka.common.security.plain.PlainLoginModule required user_a="x"`,
		`org.apache.kafka.common.security.plain.PlainLoginModule required user_a="x;`,
		`org.apache.kafka.common.security.plain.PlainLoginModule required user_a;`,
		`org.apache.kafka.common.security.plain.PlainLoginModule required; other required;`,
	} {
		if _, err := ParsePlainJAAS(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParsePlainUsersFile(t *testing.T) {
	got, err := ParsePlainUsersFile([]byte("# users\nalice=pw=with=equals\n\n bob = x \n"))
	if err != nil || !reflect.DeepEqual(got, map[string]string{"alice": "pw=with=equals", "bob": "x"}) {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := ParsePlainUsersFile([]byte("alice\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("err = %v", err)
	}
}

// TestScramRepeatedClientNonce: librdkafka 2.0 (Debian's kcat) sends the
// client nonce twice in its client-final message and signs that; Kafka up
// to 4.0 accepted it (the nonce ends with the server's), and so does
// Sluice. The proof must still be right.
func TestScramRepeatedClientNonce(t *testing.T) {
	u := testUsers(t)
	m := ScramSHA512
	s, _ := NewSession(m, u)
	c1b := "n=bob,r=clientnonce"
	s1, _, err := s.Step([]byte("n,," + c1b))
	if err != nil {
		t.Fatal(err)
	}
	cred := u.scram[m]["bob"]
	final := func(password string) string {
		nonce, _, _ := strings.Cut(strings.TrimPrefix(string(s1), "r="), ",")
		sp, _ := SaltPassword(m, password, cred.Salt, int(cred.Iterations))
		h := m.hash()
		clientKey := hmacOf(h, sp, "Client Key")
		sum := h()
		sum.Write(clientKey)
		c2wop := "c=biws,r=clientnonce" + nonce
		sig := hmacOf(h, sum.Sum(nil), c1b+","+string(s1)+","+c2wop)
		for i := range sig {
			sig[i] ^= clientKey[i]
		}
		return c2wop + ",p=" + base64.StdEncoding.EncodeToString(sig)
	}
	if out, done, err := s.Step([]byte(final("bob-pw"))); err != nil || !done || !strings.HasPrefix(string(out), "v=") || s.User() != "bob" {
		t.Fatalf("repeated client nonce: %q %v %v", out, done, err)
	}
	s, _ = NewSession(m, u)
	if s1, _, err = s.Step([]byte("n,," + c1b)); err != nil {
		t.Fatal(err)
	}
	// A wrong password signed the same way still fails.
	if _, _, err := s.Step([]byte(final("wrong"))); err == nil || s.User() != "" {
		t.Fatalf("wrong password accepted: %v", err)
	}
}
