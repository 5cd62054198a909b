// Package config is sluiced's configuration: one table of options (Kafka
// broker key, flag, environment variable, default, type, documentation) and
// the loader that layers, from lowest to highest precedence,
//
//	built-in defaults < server.properties file (--config) < SLUICE_* environment < flags
//
// The file is Kafka's own server.properties format with Kafka's key names,
// so a Kafka operator brings their file along: keys that mean nothing for a
// single-node broker are accepted and listed in one warning, unknown keys in
// another, and a bad value is an *Error naming key, value and where it came
// from. `sluiced --help` and docs/CONFIGURATION.md are generated from the
// table (see Markdown).
package config

import "strings"

// Kind is an option's value type.
type Kind int

const (
	String    Kind = iota
	Int            // a decimal integer within [Min, Max]
	Bool           // true or false
	Millis         // milliseconds: an integer, or a Go duration such as 30s or 5m
	Enum           // one of Choices
	Listeners      // comma-separated NAME://host:port (a bare host:port is PLAINTEXT)
	Ratio          // a decimal number in [0, 1]
)

// Option is one row of the table.
type Option struct {
	Key     string // Kafka's broker key (sluice.* for Sluice's own)
	Flag    string // sluiced flag without dashes; "" for none
	Default string // "" means unset: the doc says what applies then
	Kind    Kind
	Min     int64 // bounds for Int and Millis (both 0: unbounded)
	Max     int64
	Choices []string // for Enum
	Section string   // heading in the generated docs
	Doc     string   // states the default and the trade-off
	// Pattern marks a key family: Key holds "<listener>" where each key
	// names a listener (listener.name.sasl_plaintext.plain.sasl.jaas.config).
	// Set in the file only; secret values, so never listed by Effective.
	Pattern bool
}

// listenerPlaceholder is where a Pattern option's key names a listener.
const listenerPlaceholder = "<listener>"

// matches reports whether key is one of pattern option o's keys and
// returns the listener it names (upper case).
func (o *Option) matches(key string) (string, bool) {
	pre, suf, ok := strings.Cut(o.Key, listenerPlaceholder)
	if !o.Pattern || !ok || len(key) <= len(pre)+len(suf) || !strings.HasPrefix(key, pre) || !strings.HasSuffix(key, suf) {
		return "", false
	}
	name := key[len(pre) : len(key)-len(suf)]
	if strings.Contains(name, ".") {
		return "", false
	}
	return strings.ToUpper(name), true
}

// Env is the option's environment variable: SLUICE_ then the key (less a
// leading "sluice.") in upper case with dots and dashes as underscores.
func (o *Option) Env() string {
	if o.Pattern {
		return "(file only)"
	}
	k := strings.TrimPrefix(o.Key, "sluice.")
	return "SLUICE_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(k))
}

const (
	maxInt32 = 1<<31 - 1
	maxInt64 = 1<<63 - 1
	day      = 24 * 3600 * 1000
)

// Sections, in the order the docs show them.
const (
	secNet     = "Listeners and identity"
	secLog     = "Logs (defaults for every topic)"
	secCleaner = "Log cleaner (compaction)"
	secFlush   = "Durability (fsync)"
	secFetch   = "Fetch sessions (consumers of many partitions)"
	secGroup   = "Consumer groups (used by the group coordinator)"
	secAuthz   = "Authorization (ACLs)"
	secTxn     = "Transactions (used by the transaction coordinator)"
	secService = "Service"
	secCluster = "Cluster (KRaft controller quorum)"
)

// Options is the table. Keys are unique; so are flags.
var Options = []Option{
	{Key: "listeners", Flag: "listen", Default: "PLAINTEXT://127.0.0.1:9092", Kind: Listeners, Section: secNet,
		Doc: "Where the Kafka listeners bind, as in Kafka: NAME://host:port,… with each NAME's security protocol from listener.security.protocol.map. Several listeners on different ports are served at once; PLAINTEXT and SASL_PLAINTEXT are served on gnet with sendfile; SSL and SASL_SSL are served with TLS (TLS 1.2/1.3, configured by the ssl.* keys below, per listener with listener.name.<name>.ssl.*), where record bytes are copied and encrypted instead of sent by sendfile. A listener named in controller.listener.names (CONTROLLER://host:port) is the controller quorum's Raft listener, not served to clients. A bare host:port (the --listen form) is the PLAINTEXT listener. An empty host (PLAINTEXT://:9092) binds every interface; port 0 picks a free port. Default 127.0.0.1:9092: reachable from this machine only; on a public interface prefer SASL_SSL (or SASL_PLAINTEXT on a trusted network)."},
	{Key: "advertised.listeners", Flag: "advertised-listener", Kind: Listeners, Section: secNet,
		Doc: "Per listener (NAME://host:port), the address Metadata gives a client that connected on that listener, as Kafka does. Unset for a listener: its own address, with a wildcard host replaced by the machine's host name. Set it when clients reach the broker through another name (NAT, containers, a load balancer); a wrong value makes clients connect once and then fail. Names must be listeners'; wildcard hosts are refused."},
	{Key: "listener.security.protocol.map", Kind: String, Section: secNet,
		Default: "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
		Doc:     "Listener name to security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL), as in Kafka. Every name in listeners must appear here; custom names (CLIENT:SASL_PLAINTEXT) let two listeners share a protocol."},
	{Key: "inter.broker.listener.name", Kind: String, Section: secNet,
		Doc: "The listener brokers use to reach each other, as in Kafka. Unset: none is checked (one node has no peers). When set it must name a broker listener of listeners."},
	{Key: "sasl.enabled.mechanisms", Kind: String, Default: "SCRAM-SHA-256,SCRAM-SHA-512", Section: secNet,
		Doc: "SASL mechanisms offered on SASL_PLAINTEXT and SASL_SSL listeners: any of PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512. Kafka's default is GSSAPI (Kerberos), which Sluice does not serve, so the default here is the SCRAM pair (the password never crosses the wire). PLAIN sends the password in clear: enable it only over TLS or on a trusted network."},
	{Key: "sasl.server.max.receive.size", Default: "524288", Kind: Int, Min: 1, Max: maxInt32, Section: secNet,
		Doc: "Largest request a client may send on a SASL listener before it has authenticated (SASL tokens included), in bytes (512 KiB, Kafka's default); a larger size prefix closes the connection before anything is read. It bounds what an unauthenticated client can make the broker buffer."},
	{Key: "connections.max.reauth.ms", Default: "0", Kind: Millis, Min: 0, Max: maxInt64, Section: secNet,
		Doc: "SASL session lifetime (KIP-368): given to clients in SaslAuthenticate, which re-authenticate before it ends; a connection whose session ended is closed at its next request other than a re-authentication. 0 (Kafka's default): sessions never end. Set it so that deleted users and changed passwords stop working on open connections too; shorter costs a SCRAM exchange per connection per period."},
	{Key: "connection.failed.authentication.delay.ms", Default: "100", Kind: Millis, Min: 0, Max: maxInt64, Section: secNet,
		Doc: "How long the answer to a failed SASL authentication (SASL_AUTHENTICATION_FAILED) and the close that follows are held back (100 ms, Kafka's default). Longer slows password guessing and clients retrying in a loop; keep it below the clients' request timeout."},
	{Key: "sluice.failed.authentication.max.per.address", Default: "0", Kind: Int, Min: 0, Max: maxInt32, Section: secNet,
		Doc: "Failed SASL authentications a client address (IP) may make within sluice.failed.authentication.window.ms of its first one; past it every authentication from the address is refused with SASL_AUTHENTICATION_FAILED, without checking the credentials, until the window ends (logged once, counted as sluice_sasl_authentications_total{result=\"rate_limited\"}). Kafka's connection.failed.authentication.delay.ms slows one connection; this stops a client guessing over many connections. Lower is stricter on guessing but locks out a client that mistyped a password (or many clients behind one NAT address) for longer. 0 (default, Kafka's behaviour): no limit; the shipped deploy/server.properties sets 10."},
	{Key: "sluice.failed.authentication.window.ms", Default: "60000", Kind: Millis, Min: 1, Max: maxInt64, Section: secNet,
		Doc: "The window of sluice.failed.authentication.max.per.address (1 minute), counted from an address's first failure; refusals do not extend it, so a client with the right password gets in once it ends."},
	{Key: "sasl.plain.users.file", Kind: String, Section: secNet,
		Doc: "A file of PLAIN users for every SASL listener: one user=password per line, # comments (Sluice's own key; Kafka reads users from JAAS only). Read at start. A listener's JAAS users (listener.name.<listener>.plain.sasl.jaas.config) win over it. Unset: PLAIN users come only from JAAS. Keep it readable by sluiced only: it holds passwords in clear, as a Kafka JAAS file does."},
	{Key: "listener.name.<listener>.plain.sasl.jaas.config", Kind: String, Section: secNet, Pattern: true,
		Doc: "PLAIN users of one listener in Kafka's JAAS syntax, e.g. listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"alice-secret\"; Each user_<name>=\"<password>\" is a user (username/password are the broker's own login on this listener, used when it is the inter-broker listener with sasl.mechanism.inter.broker.protocol=PLAIN). File only; never shown by --print-config or DescribeConfigs."},
	{Key: "sasl.mechanism.inter.broker.protocol", Kind: String, Section: secNet,
		Doc: "The SASL mechanism a broker authenticates with when inter.broker.listener.name is a SASL_PLAINTEXT or SASL_SSL listener: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, one of sasl.enabled.mechanisms. Its login is the username and password options of listener.name.<listener>.<mechanism>.sasl.jaas.config (Kafka's keys). Kafka's default is GSSAPI, which Sluice does not serve; unset here: the first of sasl.enabled.mechanisms. Put the brokers' user in super.users when an authorizer is on (BrokerRegistration, BrokerHeartbeat and AllocateProducerIds need CLUSTER_ACTION)."},
	{Key: "sasl.mechanism.controller.protocol", Kind: String, Section: secNet,
		Doc: "The SASL mechanism this node authenticates with to the controllers when their CONTROLLER listener (the first of controller.listener.names) is SASL_PLAINTEXT or SASL_SSL in listener.security.protocol.map: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, one of sasl.enabled.mechanisms, with the username and password options of listener.name.<controller>.<mechanism>.sasl.jaas.config. Brokers send their registrations, heartbeats and forwarded admin requests there when the active controller is a controller-only node (and, for a broker-only node, until it knows the active controller). Kafka's default is GSSAPI, which Sluice does not serve; unset here: the first of sasl.enabled.mechanisms."},
	{Key: "listener.name.<listener>.scram-sha-256.sasl.jaas.config", Kind: String, Section: secNet, Pattern: true,
		Doc: "This broker's own SCRAM-SHA-256 login on the inter-broker listener, in Kafka's JAAS syntax: org.apache.kafka.common.security.scram.ScramLoginModule required username=\"broker\" password=\"broker-secret\"; (the user is created with `sluice users create`, as SCRAM users are). File only; never shown."},
	{Key: "listener.name.<listener>.scram-sha-512.sasl.jaas.config", Kind: String, Section: secNet, Pattern: true,
		Doc: "As listener.name.<listener>.scram-sha-256.sasl.jaas.config, for SCRAM-SHA-512."},
	{Key: "node.id", Flag: "node-id", Default: "1", Kind: Int, Min: 0, Max: maxInt32, Section: secNet,
		Doc: "This broker's id, stored in meta.properties on first start; starting later with another id is refused (it would confuse clients' metadata). broker.id is the older name and is used when node.id is not set."},
	{Key: "broker.id", Kind: Int, Min: 0, Max: maxInt32, Section: secNet,
		Doc: "Kafka's older name for node.id; node.id wins when both are set at the same level."},
	{Key: "cluster.id", Flag: "cluster-id", Kind: String, Section: secNet,
		Doc: "Cluster id. Unset: the one in meta.properties, or a new random one on first start (kept from then on)."},
	{Key: "broker.rack", Flag: "rack", Kind: String, Section: secNet,
		Doc: "Rack reported in Metadata (clients use it for rack-aware fetching). Unset: null."},
	{Key: "socket.request.max.bytes", Flag: "socket-request-max-bytes", Default: "104857600", Kind: Int, Min: 1, Max: maxInt32, Section: secNet,
		Doc: "Largest request accepted, in bytes (100 MiB); a larger size prefix closes the connection before anything is allocated. Lower it to bound the memory one request can take; keep it above the clients' max.request.size."},
	{Key: "connections.max.idle.ms", Flag: "connections-max-idle", Default: "600000", Kind: Millis, Min: -1, Max: maxInt64, Section: secNet,
		Doc: "Close a connection idle this long (10 minutes; -1 never): no byte received or sent, nothing being served. It is also the write deadline: a connection whose responses made no progress for this long (a client that stopped reading) is closed although writes are pending, which releases the segments its queued responses pin (progress is counted per MiB sent). Shorter frees file descriptors, memory and deleted segments of abandoned clients sooner; too short makes idle producers reconnect and cuts off consumers reading slower than 1 MiB per this interval."},
	{Key: "max.connections", Flag: "max-connections", Default: "2147483647", Kind: Int, Min: 1, Max: maxInt32, Section: secNet,
		Doc: "Most client connections open at once (Kafka's default 2147483647: no limit). A connection beyond it is closed at once and counted in sluice_connections_refused_total{reason=\"max.connections\"}. Each connection costs 2 file descriptors and up to about 2×64 MiB plus one request of memory when its client pipelines heavily: keep it below (the file-descriptor limit − the logs' descriptors) / 2, so that this limit rather than the operating system sheds connections."},
	{Key: "max.connections.per.ip", Flag: "max-connections-per-ip", Default: "2147483647", Kind: Int, Min: 1, Max: maxInt32, Section: secNet,
		Doc: "Most connections open at once from one client IP address (2147483647: no limit); beyond it new ones from that address are closed and counted (reason=\"max.connections.per.ip\"). Bounds what one misbehaving host can take, at the risk of refusing a legitimate host that runs many clients (give it an override)."},
	{Key: "max.connections.per.ip.overrides", Kind: String, Section: secNet,
		Doc: "Per-address exceptions to max.connections.per.ip, as a comma-separated list of ip:count (for example 10.0.0.5:1000,::1:50). Unlike Kafka, host names are not accepted (an address cannot be matched to a name without a lookup per connection). A count of 0 refuses that address. Unset by default."},
	{Key: "max.connection.creation.rate", Flag: "max-connection-creation-rate", Default: "2147483647", Kind: Int, Min: 1, Max: maxInt32, Section: secNet,
		Doc: "Most new connections admitted per second, broker-wide, counted in one-second windows (2147483647: no limit). Kafka delays accepting beyond the rate; Sluice closes the excess at once and counts it (reason=\"max.connection.creation.rate\"), so a reconnect storm costs little. Too low refuses clients that reconnect together after a restart; they retry."},
	{Key: "sluice.request.read.timeout.ms", Flag: "request-read-timeout", Default: "30000", Kind: Millis, Min: -1, Max: maxInt64, Section: secNet,
		Doc: "How long a request may take to arrive once its first byte has (30 s; -1 never). A connection holding a partial request longer is closed, however slowly its bytes trickle in (a slowloris attack otherwise holds a descriptor and a request buffer forever; each trickled byte would count as activity for connections.max.idle.ms). Time a connection spends muted by back-pressure does not count. Raise it for clients sending requests of many MiB over slow links."},

	{Key: "log.dirs", Flag: "data-dir", Default: "./data", Kind: String, Section: secLog,
		Doc: "The data directory (one: several comma-separated directories are an error, as JBOD is not supported). Held with an flock while sluiced runs, so a second daemon on it is refused. Put it on a file system with room to spare: retention runs every log.retention.check.interval.ms, not on every append."},
	{Key: "log.dir", Kind: String, Section: secLog,
		Doc: "Kafka's single-directory form of log.dirs; log.dirs wins when both are set at the same level."},
	{Key: "num.partitions", Flag: "num-partitions", Default: "1", Kind: Int, Min: 1, Max: 1 << 20, Section: secLog,
		Doc: "Partitions of auto-created topics (1). More partitions spread consumers of a group but cost a directory, open files and an index mmap each."},
	{Key: "auto.create.topics.enable", Flag: "auto-create-topics", Default: "true", Kind: Bool, Section: secLog,
		Doc: "Create a topic when a client asks Metadata for one that does not exist (true, Kafka's default; librdkafka relies on it). Turn off so that typos in topic names fail instead of creating topics."},
	{Key: "log.retention.hours", Flag: "log-retention-hours", Default: "168", Kind: Int, Min: -1, Max: maxInt32, Section: secLog,
		Doc: "Delete whole segments older than this (168 hours = 7 days; -1 keeps forever). log.retention.ms and then log.retention.minutes take precedence when set at the same level (Kafka's rule); a level higher up (environment over file, flag over environment) always wins. Age is the newest record's timestamp in the segment, so the active segment is never deleted."},
	{Key: "log.retention.minutes", Flag: "log-retention-minutes", Kind: Int, Min: -1, Max: maxInt32, Section: secLog,
		Doc: "Retention in minutes; overrides log.retention.hours at the same level. Unset by default."},
	{Key: "log.retention.ms", Flag: "log-retention-ms", Kind: Millis, Min: -1, Max: maxInt64, Section: secLog,
		Doc: "Retention in milliseconds (or a duration such as 72h); overrides log.retention.minutes and .hours at the same level. -1 keeps forever. Unset by default."},
	{Key: "log.retention.bytes", Flag: "log-retention-bytes", Default: "-1", Kind: Int, Min: -1, Max: maxInt64, Section: secLog,
		Doc: "Per-partition size above which the oldest segments are deleted (-1: no size limit). Bounds disk use at the cost of keeping less history under heavy traffic; counted in whole segments."},
	{Key: "log.segment.bytes", Flag: "segment-bytes", Default: "1073741824", Kind: Int, Min: 14, Max: maxInt32, Section: secLog,
		Doc: "Segment size at which a new segment starts (1 GiB; at most 2 GiB-1 since index positions are 32-bit). Retention deletes whole segments, so smaller segments give finer retention and more files; larger ones fewer files and index mmaps."},
	{Key: "log.roll.hours", Flag: "log-roll-hours", Default: "168", Kind: Int, Min: 1, Max: maxInt32, Section: secLog,
		Doc: "Roll a non-empty segment this old even if not full (168 hours). Lower it when retention must act on quiet topics sooner. log.roll.ms wins at the same level."},
	{Key: "log.roll.ms", Flag: "log-roll-ms", Kind: Millis, Min: 1, Max: maxInt64, Section: secLog,
		Doc: "log.roll.hours in milliseconds (or a duration); wins over it at the same level. Unset by default."},
	{Key: "log.index.size.max.bytes", Flag: "log-index-size-max-bytes", Default: "10485760", Kind: Int, Min: 4096, Max: maxInt32, Section: secLog,
		Doc: "Preallocated size of an active segment's .index/.timeindex (10 MiB), made once the segment has 512 index entries (before that they are kept in memory and written at its roll or shutdown) and trimmed when it rolls. A full index rolls the segment early; smaller saves address space with many partitions."},
	{Key: "log.index.interval.bytes", Flag: "log-index-interval-bytes", Default: "4096", Kind: Int, Min: 0, Max: maxInt32, Section: secLog,
		Doc: "Bytes appended between two index entries (4096). Smaller: a fetch finds its position with less scanning, at the cost of larger indexes."},
	{Key: "message.max.bytes", Flag: "message-max-bytes", Default: "1048588", Kind: Int, Min: 0, Max: maxInt32, Section: secLog,
		Doc: "Largest record batch accepted (1048588 bytes, Kafka's default); larger batches get MESSAGE_TOO_LARGE. Raise it together with the consumers' fetch sizes."},
	{Key: "log.message.timestamp.type", Flag: "log-message-timestamp-type", Default: "CreateTime", Kind: Enum, Choices: []string{"CreateTime", "LogAppendTime"}, Section: secLog,
		Doc: "CreateTime keeps the producer's timestamps (default); LogAppendTime stamps batches with the broker's clock, which makes time-based retention and lookups immune to producer clocks but rewrites each batch's CRC."},
	{Key: "log.retention.check.interval.ms", Flag: "log-retention-check-interval", Default: "300000", Kind: Millis, Min: 1, Max: maxInt64, Section: secLog,
		Doc: "How often retention runs (5 minutes). Shorter frees disk sooner after a segment expires, at the cost of a little CPU per partition per run."},
	{Key: "log.flush.offset.checkpoint.interval.ms", Flag: "log-flush-offset-checkpoint-interval", Default: "60000", Kind: Millis, Min: 1, Max: maxInt64, Section: secLog,
		Doc: "How often the recovery-point checkpoint is written (1 minute). After a crash, recovery validates the data written since the last checkpoint: shorter means faster restarts after a crash, slightly more writes."},

	{Key: "log.cleanup.policy", Flag: "log-cleanup-policy", Default: "delete", Kind: Enum, Choices: []string{"delete", "compact", "compact,delete", "delete,compact"}, Section: secCleaner,
		Doc: "Default cleanup.policy of topics created without one. delete (default): retention removes old segments. compact: the log cleaner keeps the latest record of every key and retention is off; such topics refuse records without a key. compact,delete: both. __consumer_offsets is always compacted whatever this says. Compaction bounds a keyed topic by its key count instead of by time, at the cost of the cleaner's disk and CPU."},
	{Key: "log.cleaner.enable", Flag: "log-cleaner-enable", Default: "true", Kind: Bool, Section: secCleaner,
		Doc: "Run the log cleaner (true). false leaves compacted topics, __consumer_offsets included, growing without bound until it is turned back on; turn it off only to rule the cleaner out while investigating."},
	{Key: "log.cleaner.threads", Flag: "log-cleaner-threads", Default: "1", Kind: Int, Min: 0, Max: 1024, Section: secCleaner,
		Doc: "Goroutines cleaning compacted logs, each one log at a time (1; 0 disables the cleaner like log.cleaner.enable=false). More clean more logs at once, at the cost of disk bandwidth taken from appends and fetches and a share of the dedupe buffer each."},
	{Key: "log.cleaner.dedupe.buffer.size", Flag: "log-cleaner-dedupe-buffer-size", Default: "134217728", Kind: Int, Min: 1 << 20, Max: maxInt64, Section: secCleaner,
		Doc: "Bytes for the key → offset maps of all cleaner threads together (128 MiB: about 5 million keys, 24 bytes a key at 90% fill), allocated when a cleaning needs it. A cleaning whose dirty section holds more keys than fit cleans only up to where the map filled and leaves the rest for the next one: larger cleans big logs in fewer passes, at the cost of memory."},
	{Key: "log.cleaner.backoff.ms", Flag: "log-cleaner-backoff", Default: "15000", Kind: Millis, Min: 1, Max: maxInt64, Section: secCleaner,
		Doc: "How long a cleaner thread sleeps when no log needs cleaning (15 s). Shorter notices dirty logs sooner; each check walks every compacted log's segment list."},
	{Key: "log.cleaner.min.cleanable.ratio", Flag: "log-cleaner-min-cleanable-ratio", Default: "0.5", Kind: Ratio, Section: secCleaner,
		Doc: "Default min.cleanable.dirty.ratio: a compacted log is cleaned once the bytes written since its last cleaning are this share of its inactive segments (0.5). Lower cleans sooner and more often (more rewriting, a smaller log); higher lets duplicates pile up between cleanings."},
	{Key: "log.cleaner.min.compaction.lag.ms", Flag: "log-cleaner-min-compaction-lag", Default: "0", Kind: Millis, Min: 0, Max: maxInt64, Section: secCleaner,
		Doc: "Default min.compaction.lag.ms: a segment is cleaned only once its newest record is this old (0), so consumers lagging less than this see every update of a key. Larger keeps more duplicates on disk."},
	{Key: "log.cleaner.max.compaction.lag.ms", Flag: "log-cleaner-max-compaction-lag", Default: "9223372036854775807", Kind: Millis, Min: 1, Max: maxInt64, Section: secCleaner,
		Doc: "Default max.compaction.lag.ms: a compacted log whose oldest uncleaned record is this old is cleaned whatever its dirty ratio, and its active segment rolls at this age (default Long.MAX: off). Set it to bound how long a superseded record (say, one to be erased) stays on disk; smaller costs more cleanings."},
	{Key: "log.cleaner.delete.retention.ms", Flag: "log-cleaner-delete-retention", Default: "86400000", Kind: Millis, Min: 0, Max: maxInt64, Section: secCleaner,
		Doc: "Default delete.retention.ms: how long a tombstone (a record with a null value) stays after the cleaning that first passed it, so consumers reading behind see the delete (1 day). Shorter frees space sooner; a consumer further behind than this may miss deletes. Cleaning times are kept in memory, so after a restart a tombstone may stay longer, never shorter."},

	{Key: "sluice.fsync", Flag: "fsync", Kind: Enum, Choices: []string{"never", "interval", "always"}, Section: secFlush,
		Doc: "When appends are fsync'd. never: the kernel writes back (Kafka's default; a process crash loses nothing, a power loss may lose the last seconds). interval: every log.flush.interval.ms. always: an append is acknowledged only after fsync; concurrent appends share one fsync (group commit), including the produces a client pipelines on one connection (up to 5 in flight: later ones are appended while earlier ones wait for their fsync, answered in order), so throughput holds up with many producers while latency gains a disk flush; a partition fsync'd every few KB at least every 10 ms also keeps up to 1 MiB of zeros written ahead of its active segment's end (cut when the segment rolls or the broker stops), so that each fsync overwrites blocks already on disk and need not also write the file's size and block allocation: 16 producers of 1 KiB records moved about 30% more, at the price of the disk writing those bytes twice (docs/BENCHMARKS.md). Unset: derived from the Kafka keys: log.flush.interval.messages=1 means always; log.flush.interval.ms, or log.flush.interval.messages above 1, means interval; otherwise never. Set at a higher level than those keys, or at the same one, it wins."},
	{Key: "log.flush.interval.ms", Flag: "fsync-interval", Kind: Millis, Min: 1, Max: maxInt64, Section: secFlush,
		Doc: "The fsync period of the interval policy (unset: 1 second). Setting it without sluice.fsync selects the interval policy, as in Kafka, where it bounds how old unflushed data may get."},
	{Key: "log.flush.interval.messages", Flag: "log-flush-interval-messages", Kind: Int, Min: 1, Max: maxInt64, Section: secFlush,
		Doc: "Kafka flushes after this many messages. Sluice fsyncs by time, not by count: 1 selects the always policy (fsync before every acknowledgement, shared by concurrent appends); a larger value (other than Kafka's default 9223372036854775807, which means never) selects the interval policy with log.flush.interval.ms."},

	{Key: "max.incremental.fetch.session.cache.slots", Default: "1000", Kind: Int, Min: 0, Max: maxInt32, Section: secFetch,
		Doc: "Most incremental fetch sessions (KIP-227) kept at once, broker-wide (1000, Kafka's default; 0 disables them). In a session a consumer sends only the partitions whose fetch position changed and gets back only partitions with news, instead of listing every partition in every fetch: with 1,000 partitions that is tens of KiB less per fetch each way. Each session costs about 100 bytes per partition. A consumer whose fetch finds the cache full and nothing evictable falls back to full fetches; raise it when more consumer instances (each has a session per broker) than this fetch at once."},
	{Key: "min.incremental.fetch.session.eviction.ms", Default: "120000", Kind: Millis, Min: 0, Max: maxInt32, Section: secFetch,
		Doc: "A session unused this long (2 minutes) may be evicted by any new session; a session created at least this long ago may be evicted by a new session with more partitions (followers' sessions rank above consumers'). Shorter recycles abandoned sessions sooner, at the risk of evicting a live consumer's session, which then resends all its partitions once."},

	{Key: "group.initial.rebalance.delay.ms", Flag: "group-initial-rebalance-delay", Default: "3000", Kind: Millis, Min: 0, Max: maxInt32, Section: secGroup,
		Doc: "How long the first rebalance of an empty group waits for more members (3 s). Longer avoids a storm of rebalances when many consumers start together; shorter makes a lone consumer start sooner; 0 means no delay."},
	{Key: "group.min.session.timeout.ms", Default: "6000", Kind: Millis, Min: 1, Max: maxInt32, Section: secGroup,
		Doc: "Smallest session timeout a consumer may ask for (6 s): lower lets consumers detect failures faster at the price of more heartbeats."},
	{Key: "group.max.session.timeout.ms", Default: "1800000", Kind: Millis, Min: 1, Max: maxInt32, Section: secGroup,
		Doc: "Largest session timeout a consumer may ask for (30 minutes): higher lets slow consumers keep their partitions longer, and a dead one holds them longer."},
	{Key: "offsets.retention.minutes", Default: "10080", Kind: Int, Min: 1, Max: maxInt32, Section: secGroup,
		Doc: "Committed offsets of an empty group are dropped after this long (7 days)."},
	{Key: "offsets.retention.check.interval.ms", Default: "600000", Kind: Millis, Min: 1, Max: maxInt64, Section: secGroup,
		Doc: "How often expired committed offsets are looked for (10 minutes)."},
	{Key: "offsets.topic.num.partitions", Default: "50", Kind: Int, Min: 1, Max: 1 << 16, Section: secGroup,
		Doc: "Partitions of __consumer_offsets (50), fixed when it is first created. More spreads group load; each costs files."},
	{Key: "offsets.topic.segment.bytes", Default: "16777216", Kind: Int, Min: 14, Max: maxInt32, Section: secGroup,
		Doc: "Segment size of __consumer_offsets (16 MiB here, Kafka's is 100 MiB): the coordinator replays it at start-up, so smaller segments (with its snapshots) load faster; larger ones mean fewer files."},

	{Key: "authorizer.class.name", Kind: String, Section: secAuthz,
		Doc: "Turns authorization on: org.apache.kafka.metadata.authorizer.StandardAuthorizer (or the older kafka.security.authorizer.AclAuthorizer, accepted as the same) checks every request against the ACLs, which are cluster metadata (records in the controller quorum's metadata log, the same on every broker; an acls.json left by an older release is imported at the first start) and managed through any broker with `sluice acls` or kafka-acls.sh (CreateAcls, DescribeAcls, DeleteAcls). Every broker of a cluster should set the same authorizer, super.users and allow.everyone.if.no.acl.found. Each API checks the operations Kafka checks; a denied resource gets TOPIC_, GROUP_, CLUSTER_ or TRANSACTIONAL_ID_AUTHORIZATION_FAILED as in Kafka. Unset (default): no authorization, every client may do everything, and the ACL APIs answer SECURITY_DISABLED. Until SASL is configured every client is User:ANONYMOUS, so turn it on together with authentication (or grant User:ANONYMOUS what it needs). Any other class name is an error."},
	{Key: "super.users", Kind: String, Section: secAuthz,
		Doc: "Principals allowed everything whatever the ACLs say, separated by semicolons (User:admin;User:ops). Unset by default. Keep the list short: a super user's requests are never denied."},
	{Key: "allow.everyone.if.no.acl.found", Kind: Bool, Default: "false", Section: secAuthz,
		Doc: "With an authorizer, allow every principal on a resource that no ACL names (false, Kafka's default: a resource without ACLs is closed). true eases moving an open cluster to ACLs one resource at a time, at the cost of leaving every unnamed resource open."},
	{Key: "process.roles", Default: "broker,controller", Kind: String, Section: secCluster,
		Doc: "The roles of this node, as in KRaft. broker,controller (the default): a combined node, a broker and a controller-quorum voter; with no other cluster setting it is a one-node cluster, its own quorum. controller: a quorum voter only, on its CONTROLLER listener alone (listeners holds only controller listeners); it holds no partitions and Metadata never lists it; brokers send it their registrations, heartbeats and admin requests on that listener. broker: a broker only, not a voter (node.id must not be in controller.quorum.voters, which it needs); it follows the metadata log as a Raft non-voter that the active controller adds when it registers, listening for it next to its client listener (host, port + 1; a listener named in controller.listener.names is refused, as in Kafka). Dedicated controllers keep metadata work off loaded brokers at the cost of more processes; combined nodes need fewer machines."},
	{Key: "controller.quorum.voters", Kind: String, Section: secCluster,
		Doc: "The controller quorum as id@host:port of each voter's CONTROLLER listener, comma-separated (1@10.0.0.1:9093,2@10.0.0.2:9093,3@10.0.0.3:9093). Unset: this node alone, at its CONTROLLER listener. Read on the first start only (an empty metadata log): the quorum's membership is kept in the metadata log after that. This node's node.id must be one of the voters. Three voters survive the loss of one; five, of two."},
	{Key: "controller.quorum.bootstrap.servers", Kind: String, Section: secCluster,
		Doc: "host:port of one or more controllers' CONTROLLER listeners, comma-separated (KIP-853), in place of controller.quorum.voters: a dynamic quorum, without Kafka's kafka-storage format step. On a broker-only node (process.roles=broker): it asks them in turn for the active controller (DescribeQuorum) and registers there, then follows the metadata log and learns the quorum from it, so the list need not name every controller. On a controller naming only its own CONTROLLER listener (Kafka's stock server.properties, formatted with --standalone): it starts a quorum of one, which others may join. On a controller naming only other, running controllers: on its first start (an empty metadata log) it asks the active controller to add it as a voter (AddRaftVoter, as Kafka's controller.quorum.auto.join.enable) and votes once added; later starts read the quorum from the log. Naming this node and others, or setting controller.quorum.voters too, is refused. Removing voters is not supported. Unset (default): the voters are used."},
	{Key: "controller.listener.names", Default: "CONTROLLER", Kind: String, Section: secCluster,
		Doc: "Names of the listeners that carry the controller quorum's Raft traffic (CONTROLLER). The first one found in listeners is where the controller binds; unset there, it binds next to the client listener (its host, port + 1: 127.0.0.1:9093 with the defaults; port 0 when the client port is 0), or, when that port is taken and the node is its own one-voter quorum (nobody dials it), on a free port with a warning. Kafka's stock server.properties (PLAINTEXT://:9092,CONTROLLER://:9093) loads unchanged. It also takes the brokers' controller RPCs (BrokerRegistration, BrokerHeartbeat, forwarded admin requests), as Kafka's does: Kafka frames on it are passed, bytes as they are, to a listener of this node that speaks the CONTROLLER listener's security protocol (listener.security.protocol.map; the inter-broker listener when it does; on a controller-only node, an internal loopback listener of that protocol with the CONTROLLER listener's ssl.* and SASL settings), which applies its TLS and authentication but sees them coming from 127.0.0.1; brokers dial it in that protocol, logging in with sasl.mechanism.controller.protocol on SASL. Raft itself has no authentication: bind it to a private interface. A broker-only node needs the name set too (as in Kafka) but must not list such a listener in listeners."},
	{Key: "broker.heartbeat.interval.ms", Default: "2000", Kind: Millis, Min: 1, Max: maxInt32, Section: secCluster,
		Doc: "How often this broker heartbeats to the active controller (2 s, Kafka's default). Keep it well under broker.session.timeout.ms: shorter notices a new controller sooner at the cost of one small request per interval."},
	{Key: "broker.session.timeout.ms", Default: "9000", Kind: Millis, Min: 1, Max: maxInt32, Section: secCluster,
		Doc: "A broker whose heartbeats stop for this long is fenced by the active controller (9 s, Kafka's default): it leaves Metadata and DescribeCluster and its partition leaderships move. Shorter fails over faster; too short fences brokers on a busy host or a slow network."},
	{Key: "replica.lag.time.max.ms", Default: "30000", Kind: Millis, Min: 1, Max: maxInt32, Section: secCluster,
		Doc: "A follower that has not caught up with its leader's log end for this long leaves the partition's ISR (30 s, Kafka's default); it rejoins once its log reaches the high watermark. Shorter keeps acks=all fast when a follower stalls, at the cost of shrinking the ISR on a passing hiccup."},
	{Key: "replica.fetch.wait.max.ms", Default: "500", Kind: Millis, Min: 1, Max: maxInt32, Section: secCluster,
		Doc: "How long a follower's fetch waits at the leader for new records (500 ms, Kafka's default). Keep it well under replica.lag.time.max.ms."},
	{Key: "num.replica.fetchers", Default: "1", Kind: Int, Min: 1, Max: 64, Section: secCluster,
		Doc: "Fetcher goroutines (each with its own connection) a follower runs per leader broker (1, Kafka's default); partitions are spread over them. More helps a follower of many busy partitions keep up."},
	{Key: "replica.selector.class", Kind: String, Section: secCluster,
		Doc: "How a partition leader picks the replica a consumer reads from (KIP-392). Unset (Kafka's default): the leader. org.apache.kafka.common.replica.RackAwareReplicaSelector: a consumer that sends its rack (client.rack; Fetch v11+) is told to read from an in-sync follower in its rack (PreferredReadReplica) when the leader is in another rack, and followers serve such consumers up to their own high watermark. Saves cross-rack traffic at the cost of reading slightly behind the leader; set it on every broker."},
	{Key: "replica.high.watermark.checkpoint.interval.ms", Default: "5000", Kind: Millis, Min: 1, Max: maxInt32, Section: secCluster,
		Doc: "How often each replicated log's high watermark is written to replication-offset-checkpoint in the data directory (5 s, Kafka's default; also at shutdown). A restarted replica starts from it."},
	{Key: "auto.leader.rebalance.enable", Default: "true", Kind: Bool, Section: secCluster,
		Doc: "The active controller gives partitions back to their preferred leader (the first replica, when alive and in the ISR) once a broker's share of preferred leaderships held by others passes leader.imbalance.per.broker.percentage, checked every leader.imbalance.check.interval.seconds (true, Kafka's default). Without it a restarted broker leads nothing until ElectLeaders (`sluice topics elect-leaders`) is called; with it each move is a leader change that clients follow with one Metadata round trip."},
	{Key: "leader.imbalance.check.interval.seconds", Default: "300", Kind: Int, Min: 1, Max: maxInt32, Section: secCluster,
		Doc: "How often, in seconds, the active controller checks the preferred-leader imbalance (300, Kafka's default). Shorter gives leaderships back sooner after a restart, for a scan of every partition each time."},
	{Key: "leader.imbalance.per.broker.percentage", Default: "10", Kind: Int, Min: 0, Max: 100, Section: secCluster,
		Doc: "The share, in percent, of a broker's preferred leaderships that may be held by other brokers before the automatic rebalance gives them back (10, Kafka's default). 0 rebalances on any imbalance; higher leaves more leadership moves for a manual ElectLeaders."},
	{Key: "eligible.leader.replicas.enable", Default: "false", Kind: Bool, Section: secCluster,
		Doc: "KIP-966 eligible leader replicas (false, as Kafka 4.0's eligible.leader.replicas.version=0). When true, the controller keeps, per partition, the replicas that left an ISR already smaller than min.insync.replicas (its ELR): they hold every record below the high watermark, which leaders then keep still while the ISR is under min.insync.replicas (acks=1 records stay invisible to consumers meanwhile). When the whole ISR is lost, a clean ELR member that comes back leads instead of the partition waiting for the last ISR member; one restarted after kill -9 or a crash (no clean-shutdown marker) leaves the ELR. Set it alike on every node."},
	{Key: "unclean.leader.election.enable", Default: "false", Kind: Bool, Section: secCluster,
		Doc: "Default of the topic config unclean.leader.election.enable (false, Kafka's default). When a partition has lost every in-sync replica (and, with eligible.leader.replicas.enable, every eligible leader replica), true lets the active controller make a live replica outside the ISR its leader, which becomes the whole ISR: the partition is writable again at once, but the records only the lost replicas held are gone, acknowledged ones included. False keeps the partition without a leader until an in-sync replica comes back. The controller elects at once when a replica is fenced or comes back, when the topic config or this default (the cluster-wide dynamic one too) is set to true, and every unclean.leader.election.interval.ms; each unclean election is logged at ERROR level (\"unclean leader election\", topic, partition, new leader)."},
	{Key: "unclean.leader.election.interval.ms", Default: "300000", Kind: Millis, Min: 1, Max: maxInt32, Section: secCluster,
		Doc: "How often the active controller looks for partitions without a leader whose topic allows an unclean election (5 minutes, Kafka's default). Elections also happen at once on a fence, an unfence and a config change, so this only catches the rest (a new controller with another static default, say); shorter costs a scan of every partition each time."},
	{Key: "min.insync.replicas", Default: "1", Kind: Int, Min: 1, Max: maxInt32, Section: secLog,
		Doc: "Default of the topic config min.insync.replicas (1, Kafka's default): with acks=all a produce gets NOT_ENOUGH_REPLICAS when the partition's ISR is smaller. 2 with replication factor 3 is the usual choice: one broker may be down and every acknowledged record is on two brokers."},
	{Key: "transaction.max.timeout.ms", Default: "900000", Kind: Millis, Min: 1, Max: maxInt32, Section: secTxn,
		Doc: "Largest transaction.timeout.ms a producer may ask for (15 minutes); a larger one fails InitProducerId with INVALID_TRANSACTION_TIMEOUT. A transaction left open by a hung producer holds back read_committed consumers of its partitions until its timeout: a lower cap bounds that stall."},
	{Key: "transaction.abort.timed.out.transaction.cleanup.interval.ms", Default: "10000", Kind: Millis, Min: 1, Max: maxInt32, Section: secTxn,
		Doc: "How often transactions past their timeout are looked for and aborted (10 s); the epoch is bumped, fencing their producer. Shorter aborts a hanging transaction sooner, for a scan of every transactional id each time."},
	{Key: "transactional.id.expiration.ms", Default: "604800000", Kind: Millis, Min: 1, Max: maxInt32, Section: secTxn,
		Doc: "A transactional id with no transaction in progress and no update for this long (7 days) is forgotten; its next producer starts with a new producer id. Longer keeps more ids in memory and in __transaction_state."},
	{Key: "transaction.remove.expired.transaction.cleanup.interval.ms", Default: "3600000", Kind: Millis, Min: 1, Max: maxInt32, Section: secTxn,
		Doc: "How often expired transactional ids are removed (1 h)."},
	{Key: "transaction.state.log.num.partitions", Default: "50", Kind: Int, Min: 1, Max: 1 << 16, Section: secTxn,
		Doc: "Partitions of __transaction_state (50), fixed when it is first created (by the first transactional request). More spreads the coordinator's writes over more files."},
	{Key: "transaction.state.log.segment.bytes", Default: "104857600", Kind: Int, Min: 14, Max: maxInt32, Section: secTxn,
		Doc: "Segment size of __transaction_state (100 MiB, as Kafka). The coordinator replays it at start-up and the active segment is never compacted: smaller segments load faster after many transactions; larger ones mean fewer files."},
	{Key: "transaction.version", Default: "2", Kind: Int, Min: 1, Max: 2, Section: secTxn,
		Doc: "The transaction.version feature level finalized and advertised in ApiVersions (2). At 2 the Java client 4.x and franz-go run transactions v2 (KIP-890 part 2: no AddPartitionsToTxn, Produce v12 adds partitions on the coordinator, EndTxn v5 bumps the producer epoch at every commit and abort, which closes the window where a late write from a previous transaction lands in the next). 1 keeps those clients on transactions v1: set it if a client misbehaves with v2. Kafka sets this feature with kafka-features.sh (--feature transaction.version=1); requests are served by their version either way."},

	{Key: "sluice.http.listen", Flag: "http-listen", Kind: String, Section: secService,
		Doc: "host:port of the HTTP listener serving the web console (/ and its JSON API under /api/), /metrics (Prometheus), /healthz, /readyz and /metadataz. Unset: no HTTP listener (make run sets 127.0.0.1:8080). Without SASL users it has no authentication: bind it to loopback or a private interface; with SASL users (SCRAM credentials, PLAIN users or a SASL listener) the console asks for a login and shows what the user's ACLs allow."},
	{Key: "console.metrics.retention.ms", Flag: "console-metrics-retention", Default: "604800000", Kind: Millis, Min: 60000, Max: 366 * 86400000, Section: secService,
		Doc: "How long the web console keeps its per-minute metrics history (7 days), in memory and in <data-dir>/console/history (rewritten every 10 minutes and at shutdown): 16 bytes per minute per series, at most 256 series (7 days: about 160 KiB per series, 40 MiB at the cap). Longer keeps longer charts at that cost."},
	{Key: "console.session.timeout.ms", Flag: "console-session-timeout", Default: "28800000", Kind: Millis, Min: 60000, Max: 30 * 86400000, Section: secService,
		Doc: "How long a web console login lasts (8 hours) when the broker has SASL users; the session cookie expires then and the user logs in again. Sessions live in memory: a restart ends them all."},
	{Key: "console.alerts.lag.records", Flag: "console-alerts-lag-records", Default: "0", Kind: Int, Min: 0, Max: maxInt64, Section: secService,
		Doc: "The console alerts when a consumer group's total lag exceeds this many records (0: off). Groups that are lagging, stalled or stopped (Burrow's rules), offline partitions and a disk over 90% full alert regardless."},
	{Key: "console.alerts.lag.seconds", Flag: "console-alerts-lag-seconds", Default: "0", Kind: Int, Min: 0, Max: maxInt64, Section: secService,
		Doc: "The console alerts when a consumer group's oldest unconsumed record is older than this many seconds (0: off). Each check reads one batch per lagging partition."},
	{Key: "console.alerts.webhook.url", Flag: "console-alerts-webhook", Kind: String, Section: secService,
		Doc: "An http(s) URL the console POSTs {\"firing\": [...], \"resolved\": [...], \"at\": ms} to when its alerts change, checked every 5 s (unset: no webhook). A failed POST is retried at the next check and logged at most once a minute (the next line counts the failures in between)."},
	{Key: "sluice.pprof", Flag: "pprof", Default: "false", Kind: Bool, Section: secService,
		Doc: "Serve Go's profiler under /debug/pprof/ on the HTTP listener (false). Profiles reveal internals and cost CPU while taken: enable only where the HTTP listener is private."},
	{Key: "sluice.log.level", Flag: "log-level", Default: "info", Kind: Enum, Choices: []string{"debug", "info", "warn", "error"}, Section: secService,
		Doc: "Least severe log level written to standard error (info). debug logs every connection and is verbose under load."},
	{Key: "sluice.log.format", Flag: "log-format", Default: "text", Kind: Enum, Choices: []string{"text", "json"}, Section: secService,
		Doc: "text (key=value, for people and journald) or json (one object per line, for log shippers)."},
	{Key: "sluice.timer.slack.ms", Flag: "timer-slack", Kind: Millis, Min: 0, Max: 1000, Section: secService,
		Doc: "The kernel's timer slack for every thread of sluiced: how late a timed sleep may end, so that the kernel can serve several wake-ups at once (prctl PR_SET_TIMERSLACK, systemd's TimerSlackNSec; 0: leave what the service manager or parent set, 50 µs by default). Unset: 4 ms, or 0 under sluice.fsync=always. Go's runtime monitor polls every 20 µs while system calls keep it busy; at 4 ms the broker wakes less than half as often and spends 10-17% less CPU on produce requests. Only timers end late, by up to the slack (a Fetch's max wait, timeouts), not replies to socket or disk events. But the monitor is also what hands a processor blocked in fsync to other work: with fsync after every append that takes it longer, and 16 producers of 1 KiB with sluice.fsync=always moved 20-50% less, so leave it at 0 where topics fsync every message (flush.messages=1). sluiced sets the slack by executing itself again once at start, with it set, so that the runtime's threads inherit it."},
	{Key: "sluice.gomaxprocs", Flag: "gomaxprocs", Kind: Int, Min: 0, Max: 4096, Section: secService,
		Doc: "How many Go processors (GOMAXPROCS) run sluiced's goroutines at once (0: the Go runtime's default, the CPUs the process may use, or the GOMAXPROCS environment variable). Unset: the runtime's default, or one more than it under sluice.fsync=always unless GOMAXPROCS is set in the environment. A thread waiting in fdatasync keeps its processor until Go's runtime monitor hands it on; the spare one lets the other goroutines (socket reads, answers, the next appends) run meanwhile. With 16 producers and sluice.fsync=always on 2 CPUs it moved 1 KiB records a median 20% faster (0.84-1.36x in 6 alternated pairs) and 16 KiB records 16% faster (1.05-1.55x); without fsync after every append a spare processor only adds a thread to wake (up to 10% more CPU per request), so it is not the default there (docs/BENCHMARKS.md); where topics fsync every message (flush.messages=1) on a broker that does not, set it to one more than the CPUs. Once sluiced sets the count (a value here, or the spare), the Go runtime no longer follows changes of the container's CPU limit while it runs, as with GOMAXPROCS in the environment."},
	{Key: "sluice.shutdown.timeout.ms", Flag: "shutdown-timeout", Default: "30000", Kind: Millis, Min: 1, Max: maxInt64, Section: secService,
		Doc: "On SIGTERM or SIGINT, how long requests in flight may take to finish (30 s) before connections are cut; the data directory is flushed and marked clean either way. Once answered, each connection gets FIN and up to 1 s for its client to close it (requests it sends meanwhile are dropped, not served): a client still writing gets no reset that could make it drop responses it has not read. Keep systemd's TimeoutStopSec above it."},
}

// Ignored are Kafka broker keys that mean nothing for one node with its
// own storage engine: accepted and listed in one warning. A key ending in
// "." is a prefix.
var Ignored = []string{
	"zookeeper.", "controller.quorum.election.",
	"controller.quorum.fetch.", "controller.quorum.request.", "controller.quorum.retry.", "controller.quorum.append.",
	"inter.broker.protocol.version", "num.network.threads", "num.io.threads",
	"num.recovery.threads.per.data.dir", "background.threads",
	"queued.max.requests", "socket.send.buffer.bytes", "socket.receive.buffer.bytes",
	"default.replication.factor", "offsets.topic.replication.factor",
	"transaction.state.log.replication.factor", "transaction.state.log.min.isr",
	"transaction.state.log.load.buffer.size", "share.coordinator.", "replica.fetch.max.bytes", "replica.fetch.min.bytes", "replica.fetch.response.max.bytes",
	"replica.fetch.backoff.ms", "replica.socket.", "replica.alter.log.dirs.",
	"delete.topic.enable", "log.cleaner.io.", "metadata.",
	"log.flush.scheduler.interval.ms", "log.message.format.version",
	"sasl.kerberos.", "sasl.login.", "sasl.oauthbearer.", "sasl.server.callback.handler.class",
	"sasl.client.", "sasl.jaas.config", "group.coordinator.", "confluent.", "metric.reporters",
	"controlled.shutdown.", "log.preallocate", "offsets.commit.timeout.ms",
	"offsets.commit.required.acks", "offsets.load.buffer.size",
}

func isIgnored(key string) bool {
	for _, p := range Ignored {
		if key == p || strings.HasSuffix(p, ".") && strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// lookup returns the option with key, or nil.
func lookup(key string) *Option {
	for i := range Options {
		if Options[i].Key == key {
			return &Options[i]
		}
	}
	for i := range Options {
		if _, ok := Options[i].matches(key); ok {
			return &Options[i]
		}
	}
	return nil
}
