// Package broker serves the Kafka protocol on top of partition logs: one
// file per API key (produce.go, fetch.go, …), each opening with a comment
// naming the versions served and the behaviour.
//
// A request frame (its 4-byte size prefix already removed by netio):
//
//	| api_key int16 | api_version int16 | correlation_id int32 |
//	| client_id nullable string (int16 length, -1 = null) |
//	| tagged fields (uvarint count, then tag/len/bytes) — flexible versions only |
//	| body (kmsg) |
//
// A response:
//
//	| correlation_id int32 | tagged fields (one 0x00 byte) — flexible versions, never ApiVersions |
//	| body (kmsg, or fetch.go's hand-written framing with file regions) |
//
// Files the broker keeps in the data directory (never touched by handlers):
// meta.properties (node.id, cluster.id, version), topic-configs.json (topic
// config overrides), producer-id-block (the next unallocated producer id
// of a broker alone; with a controller quorum, blocks of ids come from the
// controller and the file is only a floor, see files.go); without a
// controller also acls.json (the ACLs; see acls.go) and
// scram-credentials.json (scram_credentials.go). With a controller, ACLs
// and SCRAM credentials are metadata records shared by every broker
// (security_cluster.go), and those two files are only imported once.
//
// # The cluster
//
// With a controller (Config.Controller, a combined broker,controller node)
// the broker registers with the active controller and heartbeats to it:
// directly when its own controller leads, otherwise with Kafka's
// BrokerRegistration (62) and BrokerHeartbeat (63) sent to the leader's
// broker listener, found in the metadata image (cluster.go draws the
// sequence). Metadata and DescribeCluster list the image's live brokers
// and name the Raft leader as controller; DescribeQuorum is answered by
// the leader and forwarded there by the other nodes. Topics live in the
// metadata image and each broker reconciles its local logs from it
// (reconcile.go).
//
// Coordinators follow the image too (coordinators.go): the group and
// transaction coordinators of a broker hold the __consumer_offsets and
// __transaction_state partitions it leads, loading a partition when it
// gains the leadership and unloading it when it loses it:
//
//	           leader here                load done
//	Unloaded ─────────────▶ Loading ───────────────▶ Loaded
//	NOT_COORDINATOR         COORDINATOR_LOAD_         serving its groups /
//	   ▲                    IN_PROGRESS               transactional ids
//	   └──────── another broker leads ────────────────────┘
//
// FindCoordinator names the partition's leader. Transaction markers for
// partitions other brokers lead are sent to them with WriteTxnMarkers,
// carrying the __transaction_state partition's leader epoch as
// coordinator epoch.
//
// # Replication
//
// Partitions of replication factor > 1 are replicated as in Kafka
// (replication.go has the details and the error codes):
//
//	              metadata image (leader, leader epoch, ISR, partition epoch)
//	                     │ reconciler pass ─▶ replicaManager.sync
//	       ┌─────────────┴──────────────┐
//	leader here                    follower here
//	SetReplicated, AssignLeaderEpoch   SetReplicated; partition added to
//	leaderState per partition:         the fetcher of (leader, slot),
//	  followers' LEO, caught-up time   num.replica.fetchers slots
//	       ▲                                 │
//	       │  Fetch v17 (ReplicaState, FetchOffset = LEO,
//	       └─ LastFetchedEpoch, CurrentLeaderEpoch) ─┘
//	diverged epoch? ─▶ DivergingEpoch ─▶ follower TruncateTo
//	else follower LEO = FetchOffset; HW = min LEO over the ISR
//	(UpdateHighWatermark, wakes acks=all produces and long polls);
//	ReadReplica up to the LEO ─▶ follower AppendAsFollower,
//	its HW = min(leader HW, own LEO)
//
//	ISR: shrink (lag > replica.lag.time.max.ms), expand (LEO >= HW)
//	─▶ AlterPartition (56) to the active controller ─▶ image
//
// Replication throttles (throttle.go, Kafka's ReplicationQuotaManager):
// the dynamic broker configs leader./follower.replication.throttled.rate
// cap the bytes/s of the partitions the topic configs
// leader./follower.replication.throttled.replicas name, for replicas out
// of the ISR (leader side) or behind the leader's HW (follower side).
//
// Fetch from the closest replica (replica_select.go, KIP-392): with
// replica.selector.class the rack-aware selector, the leader answers a
// consumer's Fetch that names a rack with PreferredReadReplica, an in-sync
// follower in that rack, which then serves it up to its own HW.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice/sluice/acl"
	"github.com/sluice/sluice/auth"
	"github.com/sluice/sluice/controller"
	"github.com/sluice/sluice/group"
	"github.com/sluice/sluice/internal/lograte"
	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/partition"
	"github.com/sluice/sluice/txn"
)

// Config configures a Broker. Start from DefaultConfig.
type Config struct {
	// NodeID is this broker's id [node.id]. Default 1.
	NodeID int32
	// AdvertisedHost and AdvertisedPort are what Metadata tells clients to
	// connect to [advertised.listeners]. Default localhost:9092; set them to
	// the listener's real address.
	AdvertisedHost string
	AdvertisedPort int32
	// Controller is this node's controller-quorum member (a combined
	// node, process.roles=broker,controller). nil: a standalone broker
	// that is its own cluster (no registration; Metadata and
	// DescribeCluster name this node alone). See cluster.go.
	Controller *controller.Controller
	// ControllerOnly is process.roles=controller: the node serves the
	// controller RPCs (BrokerRegistration, BrokerHeartbeat, forwarded
	// admin requests) and never registers as a broker, so it is given no
	// partitions and Metadata never lists it. Needs Controller.
	ControllerOnly bool
	// QuorumAddrs are the voters' CONTROLLER listeners
	// (controller.quorum.voters), or controller.quorum.bootstrap.servers.
	// A broker-only node (its Controller an observer) asks them for the
	// active controller and sends its controller RPCs there until its
	// metadata follower knows the leader. See cluster.go and peer.go.
	QuorumAddrs []string
	// JoinQuorum: this node's controller was started to join a running
	// quorum (controller.quorum.bootstrap.servers naming other
	// controllers): until it is a voter, the node asks the active
	// controller, found through QuorumAddrs, to add it (AddRaftVoter).
	JoinQuorum bool
	// HeartbeatInterval is broker.heartbeat.interval.ms: how often the
	// broker heartbeats to the active controller. Default 2 s.
	HeartbeatInterval time.Duration
	// Replication (replication.go), Kafka's keys: ReplicaLagTimeMax
	// [replica.lag.time.max.ms] 30 s, how long a follower may go without
	// catching up before it leaves the ISR; ReplicaFetchWait
	// [replica.fetch.wait.max.ms] 500 ms, a follower fetch's long poll;
	// NumReplicaFetchers [num.replica.fetchers] 1, fetcher goroutines per
	// leader broker; HWCheckpointInterval
	// [replica.high.watermark.checkpoint.interval.ms] 5 s.
	ReplicaLagTimeMax    time.Duration
	ReplicaFetchWait     time.Duration
	NumReplicaFetchers   int
	HWCheckpointInterval time.Duration
	// EligibleLeaderReplicas [eligible.leader.replicas.enable] false: as
	// KIP-966, a leader keeps the high watermark still while the ISR is
	// smaller than min.insync.replicas (the controller's ELR relies on it).
	EligibleLeaderReplicas bool
	// ReplicaSelector is replica.selector.class (replica_select.go): ""
	// (Kafka's default) serves consumers from the leader only; the
	// rack-aware selector's class name points consumers with a rack at an
	// in-sync follower in it (KIP-392).
	ReplicaSelector string
	// Advertised is, per listener name, the host:port Metadata gives a
	// client connected on that listener [advertised.listeners]; a
	// connection on a listener not in it (or none) gets
	// AdvertisedHost:AdvertisedPort. StartServer fills it.
	Advertised []Endpoint
	// Rack is the broker's rack [broker.rack]; empty means null.
	Rack string
	// ClusterID is the cluster id [cluster.id]. Empty: the one stored in
	// meta.properties, or a new random one on first start.
	ClusterID string
	// AutoCreateTopics lets Metadata create unknown topics
	// [auto.create.topics.enable]. Default true (librdkafka relies on it).
	AutoCreateTopics bool
	// NumPartitions is the partition count of auto-created topics
	// [num.partitions]. Default 1.
	NumPartitions int32
	// DefaultLog is the config of logs without overrides (Kafka's log.*
	// broker settings). Default partition.DefaultConfig().
	DefaultLog partition.Config
	// ProducerIDBlock is how many producer ids one fsync'd bump of
	// producer-id-block reserves (a broker without a controller quorum;
	// with one, the controller's block size applies). Default 1000: larger
	// means fewer writes, and more ids skipped at each restart (ids are
	// never reused).
	ProducerIDBlock int64
	// Groups configures the consumer-group coordinator (Kafka's
	// offsets.* and group.* settings). Zero fields take its defaults.
	Groups group.Config
	// Txn configures the transaction coordinator (Kafka's transaction.*
	// and transactional.id.* settings). Zero fields take its defaults.
	Txn txn.Config
	// FetchSessionSlots is how many incremental fetch sessions (KIP-227)
	// are cached [max.incremental.fetch.session.cache.slots]; 0 disables
	// them. Default 1000.
	FetchSessionSlots int
	// FetchSessionEviction is how long a session must go unused, or exist,
	// before a new session may evict it
	// [min.incremental.fetch.session.eviction.ms]. Default 2 minutes.
	FetchSessionEviction time.Duration
	// SSLPrincipal gives the principal of a client on an SSL listener from
	// its TLS session (the certificate's DN through the listener's
	// ssl.principal.mapping.rules: "User:<name>", or "User:ANONYMOUS"
	// without a certificate). Nil: every SSL client is User:ANONYMOUS.
	SSLPrincipal func(listener string, st *tls.ConnectionState) (string, error)
	// SASL configures authentication on SASL listeners (auth.go).
	SASL SASLConfig
	// Logger receives the broker's logs. Default slog.Default().
	Logger *slog.Logger
	// StaticConfigs are the broker keys the daemon read (its option
	// table): effective value and whether the file, environment or flags
	// set it, for DescribeConfigs on the BROKER resource
	// (STATIC_BROKER_CONFIG or DEFAULT_CONFIG). Nil: only the broker's own
	// keys are described, sourced by comparing with Kafka's defaults.
	StaticConfigs map[string]StaticConfig
	// Authorizer turns authorization on (Kafka's StandardAuthorizer,
	// authorizer.class.name): every request is checked against the ACLs
	// (the metadata image's with a controller, else acls.json). Nil (the default, as Kafka without an authorizer):
	// everything is allowed and the ACL APIs answer SECURITY_DISABLED.
	Authorizer *acl.Config
	// InterBroker is how this broker reaches the other brokers of its
	// cluster (registration, heartbeats, forwarded requests): which of
	// their listeners, and how it authenticates there (peer.go). The zero
	// value: their PLAINTEXT listener, no authentication.
	InterBroker InterBrokerConfig
	// ControllerClient is how this broker reaches the controllers'
	// CONTROLLER listeners (controller RPCs to a controller-only leader,
	// or before the active controller's broker is known): the listener's
	// security protocol and sasl.mechanism.controller.protocol login. The
	// zero value: PLAINTEXT, no authentication.
	ControllerClient InterBrokerConfig

	// principalForTest, when set, names each connection's principal
	// (tests in this package, until SASL authenticates connections).
	principalForTest func(*netio.Conn) string
}

// StaticConfig is one broker key as read at start.
type StaticConfig struct {
	Value string // "" with Set false: unset (described as null)
	Set   bool   // given in the file, the environment or a flag
	Doc   string
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		NodeID:           1,
		AdvertisedHost:   "localhost",
		SASL:             SASLConfig{FailedAuthDelay: 100 * time.Millisecond, FailedAuthWindow: time.Minute},
		AdvertisedPort:   9092,
		AutoCreateTopics: true,
		NumPartitions:    1,
		DefaultLog:       partition.DefaultConfig(),
		ProducerIDBlock:  1000,
		Groups:           group.DefaultConfig(),
		Txn:              txn.DefaultConfig(),

		FetchSessionSlots:    1000,
		FetchSessionEviction: 2 * time.Minute,
	}
}

// Broker serves Kafka requests for the logs of one partition.Store. It is
// safe for concurrent use by many connections.
type Broker struct {
	cfg         Config
	log         *slog.Logger
	store       *partition.Store
	clusterID   string
	topics      *topics
	producerIDs *producerIDs
	gr          groupsEntry       // the group coordinator; see groups_wiring.go
	tx          txnEntry          // the transaction coordinator; see txn_wiring.go
	peers       peerPool          // idle inter-broker connections; see coordinators.go
	traffic     traffic           // bytes in and out per topic; see traffic.go
	quotas      replicationQuotas // replication throttles and fetch byte counters; see throttle.go
	sasl        saslRefusals      // SASL requests on this PLAINTEXT listener; see 17_sasl_handshake.go
	saslStats   saslStats         // SASL listeners' counters; see auth.go
	scram       *scramStore       // SCRAM credentials; see scram_credentials.go
	sessions    *fetchSessionCache
	// writes writes the appends of pipelined produces (00_produce.go).
	writes *partition.WritePool
	acls   *acls // ACLs and the authorizer; see acls.go and authz.go
	// testBeforeMarkers, set by tests before any request, runs before a
	// transaction's markers are written; an error fails the write (a
	// crash point or a failing partition).
	testBeforeMarkers func(txn.Markers) error
	// testBeforeMarker, set by tests before any request, runs before the
	// marker of one partition is written; an error fails that partition's
	// write only (markers partly written).
	testBeforeMarker func(txn.Markers, txn.TopicPartition) error

	// txnVersion is the finalized transaction.version level and
	// featuresEpoch its FinalizedFeaturesEpoch (18_api_versions.go).
	txnVersion    int16
	featuresEpoch int64

	cl          *clusterMember                 // nil without a controller; see cluster.go
	txnVerifier atomic.Pointer[txnVerifierBox] // txn_produce.go; nil: no coordinator

	fetchRequests, fetchRequestParts atomic.Int64 // Fetch requests and the partitions they listed

	// port is the advertised port, set once the listener knows it when
	// listening on port 0 (requests may already be arriving).
	port atomic.Int32
	// quorumNext picks the next of cfg.QuorumAddrs to try (peer.go).
	quorumNext atomic.Uint32
	// ctlAddrs holds the addresses leaderAddr handed out that are
	// controllers' CONTROLLER listeners (string → struct{}): dialPeer
	// secures those as ControllerClient says (peer.go).
	ctlAddrs sync.Map
	// endpoints is cfg.Advertised by listener name, with the real ports
	// once listening; replaced whole by StartServer.
	endpoints atomic.Pointer[map[string]Endpoint]
}

// New loads the store's topics and the broker's files in the store's
// directory. The caller keeps ownership of the store (closes it after Close).
func New(cfg Config, store *partition.Store) (*Broker, error) {
	if store == nil {
		return nil, errors.New("broker: nil store")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NumPartitions <= 0 {
		cfg.NumPartitions = 1
	}
	if cfg.ProducerIDBlock <= 0 {
		cfg.ProducerIDBlock = 1000
	}
	dir := store.Dir()
	clusterID, err := loadMetaProperties(dir, cfg.NodeID, cfg.ClusterID)
	if err != nil {
		return nil, err
	}
	ts, err := loadTopics(store, cfg.DefaultLog, cfg.Logger)
	if err != nil {
		return nil, err
	}
	if err := ts.loadDynamic(); err != nil {
		return nil, err
	}
	pids, err := openProducerIDs(dir, cfg.ProducerIDBlock)
	if err != nil {
		return nil, err
	}
	// With a controller, ACLs and credentials come from the metadata image
	// (security_cluster.go): the files are only read to be taken over.
	fromFiles := cfg.Controller == nil
	as, err := openACLs(dir, cfg.Authorizer, fromFiles)
	if err != nil {
		return nil, err
	}
	scram, err := openScramStore(dir, fromFiles)
	if err != nil {
		return nil, err
	}
	if cfg.SASL.Mechanisms == nil {
		cfg.SASL.Mechanisms = []auth.Mechanism{auth.ScramSHA256, auth.ScramSHA512}
	}
	b := &Broker{
		acls:        as,
		cfg:         cfg,
		log:         cfg.Logger,
		store:       store,
		clusterID:   clusterID,
		topics:      ts,
		producerIDs: pids,
		scram:       scram,
		sessions:    newFetchSessionCache(cfg.FetchSessionSlots, cfg.FetchSessionEviction.Milliseconds()),
		writes:      partition.NewWritePool(writePoolWorkers()),
	}
	b.port.Store(cfg.AdvertisedPort)
	if cfg.Controller != nil {
		b.cl = newClusterMember(b)
		pids.reserve = b.reserveProducerIDs
	}
	b.setEndpoints(cfg.Advertised)
	b.sasl.log = lograte.New(netio.WrongProtocolLogEvery)
	b.saslStats.log = lograte.New(netio.WrongProtocolLogEvery)
	b.saslStats.limit = newAuthLimiter(cfg.SASL.FailedAuthMax, cfg.SASL.FailedAuthWindow)
	b.gr.cfg = cfg.Groups
	if err := b.loadGroups(); err != nil {
		return nil, err
	}
	b.tx.cfg = cfg.Txn
	b.txnVersion, b.featuresEpoch = txn.TransactionVersion(cfg.Txn), time.Now().UnixMilli()
	if err := b.loadTxns(); err != nil {
		b.closeGroups()
		return nil, err
	}
	b.log.Info("broker ready", "node_id", cfg.NodeID, "cluster_id", clusterID,
		"topics", ts.count(), "dir", dir)
	return b, nil
}

func (b *Broker) advertisedPort() int32     { return b.port.Load() }
func (b *Broker) setAdvertisedPort(p int32) { b.port.Store(p) }

// ClusterID is the cluster id in use.
func (b *Broker) ClusterID() string { return b.clusterID }

// NodeID is this broker's node id.
func (b *Broker) NodeID() int32 { return b.cfg.NodeID }

// Handle serves one request frame; it implements netio.Handler.
func (b *Broker) Handle(ctx context.Context, c *netio.Conn, frame []byte) (*netio.Response, error) {
	return b.dispatch(ctx, c, frame)
}

// Close stops the broker: the transaction coordinator stops (a
// transaction being completed stays prepared, completed at the next
// start), the group coordinator answers its long polls and stops. It does
// not close the store.
func (b *Broker) Close() error {
	err := errors.Join(b.closeTxns(), b.closeGroups())
	b.peers.close()
	return err
}

var _ netio.Handler = (*Broker)(nil)

// errClose asks netio to close the connection (what Kafka does for requests
// it cannot parse or serve).
func errClose(format string, args ...any) error {
	return fmt.Errorf("broker: closing connection: "+format, args...)
}
