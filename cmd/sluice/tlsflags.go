package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
)

// tlsFlags are the CLI's client TLS flags, for brokers' SSL listeners
// (Kafka's security.protocol=SSL with ssl.truststore.location and a
// client keystore).
type tlsFlags struct {
	ca, cert, key, serverName string
}

func (f *tlsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.ca, "tls-ca", "", "connect with TLS (an SSL listener), trusting the CA certificates of this PEM file")
	fs.StringVar(&f.cert, "tls-cert", "", "with --tls-ca: the client certificate chain (PEM), for ssl.client.auth=required")
	fs.StringVar(&f.key, "tls-key", "", "with --tls-cert: the client certificate's private key (PEM)")
	fs.StringVar(&f.serverName, "tls-server-name", "", "with --tls-ca: the name to verify in the broker's certificate (default: the host of --brokers)")
}

// config is the TLS client configuration, or nil without --tls-ca.
func (f *tlsFlags) config() (*tls.Config, error) {
	if f.ca == "" {
		if f.cert != "" || f.key != "" || f.serverName != "" {
			return nil, errors.New("--tls-cert, --tls-key and --tls-server-name need --tls-ca")
		}
		return nil, nil
	}
	pem, err := os.ReadFile(f.ca)
	if err != nil {
		return nil, fmt.Errorf("--tls-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--tls-ca %s: no PEM certificate", f.ca)
	}
	c := &tls.Config{RootCAs: pool, ServerName: f.serverName, MinVersion: tls.VersionTLS12}
	if f.cert != "" || f.key != "" {
		pair, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}
