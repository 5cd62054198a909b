// Package controller is the cluster's metadata quorum: a Raft state machine
// on github.com/hashicorp/raft whose log holds batches of metadata records,
// and the active controller (the Raft leader) that decides what to append.
//
//	broker ──reads──▶ metadata.Image ◀──swaps── FSM.Apply ◀── raft log
//	                                                              ▲
//	Controller (leader): RegisterBroker, Heartbeat, FenceBroker,  │
//	  CreateTopic, CreatePartitions, DeleteTopic, AlterPartition, │
//	  ElectLeaders, AllocateProducerIDs, SetConfigs ──────────────┘ raft.Apply
//	  AlterPartitionReassignments, AllocateProducerIDs,           │
//	  SetConfigs ─────────────────────────────────────────────────┘ raft.Apply
//	                                                 (returns after commit)
//
// # Storage and transport
//
// Each node keeps its log under <data-dir>/__cluster_metadata-0/:
// raft.db (BoltDB, raft-boltdb/v2: the log and raft's term/vote) and
// snapshots/ (raft's file snapshot store, two kept). Nodes talk over raft's
// TCP transport on the CONTROLLER listener. An empty log bootstraps the
// quorum from controller.quorum.voters on every voter alike; a single voter
// elects itself with no extra step. A node opened with Config.Join (a
// controller given controller.quorum.bootstrap.servers naming others)
// never bootstraps: it waits for the active controller to add it with
// AddVoter (raft AddVoter, on its AddRaftVoter request) and then votes.
//
// sluiced runs one node per process: a voter for process.roles=controller
// or broker,controller (combined); with controller.quorum.voters unset a
// combined node is a one-voter quorum with short Raft timers. A broker-only
// node (process.roles=broker) runs an observer (Config.Observer): a raft
// non-voter that never bootstraps nor votes; the active controller adds it
// with AddObserver when its broker registers, and then replicates the log
// to it as to the voters (hashicorp/raft has no fetch-based follower, so
// this is how a KRaft broker's metadata fetch is done here). An observer
// needs no voters: given controller.quorum.bootstrap.servers in their
// place, its broker finds the active controller through them and, once
// added, raft's configuration in the log names the voters. Brokers reach
// the active controller as the broker package's cluster.go describes;
// heartbeats carry the node's applied index, which Quorum reports as its
// log end offset.
//
// With Config.Serve set, the CONTROLLER listener carries both raft and the
// Kafka-framed controller RPCs, told apart by a connection's first two
// bytes (mux.go):
//
//	raft:  [rpc type 0..15][msgpack map 0x80-0x8f | 0xde] ──▶ raft transport
//	Kafka: [int32 frame size < 8 MiB: byte 1 < 0x80]       ──▶ Config.Serve
//
// Raft's requests carry no cluster id, and hashicorp/raft checks a vote's
// sender against its configuration but not an append's. A one-voter
// quorum refuses appends, snapshots and TimeoutNow from any other server
// (soleguard.go): they can only come from another cluster that names this
// node's address. A quorum of several voters cannot tell; KRaft's check
// by cluster id is not there yet.
//
// # The state machine
//
// One raft log entry is one batch: metadata frames back to back (see the
// metadata package for the framing). FSM.Apply decodes the batch, applies it
// to the current image and swaps the new image in with an atomic pointer;
// a batch that does not decode or apply is refused whole, on every node
// alike, and its error is the proposal's answer. A snapshot is the image's
// snapshot encoding (metadata.Image.AppendSnapshot), so restoring it gives
// the same image, byte for byte. Partition and PartitionChange records
// carry the ELR and the last known ELR at record version 1, written only
// when set: a log or snapshot from before KIP-966 replays unchanged, and a
// cluster without eligible leader replicas writes the same bytes as
// before (the metadata package draws the frames).
//
// # Read barrier
//
// A node's image trails the leader's by the time a follower takes to learn
// that an entry is committed (the leader's next append, within the commit
// timeout). A broker that must not answer from that gap (an admin request
// naming a topic CreateTopics has just created through another node) asks
// the leader its commit index (CommitIndex; brokers ask through
// DescribeQuorum's high watermark) and calls CatchUp with it: it returns
// once raft has applied that index and the FSM has applied the last
// command entry at or below it (catchup.go).
//
// # Decisions
//
// Only the leader decides; every other node answers a *NotLeaderError naming
// the leader. Decisions run one at a time (decideMu, as KRaft's single
// controller thread): read the image, build records, raft.Apply, wait for
// commit. After each leadership change the first decision waits on a raft
// barrier, so it reads every committed record.
//
//   - RegisterBroker: the broker is registered fenced with broker epoch + 1;
//     its first Heartbeat unfences it. A new incarnation of a broker id
//     that is alive (unfenced and heard from within its session) is
//     refused with ErrDuplicateBroker (DUPLICATE_BROKER_REGISTRATION: two
//     processes with one node.id); the refused one retries until the
//     other's session ends. A broker this leader has not heard from since
//     it took over is not taken as alive, nor is a combined node's own
//     broker (BrokerRegistration.Local). A new incarnation whose
//     PreviousBrokerEpoch is not the epoch it held (no clean shutdown)
//     leaves every ELR.
//   - UnregisterBroker: a fenced broker's registration is removed
//     (metadata.UnregisterBroker) and a broker-only node's raft
//     non-voter is removed from the configuration (RemoveServer); a live
//     broker is refused with ErrBrokerAlive.
//   - Sessions: a broker without a heartbeat for SessionTimeout
//     (broker.session.timeout.ms, 9 s) is fenced; a new leader gives every
//     broker a full session from its election, except the previous
//     leader's own broker, whose session runs from when that leader was
//     last heard from (sessions.go).
//   - FenceBroker: the broker leaves every ISR (unless it is the last
//     member) and each partition it led gets the first live ISR replica
//     (leader epoch + 1), or no leader; where the topic allows unclean
//     elections, the first live replica. An unfenced broker takes back
//     leaderless partitions whose ISR names it (or, unclean, any it is a
//     replica of).
//   - ElectLeaders (elect.go): PREFERRED makes a partition's first
//     replica leader when it is alive and in the ISR
//     (ErrElectionNotNeeded when it leads, ErrPreferredLeaderNotAvailable
//     when it cannot); UNCLEAN, only for a partition without a live
//     leader, takes a live ISR member, else the first live replica, which
//     becomes the whole ISR. Every change of one call is one batch of
//     PartitionChange records (leader epoch + 1). A nil partition list
//     means every partition, answered without those needing no election.
//   - Auto leader rebalance (rebalance.go, Config.AutoLeaderRebalance):
//     every LeaderImbalanceCheckInterval the active controller counts, per
//     broker, the partitions it is preferred leader of that others lead;
//     over LeaderImbalancePerBrokerPercentage, it runs the preferred
//     elections of those whose preferred leader is alive and in the ISR.
//   - Eligible leader replicas (KIP-966, EligibleLeaderReplicas; elr.go):
//     every decision's partition changes also set the ELR and the last
//     known ELR. Under min ISR (the topic's min.insync.replicas, else
//     DefaultMinInsync, capped at the replication factor) a replica leaving
//     the ISR joins the ELR, and a fenced last ISR member leaves the ISR
//     too; at min ISR or more both lists are empty. With no live ISR
//     member the leader is a live ELR member (ISR = it), else, with an
//     empty ELR, a live last-known-ELR member.
//   - CreateTopic: replicas over the unfenced brokers as Kafka assigns them
//     (leaders round-robin, rack-alternated when racks are set).
//     CreateTopicAssigned (manual.go) places them as CreateTopics' manual
//     assignment lists them: registered brokers, none twice, one length;
//     the ISR is the unfenced replicas, the leader the first of them.
//   - AlterPartition: a partition leader changes its ISR, naming the leader
//     and partition epochs it acts on (stale ones are refused, as are
//     fenced brokers and non-replicas in the new ISR).
//     An ISR change that puts every target replica of a pending
//     reassignment in the ISR completes it in the same record.
//   - AlterPartitionReassignments (reassign.go, KIP-455): replicas become
//     target ++ (original - target), with adding = target - original and
//     removing = original - target; the adding replicas fetch out of the
//     ISR. Once the ISR holds every target replica the partition's
//     replicas become the target, the ISR loses the removed ones and a
//     removed leader gives way to the first live target replica (leader
//     epoch + 1). A null target cancels (back to the original replicas,
//     the ISR without the adding ones); a new target replaces a pending
//     one, starting from the original replicas. Unknown or duplicated
//     brokers and empty lists are refused, as is a cancel with nothing
//     pending; the requests of one call are decided in one batch.
//   - ImportTopics: the takeover of a single-node data directory's topics
//     (ids, partition counts, configs kept; the importing broker the only
//     replica), once, by the broker package's reconciler.
//   - AllocateProducerIDs: the next block of 1000 ids; the image refuses a
//     block below its next id, so blocks never overlap.
//   - Unclean leader election (unclean.go): a partition without a live
//     ISR member (nor, with ELR, a live eligible one) gets its first live
//     replica as leader, alone in the ISR, ELR and last known ELR emptied
//     (leader epoch + 1), when its topic's unclean.leader.election.enable
//     allows it (topic config, else this node's dynamic broker config,
//     else the cluster-wide one, else UncleanLeaderElection). Decided on
//     fencing and unfencing, in the same batch as a SetConfigs that names
//     the key, and every UncleanLeaderElectionCheckInterval; each one is
//     logged at ERROR and counted (UncleanElections).
//   - CreateAcls / DeleteAcls / AlterScramCredentials: ACL bindings get
//     fresh random ids here, and one the image already holds is not
//     stored twice (so a retry or a repeated takeover is harmless);
//     deletion filters are matched against the leader's image under the
//     decision lock; a user whose alteration removes a credential that
//     does not exist is left out whole and reported back. Every broker's
//     authorizer and SCRAM store follow the image (the broker package's
//     security_cluster.go).
package controller
