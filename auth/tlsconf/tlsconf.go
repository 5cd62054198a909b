// Package tlsconf builds a TLS listener's crypto/tls configuration from
// Kafka's ssl.* broker settings, reloads its certificates without
// dropping connections, and maps client certificates to principals
// (ssl.principal.mapping.rules).
//
// Settings it reads (Kafka's names; values as in server.properties):
//
//	ssl.keystore.type              PEM or PKCS12 ("" or unset: guessed from the file; JKS is refused)
//	ssl.keystore.location          a file: PEM with the private key and the certificate chain, or PKCS#12
//	ssl.keystore.certificate.chain PEM certificates, inline (instead of a location)
//	ssl.keystore.key               PEM private key, inline (instead of a location)
//	ssl.keystore.password          the PKCS#12 file's password
//	ssl.key.password               the password of an encrypted PEM key (RFC 1423 "Proc-Type: 4,ENCRYPTED")
//	ssl.truststore.type            PEM or PKCS12
//	ssl.truststore.location        a file of CA certificates clients' certificates must chain to
//	ssl.truststore.certificates    PEM CA certificates, inline
//	ssl.truststore.password        the PKCS#12 truststore's password
//	ssl.client.auth                required, requested or none (default none)
//	ssl.enabled.protocols          TLSv1.2,TLSv1.3 by default
//	ssl.cipher.suites              IANA names (Java's); unset: Go's defaults; TLS 1.3's are fixed
//	ssl.principal.mapping.rules    RULE:pattern/replacement/[LU],…,DEFAULT
//
// A Server's tls.Config answers every handshake with the configuration
// current at that moment (GetConfigForClient), so Reload swaps the
// certificate for new connections while open ones keep their session.
//
// Session tickets are off: after its handshake flight the server sends
// nothing until the client's first request. With tickets on, a TLS 1.3
// server sends a NewSessionTicket record right after the handshake (Go's
// crypto/tls with its own flight; Apache Kafka's JDK does too), and
// kafka-python 2.0 closes any connection that turns readable while it has
// no request in flight ("Socket EVENT_READ without in-flight-requests"),
// then reconnects, again and again (issue 17; e2e/security_test.go).
// The cost is no session resumption: a client that reconnects makes a
// full handshake, which Kafka's long-lived connections seldom do.
package tlsconf

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Settings are one listener's ssl.* settings by Kafka key (the
// listener.name.<name>.ssl.* overrides already applied).
type Settings map[string]string

func (s Settings) get(key string) string { return strings.TrimSpace(s[key]) }

// Server is a TLS listener's configuration, reloadable.
type Server struct {
	listener string
	set      Settings
	log      *slog.Logger
	mapper   *Mapper
	cur      atomic.Pointer[tls.Config]
	base     *tls.Config // handed to netio: defers to cur per handshake

	mu struct {
		sync.Mutex
		stamps map[string]fileStamp // files read by the last load
	}
}

// fileStamp is what Watch compares to see a file change: the inode
// too, so a file replaced by rename (as cert managers do) with the same
// size within the clock's granularity is still seen.
type fileStamp struct {
	mod  time.Time
	size int64
	ino  uint64
}

// stampOf is fi's fileStamp.
func stampOf(fi os.FileInfo) fileStamp {
	st := fileStamp{mod: fi.ModTime(), size: fi.Size()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	return st
}

// same reports whether a and b stamp the same file contents.
func (a fileStamp) same(b fileStamp) bool {
	return a.mod.Equal(b.mod) && a.size == b.size && a.ino == b.ino
}

// New reads listener's certificates and builds its configuration.
func New(listener string, set Settings, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	m, err := ParseRules(set.get("ssl.principal.mapping.rules"))
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", listener, err)
	}
	s := &Server{listener: listener, set: set, log: log, mapper: m}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	s.base = &tls.Config{
		MinVersion:             tls.VersionTLS12, // never used: every handshake gets cur
		SessionTicketsDisabled: true,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.cur.Load(), nil
		},
	}
	return s, nil
}

// TLSConfig is the configuration to serve with (netio.Config.TLS).
func (s *Server) TLSConfig() *tls.Config { return s.base }

// Current is the configuration handshakes get now.
func (s *Server) Current() *tls.Config { return s.cur.Load() }

// Mapper applies the listener's ssl.principal.mapping.rules.
func (s *Server) Mapper() *Mapper { return s.mapper }

// Principal is the principal of a client with this verified chain
// (tls.ConnectionState.VerifiedChains): User:<mapped DN>, or
// User:ANONYMOUS without a certificate.
func (s *Server) Principal(chains [][]*x509.Certificate) (string, error) {
	return s.mapper.Principal(chains)
}

// Reload reads the key, certificates and CAs again; new handshakes use
// them, open connections are not touched. On error the previous
// configuration stays.
func (s *Server) Reload() error {
	stamps := map[string]fileStamp{}
	cfg, err := s.build(stamps)
	if err != nil {
		return fmt.Errorf("listener %s: %w", s.listener, err)
	}
	s.cur.Store(cfg)
	s.mu.Lock()
	s.mu.stamps = stamps
	s.mu.Unlock()
	return nil
}

// build makes a tls.Config from the settings, recording each file read.
func (s *Server) build(stamps map[string]fileStamp) (*tls.Config, error) {
	cert, err := s.keystore(stamps)
	if err != nil {
		return nil, err
	}
	// No session tickets: see the package doc.
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, SessionTicketsDisabled: true}
	if cfg.ClientAuth, err = clientAuth(s.set.get("ssl.client.auth")); err != nil {
		return nil, err
	}
	if cfg.ClientCAs, err = s.truststore(stamps); err != nil {
		return nil, err
	}
	if cfg.ClientAuth != tls.NoClientCert && cfg.ClientCAs == nil {
		return nil, errors.New("ssl.client.auth requires ssl.truststore.location or ssl.truststore.certificates (the CAs client certificates chain to)")
	}
	if cfg.MinVersion, cfg.MaxVersion, err = protocols(s.set.get("ssl.enabled.protocols")); err != nil {
		return nil, err
	}
	if cfg.CipherSuites, err = cipherSuites(s.set.get("ssl.cipher.suites")); err != nil {
		return nil, err
	}
	// A certificate that maps to no principal fails the handshake, as
	// Kafka fails the client's authentication.
	cfg.VerifyConnection = func(st tls.ConnectionState) error {
		_, err := s.mapper.Principal(st.VerifiedChains)
		return err
	}
	return cfg, nil
}

// readFile reads path and records its stamp for Watch.
func readFile(path, key string, stamps map[string]fileStamp) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	stamps[path] = stampOf(fi)
	return b, nil
}

// keystore loads the server's key and certificate chain.
func (s *Server) keystore(stamps map[string]fileStamp) (tls.Certificate, error) {
	loc := s.set.get("ssl.keystore.location")
	chain, key := s.set.get("ssl.keystore.certificate.chain"), s.set.get("ssl.keystore.key")
	typ := strings.ToUpper(s.set.get("ssl.keystore.type"))
	switch {
	case loc != "" && (chain != "" || key != ""):
		return tls.Certificate{}, errors.New("ssl.keystore.location and ssl.keystore.certificate.chain/ssl.keystore.key are both set: choose one")
	case loc == "" && chain == "" && key == "":
		return tls.Certificate{}, errors.New("no keystore: set ssl.keystore.location (PEM key and certificates, or PKCS12), or ssl.keystore.certificate.chain and ssl.keystore.key")
	case loc == "":
		if typ != "" && typ != "PEM" {
			return tls.Certificate{}, fmt.Errorf("ssl.keystore.key and ssl.keystore.certificate.chain need ssl.keystore.type=PEM, not %s", typ)
		}
		return pemKeyPair([]byte(chain), []byte(key), s.set.get("ssl.key.password"))
	}
	b, err := readFile(loc, "ssl.keystore.location", stamps)
	if err != nil {
		return tls.Certificate{}, err
	}
	switch typ = storeType(typ, b); typ {
	case "PEM":
		c, err := pemKeyPair(b, b, s.set.get("ssl.key.password"))
		if err != nil {
			return c, fmt.Errorf("ssl.keystore.location %s: %w", loc, err)
		}
		return c, nil
	case "PKCS12":
		c, err := pkcs12KeyPair(b, s.set.get("ssl.keystore.password"))
		if err != nil {
			return c, fmt.Errorf("ssl.keystore.location %s: %w", loc, err)
		}
		return c, nil
	}
	return tls.Certificate{}, fmt.Errorf("ssl.keystore.type %s is not supported: use PEM or PKCS12 (convert a JKS store with keytool -importkeystore -deststoretype PKCS12)", typ)
}

// storeType is typ, or guessed from the file when unset: PEM if it holds
// a PEM block, PKCS12 otherwise.
func storeType(typ string, b []byte) string {
	if typ != "" {
		return typ
	}
	if bytes.Contains(b, []byte("-----BEGIN ")) {
		return "PEM"
	}
	return "PKCS12"
}

// pemKeyPair takes the certificates of certPEM and the private key of
// keyPEM (both may be the same keystore file), decrypting a key with
// password when it is encrypted.
func pemKeyPair(certPEM, keyPEM []byte, password string) (tls.Certificate, error) {
	var certs, keys []byte
	for rest := certPEM; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			certs = append(certs, pem.EncodeToMemory(blk)...)
		}
	}
	for rest := keyPEM; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		if !strings.HasSuffix(blk.Type, "PRIVATE KEY") {
			continue
		}
		blk, err := decryptKey(blk, password)
		if err != nil {
			return tls.Certificate{}, err
		}
		keys = pem.EncodeToMemory(blk)
		break
	}
	switch {
	case certs == nil:
		return tls.Certificate{}, errors.New("no PEM CERTIFICATE block")
	case keys == nil:
		return tls.Certificate{}, errors.New("no PEM PRIVATE KEY block")
	}
	c, err := tls.X509KeyPair(certs, keys)
	if err != nil {
		return c, fmt.Errorf("key and certificate: %w", err)
	}
	return c, nil
}

// decryptKey decrypts a legacy encrypted PEM key (Proc-Type header).
// PKCS#8 "ENCRYPTED PRIVATE KEY" blocks are refused with a hint.
func decryptKey(blk *pem.Block, password string) (*pem.Block, error) {
	if blk.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, errors.New("an encrypted PKCS#8 key (ENCRYPTED PRIVATE KEY) is not supported: decrypt it (openssl pkcs8 -in key.pem -out plain.pem) or use a PKCS12 keystore")
	}
	//lint:ignore SA1019 legacy PEM encryption is what ssl.key.password decrypts here
	if !x509.IsEncryptedPEMBlock(blk) { //nolint:staticcheck
		return blk, nil
	}
	if password == "" {
		return nil, errors.New("the private key is encrypted and ssl.key.password is not set")
	}
	//lint:ignore SA1019 see above
	der, err := x509.DecryptPEMBlock(blk, []byte(password)) //nolint:staticcheck
	if err != nil {
		return nil, fmt.Errorf("cannot decrypt the private key with ssl.key.password: %w", err)
	}
	// The legacy format cannot always tell a wrong password: about one in
	// 256 decrypts "succeed" into noise (see x509.DecryptPEMBlock), which
	// would then fail as an unparsable key. A key that does not parse is
	// a wrong password too.
	if !isPrivateKey(der) {
		return nil, errors.New("cannot decrypt the private key with ssl.key.password: the result is not a private key (wrong password?)")
	}
	return &pem.Block{Type: blk.Type, Bytes: der}, nil
}

// isPrivateKey reports whether der is a private key in a form
// tls.X509KeyPair reads: PKCS#1, PKCS#8 or SEC 1 (EC).
func isPrivateKey(der []byte) bool {
	if _, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return true
	}
	if _, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return true
	}
	_, err := x509.ParseECPrivateKey(der)
	return err == nil
}

// truststore loads the CAs that verify client certificates; nil when
// none is configured.
func (s *Server) truststore(stamps map[string]fileStamp) (*x509.CertPool, error) {
	loc, inline := s.set.get("ssl.truststore.location"), s.set.get("ssl.truststore.certificates")
	typ := strings.ToUpper(s.set.get("ssl.truststore.type"))
	var b []byte
	switch {
	case loc != "" && inline != "":
		return nil, errors.New("ssl.truststore.location and ssl.truststore.certificates are both set: choose one")
	case loc == "" && inline == "":
		return nil, nil
	case inline != "":
		b, typ = []byte(inline), "PEM"
	default:
		var err error
		if b, err = readFile(loc, "ssl.truststore.location", stamps); err != nil {
			return nil, err
		}
	}
	var certs []*x509.Certificate
	var err error
	switch typ = storeType(typ, b); typ {
	case "PEM":
		certs, err = pemCerts(b)
	case "PKCS12":
		certs, err = pkcs12Certs(b, s.set.get("ssl.truststore.password"))
	default:
		err = fmt.Errorf("ssl.truststore.type %s is not supported: use PEM or PKCS12", typ)
	}
	if err != nil {
		return nil, fmt.Errorf("truststore %s: %w", loc, err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

func pemCerts(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := b; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return out, nil
}

// clientAuth maps ssl.client.auth.
func clientAuth(v string) (tls.ClientAuthType, error) {
	switch strings.ToLower(v) {
	case "", "none":
		return tls.NoClientCert, nil
	case "requested":
		return tls.VerifyClientCertIfGiven, nil
	case "required":
		return tls.RequireAndVerifyClientCert, nil
	}
	return 0, fmt.Errorf("ssl.client.auth %q: want required, requested or none", v)
}

var protocolVersions = map[string]uint16{
	"TLSV1": tls.VersionTLS10, "TLSV1.1": tls.VersionTLS11, "TLSV1.2": tls.VersionTLS12, "TLSV1.3": tls.VersionTLS13,
}

// protocols maps ssl.enabled.protocols (default TLSv1.2,TLSv1.3) to the
// range Go offers: from the lowest to the highest named.
func protocols(v string) (lo, hi uint16, err error) {
	if v == "" {
		v = "TLSv1.2,TLSv1.3"
	}
	for p := range strings.SplitSeq(v, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		ver, ok := protocolVersions[strings.ToUpper(p)]
		if !ok {
			return 0, 0, fmt.Errorf("ssl.enabled.protocols: %q is not one of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3", p)
		}
		if lo == 0 || ver < lo {
			lo = ver
		}
		hi = max(hi, ver)
	}
	if lo == 0 {
		return 0, 0, errors.New("ssl.enabled.protocols names no protocol")
	}
	return lo, hi, nil
}

// tls13Suites are TLS 1.3's suites: always on in Go, accepted in
// ssl.cipher.suites and otherwise ignored.
var tls13Suites = []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}

// cipherSuites maps ssl.cipher.suites (IANA names, which Java uses too;
// SSL_ prefixed Java aliases accepted) to Go's suite ids; nil (Go's
// defaults) when unset.
func cipherSuites(v string) ([]uint16, error) {
	if v == "" {
		return nil, nil
	}
	byName := map[string]uint16{}
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		byName[cs.Name] = cs.ID
	}
	var ids []uint16
	for name := range strings.SplitSeq(v, ",") {
		name = strings.ToUpper(strings.TrimSpace(name))
		if name == "" || slices.Contains(tls13Suites, name) {
			continue
		}
		id, ok := byName[name]
		if !ok {
			id, ok = byName["TLS_"+strings.TrimPrefix(name, "SSL_")]
		}
		if !ok {
			return nil, fmt.Errorf("ssl.cipher.suites: %s is not a cipher suite Go offers", name)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, nil // TLS 1.3 suites only
	}
	return ids, nil
}

// Watch polls the files the configuration was read from every interval
// and reloads when one's modification time or size changed, until done
// closes. A failed reload is logged; the previous configuration stays.
func (s *Server) Watch(done <-chan struct{}, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			s.reloadIfChanged()
		}
	}
}

// reloadIfChanged reloads when a file changed since the last load.
func (s *Server) reloadIfChanged() {
	s.mu.Lock()
	changed := false
	for path, st := range s.mu.stamps {
		fi, err := os.Stat(path)
		if err != nil || !stampOf(fi).same(st) {
			changed = true
			break
		}
	}
	s.mu.Unlock()
	if !changed {
		return
	}
	if err := s.Reload(); err != nil {
		s.log.Error("tls: cannot reload certificates; keeping the previous ones", "listener", s.listener, "err", err)
		return
	}
	s.log.Info("tls: certificates reloaded after a file change", "listener", s.listener)
}
