// Package partition owns one partition's log (Log: ordered segments,
// appends, reads, rolls, retention, recovery, offsets) and a data directory
// of them (Store: Kafka's LogManager), including the log cleaner that
// compacts logs with cleanup.policy=compact.
//
// # Files
//
// A partition directory `<topic>-<partition>/` holds Kafka's files:
// `<base>.log`, `.index`, `.timeindex` per segment (see packages segment and
// mmapindex; the indexes are written once the segment has entries and
// rolls or the log closes, or has 512: "File descriptors and mappings"),
// `.txnindex` for a segment holding ABORT markers (below),
// `<offset>.snapshot` producer-state snapshots,
// `leader-epoch-checkpoint` and `partition.metadata` ("version: 0",
// "topic_id: <id>"). The partition.metadata files of one topic's
// directories made by their first write (CreateLogsLazy) or by a CreateLogs
// of many partitions are hard links to one inode when the file system
// allows (the first one made is linked into the next; metalink.go): the
// same bytes, one inode allocation per topic instead of one per partition.
// Nothing writes the file in place, so the links stay alike: a rewrite is
// a temporary file renamed over one name, a deletion unlinks one.
//
// The data directory holds `recovery-point-offset-checkpoint`,
// `log-start-offset-checkpoint`, `cleaner-offset-checkpoint`,
// `replication-offset-checkpoint` (each log's high watermark, below),
// `.kafka_cleanshutdown` and `.lock`.
//
// Every checkpoint file is Kafka's text format:
//
//	0                       ← version
//	2                       ← number of entries
//	orders 0 1200           ← topic partition offset
//	__consumer_offsets 7 88
//
// A checkpoint that does not parse (bad version or count line, a count
// other than the entries present, a bad number) is corrupt: its error wraps
// segment.ErrCorrupt. So is a producer snapshot failing its CRC or layout.
//
// # Producer snapshots
//
// `<offset>.snapshot` (20-digit offset) holds the idempotent producers'
// state as of that offset (everything below it applied), in Kafka's format
// (ProducerStateManager, snapshot version 1; snapshotfmt.go), big-endian:
//
//	+-------------+---------+-----------+---------------------+
//	| version i16 | crc u32 | count i32 | count × entry (46B) |
//	|     = 1     |         |           |                     |
//	+-------------+---------+-----------+---------------------+
//	              └ CRC-32C of every byte after the crc field ┘
//
//	entry: | producerId i64 | epoch i16 | lastSequence i32 | lastOffset i64 |
//	       | offsetDelta i32 | timestamp i64 | coordinatorEpoch i32 |
//	       | currentTxnFirstOffset i64 |
//
// An entry is one producer's last batch: sequences lastSequence-offsetDelta
// … lastSequence (wrapping at MaxInt32), offsets lastOffset-offsetDelta …
// lastOffset, timestamp its max timestamp. A producer with no batch yet (an
// epoch bump) has lastSequence -1, lastOffset -1, offsetDelta 0.
// coordinatorEpoch is that of the producer's last marker (-1 before any)
// and currentTxnFirstOffset the first offset of its open transaction (-1
// when none is open), so a clean start knows the open transactions and the
// last stable offset without reading the log. Sluice writes ids ascending and reads any
// order (Kafka writes its hash map's order), so kafka-dump-log reads
// Sluice's snapshots and Sluice reads Kafka's.
//
// In memory a producer keeps its last five batches, as Kafka does; the
// snapshot keeps the last one, as Kafka's does. So after a restart a retry
// of the last batch is still a duplicate (it gets its first offsets back),
// the next sequence is accepted, and a retry of an older batch is refused
// with OUT_OF_ORDER_SEQUENCE_NUMBER, as by Kafka; batches after the
// snapshot's offset are replayed from the log with all five kept. A
// snapshot is written at each roll (at the new segment's base) and at
// close, atomically (temporary file, fsync, rename, directory fsync); one
// that fails to decode is skipped and an older one and the log are used.
//
// Releases before this format wrote their own (| crc32c u32 | count u32 |
// entries with up to five batches each |), told apart by its header (not
// version 1 with a matching CRC). It is still read, with every batch kept
// in memory; when the newest snapshot is in it, that snapshot and every
// older one in it are rewritten in Kafka's format as the partition opens.
// It had no timestamps: they are written as -1 until the producer appends
// again (Kafka would expire such a producer at once if it loaded the file).
//
// In cleaner-offset-checkpoint the offset is the partition's first dirty
// offset: everything below it was in the cleaned section of the last
// cleaning. It is written after each cleaning; a missing or stale entry
// (outside the log) means "clean from the log start".
//
// # Transactions
//
// A transactional producer's batches (attribute bit 4) open a transaction
// on the partition at the first one's offset (the producer state's
// currentTxnFirstOffset); a plain batch from that producer while it is open
// is INVALID_TXN_STATE. Log.AppendMarker, called by the transaction
// coordinator, writes the marker that ends it: a control batch (attributes
// isControl|isTransactional, no sequence) holding one control record, key
// | version i16 = 0 | type i16 (0 ABORT, 1 COMMIT) |, value | version i16 =
// 0 | coordinatorEpoch i32 | (segment/control.go). A marker from an older
// producer epoch is INVALID_PRODUCER_EPOCH, from an older coordinator epoch
// TRANSACTION_COORDINATOR_FENCED.
//
// The last stable offset (LSO) is the first offset of the oldest open
// transaction, or the high watermark when that is lower or none is open;
// it is published with the high watermark (the appender computes it at the
// end of a round that began or ended a transaction). Log.ReadCommitted
// (Fetch read_committed) reads below it, still as file regions. On one
// node the high watermark covers each round as it is published; in
// replicated mode, where it lags the log end, a transaction whose marker is
// not yet below it keeps bounding the LSO at its first offset (Kafka's
// unreplicatedTxns), so no read_committed consumer reads records whose
// outcome a truncation could still change.
//
// Each ABORT marker adds an entry to `<base>.txnindex` of the segment it is
// in: Kafka's TransactionIndex, 34 bytes, big-endian:
//
//	| version i16 = 0 | producerId i64 | firstOffset i64 | lastOffset i64 | lastStableOffset i64 |
//
// firstOffset is the transaction's first offset (perhaps in an earlier
// segment), lastOffset the marker's, lastStableOffset the LSO once it was
// aborted. The file is written (not preallocated) after the marker's
// pwritev and fsync'd with its segment; a round undone after a write error
// cuts it back; it is renamed and deleted with its segment by retention,
// carried by the cleaner's swaps. ReadCommitted returns the entries whose
// transaction overlaps what was read (from the segment read on, until an
// entry's lastStableOffset reaches the end of the read: Kafka's
// collectAbortedTransactions), which the consumer uses to drop aborted
// records. Recovery empties the .txnindex of every segment it recovers and
// rebuilds it while rebuilding the producer state, as Kafka's
// LogSegment.recover does: from the newest snapshot at or below the first
// recovered segment, the batch headers between the two replayed, then
// each batch recovery validates applied in the same pass that checks its
// CRC, so the recovered bytes are read once (reading each marker's
// control record): a torn marker leaves its transaction open, a whole one
// is indexed.
//
// The log cleaner drops aborted records, keeps markers out of the key map,
// removes a marker past delete.retention.ms once its transaction's data is
// gone, moves a kept ABORT marker's entry into the cleaned segment, and
// never cleans at or past the LSO (cleantxn.go).
//
// # Offsets, replicated mode and truncation
//
//	log start            high watermark (HW)            log end offset (LEO)
//	|  consumers: Read, ReadCommitted (to the LSO) |   followers only   |
//	+----------------------------------------------+--------------------+
//	|<──────────────────── ReadReplica (a follower's fetch) ──────────>|
//
// LogStartOffset <= LastStableOffset <= HighWatermark <= LogEndOffset.
// Consumers (Read, ReadCommitted, the offset and timestamp lookups, the
// cleaner and DeleteRecords) never see at or above the HW; ReadReplica
// reads to the LEO, as zero-copy file regions too.
//
//	                  SetReplicated(true)
//	single replica ─────────────────────────▶ replicated
//	(default)      ◀─────────────────────────
//	                  SetReplicated(false): HW := LEO
//
//	single replica: Append publishes LEO and HW together.
//	replicated:     Append and AppendAsFollower publish the LEO only;
//	                UpdateHighWatermark(hw) moves the HW up (clamped to
//	                [log start, LEO], never down, waking Wait); TruncateTo
//	                moves both down.
//
// The HW is kept with its position (segment, byte) for the readers'
// limit; in replicated mode the appender also records every published
// batch's end above it, so a move costs no I/O: the HW's position is the
// end of the last batch wholly below it (an HW inside a batch hides that
// batch, as Kafka's fetch upper bound does). Wait wakes at every publish
// (LEO moves) and every HW move. OnAppend's hook runs after every round
// that added records, before its appends return: a leader moves the HW
// there (with the ISR the leader alone, nothing else would).
//
// AppendAsFollower is the replica origin of an append: the leader's base
// offsets, partition leader epochs, producer ids, sequences and timestamps
// are kept; CRC and framing are checked (corruption wraps ErrCorruption);
// producer and transaction state, the .txnindex, the leader-epoch cache (a
// batch with a newer epoch starts that epoch at its base offset), indexes
// and rolls follow as for Append. AssignLeaderEpoch (becoming leader)
// records the epoch; its `leader-epoch-checkpoint` entry is recorded in
// memory by the append round that writes the first record of the epoch,
// or written and fsync'd at once when the epoch starts below the log end.
// The recorded text is written to the file (temporary file, fsync,
// rename, directory fsync) when the log is flushed (Flush, a rolled
// segment's flush, Close), before the recovery point passes the epochs it
// holds; under FlushAlways the recovery point stays at the start of an
// epoch whose entry is not in the file yet, until the store's flush tick
// (every FlushInterval, 1 s by default) writes the checkpoint. So a new
// partition's first append creates no checkpoint file and costs no fsync
// of its own under FlushNever, and only its segment's under FlushAlways.
// A crash can leave the file without its latest entries (the ones not
// flushed yet), or (a power loss) empty or torn; recovery re-learns the epochs from the batches it
// validates above the recovery point (a batch whose partitionLeaderEpoch
// is newer than the latest known begins that epoch, as Kafka's
// LogSegment.recover), from every segment's batch headers when the file
// does not parse after an unclean shutdown (after a clean one that is
// corruption), and drops entries past the log end. AppendAsLeader is
// Append made in a leader epoch, refused (ErrNotLeaderEpoch) unless that
// is still the log's latest when the writer takes it, so an append checked
// as leader cannot land after the log has begun following a newer leader
// (its batch would carry that leader's epoch and never be found by an
// epoch comparison). EndOffsetForEpoch
// answers as Kafka's LeaderEpochFileCache.endOffsetFor, and
// TruncationOffset is the follower's rule for the leader's answer
// (KIP-101, KIP-279).
//
// TruncateTo(offset) removes everything at and above offset, as a
// follower does when its log diverges from its leader's:
//
//	before:  [seg 0      ][seg 100      ][seg 200   )  LEO 260
//	TruncateTo(150), the batch 148-152 holding 150:
//	after:   [seg 0      ][seg 100  )                  LEO 148
//
// in this order: the recovery point, segment list, LEO and HW in memory
// (readers see the shorter log at once); the later segments renamed for
// deletion, last first; the holding segment cut (its .index, .timeindex
// and .txnindex entries at or above the new end dropped); the leader
// epochs from the new end dropped and the checkpoint written; the producer
// state rebuilt from the newest snapshot at or below the new end (later
// ones deleted) and the batches after it. A kill -9 at any step reopens as
// a prefix of the old log (recovery validates the remaining tail segment).
// An offset below the log start truncates fully: every segment, snapshot
// and epoch goes and the log starts empty at offset
// (TruncateFullyAndStartAt, also for a leader whose log start passed the
// follower's end).
//
// Store.CheckpointHighWatermarks writes `replication-offset-checkpoint`
// ("topic partition hw" lines, the format above; temporary file, fsync,
// rename) and Store.Close does too. At open each log keeps its entry (0
// without one, as Kafka); the first SetReplicated(true) starts the HW
// there, clamped to [log start, LEO], so a restarted replica never shows
// consumers what was not known replicated (unless it appended as a single
// replica since it opened).
//
// # Errors and the sticky-error rule
//
// Errors wrap one of the Err* sentinels of api.go with %w and keep their
// cause in the chain, so callers can tell the classes apart with errors.Is:
//
//   - client errors (ErrCorruptMessage, ErrMessageTooLarge, …): the request
//     was refused before anything touched the disk;
//   - storage errors (ErrStorage → KAFKA_STORAGE_ERROR): the cause stays
//     reachable, either an I/O error (a syscall.Errno such as EIO, ENOSPC,
//     EROFS, wrapped in an *os.PathError naming the file) or corruption
//     found on disk (ErrCorruption, the same value as segment.ErrCorrupt:
//     a batch failing its CRC or framing, a bad snapshot). Corruption is
//     never reported as an I/O error, nor the reverse.
//
// A failed write or fsync of a log's files is sticky (nats' mb.werr; after a
// failed fsync Linux may have dropped the dirty pages and report the next
// fsync a success). The failed append round is undone, the error is kept
// and the log goes offline (Log.Offline): every later Append, Read and Flush
// returns it at once without touching the disk, the recovery point never
// moves again, and Close returns it, so the store writes no clean-shutdown
// marker and the next start recovers the log from its last recovery point,
// validating every batch. Only that log is affected; the broker answers
// KAFKA_STORAGE_ERROR for it. This covers the appender's pwritev and fsync,
// the fsync of a rolled segment and the producer snapshot written with it,
// interval and shutdown flushes, the leader-epoch checkpoint, retention's
// renames and a cleaner swap failing after its commit point (one failing
// before it leaves the log untouched and online).
//
// Store.Close (16 logs at once, so that their fsyncs share the file
// system's journal commits) seals each log's active segment, fsyncs every
// segment above its recovery point (.log and indexes) and writes its
// producer snapshot (temporary file, fsync, rename, directory fsync), and
// only if every log closed without error writes the recovery points and
// then the clean-shutdown marker.
// OpenStore loads 16 logs at once too, so the CRC passes of several logs
// recovered after an unclean stop use every core.
//
// A log recovered inside its active segment (the recovery point in it, as
// after a kill -9 between two rolls) is served as the crash left it, as
// Kafka's LogLoader does: recovery validates every batch above the
// recovery point, cuts a torn tail and rebuilds the indexes, but fsyncs
// nothing and leaves the recovery point where it was. The epochs it
// learned from the batches are recorded for the log's next flush, as an
// append round's are. A second crash, or a power loss that undoes the
// cut, recovers the same log again; the next flush (Flush, a roll, Close)
// or, under FlushAlways, the next round's fsync of the active segment
// makes it durable. A recovery that spanned rolled segments fsyncs them
// before the log serves (a FlushAlways round fsyncs only the active one
// before moving the recovery point), and a leader-epoch checkpoint that
// holds an entry recovery dropped, or did not parse, is rewritten fsync'd
// at once.
//
// All file operations go through StoreConfig.FS (internal/vfs; the OS by
// default), so tests inject faults at any call with internal/vfs/errorfs.
// mmap (indexes) and sendfile (reads) use the files' descriptors directly.
//
// # Locks and I/O
//
// No lock that readers take is held across a write or an fsync: the
// appender writes and fsyncs under wmu (which only serialises writers),
// writes the leader-epoch checkpoint before publishing a round, then takes
// mu only to publish the new end.
//
// # Group commit and Submit
//
// Appends queue on the log; the first appender with no writer running
// becomes the writer and takes rounds of everything queued: one pwritev
// and, under FlushAlways, one fsync per round, whatever the number of
// appends in it (append.go). Append queues and waits. Submit queues (in
// call order: offsets and producer sequences follow it) and returns at
// once, starting the writer on a goroutine when none runs; its
// PendingAppend's Wait waits. SubmitAsLeader is Submit checked against a
// leader epoch, as AppendAsLeader. The broker submits a connection's pipelined
// produces in request order and waits in netio's pending phase, so an
// fsync covers the appends of every request in flight on every
// connection, not one request per connection.
//
// SubmitTo is Submit with the writing done by a WritePool (writepool.go):
// a fixed set of workers takes the logs with appends queued in the order
// they were listed, one round each, and lists a log again behind the
// others if more queued meanwhile. While the workers are behind, each
// log's queue grows by every request submitted since its last round, so
// a request of many partitions shares its pwritevs with the requests in
// flight after it (the broker's produces of more than 64 partitions, or
// of several partitions of small batches); a SubmitGroup lets the caller wait once for all its appends.
//
// SubmitForWait starts no writer: the log owes one, and the first Wait on
// one of its appends writes one round in the waiting goroutine, then
// starts a writer goroutine for whatever queued meanwhile. An Append, a
// Submit or a later Wait takes the writer's part of an owing log, so a
// log stays owed only while each append queued on it has a waiter that
// can write it. The broker uses it for the first fsync=always partition
// of a pipelined produce: netio's completer waits for that fsync anyway,
// and a writer goroutine started for it waited ~0.9 ms for a processor
// on a busy 2-core host (docs/BENCHMARKS.md, issue 19).
//
// A round holds only what queued while the previous one wrote: the
// writer never waits for company. Without fsync a small append's pwritev
// is short, so appends to one log seldom overlap and most rounds hold one
// (100 connections x one 512 B record, 16 partitions, 2 cores: 0.99
// pwritev per request). Making the writer yield once before its round
// gathered 4.3 appends per pwritev there but cost 5-7% more broker CPU (the
// waiters' park and wake-up cost more than the pwritevs saved;
// docs/BENCHMARKS.md, issue 19), so it does not.
//
// # Offline partitions, repair, creation and deletion
//
// A partition whose log cannot be opened is taken offline rather than
// failing the store (offline.go); Repair truncates it to its last valid
// batch (repair.go). Partition directories are created under a `-new` name
// and renamed into place, and renamed to `-delete` before removal; many at
// once share one syncfs or directory fsync (topicstate.go). The renamed
// directories are removed by a background goroutine, file by file
// (remover.go), as Kafka's scheduled log deletion does: unlinking a large
// file frees its extents inside the call, and the deletion must not hold
// the topic's lock, a DeleteTopics request or the cluster's reconcile pass
// for that.
//
// CreateLogsLazy (the broker's reconciler, which recreates every
// partition from the metadata log at each start) makes no directory at
// all: a log's directory is made, the same atomic way, by the first use
// that writes a file into it, and the first fsync in it also fsyncs its
// partition.metadata and the data directory (lazydir.go):
//
//	CreateLogsLazy        first append (or the epoch checkpoint,
//	  (memory only)         TruncateFullyAndStartAt)
//	      │                     │ mkdir <dir>.<id>-new, partition.metadata
//	      │                     │ (created, or linked to a sibling's),
//	      │                     │ rename to <dir>: Kafka's layout from here;
//	      │                     │ then <base>.log (no .index, .timeindex:
//	      │                     │ entries in memory until 512 or a seal,
//	      │                     │ below)
//	      ▼                     ▼
//	  no directory ───────▶ directory, not durable ──first fsync──▶ durable
//	  (deleted: nothing       (kill -9: kept by the     (.log, partition.metadata,
//	   to remove)              page cache)                <dir>, data directory)
//
// A crash before the first write leaves nothing; the next start opens the
// directories there are, and the reconciler creates the rest again, empty
// at offset 0. A crash after it leaves the directory (or, before the
// rename, a `-new` leftover removed at open).
//
// # File descriptors and mappings
//
// Each log's active segment holds 1 descriptor (its .log) and 2 read-write
// mappings of its indexes, whose files are closed once mapped and reopened
// by path to trim or fsync (package mmapindex), except a new log's first
// segment, which has no file at all until its first append (or an unclean
// start's recovery) creates its .log: a 1,000-partition topic is created
// without 1,000 .log files (and, by CreateLogsLazy, without its 1,000
// directories). That .log's first fsync also fsyncs the partition
// directory, so its name is as durable as its bytes; a partition never
// written has no .log, and a start leaves it so (its indexes, if a crash
// left them behind, are removed).
//
// A segment's .index and .timeindex are not made with the segment. Their
// entries (one per index.interval.bytes, 4096, appended) are kept in
// memory (mmapindex's Absent indexes) until there are 512 of them (about
// 2 MiB of log), when the files are created, preallocated to
// segment.index.bytes and mapped with the entries copied in, or until the
// segment is sealed (a roll, Close), when they are written to files of
// their size; a segment with no entry gets no file. Nothing is lost by a
// crash meanwhile: an unclean start rebuilds the indexes of every segment
// from the one holding the recovery point, which always includes the
// active one, and a sealed segment's indexes are written at its seal,
// before its flush lets the recovery point pass it. Without a file an
// index is empty wherever it is read: a lookup scans the .log from the
// start (a few KiB), a truncation, flush, recovery or rename for deletion
// has no file to cut, fsync, rebuild or rename. A segment opened from
// disk without a .timeindex (it had no entry) learns its largest
// timestamp, which the seal's final time-index entry keeps for the
// others, from its batch headers, so ListOffsets by timestamp and
// retention.ms see it after a restart. So 1,000 new partitions' first 2
// GiB make 1,000 .log files, not 3,000 files, 2,000 preallocations and
// 2,000 mappings (the indexes are written at the next roll or shutdown).
// Kafka opening such a directory rebuilds a missing index (its recovery
// of a segment whose .index is missing). The index files' directory
// entries are not fsync'd of their own (nor are a rolled segment's .log):
// a lost index file is Absent, which is always right. An
// inactive segment holds none while idle: its
// indexes are mapped read-only with their files closed, and its .log is
// opened when first read and parked (closed) again by the store's idle
// sweep every 2 s once no reader holds it and none did since the previous
// sweep; when more than 1,000 inactive .log files are open at a sweep,
// every one no reader holds is parked (segcache.go). A Fetch region holds a
// reference on its segment, so its descriptor stays open until sendfile is
// done with it. The store holds .lock; a compaction adds a few while it
// writes. So a broker needs about 1 descriptor per partition, plus the
// inactive segments being read (at most ~1,000 between sweeps, more only
// while readers hold them), plus 2 per client connection (the socket and
// its writer's dup, package netio), and about 2 mappings per partition
// (vm.max_map_count).
//
// A deleted partition's directory, a swapped-out or deleted segment's files
// are renamed first; a segment about to be renamed is reopened and never
// parked again, since a parked file is reopened by its path. Its open
// indexes, which reopen their files by path to trim and fsync, are renamed
// through themselves (mmapindex RenameTo), its .txnindex (read lazily,
// written, cut and fsync'd by path) is from then on reached by its .deleted
// name, and its .log's modification time (retention of a segment with no
// batch timestamp) is read through its descriptor: the old names may be
// taken at once by a new segment at the same base offset (a truncation to
// the log's first offset, a cleaner's swap), whose files an old segment
// must never reach.
//
// # Log compaction
//
// A cleaning of a compacted log (cleaner.go) takes its inactive segments
// fully below the high watermark, stopping at the first whose newest record
// is younger than min.compaction.lag.ms:
//
//	log start        first dirty                 first uncleanable   active
//	|  clean section  |      dirty section          |  (too young)    |  segment |
//	+-----------------+-----------------------------+-----------------+----------+
//	                  └── key → latest offset map ──┘
//	└──────────── rewritten, in groups ─────────────┘
//
// It is due when dirty bytes / (clean + dirty bytes) reaches
// min.cleanable.dirty.ratio, or when the oldest dirty record is older than
// max.compaction.lag.ms. It maps each key of the dirty section (MD5 → latest
// offset, offsetmap.go; when the map is full it stops there and cleans only
// that far), then rewrites the segments below that end in groups (consecutive
// segments whose sizes add up to at most segment.bytes, and whose index
// entries fit segment.index.bytes). A record stays when it has a key, is the
// latest of its key (or its key was not mapped), and is not a tombstone
// below the tombstone horizon: the end of the newest earlier cleaning that
// is at least delete.retention.ms old (kept in memory; see
// Config.DeleteRetentionMs). Offsets are kept, so a cleaned log has gaps. A
// batch whose records all stay is copied byte for byte; otherwise its kept
// records are re-encoded as one batch per run of contiguous offsets (every
// batch stays valid by the RecordBatch v2 rule recordsCount ==
// lastOffsetDelta + 1), with the batch's codec (snappy keeps its xerial
// framing), producer id and epoch, and each run's own base sequence. The
// active segment is never cleaned, nor the one holding the high watermark
// (one that rolled in a round not yet published: readers find their limit
// in it by identity, and the round still fsyncs it); a compacted log's idle
// active segment rolls after segment.ms (or max.compaction.lag.ms) so that
// it can be.
//
// # The swap sequence
//
// Each group's rewrite becomes live by Kafka's sequence (swap.go), under
// the log's swapMu (retention waits for it):
//
//  1. write <base>.log.cleaned, .index.cleaned, .timeindex.cleaned (one or
//     more new segments: the first named after the group's first segment,
//     another when one is full, and an empty one at the group's last
//     segment's base when the kept records end before it), fsync them
//  2. rename every .cleaned file to .swap, fsync the directory  ← commit
//  3. rename the old segments' files to .deleted
//  4. rename every .swap file to its final name (a segment's .log first),
//     fsync the directory
//  5. open the new segments and replace the old ones in the segment list
//     (under mu); readers holding old segments finish on their open files,
//     which are removed when the last reference is released (a read that
//     finds no batch past its offset in the segment it pinned goes on at
//     the next base it saw when pinning, never asking the list about a
//     segment that may have left it)
//
// At open (finishSwaps), a leftover .cleaned file means the crash came
// before the commit: every .cleaned and .swap file is removed and the old
// segments stay. Otherwise .swap files mean a committed swap: the
// final-named segment files whose base lies in [lowest .log.swap base,
// max(highest .log.swap base + 1, last offset in any .log.swap + 1)) are
// deleted (the empty end segment makes this range cover every old segment
// of the group), and the .swap files are renamed to their final names.
// .deleted files are removed. Either the old or the new segments are read,
// never a mix.
package partition
