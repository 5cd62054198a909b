package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice/sluice/auth"
	"github.com/sluice/sluice/listener"
)

// Config is the resolved configuration, in plain types: cmd/sluiced maps
// it onto the partition, netio and broker configs.
type Config struct {
	// Listeners are the broker listeners to serve, in listeners' order
	// (controller listeners left out).
	Listeners           []listener.Listener
	InterBrokerListener string // inter.broker.listener.name; "" when unset
	// InterBroker is how this broker reaches the others: the listener
	// (inter.broker.listener.name, else PLAINTEXT) and its login there.
	InterBroker InterBroker
	// ControllerClient is how this node reaches the controllers' CONTROLLER
	// listeners (controller RPCs of a broker-only node, and of any broker
	// before the active controller's broker is known): the first of
	// controller.listener.names, its listener.security.protocol.map entry,
	// and sasl.mechanism.controller.protocol with that listener's JAAS login.
	ControllerClient InterBroker
	SASLMechanisms   []string // sasl.enabled.mechanisms, upper case
	// SSL holds, for each SSL or SASL_SSL listener by name, its ssl.*
	// settings (Kafka keys; listener.name.<name>.ssl.* overrides applied;
	// unset keys left out), for auth/tlsconf.
	SSL        map[string]map[string]string
	SASL       SASL
	Listen     string // host:port of Listeners[0]
	Advertised string // Listeners[0].Advertised; "" means derive from Listen
	NodeID     int32
	ClusterID  string
	Rack       string

	SocketRequestMaxBytes int32
	ConnectionsMaxIdle    time.Duration // negative: never

	MaxConnections               int
	MaxConnectionsPerIP          int
	MaxConnectionsPerIPOverrides map[string]int // IP (net.IP.String form) → limit; nil when unset
	MaxConnectionCreationRate    int
	RequestReadTimeout           time.Duration // negative: never

	DataDir            string
	NumPartitions      int32
	AutoCreateTopics   bool
	RetentionMs        int64 // -1: forever
	RetentionBytes     int64
	SegmentBytes       int64
	SegmentMs          int64
	IndexSizeMaxBytes  int
	IndexIntervalBytes int
	MessageMaxBytes    int
	MinInsyncReplicas  int // min.insync.replicas: the topics' default
	LogAppendTime      bool
	RetentionCheck     time.Duration
	CheckpointInterval time.Duration

	// Defaults of the topic configs of compaction.
	CleanupPolicy          string // delete, compact or compact,delete
	MinCleanableDirtyRatio float64
	MinCompactionLagMs     int64
	MaxCompactionLagMs     int64
	DeleteRetentionMs      int64

	Cleaner Cleaner

	Fsync         string // never, interval or always
	FsyncInterval time.Duration

	Group Group
	Txn   Txn

	Cluster Cluster

	FetchSessionSlots    int
	FetchSessionEviction time.Duration

	// Authorizer is on when authorizer.class.name names Kafka's
	// StandardAuthorizer (or AclAuthorizer).
	Authorizer           bool
	SuperUsers           []string
	AllowEveryoneIfNoACL bool

	HTTPListen       string
	ConsoleRetention time.Duration // console.metrics.retention.ms
	ConsoleSession   time.Duration // console.session.timeout.ms
	// console.alerts.lag.records, .lag.seconds (0: off), .webhook.url
	ConsoleAlertLagRecords, ConsoleAlertLagSeconds int64
	ConsoleAlertWebhook                            string
	Pprof                                          bool
	LogLevel                                       string
	LogFormat                                      string
	ShutdownTimeout                                time.Duration
	TimerSlack                                     time.Duration // sluice.timer.slack.ms; 0: leave it
	// Procs is sluice.gomaxprocs (0: the runtime's default); SpareProc
	// asks for one more than the runtime's default (sluice.gomaxprocs
	// unset and sluice.fsync=always) unless GOMAXPROCS is in the
	// environment.
	Procs     int
	SpareProc bool
}

// defaultTimerSlack is sluice.timer.slack.ms when it is unset and the
// fsync policy is not always.
const defaultTimerSlack = 4 * time.Millisecond

// InterBroker is the client side of the inter-broker listener.
type InterBroker struct {
	Listener string            // upper case; PLAINTEXT when inter.broker.listener.name is unset
	Protocol listener.Protocol // the listener's; PLAINTEXT when it is not one of Listeners
	// Mechanism, Username and Password are set when Protocol is SASL:
	// sasl.mechanism.inter.broker.protocol and the username and password
	// options of listener.name.<listener>.<mechanism>.sasl.jaas.config.
	Mechanism          string
	Username, Password string
}

// SASL holds the authentication settings of SASL listeners.
type SASL struct {
	MaxReceiveBytes int32         // sasl.server.max.receive.size
	Reauth          time.Duration // connections.max.reauth.ms; 0: sessions never end
	FailedAuthDelay time.Duration // connection.failed.authentication.delay.ms
	// FailedAuthMax and FailedAuthWindow are
	// sluice.failed.authentication.max.per.address and .window.ms.
	FailedAuthMax    int
	FailedAuthWindow time.Duration
	// PlainUsers are the PLAIN users of each listener (upper-case name)
	// from listener.name.<listener>.plain.sasl.jaas.config; nil when none.
	PlainUsers map[string]map[string]string
	// PlainUsersAll are the PLAIN users of sasl.plain.users.file; nil when unset.
	PlainUsersAll map[string]string
}

// Cleaner holds the log cleaner's broker-wide settings.
type Cleaner struct {
	Threads          int // 0 or less: the cleaner is disabled
	DedupeBufferSize int64
	Backoff          time.Duration
}

// Cluster holds the KRaft settings: this node's roles, the controller
// quorum and the broker's session with the active controller.
type Cluster struct {
	Roles             []string // process.roles, e.g. broker, controller
	ControllerListen  string   // host:port of the CONTROLLER listener (bind)
	ControllerDerived bool     // ControllerListen is next to the client port, not a listeners entry
	ControllerHost    string   // host the quorum reaches it at when voters are unset
	Voters            string   // controller.quorum.voters; "" means this node alone
	// BootstrapServers is controller.quorum.bootstrap.servers: host:port
	// of controllers' CONTROLLER listeners, for a broker-only node or a
	// joining controller (Join) that is not given the voters.
	BootstrapServers []string
	// Standalone: a controller whose bootstrap servers name only itself
	// (kafka-storage format --standalone): a quorum of one that others may
	// join, so it keeps raft's ordinary timers.
	Standalone bool
	// Join: a controller whose bootstrap servers name other controllers:
	// on an empty metadata log it asks the active controller to add it as
	// a voter (AddRaftVoter) instead of starting a quorum.
	Join              bool
	HeartbeatInterval time.Duration
	SessionTimeout    time.Duration
	// Replication: replica.lag.time.max.ms, replica.fetch.wait.max.ms,
	// num.replica.fetchers, replica.high.watermark.checkpoint.interval.ms.
	ReplicaLagTimeMax    time.Duration
	ReplicaFetchWait     time.Duration
	NumReplicaFetchers   int
	HWCheckpointInterval time.Duration
	// Preferred leaders: auto.leader.rebalance.enable,
	// leader.imbalance.check.interval.seconds,
	// leader.imbalance.per.broker.percentage.
	AutoLeaderRebalance          bool
	LeaderImbalanceCheckInterval time.Duration
	LeaderImbalancePercentage    int
	// EligibleLeaderReplicas is eligible.leader.replicas.enable (KIP-966).
	EligibleLeaderReplicas bool
	// UncleanLeaderElection is unclean.leader.election.enable, the topics'
	// default; UncleanLeaderElectionInterval is
	// unclean.leader.election.interval.ms.
	UncleanLeaderElection         bool
	UncleanLeaderElectionInterval time.Duration
	// ReplicaSelector is replica.selector.class: "" (the leader) or
	// RackAwareReplicaSelectorClass (KIP-392).
	ReplicaSelector string
}

// RackAwareReplicaSelectorClass is Kafka's rack-aware replica selector,
// the one value of replica.selector.class Sluice knows (the same string
// as broker.RackAwareReplicaSelector).
const RackAwareReplicaSelectorClass = "org.apache.kafka.common.replica.RackAwareReplicaSelector"

// BrokerOnly reports process.roles=broker.
func (c Cluster) BrokerOnly() bool { return !slices.Contains(c.Roles, "controller") }

// ControllerOnly reports process.roles=controller.
func (c Cluster) ControllerOnly() bool { return !slices.Contains(c.Roles, "broker") }

// Group holds the consumer-group settings, passed on to the group
// coordinator (group.Config).
type Group struct {
	InitialRebalanceDelay    time.Duration
	MinSessionTimeout        time.Duration
	MaxSessionTimeout        time.Duration
	OffsetsRetention         time.Duration
	OffsetsRetentionCheck    time.Duration
	OffsetsTopicPartitions   int32
	OffsetsTopicSegmentBytes int64
}

// Txn holds the transaction coordinator's settings (txn.Config).
type Txn struct {
	MaxTimeout        time.Duration
	AbortInterval     time.Duration
	IDExpiration      time.Duration
	ExpireInterval    time.Duration
	StatePartitions   int32
	StateSegmentBytes int64
	Version           int16
}

// resolver reads typed values; values were checked when added.
type resolver struct{ s *Settings }

func (r resolver) raw(key string) setting { st, _ := r.s.top(key); return st }
func (r resolver) str(key string) string  { return strings.TrimSpace(r.raw(key).value) }

func (r resolver) int(key string) int64 {
	v, err := parseValue(lookup(key), r.raw(key).value)
	if err != nil || v == nil {
		return 0
	}
	if n, ok := v.(int64); ok {
		return n
	}
	return 0
}

func (r resolver) ratio(key string) float64 {
	v, _ := parseValue(lookup(key), r.raw(key).value)
	f, _ := v.(float64)
	return f
}

func (r resolver) bool(key string) bool { b, _ := strconv.ParseBool(r.str(key)); return b }
func (r resolver) ms(key string) time.Duration {
	return time.Duration(r.int(key)) * time.Millisecond
}
func (r resolver) enum(key string) string {
	v, _ := parseValue(lookup(key), r.raw(key).value)
	s, _ := v.(string)
	return s
}

func (r resolver) bad(key, reason string) error {
	st := r.raw(key)
	return &Error{Key: key, Value: st.value, Source: st.src, Reason: reason}
}

func resolve(s *Settings) (*Config, error) {
	r := resolver{s}
	c := &Config{}
	var errs []error
	for _, f := range []func(resolver, *Config) error{resolveNet, resolveLog, resolveFlush, resolveAuthz, resolveService} {
		if err := f(r, c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := resolveCluster(r, c); err != nil {
		errs = append(errs, err)
	}
	resolveCleaner(r, c)
	resolveGroup(r, c)
	resolveTxn(r, c)
	resolveFetchSessions(r, c)
	resolveSSL(r, c)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return c, nil
}

func resolveNet(r resolver, c *Config) error {
	if err := r.listeners(c); err != nil {
		return err
	}
	var err error
	id := "node.id"
	if k, ok := r.s.pick("node.id", "broker.id"); ok {
		id = k
	}
	c.NodeID = int32(r.int(id))
	c.ClusterID, c.Rack = r.str("cluster.id"), r.str("broker.rack")
	c.SocketRequestMaxBytes = int32(r.int("socket.request.max.bytes"))
	c.ConnectionsMaxIdle = r.ms("connections.max.idle.ms")
	c.MaxConnections = int(r.int("max.connections"))
	c.MaxConnectionsPerIP = int(r.int("max.connections.per.ip"))
	c.MaxConnectionCreationRate = int(r.int("max.connection.creation.rate"))
	c.RequestReadTimeout = r.ms("sluice.request.read.timeout.ms")
	c.MaxConnectionsPerIPOverrides, err = r.ipOverrides("max.connections.per.ip.overrides")
	return err
}

// ipOverrides parses ip:count,ip:count (an IPv6 address keeps its colons:
// the count is after the last one).
func (r resolver) ipOverrides(key string) (map[string]int, error) {
	v := r.str(key)
	if v == "" {
		return nil, nil
	}
	out := map[string]int{}
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		i := strings.LastIndexByte(item, ':')
		if i < 0 {
			return nil, r.bad(key, fmt.Sprintf("%q is not ip:count", item))
		}
		host := strings.Trim(item[:i], "[]")
		ip := net.ParseIP(host)
		if ip == nil {
			return nil, r.bad(key, fmt.Sprintf("%q is not an IP address (host names are not supported)", host))
		}
		n, err := strconv.Atoi(item[i+1:])
		if err != nil || n < 0 {
			return nil, r.bad(key, fmt.Sprintf("%q: count must be a non-negative integer", item))
		}
		out[ip.String()] = n
	}
	return out, nil
}

// listeners resolves the listener keys (package listener) and the SASL
// mechanisms.
func (r resolver) listeners(c *Config) error {
	ls, err := listener.Parse(listener.Spec{
		Listeners:       r.raw("listeners").value,
		ProtocolMap:     r.str("listener.security.protocol.map"),
		Advertised:      r.raw("advertised.listeners").value,
		ControllerNames: r.str("controller.listener.names"),
		InterBroker:     r.str("inter.broker.listener.name"),
	})
	if err != nil {
		key, reason, ok := strings.Cut(err.Error(), ": ")
		if !ok || lookup(key) == nil {
			key, reason = "listeners", err.Error()
		}
		return r.bad(key, reason)
	}
	brokers := listener.Brokers(ls)
	isBroker, isController, err := r.roles()
	if err != nil { // reported by resolveCluster
		isBroker, isController = true, true
	}
	switch {
	case !isBroker && len(brokers) > 0:
		return r.bad("listeners", fmt.Sprintf("with process.roles=controller, listeners holds only the controller listeners of controller.listener.names, not %s", brokers[0].Name))
	case !isBroker:
		// The controller RPCs that brokers send to the CONTROLLER listener
		// are served by an internal listener on loopback (controller/mux.go)
		// that speaks the CONTROLLER listener's security protocol, with its
		// ssl.* settings: the CONTROLLER listener passes the bytes on as
		// they are, so TLS and SASL end there.
		c.Listen = "127.0.0.1:0"
		c.InterBrokerListener = strings.ToUpper(r.str("inter.broker.listener.name"))
		if ctl := controllerListenerOf(ls, r.str("controller.listener.names")); ctl != nil && ctl.Protocol != listener.Plaintext {
			c.Listeners = []listener.Listener{{Name: ctl.Name, Protocol: ctl.Protocol, Host: "127.0.0.1"}}
		}
		return r.security(c)
	case !isController && len(brokers) < len(ls):
		return r.bad("listeners", "with process.roles=broker, listeners must not hold a listener named in controller.listener.names (the controllers' addresses are in controller.quorum.voters)")
	case len(brokers) == 0:
		return r.bad("listeners", "no broker listener (every listener is a controller listener)")
	}
	c.Listeners = brokers
	c.Listen, c.Advertised = brokers[0].Addr(), brokers[0].Advertised
	c.InterBrokerListener = strings.ToUpper(r.str("inter.broker.listener.name"))
	return r.security(c)
}

// security resolves the SASL mechanisms and users and how this node logs
// in to the other brokers and to the controllers.
func (r resolver) security(c *Config) error {
	var err error
	c.SASLMechanisms, err = saslMechanisms(r.str("sasl.enabled.mechanisms"))
	if err != nil {
		return r.bad("sasl.enabled.mechanisms", err.Error())
	}
	if err := r.sasl(c); err != nil {
		return err
	}
	if err := r.interBroker(c); err != nil {
		return err
	}
	return r.controllerClient(c)
}

// controllerListenerOf is the first listener of ls named in names
// (controller.listener.names), or nil.
func controllerListenerOf(ls []listener.Listener, names string) *listener.Listener {
	for n := range strings.SplitSeq(names, ",") {
		n = strings.ToUpper(strings.TrimSpace(n))
		for i := range ls {
			if ls[i].Controller && ls[i].Name == n {
				return &ls[i]
			}
		}
	}
	return nil
}

// controllerClient resolves how this node logs in to the controllers'
// CONTROLLER listeners: the first of controller.listener.names, with its
// protocol from listener.security.protocol.map (PLAINTEXT when unmapped),
// and on SASL sasl.mechanism.controller.protocol (default: the first of
// sasl.enabled.mechanisms) with the username and password of
// listener.name.<controller>.<mechanism>.sasl.jaas.config.
func (r resolver) controllerClient(c *Config) error {
	name, _, _ := strings.Cut(r.str("controller.listener.names"), ",")
	cc := InterBroker{Listener: strings.ToUpper(strings.TrimSpace(name)), Protocol: listener.Plaintext}
	if protos, err := listener.ParseProtocolMap(r.str("listener.security.protocol.map")); err == nil {
		if p, ok := protos[cc.Listener]; ok {
			cc.Protocol = p
		}
	}
	if !cc.Protocol.SASL() {
		c.ControllerClient = cc
		return nil
	}
	const mechKey = "sasl.mechanism.controller.protocol"
	cc.Mechanism = strings.ToUpper(strings.TrimSpace(r.str(mechKey)))
	if cc.Mechanism == "" && len(c.SASLMechanisms) > 0 {
		cc.Mechanism = c.SASLMechanisms[0]
	}
	if !slices.Contains(c.SASLMechanisms, cc.Mechanism) {
		return r.bad(mechKey, fmt.Sprintf("%q is not one of sasl.enabled.mechanisms (%s)", cc.Mechanism, strings.Join(c.SASLMechanisms, ",")))
	}
	var err error
	if cc.Username, cc.Password, err = r.jaasLogin(cc.Listener, cc.Mechanism); err != nil {
		return err
	}
	if cc.Username == "" {
		key := "listener.name." + strings.ToLower(cc.Listener) + "." + strings.ToLower(cc.Mechanism) + ".sasl.jaas.config"
		return r.bad("controller.listener.names", fmt.Sprintf("%s is a %s listener: set %s with this node's username and password", cc.Listener, cc.Protocol, key))
	}
	c.ControllerClient = cc
	return nil
}

// jaasLogin reads the username and password options of
// listener.name.<listener>.<mechanism>.sasl.jaas.config ("" when unset).
func (r resolver) jaasLogin(name, mech string) (user, pass string, err error) {
	key := "listener.name." + strings.ToLower(name) + "." + strings.ToLower(mech) + ".sasl.jaas.config"
	for k := range r.s.levels {
		if !strings.EqualFold(k, key) {
			continue
		}
		_, opts, err := auth.ParseJAAS(r.str(k))
		if err != nil {
			return "", "", r.bad(k, err.Error())
		}
		user, pass = opts["username"], opts["password"]
	}
	return user, pass, nil
}

// interBroker resolves how this broker logs in to the inter-broker
// listener of the others.
func (r resolver) interBroker(c *Config) error {
	ib := InterBroker{Listener: c.InterBrokerListener, Protocol: listener.Plaintext}
	if ib.Listener == "" {
		ib.Listener = "PLAINTEXT"
	}
	for _, l := range c.Listeners {
		if l.Name == ib.Listener {
			ib.Protocol = l.Protocol
		}
	}
	const mechKey = "sasl.mechanism.inter.broker.protocol"
	if !ib.Protocol.SASL() {
		c.InterBroker = ib
		return nil
	}
	ib.Mechanism = strings.ToUpper(strings.TrimSpace(r.str(mechKey)))
	if ib.Mechanism == "" && len(c.SASLMechanisms) > 0 {
		ib.Mechanism = c.SASLMechanisms[0]
	}
	if !slices.Contains(c.SASLMechanisms, ib.Mechanism) {
		return r.bad(mechKey, fmt.Sprintf("%q is not one of sasl.enabled.mechanisms (%s)", ib.Mechanism, strings.Join(c.SASLMechanisms, ",")))
	}
	key := "listener.name." + strings.ToLower(ib.Listener) + "." + strings.ToLower(ib.Mechanism) + ".sasl.jaas.config"
	for k := range r.s.levels {
		if !strings.EqualFold(k, key) {
			continue
		}
		_, opts, err := auth.ParseJAAS(r.str(k))
		if err != nil {
			return r.bad(k, err.Error())
		}
		ib.Username, ib.Password = opts["username"], opts["password"]
	}
	if ib.Username == "" && c.InterBrokerListener != "" {
		return r.bad("inter.broker.listener.name", fmt.Sprintf("%s is a %s listener: set %s with this broker's username and password", ib.Listener, ib.Protocol, key))
	}
	c.InterBroker = ib
	return nil
}

// sasl resolves the SASL settings; PLAIN users are read (the users file
// from disk) and checked here.
func (r resolver) sasl(c *Config) error {
	c.SASL.MaxReceiveBytes = int32(r.int("sasl.server.max.receive.size"))
	c.SASL.Reauth = r.ms("connections.max.reauth.ms")
	c.SASL.FailedAuthDelay = r.ms("connection.failed.authentication.delay.ms")
	c.SASL.FailedAuthMax = int(r.int("sluice.failed.authentication.max.per.address"))
	c.SASL.FailedAuthWindow = r.ms("sluice.failed.authentication.window.ms")
	jaas := lookup("listener.name.<listener>.plain.sasl.jaas.config")
	for key := range r.s.levels {
		name, ok := jaas.matches(key)
		if !ok {
			continue
		}
		users, err := auth.ParsePlainJAAS(r.str(key))
		if err != nil {
			return r.bad(key, err.Error())
		}
		if c.SASL.PlainUsers == nil {
			c.SASL.PlainUsers = map[string]map[string]string{}
		}
		c.SASL.PlainUsers[name] = users
	}
	if path := r.str("sasl.plain.users.file"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return r.bad("sasl.plain.users.file", err.Error())
		}
		if c.SASL.PlainUsersAll, err = auth.ParsePlainUsersFile(data); err != nil {
			return r.bad("sasl.plain.users.file", err.Error())
		}
	}
	return nil
}

// SASLMechanismNames are the SASL mechanisms Sluice serves.
var SASLMechanismNames = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

func saslMechanisms(v string) ([]string, error) {
	var out []string
	for m := range strings.SplitSeq(v, ",") {
		m = strings.ToUpper(strings.TrimSpace(m))
		if m == "" {
			continue
		}
		if !slices.Contains(SASLMechanismNames, m) {
			return nil, fmt.Errorf("mechanism %s is not supported (want %s)", m, strings.Join(SASLMechanismNames, ", "))
		}
		out = appendOnce(out, m)
	}
	return out, nil
}

func resolveLog(r resolver, c *Config) error {
	if err := resolveDir(r, c); err != nil {
		return err
	}
	c.NumPartitions = int32(r.int("num.partitions"))
	c.AutoCreateTopics = r.bool("auto.create.topics.enable")
	c.RetentionMs = retentionMs(r)
	c.RetentionBytes = r.int("log.retention.bytes")
	c.SegmentBytes = r.int("log.segment.bytes")
	c.SegmentMs = r.int("log.roll.hours") * 3600 * 1000
	if k, ok := r.s.pick("log.roll.ms", "log.roll.hours"); ok && k == "log.roll.ms" {
		c.SegmentMs = r.int(k)
	}
	c.IndexSizeMaxBytes = int(r.int("log.index.size.max.bytes"))
	c.IndexIntervalBytes = int(r.int("log.index.interval.bytes"))
	c.MessageMaxBytes = int(r.int("message.max.bytes"))
	c.MinInsyncReplicas = int(r.int("min.insync.replicas"))
	c.LogAppendTime = r.enum("log.message.timestamp.type") == "LogAppendTime"
	c.RetentionCheck = r.ms("log.retention.check.interval.ms")
	c.CheckpointInterval = r.ms("log.flush.offset.checkpoint.interval.ms")
	return nil
}

func resolveDir(r resolver, c *Config) error {
	key := "log.dirs"
	if k, ok := r.s.pick("log.dirs", "log.dir"); ok {
		key = k
	}
	var dirs []string
	for d := range strings.SplitSeq(r.str(key), ",") {
		if d = strings.TrimSpace(d); d != "" {
			dirs = append(dirs, d)
		}
	}
	switch len(dirs) {
	case 0:
		return r.bad(key, "want a directory")
	case 1:
		c.DataDir = dirs[0]
		return nil
	}
	return r.bad(key, "only one log directory is supported")
}

// retentionMs applies Kafka's precedence: ms > minutes > hours; negative
// means forever.
func retentionMs(r resolver) int64 {
	k, ok := r.s.pick("log.retention.ms", "log.retention.minutes", "log.retention.hours")
	if !ok {
		k = "log.retention.hours"
	}
	n := r.int(k)
	if n < 0 {
		return -1
	}
	switch k {
	case "log.retention.minutes":
		return n * 60 * 1000
	case "log.retention.hours":
		return n * 3600 * 1000
	}
	return n
}

// resolveFlush maps sluice.fsync and Kafka's flush keys onto one policy
// (see the options' docs).
func resolveFlush(r resolver, c *Config) error {
	c.FsyncInterval = time.Second
	if _, ok := r.s.top("log.flush.interval.ms"); ok {
		c.FsyncInterval = r.ms("log.flush.interval.ms")
	}
	c.Fsync = "never"
	k, ok := r.s.pick("sluice.fsync", "log.flush.interval.messages", "log.flush.interval.ms")
	switch {
	case !ok:
	case k == "sluice.fsync":
		c.Fsync = r.enum(k)
	case k == "log.flush.interval.ms":
		c.Fsync = "interval"
	case r.int(k) == 1:
		c.Fsync = "always"
	case r.int(k) != math.MaxInt64:
		c.Fsync = "interval"
	}
	if c.FsyncInterval <= 0 {
		return r.bad("log.flush.interval.ms", "want a positive interval")
	}
	return nil
}

// Authorizer classes accepted by authorizer.class.name.
var authorizerClasses = []string{
	"org.apache.kafka.metadata.authorizer.StandardAuthorizer",
	"kafka.security.authorizer.AclAuthorizer",
}

func resolveAuthz(r resolver, c *Config) error {
	switch v := r.str("authorizer.class.name"); {
	case v == "":
	case slices.Contains(authorizerClasses, v):
		c.Authorizer = true
	default:
		return r.bad("authorizer.class.name", "want "+strings.Join(authorizerClasses, " or ")+" (or unset: no authorization)")
	}
	for p := range strings.SplitSeq(r.str("super.users"), ";") {
		if p = strings.TrimSpace(p); p != "" {
			if !strings.Contains(p, ":") {
				return r.bad("super.users", fmt.Sprintf("%q is not a principal such as User:admin", p))
			}
			c.SuperUsers = append(c.SuperUsers, p)
		}
	}
	c.AllowEveryoneIfNoACL = r.bool("allow.everyone.if.no.acl.found")
	return nil
}

func resolveService(r resolver, c *Config) error {
	c.HTTPListen = r.str("sluice.http.listen")
	if c.HTTPListen != "" {
		if err := checkHostPort(c.HTTPListen); err != nil {
			return r.bad("sluice.http.listen", err.Error())
		}
	}
	c.Pprof = r.bool("sluice.pprof")
	c.ConsoleRetention = r.ms("console.metrics.retention.ms")
	c.ConsoleSession = r.ms("console.session.timeout.ms")
	c.ConsoleAlertLagRecords = r.int("console.alerts.lag.records")
	c.ConsoleAlertLagSeconds = r.int("console.alerts.lag.seconds")
	c.ConsoleAlertWebhook = r.str("console.alerts.webhook.url")
	if u := c.ConsoleAlertWebhook; u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return r.bad("console.alerts.webhook.url", "want an http:// or https:// URL")
	}
	c.LogLevel = r.enum("sluice.log.level")
	c.LogFormat = r.enum("sluice.log.format")
	switch _, set := r.s.top("sluice.timer.slack.ms"); {
	case set:
		c.TimerSlack = r.ms("sluice.timer.slack.ms")
	case c.Fsync != "always": // under always: 0, see the option's doc
		c.TimerSlack = defaultTimerSlack
	}
	if _, set := r.s.top("sluice.gomaxprocs"); set {
		c.Procs = int(r.int("sluice.gomaxprocs"))
	} else {
		c.SpareProc = c.Fsync == "always" // see the option's doc
	}
	c.ShutdownTimeout = r.ms("sluice.shutdown.timeout.ms")
	if c.ShutdownTimeout <= 0 {
		return errors.New("config: BUG: shutdown timeout not positive")
	}
	return nil
}

// resolveCluster reads process.roles, the CONTROLLER listener and the
// quorum. The controller's address is the first listener named in
// controller.listener.names; without one, the client listener's host at
// port + 1 (port 0 stays 0).
func resolveCluster(r resolver, c *Config) error {
	cl := &c.Cluster
	isBroker, isController, err := r.roles()
	if err != nil {
		return err
	}
	if isBroker {
		cl.Roles = append(cl.Roles, "broker")
	}
	if isController {
		cl.Roles = append(cl.Roles, "controller")
	}
	if err := r.checkRoles(c, isBroker, isController); err != nil {
		return err
	}
	cl.Voters = r.str("controller.quorum.voters")
	if cl.BootstrapServers, err = r.bootstrapServers(); err != nil {
		return err
	}
	cl.HeartbeatInterval = r.ms("broker.heartbeat.interval.ms")
	cl.SessionTimeout = r.ms("broker.session.timeout.ms")
	cl.ReplicaLagTimeMax = r.ms("replica.lag.time.max.ms")
	cl.ReplicaFetchWait = r.ms("replica.fetch.wait.max.ms")
	cl.NumReplicaFetchers = int(r.int("num.replica.fetchers"))
	cl.HWCheckpointInterval = r.ms("replica.high.watermark.checkpoint.interval.ms")
	cl.AutoLeaderRebalance = r.bool("auto.leader.rebalance.enable")
	cl.LeaderImbalanceCheckInterval = time.Duration(r.int("leader.imbalance.check.interval.seconds")) * time.Second
	cl.LeaderImbalancePercentage = int(r.int("leader.imbalance.per.broker.percentage"))
	cl.EligibleLeaderReplicas = r.bool("eligible.leader.replicas.enable")
	cl.UncleanLeaderElection = r.bool("unclean.leader.election.enable")
	cl.UncleanLeaderElectionInterval = r.ms("unclean.leader.election.interval.ms")
	cl.ReplicaSelector = strings.TrimSpace(r.str("replica.selector.class"))
	if cl.ReplicaSelector != "" && cl.ReplicaSelector != RackAwareReplicaSelectorClass {
		return r.bad("replica.selector.class", "want unset (the leader) or "+RackAwareReplicaSelectorClass)
	}
	if cl.HeartbeatInterval >= cl.SessionTimeout {
		return r.bad("broker.heartbeat.interval.ms", "must be shorter than broker.session.timeout.ms")
	}
	addr, derived, err := r.controllerListener(c)
	if err != nil {
		return err
	}
	cl.ControllerListen, cl.ControllerDerived = addr, derived
	host, _, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	cl.ControllerHost = host
	if isController {
		return r.checkStandalone(cl, addr)
	}
	return nil
}

// roles reads process.roles.
func (r resolver) roles() (isBroker, isController bool, err error) {
	for role := range strings.SplitSeq(r.str("process.roles"), ",") {
		switch strings.ToLower(strings.TrimSpace(role)) {
		case "broker":
			isBroker = true
		case "controller":
			isController = true
		default:
			return false, false, r.bad("process.roles", "want broker, controller or broker,controller")
		}
	}
	return isBroker, isController, nil
}

// bootstrapServers reads controller.quorum.bootstrap.servers: host:port,
// comma-separated.
func (r resolver) bootstrapServers() ([]string, error) {
	var out []string
	for s := range strings.SplitSeq(r.str("controller.quorum.bootstrap.servers"), ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
			return nil, r.bad("controller.quorum.bootstrap.servers", fmt.Sprintf("%q is not host:port", s))
		}
		out = append(out, s)
	}
	return out, nil
}

// checkBootstrap refuses voters and bootstrap servers set together (the
// node's kind of quorum must not be ambiguous).
func (r resolver) checkBootstrap() error {
	if r.str("controller.quorum.bootstrap.servers") != "" && r.str("controller.quorum.voters") != "" {
		return r.bad("controller.quorum.bootstrap.servers", "set either controller.quorum.voters (a static quorum) or controller.quorum.bootstrap.servers, not both")
	}
	return nil
}

// checkStandalone applies controller.quorum.bootstrap.servers to a
// controller (KIP-853, without a format step): naming only this node's own
// CONTROLLER listener (Kafka's stock server.properties, formatted with
// kafka-storage format --standalone) starts a quorum of one (Standalone);
// naming only other controllers joins their quorum as a voter (Join, as
// with --no-initial-controllers and controller.quorum.auto.join.enable).
// Naming both is refused: which node starts the quorum would be unclear.
func (r resolver) checkStandalone(cl *Cluster, controllerAddr string) error {
	if len(cl.BootstrapServers) == 0 {
		return nil
	}
	_, ownPort, _ := net.SplitHostPort(controllerAddr)
	self, others := 0, 0
	for _, s := range cl.BootstrapServers {
		host, port, _ := net.SplitHostPort(s)
		if port == ownPort && isLocalHost(host, cl.ControllerHost) {
			self++
		} else {
			others++
		}
	}
	switch {
	case others == 0:
		cl.BootstrapServers, cl.Standalone = nil, true
	case self == 0:
		cl.Join = true
	default:
		return r.bad("controller.quorum.bootstrap.servers", "names this node and other controllers: name only this node on the first controller (it starts the quorum) and a running controller on the others (they join it), or list the quorum in controller.quorum.voters")
	}
	return nil
}

// isLocalHost reports whether host names this machine's CONTROLLER
// listener (whose host is own).
func isLocalHost(host, own string) bool {
	if host == own || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}

// checkRoles applies Kafka's checks to a node that is a broker or a
// controller alone: controller.listener.names set; a broker-only node
// names the quorum in controller.quorum.voters (or
// controller.quorum.bootstrap.servers) and is not one of its voters; a
// controller-only node binds a listener named in controller.listener.names
// and, with voters set, is one of them.
func (r resolver) checkRoles(c *Config, isBroker, isController bool) error {
	if err := r.checkBootstrap(); err != nil {
		return err
	}
	if isBroker && isController {
		return nil
	}
	if r.str("controller.listener.names") == "" {
		return r.bad("controller.listener.names", "must be set when process.roles is broker or controller alone")
	}
	voters := r.str("controller.quorum.voters")
	listed := false
	for v := range strings.SplitSeq(voters, ",") {
		id, _, ok := strings.Cut(strings.TrimSpace(v), "@")
		listed = listed || ok && strings.TrimSpace(id) == strconv.Itoa(int(c.NodeID))
	}
	switch {
	case isBroker && voters == "" && r.str("controller.quorum.bootstrap.servers") == "":
		return r.bad("controller.quorum.voters", "a broker-only node (process.roles=broker) needs the controller quorum's voters (or controller.quorum.bootstrap.servers)")
	case isBroker && listed:
		return r.bad("controller.quorum.voters", fmt.Sprintf("node.id %d is a broker only (process.roles=broker) and must not be one of the voters", c.NodeID))
	case isController && voters != "" && !listed:
		return r.bad("controller.quorum.voters", fmt.Sprintf("node.id %d is a controller (process.roles=controller) and must be one of the voters", c.NodeID))
	}
	return nil
}

// controllerListener returns the first listeners entry named in
// controller.listener.names, or (derived) the client listener's host at
// port + 1.
func (r resolver) controllerListener(c *Config) (string, bool, error) {
	ls, err := listener.Parse(listener.Spec{
		Listeners:       r.raw("listeners").value,
		ProtocolMap:     r.str("listener.security.protocol.map"),
		Advertised:      r.raw("advertised.listeners").value,
		ControllerNames: r.str("controller.listener.names"),
		InterBroker:     r.str("inter.broker.listener.name"),
	})
	if err != nil {
		return "", false, r.bad("listeners", err.Error()) // reported in full by listeners
	}
	for n := range strings.SplitSeq(r.str("controller.listener.names"), ",") {
		n = strings.ToUpper(strings.TrimSpace(n))
		for _, l := range ls {
			if l.Controller && l.Name == n {
				return l.Addr(), false, nil
			}
		}
	}
	if isBroker, _, err := r.roles(); err == nil && !isBroker {
		return "", false, r.bad("listeners", "a controller-only node (process.roles=controller) needs a listener named in controller.listener.names, such as CONTROLLER://:9093")
	}
	host, portStr, _ := net.SplitHostPort(c.Listen) // checked by listeners
	port, _ := strconv.Atoi(portStr)
	if port > 0 {
		port++
	}
	if port > 65535 {
		return "", false, r.bad("listeners", "no port above the client port for the controller: add a CONTROLLER:// listener")
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), true, nil
}

// resolveCleaner reads the compaction defaults and the cleaner settings;
// log.cleaner.enable=false or log.cleaner.threads=0 disables the cleaner
// (Threads -1).
func resolveCleaner(r resolver, c *Config) {
	c.CleanupPolicy = r.enum("log.cleanup.policy")
	c.MinCleanableDirtyRatio = r.ratio("log.cleaner.min.cleanable.ratio")
	c.MinCompactionLagMs = r.int("log.cleaner.min.compaction.lag.ms")
	c.MaxCompactionLagMs = r.int("log.cleaner.max.compaction.lag.ms")
	c.DeleteRetentionMs = r.int("log.cleaner.delete.retention.ms")
	c.Cleaner = Cleaner{
		Threads:          int(r.int("log.cleaner.threads")),
		DedupeBufferSize: r.int("log.cleaner.dedupe.buffer.size"),
		Backoff:          r.ms("log.cleaner.backoff.ms"),
	}
	if !r.bool("log.cleaner.enable") || c.Cleaner.Threads == 0 {
		c.Cleaner.Threads = -1
	}
}

func resolveFetchSessions(r resolver, c *Config) {
	c.FetchSessionSlots = int(r.int("max.incremental.fetch.session.cache.slots"))
	c.FetchSessionEviction = r.ms("min.incremental.fetch.session.eviction.ms")
}

func resolveGroup(r resolver, c *Config) {
	c.Group = Group{
		InitialRebalanceDelay:    r.ms("group.initial.rebalance.delay.ms"),
		MinSessionTimeout:        r.ms("group.min.session.timeout.ms"),
		MaxSessionTimeout:        r.ms("group.max.session.timeout.ms"),
		OffsetsRetention:         time.Duration(r.int("offsets.retention.minutes")) * time.Minute,
		OffsetsRetentionCheck:    r.ms("offsets.retention.check.interval.ms"),
		OffsetsTopicPartitions:   int32(r.int("offsets.topic.num.partitions")),
		OffsetsTopicSegmentBytes: r.int("offsets.topic.segment.bytes"),
	}
}

func resolveTxn(r resolver, c *Config) {
	c.Txn = Txn{
		MaxTimeout:        r.ms("transaction.max.timeout.ms"),
		AbortInterval:     r.ms("transaction.abort.timed.out.transaction.cleanup.interval.ms"),
		IDExpiration:      r.ms("transactional.id.expiration.ms"),
		ExpireInterval:    r.ms("transaction.remove.expired.transaction.cleanup.interval.ms"),
		StatePartitions:   int32(r.int("transaction.state.log.num.partitions")),
		StateSegmentBytes: r.int("transaction.state.log.segment.bytes"),
		Version:           int16(r.int("transaction.version")),
	}
}
