package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadClientPropertiesProtocols: --command-config takes every one of
// Kafka's security protocols; SSL and SASL_SSL ask for TLS with the PEM
// truststore they name, and a JKS or PKCS12 truststore is refused with a
// hint rather than silently ignored.
func TestReadClientPropertiesProtocols(t *testing.T) {
	jaas := `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="ann" password="pw";`
	f := func(props string, want clientProperties, wantErr string) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "client.properties")
		if err := os.WriteFile(path, []byte(props), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := readClientProperties(path)
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Fatalf("%q: error %v, want %q", props, err, wantErr)
			}
			return
		}
		if err != nil || got != want {
			t.Fatalf("%q: %+v, %v; want %+v", props, got, err, want)
		}
	}
	f("security.protocol=PLAINTEXT\n", clientProperties{}, "")
	f("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n"+jaas, clientProperties{mechanism: "SCRAM-SHA-512", user: "ann", password: "pw"}, "")
	f("security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location=/ca.pem\n", clientProperties{tls: true, truststore: "/ca.pem"}, "")
	f("security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\nssl.truststore.type=PEM\nssl.truststore.location=/ca.pem\n"+jaas,
		clientProperties{mechanism: "SCRAM-SHA-512", user: "ann", password: "pw", tls: true, truststore: "/ca.pem"}, "")
	f("security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n"+jaas, clientProperties{mechanism: "PLAIN", user: "ann", password: "pw", tls: true}, "")
	f("security.protocol=SSL\nssl.truststore.location=/ts.jks\n", clientProperties{}, "PEM truststores only")
	f("security.protocol=KERBEROS\n", clientProperties{}, "not supported")
}
