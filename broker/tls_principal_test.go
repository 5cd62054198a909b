package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice/sluice/auth/tlsconf"
	"github.com/sluice/sluice/internal/testcerts"
	"github.com/sluice/sluice/listener"
	"github.com/sluice/sluice/netio"
)

// connRecorder keeps the connections its handler served.
type connRecorder struct {
	netio.Handler
	mu    sync.Mutex
	conns []*netio.Conn
}

func (r *connRecorder) Handle(ctx context.Context, c *netio.Conn, frame []byte) (*netio.Response, error) {
	r.mu.Lock()
	r.conns = append(r.conns, c)
	r.mu.Unlock()
	return r.Handler.Handle(ctx, c, frame)
}

// TestSSLPrincipal: a client certificate on an SSL listener gives the
// principal of the listener's mapping rules; without one (client auth
// requested) the client is User:ANONYMOUS, as in Kafka.
func TestSSLPrincipal(t *testing.T) {
	ca := testcerts.NewCA(t, "broker CA")
	leaf := ca.Issue(t, testcerts.Options{})
	conf, err := tlsconf.New("SSL", tlsconf.Settings{
		"ssl.keystore.certificate.chain": string(leaf.CertPEM),
		"ssl.keystore.key":               string(leaf.KeyPEM),
		"ssl.truststore.certificates":    string(ca.PEM),
		"ssl.client.auth":                "requested",
		"ssl.principal.mapping.rules":    "RULE:^CN=(.*?),OU=ServiceUsers,.*$/$1/L,DEFAULT",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &connRecorder{}
	ts := startServer(t, "", withListeners(listener.Listener{Name: "SSL", Protocol: listener.SSL, Host: "127.0.0.1"}),
		func(c *ServerConfig) {
			c.Net.TLS = map[string]*tls.Config{"SSL": conf.TLSConfig()}
			c.Broker.SSLPrincipal = func(_ string, st *tls.ConnectionState) (string, error) {
				return conf.Principal(st.VerifiedChains)
			}
			c.WrapHandler = func(h netio.Handler) netio.Handler { rec.Handler = h; return rec }
		})
	f := func(cert *testcerts.Leaf, want string) {
		t.Helper()
		rec.mu.Lock()
		rec.conns = nil
		rec.mu.Unlock()
		tc := &tls.Config{RootCAs: ca.Pool}
		if cert != nil {
			tc.Certificates = []tls.Certificate{cert.TLS}
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(ts.addr), kgo.DialTLSConfig(tc))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.conns) == 0 {
			t.Fatal("no request reached the broker")
		}
		for _, c := range rec.conns {
			if got := ts.Broker().principal(c); got != want {
				t.Fatalf("principal %q, want %q", got, want)
			}
		}
	}
	f(ca.Issue(t, testcerts.Options{Subject: pkix.Name{CommonName: "Alice", OrganizationalUnit: []string{"ServiceUsers"}, Organization: []string{"Sluice"}}}), "User:alice")
	f(ca.Issue(t, testcerts.Options{Subject: pkix.Name{CommonName: "bob", Organization: []string{"Sluice"}}}), "User:CN=bob,O=Sluice")
	f(nil, "User:ANONYMOUS")
}
