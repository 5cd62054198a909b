package main

// Flags and helpers shared by the subcommands that talk to a broker.

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// stdin is what produce reads; tests replace it.
var stdin io.Reader = os.Stdin

// defaultBrokers is --brokers' default: $SLUICE_BROKERS or 127.0.0.1:9092.
func defaultBrokers() string {
	if b := os.Getenv("SLUICE_BROKERS"); b != "" {
		return b
	}
	return "127.0.0.1:9092"
}

// clientFlags are the flags of every subcommand that talks to a broker.
type clientFlags struct {
	brokers string
	output  outputFlag
	timeout time.Duration
	sasl    saslFlags
	tls     tlsFlags
}

func addClientFlags(fs *flag.FlagSet) *clientFlags {
	c := &clientFlags{output: outTable}
	fs.StringVar(&c.brokers, "brokers", defaultBrokers(), "comma-separated host:port seed brokers (env SLUICE_BROKERS)")
	addOutputFlag(fs, &c.output)
	fs.DurationVar(&c.timeout, "request-timeout", 30*time.Second, "how long to wait for the broker's answers (and at most 10s to connect)")
	c.sasl.bind(fs)
	c.tls.register(fs)
	return c
}

// addOutputFlag binds --output to o.
func addOutputFlag(fs *flag.FlagSet, o *outputFlag) {
	if *o == "" {
		*o = outTable
	}
	fs.Var(o, "output", "print a `table|json|yaml` (JSON and YAML name the fields as the table's columns, in snake_case)")
}

func (c *clientFlags) check() error { return nil }

func (c *clientFlags) json() bool { return c.output.structured() }

// dialTimeout bounds the reachability check and each connection attempt.
func (c *clientFlags) dialTimeout() time.Duration {
	return min(c.timeout, 10*time.Second)
}

// seeds is --brokers split, without empty entries.
func (c *clientFlags) seeds() []string {
	var out []string
	for _, s := range strings.Split(c.brokers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// reachable dials the seed brokers (in parallel) and returns nil as soon as
// one accepts a TCP connection, else an error naming each and why, such as
// "cannot reach 127.0.0.1:9999: connection refused". franz-go retries an
// unreachable seed until its timeouts, silently; this check makes every
// command fail at once instead.
func (c *clientFlags) reachable() error {
	seeds := c.seeds()
	if len(seeds) == 0 {
		return usagef("--brokers is empty")
	}
	type result struct {
		i   int
		err error
	}
	results := make(chan result, len(seeds))
	for i, s := range seeds {
		go func() {
			conn, err := net.DialTimeout("tcp", s, c.dialTimeout())
			if err == nil {
				conn.Close()
				results <- result{i, nil}
				return
			}
			results <- result{i, fmt.Errorf("cannot reach %s: %s", s, dialReason(err))}
		}()
	}
	all := make([]error, len(seeds))
	for range seeds {
		r := <-results
		if r.err == nil {
			return nil
		}
		all[r.i] = r.err
	}
	return errors.Join(all...) // in --brokers order
}

// dialReason is the innermost reason of a dial error ("connection
// refused", "i/o timeout", "no such host").
func dialReason(err error) string {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err.Error()
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		if oe.Timeout() {
			return "i/o timeout"
		}
		return oe.Err.Error()
	}
	return err.Error()
}

// client checks that a broker is reachable, then connects (authenticating
// with SASL when the flags or --command-config ask for it).
func (c *clientFlags) client(opts ...kgo.Opt) (*kgo.Client, error) {
	saslOpt, err := c.sasl.opt()
	if err != nil {
		return nil, err
	}
	if err := c.reachable(); err != nil {
		return nil, err
	}
	opts = append([]kgo.Opt{kgo.SeedBrokers(c.seeds()...), kgo.RequestTimeoutOverhead(c.timeout),
		kgo.RetryTimeout(c.timeout), kgo.DialTimeout(c.dialTimeout()), kgo.ClientID("sluice")}, opts...)
	if saslOpt != nil {
		opts = append(opts, saslOpt)
	}
	tc, err := c.tls.config()
	if err != nil {
		return nil, err
	}
	if tc == nil { // --command-config may ask for TLS (SSL, SASL_SSL)
		if tc, err = c.commandConfigTLS(); err != nil {
			return nil, err
		}
	}
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot create client for %q: %w", c.brokers, err)
	}
	return cl, nil
}

// commandConfigTLS is the TLS configuration --command-config asks for,
// nil when it does not: its PEM truststore, else the system's roots.
func (c *clientFlags) commandConfigTLS() (*tls.Config, error) {
	useTLS, ca, err := c.sasl.commandConfigTLS()
	if !useTLS || err != nil {
		return nil, err
	}
	if ca == "" {
		return &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.tls.serverName}, nil
	}
	f := c.tls
	f.ca = ca
	return f.config()
}

func (c *clientFlags) admin() (*kadm.Client, error) {
	cl, err := c.client()
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(c.timeout.Milliseconds()))
	return adm, nil
}

// parseInterspersed parses fs's flags anywhere among args (so that
// `sluice topics create NAME --partitions 3` works) and returns the
// positional arguments. After "--" everything is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// table writes aligned columns.
func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

// errText is err's message for tables and JSON ("" for nil). kerr errors
// carry the Kafka error name (TOPIC_ALREADY_EXISTS: …) and, when the broker
// sent one, its own message in place of the generic description.
func errText(err error, msg string) string {
	if err == nil {
		return ""
	}
	var ke *kerr.Error
	if msg != "" && errors.As(err, &ke) {
		return ke.Message + ": " + msg
	}
	if msg != "" && !strings.Contains(err.Error(), msg) {
		return err.Error() + " (" + msg + ")"
	}
	return err.Error()
}

// exit prints err and returns the exit status: 0 for nil, 2 for usage errors, 1 otherwise.
func exit(stderr io.Writer, name string, err error) int {
	if err == nil {
		return 0
	}
	for _, line := range strings.Split(err.Error(), "\n") { // errors.Join: one line each
		fmt.Fprintf(stderr, "sluice %s: %s\n", name, line)
	}
	var u usageErr
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

// usageErr is a wrong invocation (exit status 2).
type usageErr struct{ error }

func usagef(format string, args ...any) error { return usageErr{fmt.Errorf(format, args...)} }
