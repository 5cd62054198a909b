// Package txn is Sluice's transaction coordinator (Kafka's
// TransactionCoordinator and TransactionStateManager): the state of every
// transactional id, producer id and epoch allocation and fencing, the
// partitions of ongoing transactions, commit and abort (markers written
// through a hook the broker provides), timeouts and id expiration, kept in
// the internal topic __transaction_state.
//
// # State machine
//
//	              AddPartitions            EndTxn(commit)                 markers
//	Empty ───────────────────▶ Ongoing ───────────────────▶ PrepareCommit ─────────▶ CompleteCommit
//	  ▲  Complete* ──(Add)──────▶  │     EndTxn(abort), timeout,
//	  │                            └── InitProducerId ────▶ PrepareAbort ──────────▶ CompleteAbort
//	  └──── InitProducerId (epoch bump) from Empty / Complete* ────────────────────────┘
//	idle for transactional.id.expiration.ms: Dead (a tombstone; removed)
//
// An InitProducerId, or the timeout, of an Ongoing transaction bumps the
// epoch first (fencing the producer that began it) and aborts with the new
// epoch. While a change is being written, or a prepared transaction's
// markers are being written, the id answers CONCURRENT_TRANSACTIONS.
// PrepareEpochFence is Kafka's in-memory state for that fence; Sluice never
// stores it.
//
// # Transactions v2 (KIP-890 part 2)
//
// EndTxnV2 (EndTxn v5) bumps the producer epoch at every commit and abort:
// the prepare record already carries epoch+1 (and the epoch before it is
// remembered as lastEpoch), the markers are written with it, and the
// producer continues with it, so a late write of the previous transaction
// is fenced on every partition. At the last epoch (math.MaxInt16-1) the
// bump writes the markers at math.MaxInt16 and hands the producer a new
// producer id at epoch 0, kept as next_producer_id in the prepare record
// until the Complete record moves to it. A v2 request sets
// client_transaction_version 2 in the record (v2), which makes an EndTxnV2
// one epoch behind, after the Complete, a retry (answered, not fenced).
// Partitions join implicitly: the broker calls AddPartitions for a
// Produce v12 or TxnOffsetCommit v5 (no AddPartitionsToTxn or
// AddOffsetsToTxn from the client). Which rules apply follows the request
// version, as in Kafka; Config.Version only sets the transaction.version
// level the broker advertises, which is what clients key on.
//
// # Storage: __transaction_state
//
// Partition of an id: abs(javaStringHashCode(id)) % partitions, as Kafka.
// One record per change, RecordBatch v2 (uncompressed, producer id -1),
// appended through partition.Log, with Kafka's schemas (big-endian;
// string = int16 length + bytes; v1 is flexible: compact strings and
// arrays, tagged fields):
//
//	key (version 0)    | version int16 = 0 | transactional_id string |
//	value (version 1)  | version int16 = 1 | producer_id int64 | producer_epoch int16 |
//	                   | transaction_timeout_ms int32 | state int8 |
//	                   | partitions [ topic string | partition_ids [int32] ] |
//	                   | last_update_ts int64 | start_ts int64 (-1: none) |
//	                   | tagged: 0 previous_producer_id int64, 1 next_producer_id int64, |
//	                   |         2 client_transaction_version int16 (2: v2)                |
//
// Version 0 values (no tagged fields) are read too. A tombstone removes the
// id. Loading a partition replays it from its log start to its log end
// offset (last record of a key wins; an undecodable record is skipped with
// a warning); then every PrepareCommit/PrepareAbort found is completed by
// writing its markers again (WriteMarkers must be idempotent) and the
// Complete state. On one node every partition loads at Open.
//
// # Placement in a cluster: load and unload
//
// The coordinator of an id is the leader of its __transaction_state
// partition. With Config.LoadOnElection the broker calls Elect(p,
// leaderEpoch, log) when it becomes p's leader and Resign when it stops
// being it; the leader epoch is the coordinator epoch of the markers:
//
//	           Elect                   load done
//	Unloaded ─────────▶ Loading ─────────────────▶ Loaded ── prepared ones
//	NOT_COORDINATOR     COORDINATOR_LOAD_            │       completed
//	   ▲                IN_PROGRESS                  │
//	   └──── Resign ───────┴─────────────────────────┘
//	   (ids forgotten; a write in flight fails NOT_COORDINATOR);
//	   Elect at a higher epoch reloads
//
// load.go has the details.
//
// # Concurrency
//
// Coordinator.mu guards every id's state; it is never held across an
// append or a marker write. An id being changed has pending set, so
// changes to one id are serial and its records reach the log in order.
// part.wmu serialises appends to one partition. One goroutine drives
// timeouts, expiry and marker retries from the injectable clock.
package txn
