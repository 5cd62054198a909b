package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/sluice/sluice/broker"
	"github.com/sluice/sluice/buildinfo"
	"github.com/sluice/sluice/config"
	"github.com/sluice/sluice/console"
	"github.com/sluice/sluice/metrics"
	"github.com/sluice/sluice/partition"
)

type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func isUsageError(err error) bool {
	var u usageError
	var ce *config.Error
	return errors.As(err, &u) || errors.As(err, &ce) || errors.Is(err, flag.ErrHelp)
}

// cli is the command line: the config file, the actions that print and
// exit, and the options' flags.
type cli struct {
	configFile  string
	printConfig bool
	printDocs   bool
	version     bool
	flags       *config.FlagSet
}

// parseArgs parses args; help and bad flags are usage errors.
func parseArgs(args []string, stderr io.Writer) (cli, error) {
	var c cli
	fs := flag.NewFlagSet("sluiced", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // a bad flag is one line (main prints it), --help the usage
	fs.BoolVar(&c.version, "version", false, "print the version and git revision, then exit")
	fs.StringVar(&c.configFile, "config", "", "a Kafka server.properties file (SLUICE_* variables and flags override it)")
	fs.BoolVar(&c.printConfig, "print-config", false, "print the effective settings, with where each came from, and exit")
	fs.BoolVar(&c.printDocs, "print-config-docs", false, "print the configuration reference (docs/CONFIGURATION.md) and exit")
	c.flags = config.BindFlags(fs)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, usageError{fmt.Errorf("%w (see 'sluiced --help')", err)}
	}
	if fs.NArg() > 0 {
		return c, usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	return c, nil
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: sluiced [--config server.properties] [flags]

The Sluice broker. Settings, lowest to highest precedence: defaults, the
--config file (Kafka's server.properties keys), SLUICE_* environment
variables, flags.

  --config FILE         a Kafka server.properties file
  --print-config        print the effective settings and where each came from, then exit
  --print-config-docs   print the configuration reference in Markdown, then exit
  --version             print the version and git revision, then exit
`)
	config.Usage(w)
}

// run starts the broker and serves until ctx is done, then shuts down.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	c, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		usage(stdout)
	}
	if err != nil {
		return err
	}
	if c.version {
		fmt.Fprintf(stdout, "sluiced %s\n", buildinfo.Read())
		return nil
	}
	if c.printDocs {
		config.Markdown(stdout)
		return nil
	}
	cfg, settings, err := config.Load(c.configFile, environ, c.flags)
	if err != nil {
		return usageError{err}
	}
	logger := newLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	if !c.printConfig {
		applyTimerSlack(cfg.TimerSlack, environ, logger) // may execute sluiced again
		applyProcs(cfg.Procs, cfg.SpareProc, environ, logger)
	}
	warnSettings(logger, settings, c.configFile)
	warnOpenListeners(logger, cfg)
	if c.printConfig {
		printConfig(stdout, settings)
		return nil
	}
	if err := storeConfig(cfg, logger).Defaults.Validate(); err != nil {
		return usageError{err}
	}
	d := &daemon{cfg: cfg, settings: settings, log: logger, metrics: metrics.New(), notify: newNotifier(environ, logger)}
	return d.serve(ctx, stdout)
}

func newLogger(level, format string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(strings.ToUpper(level))) // checked by config
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// warnSettings logs one warning listing the file's unknown keys and one
// listing the Kafka keys that mean nothing here.
func warnSettings(log *slog.Logger, s *config.Settings, file string) {
	if u := s.Unknown(); len(u) > 0 {
		log.Warn("ignoring unknown settings", "file", file, "keys", strings.Join(u, ","))
	}
	if ig := s.IgnoredKeys(); len(ig) > 0 {
		log.Warn("ignoring Kafka settings that mean nothing for a single-node sluiced", "file", file, "keys", strings.Join(ig, ","))
	}
}

// printConfig writes every setting in server.properties form with its
// source; unset ones are commented out.
func printConfig(w io.Writer, s *config.Settings) {
	for _, v := range s.Effective() {
		prefix := ""
		if v.Value == "" {
			prefix = "#"
		}
		fmt.Fprintf(w, "%s%s=%s\t# %s\n", prefix, v.Option.Key, v.Value, v.Source)
	}
}

// Readiness states, for /readyz.
const (
	starting int32 = iota
	serving
	stopping
)

// daemon is one run of sluiced: HTTP listener, broker, lifecycle.
type daemon struct {
	cfg      *config.Config
	settings *config.Settings // where each setting came from (DescribeConfigs)
	log      *slog.Logger
	metrics  *metrics.Metrics
	notify   *notifier
	state    atomic.Int32
	store    atomic.Pointer[partition.Store] // set once open, for /healthz (health.go)
	// netHealth is the Kafka listener's health check once it listens
	// (netio.Server.Health): /healthz fails while it reports an error.
	netHealth atomic.Pointer[func() error]
	console   atomic.Pointer[console.Console] // the web console once the broker runs (http.go)
	broker    atomic.Pointer[broker.Broker]   // the broker once it runs, for /metadataz (http.go)
}

// serve starts everything, waits for ctx, and stops.
func (d *daemon) serve(ctx context.Context, stdout io.Writer) error {
	if d.cfg.HTTPListen != "" {
		hs, err := d.startHTTP()
		if err != nil {
			return err
		}
		defer hs.close(d.log)
	}
	srv, err := startServer(d.cfg, d.settings, d.log, d.metrics)
	if err != nil {
		return err
	}
	addr := srv.Addr().String()
	if d.cfg.Cluster.ControllerOnly() {
		addr = srv.Controller().Addr() // its only listener; the Kafka one is internal
	}
	d.store.Store(srv.Store())
	d.broker.Store(srv.Broker())
	netHealth := srv.NetHealth
	d.netHealth.Store(&netHealth)
	if d.cfg.HTTPListen != "" {
		c, err := d.startConsole(srv)
		if err != nil {
			return errors.Join(err, srv.shutdown(context.Background()))
		}
		d.console.Store(c)
		alerts := c.Collector()
		if err := d.metrics.Registry().Register(alerts); err != nil {
			d.log.Warn("console: cannot register alert metrics", "err", err)
		}
		defer d.metrics.Registry().Unregister(alerts)
	}
	d.state.Store(serving)
	ready(stdout, addr)
	d.notify.send("READY=1", "STATUS=serving Kafka on "+addr)
	<-ctx.Done()
	d.state.Store(stopping)
	d.notify.send("STOPPING=1", "STATUS=stopping")
	d.log.Info("shutting down", "timeout", d.cfg.ShutdownTimeout)
	if c := d.console.Swap(nil); c != nil {
		if err := c.Close(); err != nil { // stops sampling and saves the history before the store closes
			d.log.Warn("console: cannot save metrics history", "err", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), d.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	d.log.Info("stopped cleanly")
	return nil
}
