package config

import (
	"reflect"
	"testing"
)

// TestSSLSettings: each TLS listener gets the ssl.* settings, with its
// listener.name.<name>.ssl.* overrides (any case of the name); plaintext
// listeners get none; Java-only keys are ignored.
func TestSSLSettings(t *testing.T) {
	file := `listeners=PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9093,INTERNAL://127.0.0.1:9094
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,INTERNAL:SASL_SSL
ssl.keystore.location=/etc/sluice/server.pem
ssl.truststore.location=/etc/sluice/ca.pem
ssl.client.auth=required
ssl.endpoint.identification.algorithm=https
listener.name.internal.ssl.keystore.location=/etc/sluice/internal.pem
listener.name.INTERNAL.ssl.client.auth=none
listener.name.internal.ssl.principal.mapping.rules=RULE:^CN=(.*?),.*$/$1/,DEFAULT
`
	c, s, err := load(t, file, []string{"SLUICE_SSL_KEY_PASSWORD=pw"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		"SSL": {"ssl.keystore.location": "/etc/sluice/server.pem", "ssl.truststore.location": "/etc/sluice/ca.pem",
			"ssl.client.auth": "required", "ssl.enabled.protocols": "TLSv1.2,TLSv1.3",
			"ssl.principal.mapping.rules": "DEFAULT", "ssl.key.password": "pw"},
		"INTERNAL": {"ssl.keystore.location": "/etc/sluice/internal.pem", "ssl.truststore.location": "/etc/sluice/ca.pem",
			"ssl.client.auth": "none", "ssl.enabled.protocols": "TLSv1.2,TLSv1.3",
			"ssl.principal.mapping.rules": "RULE:^CN=(.*?),.*$/$1/,DEFAULT", "ssl.key.password": "pw"},
	}
	if !reflect.DeepEqual(c.SSL, want) {
		t.Fatalf("SSL settings\n got %v\nwant %v", c.SSL, want)
	}
	if len(s.Unknown()) != 0 || !reflect.DeepEqual(s.IgnoredKeys(), []string{"ssl.endpoint.identification.algorithm"}) {
		t.Fatalf("unknown %q ignored %q", s.Unknown(), s.IgnoredKeys())
	}
	// A bad override value is an error naming the override's key.
	if _, _, err := load(t, "listener.name.ssl.ssl.client.auth=sometimes\n", nil); err == nil {
		t.Fatal("a bad ssl.client.auth override was accepted")
	}
	// An override of a key that is not ssl.* stays unknown.
	if _, s, err := load(t, "listener.name.ssl.foo=1\n", nil); err != nil || len(s.Unknown()) != 1 {
		t.Fatalf("%v, unknown %q", err, s.Unknown())
	}
}
