package main

// Flags and helpers shared by the subcommands that talk to a broker.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
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
	output  string
	timeout time.Duration
}

func addClientFlags(fs *flag.FlagSet) *clientFlags {
	c := &clientFlags{}
	fs.StringVar(&c.brokers, "brokers", defaultBrokers(), "comma-separated host:port seed brokers (env SLUICE_BROKERS)")
	fs.StringVar(&c.output, "output", "text", "text (tables for people) or json")
	fs.DurationVar(&c.timeout, "request-timeout", 30*time.Second, "how long to wait for the broker's answers")
	return c
}

func (c *clientFlags) check() error {
	if c.output != "text" && c.output != "json" {
		return fmt.Errorf("--output %q: want text or json", c.output)
	}
	return nil
}

func (c *clientFlags) json() bool { return c.output == "json" }

// client connects to the brokers.
func (c *clientFlags) client(opts ...kgo.Opt) (*kgo.Client, error) {
	seeds := strings.Split(c.brokers, ",")
	opts = append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.RequestTimeoutOverhead(c.timeout),
		kgo.RetryTimeout(c.timeout), kgo.ClientID("sluice")}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot create client for %q: %w", c.brokers, err)
	}
	return cl, nil
}

func (c *clientFlags) admin() (*kadm.Client, error) {
	cl, err := c.client()
	if err != nil {
		return nil, err
	}
	return kadm.NewClient(cl), nil
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

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("cannot encode JSON: %w", err)
	}
	return nil
}

// table writes aligned columns.
func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

// errText is err's message for tables and JSON ("" for nil). kerr errors
// carry the Kafka error name (TOPIC_ALREADY_EXISTS: …); the broker's own
// message is added when it says more.
func errText(err error, msg string) string {
	if err == nil {
		return ""
	}
	if msg != "" && !strings.Contains(err.Error(), msg) {
		return err.Error() + " (" + msg + ")"
	}
	return err.Error()
}

// exit prints err and returns the exit status: 0 for nil, 2 for usage errors, 1 otherwise.
func exit(stderr io.Writer, name string, err error) int {
	var u usageErr
	switch {
	case err == nil:
		return 0
	case errors.As(err, &u):
		fmt.Fprintf(stderr, "sluice %s: %v\n", name, err)
		return 2
	}
	fmt.Fprintf(stderr, "sluice %s: %v\n", name, err)
	return 1
}

// usageErr is a wrong invocation (exit status 2).
type usageErr struct{ error }

func usagef(format string, args ...any) error { return usageErr{fmt.Errorf(format, args...)} }
