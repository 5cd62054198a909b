package config

import (
	"slices"
	"strings"

	"github.com/sluice/sluice/listener"
)

// TLS settings of SSL and SASL_SSL listeners: Kafka's ssl.* broker keys,
// each overridable per listener with listener.name.<name>.ssl.* (the
// listener name in lower case, as Kafka writes it). They are resolved
// per TLS listener into Config.SSL and turned into a crypto/tls
// configuration by package auth/tlsconf.

const secTLS = "TLS (SSL and SASL_SSL listeners)"

var sslOptions = []Option{
	{Key: "ssl.keystore.type", Kind: String, Section: secTLS,
		Doc: "Format of the keystore: PEM (a file of the private key and certificate chain, or the inline ssl.keystore.key and ssl.keystore.certificate.chain) or PKCS12. Unset: guessed from the file (PEM when it holds a PEM block). Kafka's default JKS cannot be read (a TLS listener with it does not start): convert with keytool -importkeystore -deststoretype PKCS12."},
	{Key: "ssl.keystore.location", Kind: String, Section: secTLS,
		Doc: "File of the listener's private key and certificate chain (PEM or PKCS12). Re-read when it changes (checked every 5 s) and on SIGHUP: new connections get the new certificate, open ones keep theirs. Unset: ssl.keystore.certificate.chain and ssl.keystore.key are used."},
	{Key: "ssl.keystore.password", Kind: String, Section: secTLS,
		Doc: "Password of a PKCS12 keystore. Unset: none."},
	{Key: "ssl.key.password", Kind: String, Section: secTLS,
		Doc: "Password of an encrypted PEM private key (the legacy \"Proc-Type: 4,ENCRYPTED\" form; a PKCS#8 ENCRYPTED PRIVATE KEY is refused with a hint to decrypt it). Unset: the key must not be encrypted."},
	{Key: "ssl.keystore.certificate.chain", Kind: String, Section: secTLS,
		Doc: "The certificate chain itself in PEM (with ssl.keystore.type=PEM), instead of ssl.keystore.location."},
	{Key: "ssl.keystore.key", Kind: String, Section: secTLS,
		Doc: "The private key itself in PEM (with ssl.keystore.type=PEM), instead of ssl.keystore.location."},
	{Key: "ssl.truststore.type", Kind: String, Section: secTLS,
		Doc: "Format of the truststore: PEM or PKCS12. Unset: guessed from the file."},
	{Key: "ssl.truststore.location", Kind: String, Section: secTLS,
		Doc: "File of the CA certificates that client certificates must chain to (needed when ssl.client.auth is required or requested). Re-read with the keystore."},
	{Key: "ssl.truststore.password", Kind: String, Section: secTLS,
		Doc: "Password of a PKCS12 truststore. Unset: none."},
	{Key: "ssl.truststore.certificates", Kind: String, Section: secTLS,
		Doc: "The trusted CA certificates themselves in PEM, instead of ssl.truststore.location."},
	{Key: "ssl.client.auth", Default: "none", Kind: Enum, Choices: []string{"required", "requested", "none"}, Section: secTLS,
		Doc: "Client certificates: required (a client without a valid certificate fails its handshake), requested (verified when sent; without one the client is User:ANONYMOUS) or none (none asked; Kafka's default). A client's certificate gives its principal through ssl.principal.mapping.rules."},
	{Key: "ssl.enabled.protocols", Default: "TLSv1.2,TLSv1.3", Kind: String, Section: secTLS,
		Doc: "TLS versions served (TLSv1.2,TLSv1.3, Kafka's default). Go serves a range: from the lowest to the highest named. TLSv1 and TLSv1.1 are accepted but weak."},
	{Key: "ssl.cipher.suites", Kind: String, Section: secTLS,
		Doc: "TLS 1.2 cipher suites by their IANA names, which Java uses too (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, …). Unset: Go's defaults (all secure suites, AES-GCM first where the CPU has AES instructions). TLS 1.3's suites are always on in Go and are accepted here and ignored."},
	{Key: "ssl.principal.mapping.rules", Default: "DEFAULT", Kind: String, Section: secTLS,
		Doc: "How a client certificate's distinguished name (as Java prints it: CN=alice,OU=dev,O=Acme) becomes its principal User:<name>: rules RULE:pattern/replacement/[L|U] tried in order, DEFAULT (the whole DN), as in Kafka; for example RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L,DEFAULT. Patterns are Go (RE2) regular expressions. A certificate no rule matches fails its handshake."},
}

// sslIgnored are Kafka's ssl.* keys that mean nothing with Go's TLS
// (Java providers and algorithms) or for a broker's listeners.
var sslIgnored = []string{
	"ssl.endpoint.identification.algorithm", "ssl.protocol", "ssl.provider", "ssl.keymanager.algorithm",
	"ssl.trustmanager.algorithm", "ssl.secure.random.implementation", "ssl.engine.factory.class",
	"ssl.allow.dn.changes", "ssl.allow.san.changes",
}

func init() {
	Options = append(Options, sslOptions...)
	Ignored = append(Ignored, sslIgnored...)
}

// listenerOverridePrefix starts a per-listener override key.
const listenerOverridePrefix = "listener.name."

// listenerOverride reads listener.name.<name>.<key> for an ssl.* key:
// the override's option (the base key's) and the key with the listener
// name in lower case; nil when key is no such override.
func listenerOverride(key string) (*Option, string) {
	rest, ok := strings.CutPrefix(key, listenerOverridePrefix)
	if !ok {
		return nil, ""
	}
	name, base, ok := strings.Cut(rest, ".")
	if !ok || !strings.HasPrefix(base, "ssl.") {
		return nil, ""
	}
	o := lookup(base)
	if o == nil || o.Section != secTLS {
		return nil, ""
	}
	return o, listenerOverridePrefix + strings.ToLower(name) + "." + base
}

// resolveSSL gathers the ssl.* settings of each TLS listener, overrides
// applied.
func resolveSSL(r resolver, c *Config) {
	ls := c.Listeners
	if cc := c.ControllerClient; cc.Protocol.TLS() && !slices.ContainsFunc(ls, func(l listener.Listener) bool { return l.Name == cc.Listener }) {
		// The client side of the controllers' TLS listener (a broker
		// reaching them), which this node does not serve.
		ls = append(slices.Clone(ls), listener.Listener{Name: cc.Listener, Protocol: cc.Protocol})
	}
	for _, l := range ls {
		if !l.Protocol.TLS() {
			continue
		}
		set := map[string]string{}
		for _, o := range sslOptions {
			key := listenerOverridePrefix + strings.ToLower(l.Name) + "." + o.Key
			if l := r.s.levels[key]; len(l) > 0 {
				set[o.Key] = strings.TrimSpace(l[len(l)-1].value)
			} else if v := r.str(o.Key); v != "" {
				set[o.Key] = v
			}
		}
		if c.SSL == nil {
			c.SSL = map[string]map[string]string{}
		}
		c.SSL[l.Name] = set
	}
}
