package controller

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Voter is one member of the controller quorum.
type Voter struct {
	ID   int32
	Addr string // host:port of its CONTROLLER listener
}

// ParseVoters parses controller.quorum.voters: "1@127.0.0.1:19093,2@…".
func ParseVoters(s string) ([]Voter, error) {
	var out []Voter
	seen := map[int32]bool{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		idStr, addr, ok := strings.Cut(part, "@")
		if !ok {
			return nil, fmt.Errorf("controller.quorum.voters: %q is not id@host:port", part)
		}
		id, err := strconv.ParseInt(idStr, 10, 32)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("controller.quorum.voters: bad node id in %q", part)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("controller.quorum.voters: bad address in %q: %w", part, err)
		}
		if seen[int32(id)] {
			return nil, fmt.Errorf("controller.quorum.voters: node id %d listed twice", id)
		}
		seen[int32(id)] = true
		out = append(out, Voter{ID: int32(id), Addr: addr})
	}
	return out, nil
}

// Timeouts are the Raft timers. Zero fields take hashicorp/raft's defaults
// (heartbeat and election 1 s, leader lease 500 ms) except Commit, 10 ms
// here (raft's is 50 ms): shorter timers fail over faster and flap more
// under load. Commit is also how long an idle leader waits before telling
// followers the new commit index, so followers apply a change 1-2 Commit
// after the leader (measured on loopback: 87 ms at 50 ms, 20 ms at 10 ms,
// 9 ms at 5 ms), for one empty AppendEntries per follower per Commit while
// idle.
type Timeouts struct {
	Heartbeat   time.Duration
	Election    time.Duration
	LeaderLease time.Duration
	Commit      time.Duration
}

// Config configures one controller node.
type Config struct {
	// NodeID is node.id; it must be one of Voters.
	NodeID int32
	// Voters is controller.quorum.voters. The quorum bootstraps from it on
	// the first start (an empty metadata directory); later starts read the
	// configuration from the log.
	Voters []Voter
	// ListenAddr is the CONTROLLER listener's bind address. Default: this
	// node's address in Voters.
	ListenAddr string
	// DataDir holds __cluster_metadata-0/ (raft.db and snapshots/).
	DataDir string

	// Observer makes this node a non-voting member (process.roles=broker):
	// it never bootstraps the quorum nor stands for election, and follows
	// the metadata log once the active controller adds it as a raft
	// non-voter (AddObserver, on its broker's registration). NodeID must
	// not be one of Voters.
	Observer bool
	// Join makes this node a voter that joins a running quorum
	// (controller.quorum.bootstrap.servers naming other controllers, as
	// KIP-853's controllers do): on an empty metadata log it does not
	// bootstrap; it waits, as a raft member without a configuration, for
	// the active controller to add it (AddVoter, on its AddRaftVoter
	// request), then votes. Voters may be empty.
	Join bool
	// Advertise is the address the quorum reaches this node at when
	// ListenAddr binds a wildcard host. Default: this node's address in
	// Voters, else ListenAddr.
	Advertise string
	// Serve, when set, receives the connections to the CONTROLLER
	// listener that are not raft's: the brokers' controller RPCs
	// (mux.go). Nil: the listener speaks raft only.
	Serve func(net.Conn)

	// SessionTimeout is broker.session.timeout.ms: a broker that sends no
	// heartbeat for this long is fenced. Default 9 s (Kafka's).
	SessionTimeout time.Duration
	// HeartbeatInterval is broker.heartbeat.interval.ms, how often the
	// brokers heartbeat. Default 2 s (Kafka's). It bounds how early a new
	// active controller may fence the previous controller's broker: not
	// before two intervals after the election (sessions.go); longer is
	// safer for a broker that survived its controller, shorter fences a
	// dead one sooner when the election was slow.
	HeartbeatInterval time.Duration
	// SessionCheckInterval is the longest time between two looks of the
	// active controller for expired sessions; it also looks when the next
	// session is due to expire (as KRaft's controller schedules its
	// fencing check), so a broker is fenced at its session's end, not up
	// to an interval later. Default SessionTimeout/9 (1 s with the
	// defaults).
	SessionCheckInterval time.Duration
	// UncleanLeaderElection is this node's static
	// unclean.leader.election.enable, the last default of the topic config
	// of that name (unclean.go): when no ISR member (nor, with
	// EligibleLeaderReplicas, eligible leader replica) is alive, elect a
	// live replica outside the ISR, losing what only the lost replicas
	// held. Default false (Kafka's).
	UncleanLeaderElection bool
	// UncleanLeaderElectionCheckInterval is
	// unclean.leader.election.interval.ms: how often the active controller
	// runs the unclean elections of leaderless partitions that allow one.
	// Default 5 minutes (Kafka's); elections on fencing, unfencing and
	// config changes do not wait for it.
	UncleanLeaderElectionCheckInterval time.Duration
	// AutoLeaderRebalance is auto.leader.rebalance.enable: the active
	// controller gives partitions back to their preferred leader (the
	// first replica) when a broker's share of preferred leaderships held
	// elsewhere passes LeaderImbalancePerBrokerPercentage. sluiced's
	// default is true (Kafka's); a zero Config leaves it off.
	AutoLeaderRebalance bool
	// LeaderImbalanceCheckInterval is leader.imbalance.check.interval.seconds:
	// how often the imbalance is checked. Default 300 s (Kafka's). Shorter
	// gives leaderships back sooner after a restart, for a scan of every
	// partition on the active controller each time.
	LeaderImbalanceCheckInterval time.Duration
	// LeaderImbalancePerBrokerPercentage is
	// leader.imbalance.per.broker.percentage: the share (in percent) of a
	// broker's preferred leaderships that may be held elsewhere before
	// they are given back. sluiced's default is 10 (Kafka's); here it is
	// taken as given, so 0 rebalances on any imbalance.
	LeaderImbalancePerBrokerPercentage int
	// EligibleLeaderReplicas is eligible.leader.replicas.enable (Kafka's
	// eligible.leader.replicas.version=1, KIP-966; elr.go): replicas that
	// leave an ISR already under min.insync.replicas stay eligible to lead,
	// so losing the whole ISR does not take the partition offline when a
	// clean one comes back. Default false, as Kafka 4.0; every broker must
	// set it alike (they keep the high watermark still under min ISR).
	EligibleLeaderReplicas bool
	// DefaultMinInsync is the broker's min.insync.replicas, the topics'
	// default, for the ELR rules. Default 1.
	DefaultMinInsync int
	// ProducerIDBlockSize is the size of a producer-id block. Default 1000
	// (Kafka's ProducerIdsBlock size).
	ProducerIDBlockSize int32
	// ApplyTimeout bounds one proposal's wait for commit. Default 10 s.
	ApplyTimeout time.Duration
	// SnapshotThreshold is how many log entries trigger a snapshot.
	// Default 8192 (raft's).
	SnapshotThreshold uint64
	// TrailingLogs is how many entries a snapshot leaves in the log, so a
	// follower that lags by less catches up from the log rather than a
	// snapshot. Default 10240 (raft's).
	TrailingLogs uint64

	Timeouts Timeouts
	// Now is the clock for broker sessions. Default time.Now.
	Now func() time.Time
	// Logger receives raft's log. Default: errors only, to stderr.
	Logger hclog.Logger
}

func (c *Config) withDefaults() (Config, error) {
	cfg := *c
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 9 * time.Second
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 2 * time.Second
	}
	if cfg.SessionCheckInterval <= 0 {
		cfg.SessionCheckInterval = cfg.SessionTimeout / 9
	}
	if cfg.LeaderImbalanceCheckInterval <= 0 {
		cfg.LeaderImbalanceCheckInterval = 300 * time.Second
	}
	if cfg.UncleanLeaderElectionCheckInterval <= 0 {
		cfg.UncleanLeaderElectionCheckInterval = 5 * time.Minute
	}
	if cfg.DefaultMinInsync <= 0 {
		cfg.DefaultMinInsync = 1
	}
	if cfg.ProducerIDBlockSize <= 0 {
		cfg.ProducerIDBlockSize = 1000
	}
	if cfg.ApplyTimeout <= 0 {
		cfg.ApplyTimeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Error})
	}
	if cfg.DataDir == "" {
		return cfg, fmt.Errorf("controller: no data directory")
	}
	for _, v := range cfg.Voters {
		if v.ID == cfg.NodeID && cfg.ListenAddr == "" {
			cfg.ListenAddr = v.Addr
		}
	}
	if cfg.ListenAddr == "" {
		return cfg, fmt.Errorf("controller: node %d is not in controller.quorum.voters", cfg.NodeID)
	}
	if cfg.Observer && cfg.Join {
		return cfg, fmt.Errorf("controller: node %d cannot be both an observer and a joining voter", cfg.NodeID)
	}
	if cfg.Observer && slices.ContainsFunc(cfg.Voters, func(v Voter) bool { return v.ID == cfg.NodeID }) {
		return cfg, fmt.Errorf("controller: node %d is an observer but is in controller.quorum.voters", cfg.NodeID)
	}
	return cfg, nil
}
