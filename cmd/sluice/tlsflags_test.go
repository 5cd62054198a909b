package main

import (
	"strings"
	"testing"

	"github.com/sluice/sluice/internal/testcerts"
)

func TestTLSFlags(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "cli CA")
	caPath := ca.WriteCA(t, dir, "ca.pem")
	certPath, keyPath := ca.Issue(t, testcerts.Options{}).WritePair(t, dir, "client")
	f := func(fl tlsFlags, wantErr string) {
		t.Helper()
		c, err := fl.config()
		switch {
		case wantErr == "" && err != nil:
			t.Fatalf("%+v: %v", fl, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Fatalf("%+v: %v, want an error containing %q", fl, err, wantErr)
		case wantErr == "" && fl.ca == "" && c != nil:
			t.Fatalf("%+v: TLS without --tls-ca", fl)
		case wantErr == "" && fl.ca != "" && (c == nil || c.RootCAs == nil || (fl.cert != "") != (len(c.Certificates) == 1)):
			t.Fatalf("%+v: config %+v", fl, c)
		}
	}
	f(tlsFlags{}, "")
	f(tlsFlags{ca: caPath}, "")
	f(tlsFlags{ca: caPath, cert: certPath, key: keyPath, serverName: "localhost"}, "")
	f(tlsFlags{cert: certPath, key: keyPath}, "need --tls-ca")
	f(tlsFlags{ca: keyPath}, "no PEM certificate")
	f(tlsFlags{ca: caPath + ".missing"}, "--tls-ca")
	f(tlsFlags{ca: caPath, cert: certPath}, "--tls-cert/--tls-key")
}
