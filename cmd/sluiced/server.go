package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sluice/sluice/acl"
	"github.com/sluice/sluice/auth"
	"github.com/sluice/sluice/broker"
	"github.com/sluice/sluice/config"
	"github.com/sluice/sluice/controller"
	"github.com/sluice/sluice/listener"
	"github.com/sluice/sluice/metrics"
	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/partition"
)

// server is the running broker (broker.Server, which owns this node's
// controller quorum member) and the metrics reading it.
type server struct {
	*broker.Server
	metrics *metrics.Metrics
	tls     *tlsListeners
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
	def.MinInsyncReplicas = cfg.MinInsyncReplicas
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

func netConfig(cfg *config.Config, log *slog.Logger, tl *tlsListeners) netio.Config {
	n := netio.DefaultConfig()
	n.TLS = tl.configs()
	n.Addr = cfg.Listen
	n.Listeners = cfg.Listeners
	n.SASLMaxReceiveBytes = cfg.SASL.MaxReceiveBytes
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

func brokerConfig(cfg *config.Config, log *slog.Logger, tl *tlsListeners) broker.Config {
	b := broker.DefaultConfig()
	b.SSLPrincipal = tl.principal
	b.NodeID = cfg.NodeID
	b.ClusterID = cfg.ClusterID
	b.Rack = cfg.Rack
	b.HeartbeatInterval = cfg.Cluster.HeartbeatInterval
	b.ReplicaLagTimeMax = cfg.Cluster.ReplicaLagTimeMax
	b.ReplicaFetchWait = cfg.Cluster.ReplicaFetchWait
	b.NumReplicaFetchers = cfg.Cluster.NumReplicaFetchers
	b.HWCheckpointInterval = cfg.Cluster.HWCheckpointInterval
	b.EligibleLeaderReplicas = cfg.Cluster.EligibleLeaderReplicas
	b.ReplicaSelector = cfg.Cluster.ReplicaSelector
	b.ControllerOnly = cfg.Cluster.ControllerOnly()
	b.JoinQuorum = cfg.Cluster.Join
	if cfg.Cluster.BrokerOnly() || cfg.Cluster.Join {
		vs, _ := controller.ParseVoters(cfg.Cluster.Voters) // checked by startController
		for _, v := range vs {
			b.QuorumAddrs = append(b.QuorumAddrs, v.Addr)
		}
		b.QuorumAddrs = append(b.QuorumAddrs, cfg.Cluster.BootstrapServers...)
	}
	b.AutoCreateTopics = cfg.AutoCreateTopics
	b.NumPartitions = cfg.NumPartitions
	b.Logger = log
	b.SASL = broker.SASLConfig{
		Mechanisms:       []auth.Mechanism{},
		PlainUsers:       cfg.SASL.PlainUsers,
		PlainUsersAll:    cfg.SASL.PlainUsersAll,
		Reauth:           cfg.SASL.Reauth,
		FailedAuthDelay:  cfg.SASL.FailedAuthDelay,
		FailedAuthMax:    cfg.SASL.FailedAuthMax,
		FailedAuthWindow: cfg.SASL.FailedAuthWindow,
	}
	for _, m := range cfg.SASLMechanisms {
		b.SASL.Mechanisms = append(b.SASL.Mechanisms, auth.Mechanism(m))
	}
	ib := cfg.InterBroker
	b.InterBroker = broker.InterBrokerConfig{Listener: ib.Listener, Protocol: ib.Protocol, Mechanism: auth.Mechanism(ib.Mechanism),
		Username: ib.Username, Password: ib.Password, TLS: tl.clientConfig(ib.Listener)}
	cc := cfg.ControllerClient
	b.ControllerClient = broker.InterBrokerConfig{Listener: cc.Listener, Protocol: cc.Protocol, Mechanism: auth.Mechanism(cc.Mechanism),
		Username: cc.Username, Password: cc.Password, TLS: tl.clientConfig(cc.Listener)}
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
	if cfg.Authorizer {
		b.Authorizer = &acl.Config{SuperUsers: cfg.SuperUsers, AllowIfNoACL: cfg.AllowEveryoneIfNoACL}
	}
	t := cfg.Txn
	b.Txn.Partitions = t.StatePartitions
	b.Txn.SegmentBytes = t.StateSegmentBytes
	b.Txn.MaxTimeout = t.MaxTimeout
	b.Txn.AbortInterval = t.AbortInterval
	b.Txn.IDExpiration = t.IDExpiration
	b.Txn.ExpireInterval = t.ExpireInterval
	b.Txn.Version = t.Version
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

// startController opens this node's member of the controller quorum
// (package controller) in the data directory, on the CONTROLLER listener.
// With controller.quorum.voters unset the node is its own one-voter
// quorum, whose Raft timers are short: there is no peer to wait for. A
// broker-only node (process.roles=broker) opens an observer: a raft
// non-voter that follows the metadata log, listening next to its client
// listener. The CONTROLLER listener passes Kafka-framed connections (the
// brokers' controller RPCs) to serve.
func startController(cfg *config.Config, log *slog.Logger, serve func(net.Conn)) (*controller.Controller, error) {
	cl := cfg.Cluster
	observer := cl.BrokerOnly()
	if cl.Voters == "" && cl.ControllerDerived && !portFree(cl.ControllerListen) {
		// A one-voter quorum is never dialed: any port serves.
		host, _, _ := net.SplitHostPort(cl.ControllerListen)
		log.Warn("the port next to the client port is taken: the one-node controller quorum listens on a free port instead (set a CONTROLLER:// listener to choose)",
			"taken", cl.ControllerListen)
		cl.ControllerListen = net.JoinHostPort(host, "0")
	}
	self := net.JoinHostPort(cl.ControllerHost, portOf(cl.ControllerListen))
	voters := []controller.Voter{{ID: cfg.NodeID, Addr: self}}
	if (observer || cl.Join) && len(cl.BootstrapServers) > 0 {
		voters = nil // controller.quorum.bootstrap.servers: the leader adds it and the log names the voters
	} else if cl.Voters != "" {
		var err error
		if voters, err = controller.ParseVoters(cl.Voters); err != nil {
			return nil, usageError{err}
		}
		in := slices.ContainsFunc(voters, func(v controller.Voter) bool { return v.ID == cfg.NodeID })
		if !in && !observer {
			return nil, usageError{fmt.Errorf("config: node.id %d is not one of controller.quorum.voters %q", cfg.NodeID, cl.Voters)}
		}
	}
	ccfg := controller.Config{
		NodeID: cfg.NodeID, Voters: voters, ListenAddr: cl.ControllerListen, DataDir: cfg.DataDir,
		SessionTimeout: cl.SessionTimeout, HeartbeatInterval: cl.HeartbeatInterval, Observer: observer, Join: cl.Join, Serve: serve,
		AutoLeaderRebalance: cl.AutoLeaderRebalance, LeaderImbalanceCheckInterval: cl.LeaderImbalanceCheckInterval,
		LeaderImbalancePerBrokerPercentage: cl.LeaderImbalancePercentage,
		Logger:                             raftLogger(len(voters), cfg.LogFormat),
		EligibleLeaderReplicas:             cl.EligibleLeaderReplicas, DefaultMinInsync: cfg.MinInsyncReplicas,
		UncleanLeaderElection:              cl.UncleanLeaderElection,
		UncleanLeaderElectionCheckInterval: cl.UncleanLeaderElectionInterval,
	}
	if observer || cl.Join {
		ccfg.Advertise = self
		if h := observerHost(cfg); h != "" {
			ccfg.Advertise = net.JoinHostPort(h, portOf(cl.ControllerListen))
		}
	}
	if len(voters) == 1 && !cl.Standalone { // a standalone quorum of one (bootstrap servers) may grow: raft's own timers
		ccfg.Timeouts = controller.Timeouts{Heartbeat: 100 * time.Millisecond, Election: 100 * time.Millisecond, LeaderLease: 50 * time.Millisecond}
	}
	ctl, err := controller.Open(ccfg)
	if err != nil {
		return nil, err
	}
	log.Info("controller quorum member started", "node_id", cfg.NodeID, "listen", ctl.Addr(), "voters", len(voters),
		"roles", strings.Join(cl.Roles, ","))
	return ctl, nil
}

// observerHost is the host a broker-only node's metadata follower is
// reached at when its listener binds every interface: the host of the
// inter-broker listener's advertised address (else the first listener's),
// else the machine's host name, as the broker advertises itself then.
func observerHost(cfg *config.Config) string {
	host, _, _ := net.SplitHostPort(cfg.Cluster.ControllerListen)
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return "" // a bound host is advertised as it is
	}
	adv := cfg.Advertised
	for _, l := range cfg.Listeners {
		if l.Name == cfg.InterBrokerListener && l.Advertised != "" {
			adv = l.Advertised
		}
	}
	if h, _, err := net.SplitHostPort(adv); err == nil && h != "" {
		return h
	}
	h, _ := os.Hostname()
	return h
}

// portFree reports whether addr can be bound now.
func portFree(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr) // checked by config
	return p
}

// startServer opens the store, starts the controller, loads the broker and
// starts the listener, with requests instrumented for the metrics.
func startServer(cfg *config.Config, settings *config.Settings, log *slog.Logger, m *metrics.Metrics) (*server, error) {
	tl, err := newTLSListeners(cfg, log)
	if err != nil {
		return nil, err
	}
	scfg := storeConfig(cfg, log)
	scfg.Observer = m.Observer()
	fresh := isNewDataDir(cfg.DataDir)
	if fresh {
		log.Info("new data directory", "dir", cfg.DataDir)
	}
	var rpcAddr atomic.Pointer[string] // where the CONTROLLER listener's Kafka connections go
	serve := controller.ProxyTo(func() string {
		if a := rpcAddr.Load(); a != nil {
			return *a
		}
		return ""
	})
	srv, err := broker.StartServer(broker.ServerConfig{
		Store:  scfg,
		Net:    netConfig(cfg, log, tl),
		Broker: withStaticConfigs(brokerConfig(cfg, log, tl), settings),
		OpenController: func() (*controller.Controller, error) {
			ctl, err := startController(cfg, log, serve)
			if err == nil {
				ctl.SetApplyObserver(func(stage string, s controller.ApplyStamp) { m.MetadataApplied(stage, s.Lag()) })
				m.UncleanElections(ctl.UncleanElections)
			}
			return ctl, err
		},
		Advertised:  cfg.Advertised,
		Logger:      log,
		WrapHandler: m.Instrument,
	})
	if err != nil {
		return nil, err
	}
	a := controllerRPCAddr(cfg, srv)
	rpcAddr.Store(&a)
	if !fresh {
		logRecovery(log, srv.Store())
	}
	b := srv.Broker()
	m.SetSources(metrics.Sources{Net: srv.NetStats, Logs: srv.Store().Logs, Traffic: b.Traffic,
		Lag: b.ConsumerLag, Sessions: b.FetchSessions, Cleaner: srv.Store().CleanerStats, NodeID: b.NodeID(), ClusterID: b.ClusterID(),
		Offline: srv.Store().Offline, SASL: b.SASLRefused, SASLAuth: b.SASLStats, Txns: b.TransactionStates, Repl: b.ReplicationStats})
	tl.start()
	return &server{Server: srv, metrics: m, tls: tl}, nil
}

// controllerRPCAddr is the listener that serves the controller RPCs
// arriving on the CONTROLLER listener, which passes their bytes on as they
// are: one that speaks the CONTROLLER listener's security protocol, as
// the brokers dial it (the inter-broker listener when it does, else the
// first that does; on a controller-only node, its internal loopback
// listener); when none does, the inter-broker listener, else the first.
func controllerRPCAddr(cfg *config.Config, srv *broker.Server) string {
	addr := srv.Addr()
	name := cfg.InterBrokerListener
	if name == "" {
		name = "PLAINTEXT"
	}
	if a, ok := srv.Addrs()[name]; ok {
		addr = a
	}
	if l, ok := sameProtocol(cfg.Listeners, name, cfg.ControllerClient.Protocol); ok {
		if a, ok := srv.Addrs()[l]; ok {
			addr = a
		}
	}
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	if ta.IP == nil || ta.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(ta.Port))
	}
	return ta.String()
}

// sameProtocol names the listener of ls that speaks p: prefer, else the
// first.
func sameProtocol(ls []listener.Listener, prefer string, p listener.Protocol) (string, bool) {
	found := ""
	for _, l := range ls {
		switch {
		case l.Protocol != p:
		case l.Name == prefer:
			return l.Name, true
		case found == "":
			found = l.Name
		}
	}
	return found, found != ""
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
	s.tls.stop()
	return s.Shutdown(ctx)
}

// raftLogger writes raft's warnings to stderr (as JSON objects with
// sluice.log.format=json) when there are peers (lost contact, elections);
// a one-voter quorum's election at every start is not worth a warning, so
// it logs errors only.
func raftLogger(voters int, format string) hclog.Logger {
	level := hclog.Warn
	if voters == 1 {
		level = hclog.Error
	}
	return hclog.New(&hclog.LoggerOptions{Name: "raft", Level: level, Output: os.Stderr, JSONFormat: format == "json"})
}
