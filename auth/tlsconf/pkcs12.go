package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"software.sslmate.com/src/go-pkcs12"
)

// pkcs12KeyPair reads a PKCS#12 keystore (ssl.keystore.type=PKCS12): its
// private key, certificate and CA chain.
func pkcs12KeyPair(b []byte, password string) (tls.Certificate, error) {
	key, cert, chain, err := pkcs12.DecodeChain(b, password)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("PKCS12 keystore (ssl.keystore.password): %w", err)
	}
	c := tls.Certificate{PrivateKey: key, Leaf: cert, Certificate: [][]byte{cert.Raw}}
	for _, ca := range chain {
		c.Certificate = append(c.Certificate, ca.Raw)
	}
	return c, nil
}

// pkcs12Certs reads a PKCS#12 truststore (Java's trusted certificate
// entries).
func pkcs12Certs(b []byte, password string) ([]*x509.Certificate, error) {
	certs, err := pkcs12.DecodeTrustStore(b, password)
	if err != nil {
		return nil, fmt.Errorf("PKCS12 truststore (ssl.truststore.password): %w", err)
	}
	return certs, nil
}
