package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/sluice/sluice/broker"
	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/partition"
)

// options are the command-line flags.
type options struct {
	dataDir         string
	listen          string
	advertised      string
	segmentBytes    int64
	fsync           string
	fsyncInterval   time.Duration
	logLevel        string
	nodeID          int
	clusterID       string
	numPartitions   int
	autoCreate      bool
	shutdownTimeout time.Duration
}

type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func isUsageError(err error) bool {
	var u usageError
	return errors.As(err, &u) || errors.Is(err, flag.ErrHelp)
}

// parseFlags parses args; help and bad flags are usage errors.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	def := partition.DefaultConfig()
	bdef := broker.DefaultConfig()
	var o options
	fs := flag.NewFlagSet("sluiced", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dataDir, "data-dir", "./data", "data directory (Kafka's log.dirs, one directory)")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:9092", "address to listen on, host:port (port 0 picks one)")
	fs.StringVar(&o.advertised, "advertised-listener", "", "host:port clients are told to connect to (default: the listen address)")
	fs.Int64Var(&o.segmentBytes, "segment-bytes", def.SegmentBytes, "segment size at which a new segment starts (segment.bytes); at most 2 GiB-1")
	fs.StringVar(&o.fsync, "fsync", "never", "when appends are fsync'd: never (kernel writes back; Kafka's default), interval, or always (group commit before acking)")
	fs.DurationVar(&o.fsyncInterval, "fsync-interval", time.Second, "fsync period with --fsync interval")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.IntVar(&o.nodeID, "node-id", int(bdef.NodeID), "broker node id (node.id)")
	fs.StringVar(&o.clusterID, "cluster-id", "", "cluster id (default: from meta.properties, or a new one)")
	fs.IntVar(&o.numPartitions, "num-partitions", int(bdef.NumPartitions), "partitions of auto-created topics (num.partitions)")
	fs.BoolVar(&o.autoCreate, "auto-create-topics", bdef.AutoCreateTopics, "create unknown topics on Metadata requests (auto.create.topics.enable)")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long in-flight requests may take at shutdown")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, usageError{err}
	}
	if fs.NArg() > 0 {
		return o, usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	return o, nil
}

// serverConfig turns options into the broker's wiring config.
func serverConfig(o options, logger *slog.Logger) (broker.ServerConfig, error) {
	defaults := partition.DefaultConfig()
	defaults.SegmentBytes = o.segmentBytes
	switch o.fsync {
	case "never":
		defaults.Flush = partition.FlushNever
	case "interval":
		defaults.Flush = partition.FlushInterval
		defaults.FlushInterval = o.fsyncInterval
	case "always":
		defaults.Flush = partition.FlushAlways
	default:
		return broker.ServerConfig{}, usageError{fmt.Errorf("--fsync %q: want never, interval or always", o.fsync)}
	}
	if o.segmentBytes <= 0 || o.segmentBytes > 1<<31-1 {
		return broker.ServerConfig{}, usageError{fmt.Errorf("--segment-bytes %d: want 1..2147483647", o.segmentBytes)}
	}
	bcfg := broker.DefaultConfig()
	bcfg.NodeID = int32(o.nodeID)
	bcfg.ClusterID = o.clusterID
	bcfg.NumPartitions = int32(o.numPartitions)
	bcfg.AutoCreateTopics = o.autoCreate
	ncfg := netio.DefaultConfig()
	ncfg.Addr = o.listen
	return broker.ServerConfig{
		Store:      partition.StoreConfig{Dir: o.dataDir, Defaults: defaults},
		Net:        ncfg,
		Broker:     bcfg,
		Advertised: o.advertised,
		Logger:     logger,
	}, nil
}

func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", level)}
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// run starts the broker and serves until ctx is done, then shuts down.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logger, err := newLogger(o.logLevel, stderr)
	if err != nil {
		return err
	}
	cfg, err := serverConfig(o, logger)
	if err != nil {
		return err
	}
	srv, err := broker.StartServer(cfg)
	if err != nil {
		return err
	}
	ready(stdout, srv.Addr().String())
	<-ctx.Done()
	logger.Info("shutting down", "timeout", o.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped cleanly")
	return nil
}
