package main

import (
	"context"
	"log/slog"
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

// cleanShutdownFile is the store's clean-shutdown marker (Kafka's name).
const cleanShutdownFile = ".kafka_cleanshutdown"

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
	n.Logger = log
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
	g := cfg.Group
	b.Groups.Partitions = g.OffsetsTopicPartitions
	b.Groups.SegmentBytes = g.OffsetsTopicSegmentBytes
	b.Groups.InitialRebalanceDelay = g.InitialRebalanceDelay
	b.Groups.MinSessionTimeout = g.MinSessionTimeout
	b.Groups.MaxSessionTimeout = g.MaxSessionTimeout
	b.Groups.OffsetsRetention = g.OffsetsRetention
	b.Groups.OffsetsRetentionCheckInterval = g.OffsetsRetentionCheck
	return b
}

// startServer opens the store, loads the broker and starts the listener,
// with requests instrumented for the metrics.
func startServer(cfg *config.Config, log *slog.Logger, m *metrics.Metrics) (*server, error) {
	scfg := storeConfig(cfg, log)
	scfg.Observer = m.Observer()
	logStartKind(log, cfg.DataDir)
	srv, err := broker.StartServer(broker.ServerConfig{
		Store:       scfg,
		Net:         netConfig(cfg, log),
		Broker:      brokerConfig(cfg, log),
		Advertised:  cfg.Advertised,
		Logger:      log,
		WrapHandler: m.Instrument,
	})
	if err != nil {
		return nil, err
	}
	b := srv.Broker()
	m.SetSources(metrics.Sources{Net: srv.NetStats, Logs: srv.Store().Logs, Traffic: b.Traffic,
		Lag: b.ConsumerLag, Cleaner: srv.Store().CleanerStats, NodeID: b.NodeID(), ClusterID: b.ClusterID()})
	return &server{Server: srv, metrics: m}, nil
}

// logStartKind says, before the store opens, whether it will trust a clean
// shutdown (reading no segment data) or recover.
func logStartKind(log *slog.Logger, dir string) {
	_, err := os.Stat(filepath.Join(dir, cleanShutdownFile))
	_, metaErr := os.Stat(filepath.Join(dir, "meta.properties"))
	switch {
	case err == nil:
		log.Info("clean shutdown marker present: recovery skipped, no segment data read", "dir", dir)
	case metaErr == nil:
		log.Warn("no clean shutdown marker: every log recovers from its recovery point", "dir", dir)
	default:
		log.Info("new data directory", "dir", dir)
	}
}

// shutdown stops the server (broker.Server.Shutdown: group long polls
// answered, requests in flight served until ctx ends, then the store
// flushed and marked clean) and detaches the metrics.
func (s *server) shutdown(ctx context.Context) error {
	s.metrics.SetSources(metrics.Sources{})
	return s.Shutdown(ctx)
}
