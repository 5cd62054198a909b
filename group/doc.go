// Package group is Sluice's classic consumer-group coordinator and offset
// store (Kafka's GroupCoordinator and GroupMetadataManager): group state
// machines, member ids, generations, session and rebalance timeouts, static
// membership, protocol selection, and committed offsets kept in the internal
// topic __consumer_offsets.
//
// # State machine
//
//	          join                  all members joined or        leader's SyncGroup
//	Empty ───────────▶ Preparing ─── rebalance timeout ───▶ Completing ──────────▶ Stable
//	  ▲                Rebalance ◀───────────────────────── Rebalance  ◀──────────   │
//	  │                   │  ▲        join / leave / expiry             join/leave/  │
//	  └── no member left ─┘  └──────────────────────────────────────── expiry ───────┘
//	DeleteGroups or offsets expired on an Empty group: Dead (removed)
//
// # Storage: __consumer_offsets
//
// Partition of a group: abs(javaStringHashCode(groupID)) % partitions, as
// Kafka computes it. Records are RecordBatch v2 (uncompressed, producer id
// -1) appended through partition.Log; keys and values use Kafka's schemas
// (big-endian; string = int16 length + bytes; nullable -1):
//
//	offset commit key (version 1)       | version int16 = 1 | group string | topic string | partition int32 |
//	offset commit value (version 3)     | version int16 = 3 | offset int64 | leader_epoch int32 |
//	                                    | metadata string | commit_timestamp int64 |
//	group metadata key (version 2)      | version int16 = 2 | group string |
//	group metadata value (version 3)    | version int16 = 3 | protocol_type string | generation int32 |
//	                                    | protocol nullable string | leader nullable string |
//	                                    | current_state_timestamp int64 | members [int32 count] |
//	  member                            | member_id string | group_instance_id nullable string |
//	                                    | client_id string | client_host string | rebalance_timeout int32 |
//	                                    | session_timeout int32 | subscription bytes | assignment bytes |
//
// A null value (tombstone) deletes the key: a deleted or expired offset, a
// deleted group. A partition is loaded by reading it from its log start
// offset to its log end offset and replaying it (the last record of a key
// wins): on one node every partition at start-up; in a cluster each when
// this broker becomes its leader.
// A key or value that does not decode (unknown version, truncated) is
// skipped with a warning; the records around it still load.
//
// # Loading and unloading (cluster)
//
// Groups move with the leadership of their __consumer_offsets partition
// (Kafka's onElection / onResignation). With Config.LoadOnElection the
// broker calls Elect(p, leaderEpoch, log) when it becomes p's leader and
// Resign(p, leaderEpoch) when it stops being it:
//
//	           Elect                  load done
//	Unloaded ─────────▶ Loading ────────────────▶ Loaded
//	NOT_COORDINATOR     COORDINATOR_LOAD_         serving p's groups
//	   ▲                IN_PROGRESS                  │
//	   └──── Resign ───────┴─────────────────────────┘
//	   (groups dropped, waiting joins/syncs and queued writes
//	    answered NOT_COORDINATOR); Elect at a higher epoch reloads
//
// Stale calls (an epoch below the last one seen) change nothing; a load
// overtaken by a Resign or a newer Elect gives up. load.go has the details.
//
// # Compaction
//
// The topic has cleanup.policy=compact (the broker creates it so and
// switches an existing one at start-up): the log cleaner keeps the latest
// record of every key, and tombstones go after delete.retention.ms, so the
// topic stays bounded by the live groups and offsets (plus the active
// segment of each partition and what was written since the last cleaning)
// under any commit rate. Every record has a key, as a compacted topic
// requires.
//
// # Transactional offsets
//
// TxnOffsetCommit's offsets are appended as a transactional batch of the
// producer (no sequence) and wait, per producer id, for the transaction's
// COMMIT or ABORT marker on the group's partition, which load replays
// too (txnoffsets.go). OffsetFetch reports a partition with one pending
// as unstable.
//
// # Concurrency
//
// Lock order: part.wmu (one per __consumer_offsets partition, serialises
// appends) before Coordinator.mu (all groups' state). Coordinator.mu is
// never held across an append: a change that needs a write queues it under
// mu; the flusher takes wmu, drains the queue, appends, then applies each
// write's callback under mu in log order. JoinGroup and SyncGroup long-poll
// on a per-member channel, without any lock. One goroutine per coordinator
// drives every deadline (session, rebalance, pending member, pending sync,
// offset expiry) from the injectable clock.
package group
