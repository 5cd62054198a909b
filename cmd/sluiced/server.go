package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/sluice/sluice/broker"
	"github.com/sluice/sluice/config"
	"github.com/sluice/sluice/metrics"
	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/partition"
)

// server is the running broker: store, listener and handlers. It does what
// broker.StartServer does, and keeps the store and the listener at hand
// for the metrics and wraps the handler to instrument it (broker.Server
// exposes neither).
type server struct {
	store   *partition.Store
	broker  *broker.Broker
	net     *netio.Server
	log     *slog.Logger
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
	switch cfg.Fsync {
	case "always":
		def.Flush = partition.FlushAlways
	case "interval":
		def.Flush = partition.FlushInterval
	default:
		def.Flush = partition.FlushNever
	}
	return partition.StoreConfig{
		Dir:                    cfg.DataDir,
		Defaults:               def,
		RetentionCheckInterval: cfg.RetentionCheck,
		CheckpointInterval:     cfg.CheckpointInterval,
		Logger:                 log,
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

func brokerConfig(cfg *config.Config, log *slog.Logger, host string, port int32) broker.Config {
	b := broker.DefaultConfig()
	b.NodeID = cfg.NodeID
	b.ClusterID = cfg.ClusterID
	b.Rack = cfg.Rack
	b.AutoCreateTopics = cfg.AutoCreateTopics
	b.NumPartitions = cfg.NumPartitions
	b.AdvertisedHost, b.AdvertisedPort = host, port
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

// startServer opens the store, starts the listener (requests wait at a
// gate until the broker is loaded, so a port-0 listener's real port can be
// advertised) and loads the broker.
func startServer(cfg *config.Config, log *slog.Logger, m *metrics.Metrics) (*server, error) {
	scfg := storeConfig(cfg, log)
	logStartKind(log, cfg.DataDir)
	store, err := partition.OpenStore(scfg)
	if err != nil {
		return nil, fmt.Errorf("cannot open data directory %q: %w", cfg.DataDir, err)
	}
	g := newGate()
	ns, err := netio.Listen(netConfig(cfg, log), m.Instrument(g))
	if err != nil {
		return nil, errors.Join(err, store.Close())
	}
	host, port, err := advertisedAddr(cfg.Advertised, ns.Addr())
	if err == nil {
		bcfg := brokerConfig(cfg, log, host, port)
		bcfg.DefaultLog = scfg.Defaults
		var b *broker.Broker
		if b, err = broker.New(bcfg, store); err == nil {
			g.open(b)
			s := &server{store: store, broker: b, net: ns, log: log, metrics: m}
			m.SetSources(metrics.Sources{Net: ns.Stats, Logs: store.Logs, NodeID: b.NodeID(), ClusterID: b.ClusterID()})
			log.Info("listening", "addr", ns.Addr().String(), "advertised", net.JoinHostPort(host, strconv.Itoa(int(port))))
			return s, nil
		}
	}
	g.open(nil)
	return nil, errors.Join(err, ns.Shutdown(context.Background()), store.Close())
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

// shutdown closes the broker first, as broker.Server.Shutdown does (its
// group coordinator answers blocked JoinGroup/SyncGroup calls at once
// instead of holding the drain until ctx ends; produce and fetch go on),
// then stops taking requests, serves those in flight until ctx ends
// (cutting the rest off, with a warning), then closes the store (flush,
// checkpoints, clean-shutdown marker).
func (s *server) shutdown(ctx context.Context) error {
	brokerErr := s.broker.Close()
	if err := s.net.Shutdown(ctx); err != nil {
		s.log.Warn("requests in flight were cut off at the shutdown timeout", "err", err)
	}
	s.metrics.SetSources(metrics.Sources{})
	storeErr := s.store.Close()
	if storeErr != nil {
		storeErr = fmt.Errorf("cannot close data directory: %w", storeErr)
	}
	return errors.Join(brokerErr, storeErr)
}

// advertisedAddr picks the host and port to advertise: advertised if set
// (its port 0 meaning the listener's), else the listener's address with a
// wildcard host replaced by the host name.
func advertisedAddr(advertised string, listening net.Addr) (string, int32, error) {
	la := listening.(*net.TCPAddr)
	if advertised == "" {
		host := la.IP.String()
		if la.IP == nil || la.IP.IsUnspecified() {
			h, err := os.Hostname()
			if err != nil {
				return "", 0, fmt.Errorf("cannot get the host name to advertise: %w", err)
			}
			host = h
		}
		return host, int32(la.Port), nil
	}
	host, portStr, err := net.SplitHostPort(advertised)
	if err != nil {
		return "", 0, fmt.Errorf("bad advertised listener %q: %w", advertised, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("bad port in advertised listener %q: %w", advertised, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		return "", 0, fmt.Errorf("advertised listener %q has no usable host", advertised)
	}
	if port == 0 {
		port = uint64(la.Port)
	}
	return host, int32(port), nil
}

// gate is the listener's handler until the broker is loaded: requests
// that arrive first wait for it.
type gate struct {
	ready chan struct{}
	h     netio.Handler // set before ready closes; nil if the broker failed
}

func newGate() *gate { return &gate{ready: make(chan struct{})} }

func (g *gate) open(h *broker.Broker) {
	if h != nil {
		g.h = h
	}
	close(g.ready)
}

func (g *gate) Handle(ctx context.Context, c *netio.Conn, frame []byte) (*netio.Response, error) {
	select {
	case <-g.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if g.h == nil {
		return nil, errors.New("sluiced: the broker failed to start")
	}
	return g.h.Handle(ctx, c, frame)
}
