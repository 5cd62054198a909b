package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
)

// Config is the resolved configuration, in plain types: cmd/sluiced maps
// it onto the partition, netio and broker configs.
type Config struct {
	Listen     string // host:port of the one PLAINTEXT listener
	Advertised string // host:port; "" means derive from Listen
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

	FetchSessionSlots    int
	FetchSessionEviction time.Duration

	HTTPListen      string
	Pprof           bool
	LogLevel        string
	LogFormat       string
	ShutdownTimeout time.Duration
}

// Cleaner holds the log cleaner's broker-wide settings.
type Cleaner struct {
	Threads          int // 0 or less: the cleaner is disabled
	DedupeBufferSize int64
	Backoff          time.Duration
}

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
	for _, f := range []func(resolver, *Config) error{resolveNet, resolveLog, resolveFlush, resolveService} {
		if err := f(r, c); err != nil {
			errs = append(errs, err)
		}
	}
	resolveCleaner(r, c)
	resolveGroup(r, c)
	resolveTxn(r, c)
	resolveFetchSessions(r, c)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return c, nil
}

func resolveNet(r resolver, c *Config) error {
	var err error
	if c.Listen, err = r.listener("listeners", true); err != nil {
		return err
	}
	if c.Advertised, err = r.listener("advertised.listeners", false); err != nil {
		return err
	}
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

// listener picks the one PLAINTEXT listener of key's value, skipping the
// controller's. required: an empty value is an error.
func (r resolver) listener(key string, required bool) (string, error) {
	ls, _ := parseListeners(r.raw(key).value)
	controllers := map[string]bool{}
	for n := range strings.SplitSeq(r.str("controller.listener.names"), ",") {
		controllers[strings.ToUpper(strings.TrimSpace(n))] = true
	}
	protocols := map[string]string{}
	for pair := range strings.SplitSeq(r.str("listener.security.protocol.map"), ",") {
		if name, proto, ok := strings.Cut(pair, ":"); ok {
			protocols[strings.ToUpper(strings.TrimSpace(name))] = strings.ToUpper(strings.TrimSpace(proto))
		}
	}
	var addrs []string
	for _, l := range ls {
		if controllers[l.name] {
			continue
		}
		if p := protocols[l.name]; p != "PLAINTEXT" {
			if p == "" {
				p = "an unknown protocol"
			}
			return "", r.bad(key, fmt.Sprintf("listener %s uses %s: only PLAINTEXT is supported", l.name, p))
		}
		addrs = append(addrs, l.addr)
	}
	switch {
	case len(addrs) > 1:
		return "", r.bad(key, "only one PLAINTEXT listener is supported")
	case len(addrs) == 0 && required:
		return "", r.bad(key, "no PLAINTEXT listener")
	case len(addrs) == 0:
		return "", nil
	}
	return addrs[0], nil
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

func resolveService(r resolver, c *Config) error {
	c.HTTPListen = r.str("sluice.http.listen")
	if c.HTTPListen != "" {
		if err := checkHostPort(c.HTTPListen); err != nil {
			return r.bad("sluice.http.listen", err.Error())
		}
	}
	c.Pprof = r.bool("sluice.pprof")
	c.LogLevel = r.enum("sluice.log.level")
	c.LogFormat = r.enum("sluice.log.format")
	c.ShutdownTimeout = r.ms("sluice.shutdown.timeout.ms")
	if c.ShutdownTimeout <= 0 {
		return errors.New("config: BUG: shutdown timeout not positive")
	}
	return nil
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
	}
}
