package broker

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/auth"
	"github.com/sluice/sluice/auth/tlsconf"
	"github.com/sluice/sluice/internal/testcerts"
	"github.com/sluice/sluice/listener"
)

// TestDialPeerSASL: the inter-broker client authenticates on a SASL
// listener with each mechanism and then speaks requests; a wrong password
// or an unknown mechanism is an error naming the cause.
func TestDialPeerSASL(t *testing.T) {
	s := startSASLServer(t, "")
	b := s.Broker()
	f := func(mech auth.Mechanism, user, pass, wantErr string) {
		t.Helper()
		b.cfg.InterBroker = InterBrokerConfig{Listener: "SASL_PLAINTEXT", Protocol: listener.SASLPlaintext,
			Mechanism: mech, Username: user, Password: pass}
		c, err := b.dialPeer(testCtx(t), s.sasl)
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Fatalf("%s as %s/%s: err %v, want %q", mech, user, pass, err, wantErr)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s as %s: %v", mech, user, err)
		}
		defer c.Close()
		req := kmsg.NewPtrListGroupsRequest() // served only once authenticated
		if err := roundTrip(c, "peer-test", 100, req, req.ResponseKind()); err != nil {
			t.Fatalf("%s: request after authentication: %v", mech, err)
		}
	}
	f(auth.Plain, "alice", "alice-pw", "")
	f(auth.ScramSHA256, "bob", "bob-pw", "")
	f(auth.ScramSHA512, "bob", "bob-pw", "")
	f(auth.ScramSHA512, "bob", "wrong", "SASL_AUTHENTICATION_FAILED")
	f(auth.Plain, "alice", "wrong", "SASL_AUTHENTICATION_FAILED")
	f("GSSAPI", "x", "y", "not served")
	if st := b.SASLStats(); st.Succeeded != 3 || st.Failed != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestDialPeerSASLSSL: on a SASL_SSL inter-broker listener the client
// verifies the peer's certificate against its trust (a CA it does not
// trust fails the handshake), then authenticates.
func TestDialPeerSASLSSL(t *testing.T) {
	ca := testcerts.NewCA(t, "broker CA")
	leaf := ca.Issue(t, testcerts.Options{})
	conf, err := tlsconf.New("SASL_SSL", tlsconf.Settings{
		"ssl.keystore.certificate.chain": string(leaf.CertPEM),
		"ssl.keystore.key":               string(leaf.KeyPEM),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := startSASLServer(t, "", withListeners(
		listener.Listener{Name: "PLAINTEXT", Protocol: listener.Plaintext, Host: "127.0.0.1"},
		listener.Listener{Name: "SASL_PLAINTEXT", Protocol: listener.SASLPlaintext, Host: "127.0.0.1"},
		listener.Listener{Name: "SASL_SSL", Protocol: listener.SASLSSL, Host: "127.0.0.1"},
	), func(c *ServerConfig) {
		c.Net.TLS = map[string]*tls.Config{"SASL_SSL": conf.TLSConfig()}
		c.Broker.SASL.PlainUsers = map[string]map[string]string{"SASL_SSL": {"alice": "alice-pw"}}
	})
	b := s.Broker()
	addr := s.Addrs()["SASL_SSL"].String()
	dial := func(pool *x509.CertPool) error {
		b.cfg.InterBroker = InterBrokerConfig{Listener: "SASL_SSL", Protocol: listener.SASLSSL, Mechanism: auth.Plain,
			Username: "alice", Password: "alice-pw", TLS: &tls.Config{RootCAs: pool}}
		c, err := b.dialPeer(testCtx(t), addr)
		if err != nil {
			return err
		}
		defer c.Close()
		req := kmsg.NewPtrListGroupsRequest()
		return roundTrip(c, "peer-test", 100, req, req.ResponseKind())
	}
	if err := dial(ca.Pool); err != nil {
		t.Fatalf("trusted CA: %v", err)
	}
	if err := dial(testcerts.NewCA(t, "other CA").Pool); err == nil || !strings.Contains(err.Error(), "TLS handshake") {
		t.Fatalf("untrusted CA: %v", err)
	}
}
