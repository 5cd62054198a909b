package main

// The client's SASL settings: --sasl-mechanism, --user, --password and
// --command-config (a Kafka client properties file, as Kafka's tools take).

import (
	"flag"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluice/sluice/auth"
	"github.com/sluice/sluice/config"
)

// saslFlags are the flags that make a client authenticate.
type saslFlags struct {
	mechanism, user, password, commandConfig string
}

func (s *saslFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&s.mechanism, "sasl-mechanism", "", "authenticate with SASL: `PLAIN|SCRAM-SHA-256|SCRAM-SHA-512` (a SASL_PLAINTEXT listener, or SASL_SSL with --tls-ca)")
	fs.StringVar(&s.user, "user", "", "SASL user name")
	fs.StringVar(&s.password, "password", "", "SASL password (env SLUICE_PASSWORD; a flag shows in the process list)")
	fs.StringVar(&s.commandConfig, "command-config", "", "Kafka client properties `file` (security.protocol, sasl.mechanism, sasl.jaas.config, ssl.truststore.location of a PEM truststore), as Kafka's tools take; flags win over it")
}

// jaas login modules of Kafka's client configs.
const (
	plainLoginModule = "org.apache.kafka.common.security.plain.PlainLoginModule"
	scramLoginModule = "org.apache.kafka.common.security.scram.ScramLoginModule"
)

// opt is the kgo option that authenticates, nil without SASL.
func (s *saslFlags) opt() (kgo.Opt, error) {
	m, user, pass, err := s.resolve()
	if m == "" || err != nil {
		return nil, err
	}
	var sm sasl.Mechanism
	switch m {
	case auth.Plain:
		sm = plain.Auth{User: user, Pass: pass}.AsMechanism()
	case auth.ScramSHA256:
		sm = scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
	default:
		sm = scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
	}
	return kgo.SASL(sm), nil
}

// resolve merges the flags, --command-config and SLUICE_PASSWORD into a
// mechanism ("" for none), user and password.
func (s *saslFlags) resolve() (auth.Mechanism, string, string, error) {
	mech, user, pass := s.mechanism, s.user, s.password
	if s.commandConfig != "" {
		p, err := readClientProperties(s.commandConfig)
		if err != nil {
			return "", "", "", err
		}
		mech, user, pass = or(mech, p.mechanism), or(user, p.user), or(pass, p.password)
	}
	if pass == "" {
		pass = os.Getenv("SLUICE_PASSWORD")
	}
	if mech == "" {
		if s.user != "" || s.password != "" {
			return "", "", "", usagef("--user and --password need --sasl-mechanism")
		}
		return "", "", "", nil
	}
	m, ok := auth.ParseMechanism(mech)
	if !ok {
		return "", "", "", usagef("--sasl-mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", mech)
	}
	if user == "" || pass == "" {
		return "", "", "", usagef("SASL %s needs a user and a password (--user, --password or SLUICE_PASSWORD, or --command-config)", m)
	}
	return m, user, pass, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// clientProperties are the SASL settings of a Kafka client properties file.
type clientProperties struct {
	mechanism, user, password string
	// tls is set for security.protocol SSL and SASL_SSL; truststore is
	// then ssl.truststore.location (PEM only), "" for the system's roots.
	tls        bool
	truststore string
}

// commandConfigTLS is --command-config's TLS: whether it asks for it
// (SSL, SASL_SSL) and the PEM truststore it names.
func (s *saslFlags) commandConfigTLS() (useTLS bool, ca string, err error) {
	if s.commandConfig == "" {
		return false, "", nil
	}
	p, err := readClientProperties(s.commandConfig)
	return p.tls, p.truststore, err
}

// readClientProperties reads security.protocol, sasl.mechanism,
// sasl.jaas.config (PlainLoginModule or ScramLoginModule with username
// and password) and, for SSL and SASL_SSL, ssl.truststore.location and
// ssl.truststore.type (PEM); other keys are ignored, as Kafka's tools pass them to
// the client.
func readClientProperties(path string) (clientProperties, error) {
	var out clientProperties
	f, err := os.Open(path)
	if err != nil {
		return out, usagef("--command-config: %v", err)
	}
	defer f.Close()
	props, err := config.ParseProperties(f)
	if err != nil {
		return out, usagef("--command-config %s: %v", path, err)
	}
	kv := map[string]string{}
	for _, p := range props {
		kv[p.Key] = strings.TrimSpace(p.Value)
	}
	proto := strings.ToUpper(kv["security.protocol"])
	switch proto {
	case "", "PLAINTEXT", "SASL_PLAINTEXT":
	case "SSL", "SASL_SSL":
		out.tls, out.truststore = true, kv["ssl.truststore.location"]
		if typ := strings.ToUpper(kv["ssl.truststore.type"]); out.truststore != "" && typ != "PEM" {
			return out, usagef("--command-config %s: ssl.truststore.type %s: sluice's client reads PEM truststores only (or give --tls-ca)", path, or(typ, "JKS"))
		}
	default:
		return out, usagef("--command-config %s: security.protocol %s is not supported by sluice's client (PLAINTEXT, SASL_PLAINTEXT, SSL or SASL_SSL)", path, proto)
	}
	if !strings.HasPrefix(proto, "SASL_") {
		return out, nil
	}
	out.mechanism = or(kv["sasl.mechanism"], "GSSAPI") // Kafka's client default
	if j := kv["sasl.jaas.config"]; j != "" {
		module, opts, err := auth.ParseJAAS(j)
		if err != nil {
			return out, usagef("--command-config %s: sasl.jaas.config: %v", path, err)
		}
		if module != plainLoginModule && module != scramLoginModule {
			return out, usagef("--command-config %s: sasl.jaas.config: login module %s is not supported", path, module)
		}
		out.user, out.password = opts["username"], opts["password"]
	}
	return out, nil
}
