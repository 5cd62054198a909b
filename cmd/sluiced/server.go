package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"

	"github.com/sluice/sluice/broker"
	"github.com/sluice/sluice/config"
	"github.com/sluice/sluice/metrics"
	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/partition"
)

// server is the running broker (broker.Server) and the metrics reading it.
type server struct {
	*broker.Server
	metrics *metrics.Metrics
}

func storeConfig(cfg *config.Config, log *slog.Logger) partition.StoreConfig {
	def := partition.DefaultConfig()
	def.SegmentBytes = cfg.SegmentBytes
	def.SegmentMs = cfg.SegmentMs
	def.SegmentIndexBytes = cfg.IndexSizeMaxBytes
	def.IndexIntervalBytes = cfg.IndexIntervalBytes
	def.RetentionMs = cfg.RetentionMs
	def.RetentionBytes = cfg.RetentionBytes
	def.MaxMessageBytes = cfg.MessageMaxBytes
	def.LogAppendTime = cfg.LogAppendTime
	def.FlushInterval = cfg.FsyncInterval
	def.CleanupPolicy = cfg.CleanupPolicy
	def.MinCleanableDirtyRatio = cfg.MinCleanableDirtyRatio
	def.MinCompactionLagMs = cfg.MinCompactionLagMs
	def.MaxCompactionLagMs = cfg.MaxCompactionLagMs
	def.DeleteRetentionMs = cfg.DeleteRetentionMs
	switch cfg.Fsync {
	case "always":
		def.Flush = partition.FlushAlways
	case "interval":
		def.Flush = partition.FlushInterval
	default:
		def.Flush = partition.FlushNever
	}
	return partition.StoreConfig{
		Dir:                     cfg.DataDir,
		Defaults:                def,
		RetentionCheckInterval:  cfg.RetentionCheck,
		CheckpointInterval:      cfg.CheckpointInterval,
		Logger:                  log,
		CleanerThreads:          cfg.Cleaner.Threads,
		CleanerDedupeBufferSize: cfg.Cleaner.DedupeBufferSize,
		CleanerBackoff:          cfg.Cleaner.Backoff,
	}
}

func netConfig(cfg *config.Config, log *slog.Logger) netio.Config {
	n := netio.DefaultConfig()
	n.Addr = cfg.Listen
	n.MaxRequestBytes = cfg.SocketRequestMaxBytes
	n.IdleTimeout = cfg.ConnectionsMaxIdle
	n.FrameTimeout = cfg.RequestReadTimeout
	n.MaxConns = noLimit(cfg.MaxConnections)
	n.MaxConnsPerIP = noLimit(cfg.MaxConnectionsPerIP)
	n.MaxConnsPerIPOverrides = cfg.MaxConnectionsPerIPOverrides
	n.MaxConnCreationRate = noLimit(cfg.MaxConnectionCreationRate)
	n.Logger = log
	return n
}

// noLimit maps Kafka's "no limit" (Int.MAX) to netio's (0).
func noLimit(n int) int {
	if n >= math.MaxInt32 {
		return 0
	}
	return n
}

func brokerConfig(cfg *config.Config, log *slog.Logger) broker.Config {
	b := broker.DefaultConfig()
	b.NodeID = cfg.NodeID
	b.ClusterID = cfg.ClusterID
	b.Rack = cfg.Rack
	b.AutoCreateTopics = cfg.AutoCreateTopics
	b.NumPartitions = cfg.NumPartitions
	b.Logger = log
	b.FetchSessionSlots = cfg.FetchSessionSlots
	b.FetchSessionEviction = cfg.FetchSessionEviction
	g := cfg.Group
	b.Groups.Partitions = g.OffsetsTopicPartitions
	b.Groups.SegmentBytes = g.OffsetsTopicSegmentBytes
	b.Groups.InitialRebalanceDelay = g.InitialRebalanceDelay
	b.Groups.MinSessionTimeout = g.MinSessionTimeout
	b.Groups.MaxSessionTimeout = g.MaxSessionTimeout
	b.Groups.OffsetsRetention = g.OffsetsRetention
	b.Groups.OffsetsRetentionCheckInterval = g.OffsetsRetentionCheck
	t := cfg.Txn
	b.Txn.Partitions = t.StatePartitions
	b.Txn.SegmentBytes = t.StateSegmentBytes
	b.Txn.MaxTimeout = t.MaxTimeout
	b.Txn.AbortInterval = t.AbortInterval
	b.Txn.IDExpiration = t.IDExpiration
	b.Txn.ExpireInterval = t.ExpireInterval
	return b
}

// withStaticConfigs tells the broker every key sluiced read and whether the
// file, environment or flags set it, for DescribeConfigs.
func withStaticConfigs(b broker.Config, s *config.Settings) broker.Config {
	if s == nil {
		return b
	}
	b.StaticConfigs = map[string]broker.StaticConfig{}
	for _, v := range s.Effective() {
		b.StaticConfigs[v.Option.Key] = broker.StaticConfig{
			Value: v.Value, Set: v.Source.Level != config.Default, Doc: v.Option.Doc,
		}
	}
	return b
}

// startServer opens the store, loads the broker and starts the listener,
// with requests instrumented for the metrics.
func startServer(cfg *config.Config, settings *config.Settings, log *slog.Logger, m *metrics.Metrics) (*server, error) {
	scfg := storeConfig(cfg, log)
	scfg.Observer = m.Observer()
	fresh := isNewDataDir(cfg.DataDir)
	if fresh {
		log.Info("new data directory", "dir", cfg.DataDir)
	}
	srv, err := broker.StartServer(broker.ServerConfig{
		Store:       scfg,
		Net:         netConfig(cfg, log),
		Broker:      withStaticConfigs(brokerConfig(cfg, log), settings),
		Advertised:  cfg.Advertised,
		Logger:      log,
		WrapHandler: m.Instrument,
	})
	if err != nil {
		return nil, err
	}
	if !fresh {
		logRecovery(log, srv.Store())
	}
	b := srv.Broker()
	m.SetSources(metrics.Sources{Net: srv.NetStats, Logs: srv.Store().Logs, Traffic: b.Traffic,
		Lag: b.ConsumerLag, Sessions: b.FetchSessions, Cleaner: srv.Store().CleanerStats, NodeID: b.NodeID(), ClusterID: b.ClusterID(),
		Offline: srv.Store().Offline, SASL: b.SASLRefused, Txns: b.TransactionStates})
	return &server{Server: srv, metrics: m}, nil
}

// isNewDataDir reports, before the store opens, whether dir has never
// been used by a broker (no meta.properties).
func isNewDataDir(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "meta.properties"))
	return errors.Is(err, fs.ErrNotExist)
}

// logRecovery says, once the store is open, what opening it read: nothing
// after a trusted clean shutdown, else the segment bytes recovery
// validated (a warning when the clean-shutdown marker was missing).
func logRecovery(log *slog.Logger, st *partition.Store) {
	var bytes int64
	var logs int
	for _, l := range st.Logs() {
		if n := l.RecoveredBytes(); n > 0 {
			bytes += n
			logs++
		}
	}
	clean := st.OpenedClean()
	if clean && bytes == 0 {
		log.Info("clean start: no segment data read", "dir", st.Dir())
		return
	}
	level := slog.LevelWarn
	if clean {
		level = slog.LevelInfo // marker trusted; logs missing from the checkpoint recovered
	}
	log.Log(context.Background(), level, fmt.Sprintf("recovered %d bytes of segment data in %d logs", bytes, logs),
		"dir", st.Dir(), "bytes", bytes, "logs", logs, "clean_shutdown_marker", clean)
}

// shutdown stops the server (broker.Server.Shutdown: group long polls
// answered, requests in flight served until ctx ends, then the store
// flushed and marked clean) and detaches the metrics.
func (s *server) shutdown(ctx context.Context) error {
	s.metrics.SetSources(metrics.Sources{})
	return s.Shutdown(ctx)
}
