package partition

// This file is the contract the broker builds against.

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/segment"
	"github.com/sluice/sluice/sendfile"
)

// Errors returned by Log methods; the broker maps each to a Kafka error code
// (shown in brackets). Test with errors.Is: returned errors carry context.
var (
	ErrOffsetOutOfRange     = errors.New("partition: offset out of range")                 // OFFSET_OUT_OF_RANGE (1)
	ErrCorruptMessage       = errors.New("partition: corrupt message")                     // CORRUPT_MESSAGE (2)
	ErrMessageTooLarge      = errors.New("partition: batch larger than max.message.bytes") // MESSAGE_TOO_LARGE (10)
	ErrInvalidRecord        = errors.New("partition: invalid record")                      // INVALID_RECORD (87)
	ErrInvalidTimestamp     = errors.New("partition: invalid timestamp")                   // INVALID_TIMESTAMP (32)
	ErrOutOfOrderSequence   = errors.New("partition: out of order sequence number")        // OUT_OF_ORDER_SEQUENCE_NUMBER (45)
	ErrInvalidProducerEpoch = errors.New("partition: producer epoch is fenced")            // INVALID_PRODUCER_EPOCH (47)
	ErrUnknownProducerID    = errors.New("partition: unknown producer id")                 // UNKNOWN_PRODUCER_ID (59)
	ErrStorage              = errors.New("partition: storage error")                       // KAFKA_STORAGE_ERROR (56)
	// ErrCorruption marks data found corrupt on disk (a batch failing its
	// CRC or framing, a bad snapshot): errors wrapping ErrStorage wrap it too
	// when corruption, not an I/O error, is the cause; an I/O error wraps its
	// syscall.Errno instead. A client's bad batch (ErrCorruptMessage) does
	// not match it. The same value as segment.ErrCorrupt.
	ErrCorruption         = segment.ErrCorrupt
	ErrClosed             = errors.New("partition: log is closed")        // NOT_LEADER_OR_FOLLOWER (6) / retriable
	ErrFencedLeaderEpoch  = errors.New("partition: fenced leader epoch")  // FENCED_LEADER_EPOCH (74)
	ErrUnknownLeaderEpoch = errors.New("partition: unknown leader epoch") // UNKNOWN_LEADER_EPOCH (76)
	ErrPolicyViolation    = errors.New("partition: policy violation")     // POLICY_VIOLATION (44)
	ErrInvalidConfig      = errors.New("partition: invalid config")       // INVALID_CONFIG (40)
	// ErrNotLeaderEpoch refuses an AppendAsLeader whose leader epoch is
	// not the log's latest: the leadership it was made under has ended
	// (or not begun). NOT_LEADER_OR_FOLLOWER (6).
	ErrNotLeaderEpoch = errors.New("partition: the append's leader epoch is not the log's")
	// Transactions.
	ErrInvalidTxnState              = errors.New("partition: invalid transaction state")         // INVALID_TXN_STATE (48)
	ErrTransactionCoordinatorFenced = errors.New("partition: transaction coordinator is fenced") // TRANSACTION_COORDINATOR_FENCED (52)
)

// FlushPolicy is when appended data is fsync'd (Kafka's flush.messages and
// flush.ms, as one switch).
type FlushPolicy int

const (
	// FlushNever leaves flushing to the kernel (Kafka's default): fastest;
	// a machine crash can lose what the kernel had not written back. A
	// process crash loses nothing.
	FlushNever FlushPolicy = iota
	// FlushInterval fsyncs every Config.FlushInterval.
	FlushInterval
	// FlushAlways completes an append only after fsync; concurrent appends
	// share one fsync (group commit).
	FlushAlways
)

// Config is one partition's settings; Kafka's topic config names in brackets.
type Config struct {
	SegmentBytes       int64         // [segment.bytes] 1 GiB; at most 2 GiB-1 (positions are uint32)
	SegmentMs          int64         // [segment.ms] 7 days: roll a non-empty segment this old
	SegmentIndexBytes  int           // [segment.index.bytes] 10 MiB: preallocated index size
	IndexIntervalBytes int           // [index.interval.bytes] 4096: bytes between index entries
	RetentionMs        int64         // [retention.ms] 7 days; -1 keeps forever
	RetentionBytes     int64         // [retention.bytes] -1: no size limit
	MaxMessageBytes    int           // [max.message.bytes] 1048588: largest batch accepted
	LogAppendTime      bool          // [message.timestamp.type] LogAppendTime if true, else CreateTime
	MinInsyncReplicas  int           // [min.insync.replicas] 1 (stored for replication)
	Flush              FlushPolicy   // broker-wide --fsync
	FlushInterval      time.Duration // for FlushInterval: 1s

	// CleanupPolicy [cleanup.policy] is "delete" (default: retention.ms and
	// retention.bytes delete old segments), "compact" (the log cleaner keeps
	// the latest record of every key, retention is off) or "compact,delete"
	// (both). A compacted log refuses records without a key (ErrInvalidRecord).
	CleanupPolicy string
	// MinCleanableDirtyRatio [min.cleanable.dirty.ratio] 0.5: a compacted
	// log is cleaned once the bytes written since the last cleaning are this
	// share of its inactive segments. Lower cleans sooner and more often
	// (more rewriting, a smaller log); higher lets duplicates pile up.
	MinCleanableDirtyRatio float64
	// MinCompactionLagMs [min.compaction.lag.ms] 0: a segment is cleaned
	// only once its newest record is this old, so consumers that lag less
	// see every update. Larger keeps more duplicates.
	MinCompactionLagMs int64
	// MaxCompactionLagMs [max.compaction.lag.ms] MaxInt64 (off): a log
	// whose oldest uncleaned record is this old is cleaned whatever its
	// dirty ratio, and its active segment rolls at this age, bounding how
	// long a superseded record (say, one to be erased) stays. Smaller costs
	// more cleanings.
	MaxCompactionLagMs int64
	// DeleteRetentionMs [delete.retention.ms] 1 day: how long a tombstone
	// (a record with a null value) stays after the cleaning that first
	// passed it, so consumers reading behind see the delete. A tombstone is
	// removed by a cleaning that starts at least this long after a previous
	// cleaning whose cleaned section already held it (Sluice keeps the
	// cleaning times in memory: after a restart the clock starts again, so a
	// tombstone may stay longer, never shorter). Shorter frees space sooner;
	// a consumer further behind than this may miss deletes.
	DeleteRetentionMs int64

	// SegmentJitterMs [segment.jitter.ms] 0: each segment rolls up to this
	// much before segment.ms (a per-segment amount derived from its base
	// offset), so partitions created together do not all roll at once.
	SegmentJitterMs int64
	// FlushMessages [flush.messages] and FlushMs [flush.ms], MaxInt64 (off)
	// by default, are Kafka's per-topic fsync settings as given; the broker
	// maps them onto Flush (1 message: FlushAlways; a finite flush.ms:
	// FlushInterval at the store's flush tick). Kept to be described back.
	FlushMessages, FlushMs int64

	// Broker-side topic settings, carried with the log's config so that one
	// SetConfig publishes them; partition does not read them.
	//
	// CompressionType [compression.type] "producer": the codec batches are
	// stored with ("producer" keeps the producer's, "uncompressed" or a
	// codec name recompresses others), and its levels
	// [compression.gzip.level, compression.lz4.level, compression.zstd.level].
	CompressionType                string
	GzipLevel, LZ4Level, ZstdLevel int
	// Timestamp bounds of CreateTime batches, in ms either side of the
	// broker's clock [message.timestamp.before.max.ms, .after.max.ms,
	// .difference.max.ms]; MaxInt64: unbounded.
	TimestampBeforeMaxMs, TimestampAfterMaxMs, TimestampDifferenceMaxMs int64
}

// TimestampBounds returns how far before and after the broker's clock a
// CreateTime batch's timestamps may be, as Kafka 3.6+ derives them: the
// before/after setting when set, else message.timestamp.difference.max.ms.
func (c Config) TimestampBounds() (before, after int64) {
	before, after = c.TimestampBeforeMaxMs, c.TimestampAfterMaxMs
	if before == math.MaxInt64 {
		before = c.TimestampDifferenceMaxMs
	}
	if after == math.MaxInt64 {
		after = c.TimestampDifferenceMaxMs
	}
	return before, after
}

// Compact reports whether the policy includes compaction; Delete whether it
// includes time and size retention.
func (c Config) Compact() bool { return strings.Contains(c.CleanupPolicy, "compact") }
func (c Config) Delete() bool  { return strings.Contains(c.CleanupPolicy, "delete") }

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config { return defaultConfig() }

// AppendResult describes a successful append.
type AppendResult struct {
	BaseOffset     int64 // offset of the first record appended
	LastOffset     int64
	LogAppendTime  int64 // -1 unless the topic uses LogAppendTime
	LogStartOffset int64
	Duplicate      bool // an idempotent retry: offsets are the original ones
}

// ReadResult is what Read returns. Regions hold references on their segment
// files: the caller must Release each (normally the network writer does,
// after sendfile).
type ReadResult struct {
	Regions          []sendfile.Region
	Bytes            int64 // sum of region lengths
	HighWatermark    int64
	LastStableOffset int64
	LogStartOffset   int64
	LogEndOffset     int64
	// AbortedTransactions (ReadCommitted only) are the aborted
	// transactions that may have records in the regions, oldest marker
	// first: Fetch's AbortedTransactions.
	AbortedTransactions []AbortedTxn
}

// Log is one partition's log: its ordered segments, appends, reads, rolls,
// retention, recovery and offsets. All methods are safe for concurrent use.
//
// Offsets: LogStartOffset <= HighWatermark <= LogEndOffset. On one node the
// high watermark follows the log end offset once an append completes (after
// fsync under FlushAlways); in replicated mode (SetReplicated, replica.go)
// only UpdateHighWatermark moves it and TruncateTo lowers it.
type Log struct{ log }

// Append validates records (one or more RecordBatch v2), assigns offsets,
// sets each batch's partitionLeaderEpoch to the log's epoch, checks
// idempotent-producer sequences, and writes them contiguously. It returns
// once the write is done (and fsync'd under FlushAlways). Errors wrap one of
// the Err* values above; a write or fsync error (ErrStorage) leaves nothing
// of the round readable and takes the log offline (see Offline).
func (l *Log) Append(records []byte) (AppendResult, error) { return l.append(records) }

// Submit is Append split in two: it validates records and queues them for
// the appender in call order, returning at once; Wait on the result
// returns what Append would have, once the write is done (and fsync'd
// under FlushAlways). Appends submitted to one log are assigned offsets
// and checked against producer sequences in the order Submit was called,
// so a caller that submits a connection's requests in order and waits
// later keeps an idempotent producer's pipelined batches in order while
// their fsyncs are shared (one round covers every append queued while the
// previous round wrote). A validation error is returned by Wait.
func (l *Log) Submit(records []byte) *PendingAppend { return l.submit(records, -1, nil) }

// SubmitAsLeader is Submit made by the leader of leaderEpoch: its Wait
// returns ErrNotLeaderEpoch, nothing written, unless leaderEpoch is the
// log's latest leader epoch when the writer assigns its offsets
// (AppendAsLeader).
func (l *Log) SubmitAsLeader(records []byte, leaderEpoch int32) *PendingAppend {
	if leaderEpoch < 0 {
		return &PendingAppend{err: fmt.Errorf("%w: leader epoch %d", ErrInvalidConfig, leaderEpoch)}
	}
	return l.submit(records, leaderEpoch, nil)
}

// PendingAppend is an append queued by Submit.
type PendingAppend struct {
	req *appendReq
	err error
}

// Wait waits for the append and returns its result; call it exactly
// once, and drop p after: a submitted append's PendingAppend is part of
// its request, which Wait hands back for reuse.
func (p *PendingAppend) Wait() (AppendResult, error) {
	req := p.req
	if req == nil {
		return AppendResult{}, p.err
	}
	if l := req.log; l != nil {
		l.writeOwed()
	}
	<-req.done
	res, err := req.res, req.err
	p.req = nil // before req (and p with it) goes back to the pool
	putReq(req)
	return res, err
}

// AppendAsLeader is Append made by the leader of leaderEpoch (Kafka's
// appendAsLeader): it is refused with ErrNotLeaderEpoch, nothing written,
// unless leaderEpoch is the log's latest leader epoch when the writer
// assigns its offsets. A leadership's epoch is assigned before it takes
// appends (AssignLeaderEpoch), and a newer one arrives with a new
// leadership or with the new leader's batches appended as a follower, so
// an append checked as leader a moment before the leadership moved can
// never land in the follower's log stamped with the new leader's epoch
// (a batch that leader never wrote, which no epoch comparison finds).
func (l *Log) AppendAsLeader(records []byte, leaderEpoch int32) (AppendResult, error) {
	if leaderEpoch < 0 {
		return AppendResult{}, fmt.Errorf("%w: leader epoch %d", ErrInvalidConfig, leaderEpoch)
	}
	return l.appendIn(records, false, leaderEpoch, nil)
}

// AppendPrechecked is Append (leaderEpoch -1) or AppendAsLeader
// (leaderEpoch >= 0) of records whose batches were checked as they
// arrived: pre (nil: nothing) spares their validation the CRC and the
// records walk it found (segment.SplitPrechecked). Its outcome and errors
// are Append's.
func (l *Log) AppendPrechecked(records []byte, leaderEpoch int32, pre segment.Prechecks) (AppendResult, error) {
	if err := checkLeaderEpoch(leaderEpoch); err != nil {
		return AppendResult{}, err
	}
	return l.appendIn(records, false, leaderEpoch, pre)
}

// checkLeaderEpoch refuses a leader epoch below -1 (-1: unchecked), as
// the prechecked appends and submits take it.
func checkLeaderEpoch(leaderEpoch int32) error {
	if leaderEpoch < -1 {
		return fmt.Errorf("%w: leader epoch %d", ErrInvalidConfig, leaderEpoch)
	}
	return nil
}

// Read returns regions of whole batches starting with the batch that
// contains offset, up to maxBytes (but always the first whole batch when
// minOneBatch is set, as Kafka does for the first partition of a fetch), all
// below the high watermark, from one segment. offset == HighWatermark yields
// no regions. offset < LogStartOffset or > LogEndOffset: ErrOffsetOutOfRange.
func (l *Log) Read(offset int64, maxBytes int64, minOneBatch bool) (ReadResult, error) {
	return l.read(offset, maxBytes, minOneBatch)
}

// ReadCommitted is Read for a read_committed consumer (Fetch
// isolation_level 1): regions stop below the last stable offset (the first
// offset of the oldest open transaction, or the high watermark), still as
// file regions for sendfile, and AbortedTransactions lists the aborted
// transactions (from the segments' .txnindex) whose records the consumer
// must drop. offset == LastStableOffset yields no regions.
func (l *Log) ReadCommitted(offset int64, maxBytes int64, minOneBatch bool) (ReadResult, error) {
	return l.readIsolated(offset, maxBytes, minOneBatch, true)
}

// Offsets.
func (l *Log) LogStartOffset() int64 { return l.logStartOffset() }
func (l *Log) HighWatermark() int64  { return l.highWatermark() }
func (l *Log) LogEndOffset() int64   { return l.logEndOffset() }

// LeaderEpoch is the partition's current leader epoch (0 on a fresh log).
func (l *Log) LeaderEpoch() int32 { return l.leaderEpoch() }

// EndOffsetForEpoch answers OffsetForLeaderEpoch as Kafka's
// LeaderEpochFileCache.endOffsetFor: for the latest epoch, the log end
// offset; else the largest epoch <= epoch with the start offset of the next
// higher one; for an epoch below the first entry, epoch itself with the
// first entry's start offset; (-1, -1) (UNDEFINED) for -1 or an epoch above
// the latest. The error is always nil today (the broker checks the
// current leader epoch).
func (l *Log) EndOffsetForEpoch(epoch int32) (endOffset int64, leaderEpoch int32, err error) {
	return l.endOffsetForEpoch(epoch)
}

// OffsetForTimestamp returns the first offset whose record timestamp is
// >= ts, with that record's timestamp; ok false when none is.
func (l *Log) OffsetForTimestamp(ts int64) (offset int64, timestamp int64, ok bool, err error) {
	return l.offsetForTimestamp(ts)
}

// MaxTimestamp returns the offset and timestamp of the record with the
// largest timestamp (ListOffsets -3); ok false when the log is empty.
func (l *Log) MaxTimestamp() (offset int64, timestamp int64, ok bool, err error) {
	return l.maxTimestamp()
}

// DeleteRecordsBefore advances the log start offset to offset (DeleteRecords;
// -1 means the high watermark) and deletes segments wholly below it.
// ErrOffsetOutOfRange if offset > HighWatermark. Returns the new start.
func (l *Log) DeleteRecordsBefore(offset int64) (int64, error) { return l.deleteRecordsBefore(offset) }

// ApplyRetention deletes whole segments from the oldest, never the active
// one, by retention.ms (segment's largest timestamp older than now minus
// retention.ms) and retention.bytes. Returns the number deleted.
func (l *Log) ApplyRetention(now time.Time) (int, error) { return l.applyRetention(now) }

// Config returns the current config; SetConfig replaces it (AlterConfigs).
func (l *Log) Config() Config           { return l.config() }
func (l *Log) SetConfig(c Config) error { return l.setConfig(c) }

// Size is the bytes of all segments. Segments is their count.
func (l *Log) Size() int64   { return l.sizeBytes() }
func (l *Log) Segments() int { return l.segmentCount() }

// Topic, Partition, TopicID and Dir identify the log.
func (l *Log) Topic() string     { return l.topic }
func (l *Log) Partition() int32  { return l.partition }
func (l *Log) TopicID() [16]byte { return l.topicID }
func (l *Log) Dir() string       { return l.dir }

// Wait returns a channel closed at the next change of the high watermark
// or, in replicated mode, of the log end offset too (the delayed-fetch
// queue waits on it; a follower's fetch waits for the log end).
func (l *Log) Wait() <-chan struct{} { return l.wait() }

// Changes counts the log's changes that a read at its end could see: its
// high watermark, log end (replicated mode), log start, last stable
// offset, leader epochs, a truncation, going offline or closing. Two
// equal counts bracket no such change, so a reader at the end that found
// nothing new after loading a count finds nothing new while it is
// unchanged (a Fetch session skips such partitions).
func (l *Log) Changes() uint64 { return l.changes.Load() }

// RecoveredBytes is the segment bytes read by recovery when the log was
// opened (0 after a clean shutdown).
func (l *Log) RecoveredBytes() int64 { return l.recoveredBytes.Load() }

// Flush fsyncs everything appended so far and advances the recovery point.
// A failed fsync takes the log offline.
func (l *Log) Flush() error { return l.flush() }

// Offline returns the log's sticky storage error once a write or fsync of
// its files failed (wrapping ErrStorage and the original error, say
// syscall.EIO or ENOSPC), nil while it is healthy. An offline log refuses
// appends and reads with that error, never advances its recovery point and
// stays so until reopened (a restart), which recovers it from the disk.
// Other logs are unaffected.
func (l *Log) Offline() error { return l.offline() }

// Producers is a copy of the idempotent-producer state (for tests, admin).
func (l *Log) Producers() map[int64]ProducerState { return l.producerStates() }

// ProducerState is one producer's state on this partition.
type ProducerState struct {
	Epoch        int16
	LastSequence int32 // sequence of the last record of the last batch
	LastOffset   int64
	// LastTimestamp is the max timestamp of the last batch (-1: unknown);
	// CoordinatorEpoch the last marker's (-1: none); TxnStartOffset the
	// first offset of the producer's open transaction (-1: none).
	LastTimestamp    int64
	CoordinatorEpoch int32
	TxnStartOffset   int64
}

// StoreConfig configures a Store.
type StoreConfig struct {
	Dir                    string        // data directory (Kafka's log.dirs, one dir)
	Defaults               Config        // config of logs created without one
	RetentionCheckInterval time.Duration // [log.retention.check.interval.ms] 5 min
	CheckpointInterval     time.Duration // [log.flush.offset.checkpoint.interval.ms] 60 s
	Logger                 *slog.Logger
	Now                    func() time.Time // clock; time.Now if nil

	// CleanerThreads [log.cleaner.threads] 1: goroutines cleaning compacted
	// logs, each one log at a time. More clean more logs at once, at the
	// cost of disk bandwidth and a dedupe buffer share each. Negative
	// disables the cleaner (Kafka's log.cleaner.enable=false).
	CleanerThreads int
	// CleanerDedupeBufferSize [log.cleaner.dedupe.buffer.size] 128 MiB:
	// memory for the key → offset maps of all cleaner threads (24 bytes a
	// key, filled to 90%), allocated as a cleaning needs it. A cleaning
	// whose dirty section has more keys than fit cleans only up to where the
	// map filled; the rest waits for the next cleaning.
	CleanerDedupeBufferSize int64
	// CleanerBackoff [log.cleaner.backoff.ms] 15 s: how long a cleaner
	// thread sleeps when no log needs cleaning. Shorter notices dirty logs
	// sooner; each check walks every compacted log's segment list.
	CleanerBackoff time.Duration

	// Observer, if not nil, is told of every log's writes and fsyncs (for
	// metrics). Nil costs nothing.
	Observer Observer

	// FS is the filesystem every log, index and checkpoint file is written
	// through; nil is the operating system's (vfs.Default). Tests inject
	// faults with internal/vfs/errorfs.
	FS vfs.FS

	// noSegmentSweep (tests) runs no background idle sweep: tests that
	// count descriptors sweep themselves, and a background sweep between
	// their steps would take a segment's second chance.
	noSegmentSweep bool
}

// Observer receives the writes and fsyncs of every log of a Store. Its
// methods are called synchronously by the writer (Appended, and Fsynced
// under FlushAlways, run while appends wait) and by flushes, possibly
// from several goroutines at once: they must be fast, safe for concurrent
// use and must not call back into the log.
type Observer interface {
	// Appended reports one successful pwritev: the batches and bytes it
	// wrote (a round that rolls the segment writes once per segment).
	Appended(topic string, partition int32, batches int, bytes int64)
	// Fsynced reports one successful fsync of a segment and how long it
	// took: the writer's under FlushAlways, an interval or shutdown flush,
	// or the flush of a segment that rolled.
	Fsynced(topic string, partition int32, d time.Duration)
}

// Store is a data directory of partition logs, as Kafka's LogManager: it
// takes an flock on the directory, loads every `<topic>-<partition>`
// directory, keeps the clean-shutdown marker and the recovery-point and
// log-start-offset checkpoints (Kafka's file formats), and runs retention
// and interval flushes in the background.
type Store struct{ store }

// OpenStore opens (creating) cfg.Dir and every log in it. A start with the
// clean-shutdown marker reads no segment data; without it each log recovers
// from its recovery point. The marker is removed once the store is open.
func OpenStore(cfg StoreConfig) (*Store, error) { return openStore(cfg) }

// OpenedClean reports whether the clean-shutdown marker was present at
// open and trusted (the recovery-point checkpoint was readable): logs with
// a checkpointed recovery point then read no segment data.
func (s *Store) OpenedClean() bool { return s.openedClean }

// CleanShutdownBrokerEpoch is the broker epoch the trusted clean-shutdown
// marker named at open, -1 if none (KIP-966's PreviousBrokerEpoch).
func (s *Store) CleanShutdownBrokerEpoch() int64 { return s.openedEpoch }

// SetBrokerEpoch sets the broker epoch the clean-shutdown marker names
// when the store closes cleanly ({"version":0,"brokerEpoch":N}, Kafka's).
func (s *Store) SetBrokerEpoch(epoch int64) { s.brokerEpoch.Store(epoch) }

// Logs returns every log, sorted by topic then partition.
func (s *Store) Logs() []*Log { return s.logs() }

// OfflineLogs returns the logs that are offline after a storage error (see
// Log.Offline), sorted as Logs: for health checks and metrics.
func (s *Store) OfflineLogs() []*Log { return s.failedLogs() }

// Get returns the log or nil.
func (s *Store) Get(topic string, partition int32) *Log { return s.get(topic, partition) }

// Create creates the log (or returns the existing one) with cfg, recording
// topicID in the partition's `partition.metadata` file.
func (s *Store) Create(topic string, partition int32, topicID [16]byte, cfg Config) (*Log, error) {
	return s.create(topic, partition, topicID, cfg)
}

// Delete closes the log and renames its directory to
// `<topic>-<partition>.<id>-delete`, as Kafka does; the files are removed
// in the background. Readers holding regions finish first.
func (s *Store) Delete(topic string, partition int32) error { return s.delete(topic, partition) }

// Close flushes every log, writes the checkpoints and the clean-shutdown
// marker, closes everything and releases the lock.
func (s *Store) Close() error { return s.close() }

// Dir is the data directory.
func (s *Store) Dir() string { return s.cfg.Dir }

// Config is the store's configuration with defaults filled in.
func (s *Store) Config() StoreConfig { return s.cfg }

// CleanerStats is what the log cleaner did since the store opened (for
// metrics: bytes cleaned, cleaner time).
func (s *Store) CleanerStats() CleanerStats { return s.cleanerStats() }

// CleanerStats are cumulative counters of the log cleaner.
type CleanerStats struct {
	Cleanings      int64         // logs cleaned (each may swap several groups)
	BytesRead      int64         // bytes of segments read and rewritten ("bytes cleaned")
	BytesWritten   int64         // bytes of the cleaned segments written
	RecordsRead    int64         // records examined while rewriting
	RecordsRemoved int64         // records dropped (superseded, expired tombstones, keyless)
	Duration       time.Duration // total time spent cleaning
	LastDuration   time.Duration // the last cleaning's time
	Errors         int64         // cleanings that failed (logged)
}

// DirtyRatio is the share of the log's inactive segments (fully below the
// high watermark) written since the last cleaning: dirty bytes / (clean +
// dirty bytes), by whole segments, as Kafka's cleanable ratio; 0 for a log
// that is not compacted or has nothing inactive.
func (l *Log) DirtyRatio() float64 { return l.dirtyRatio() }

// CleanerCheckpoint is the first offset not yet cleaned (the entry of
// cleaner-offset-checkpoint), -1 when the log was never cleaned.
func (l *Log) CleanerCheckpoint() int64 { return l.cleanerCheckpoint() }

// Clean runs one cleaning of a compacted log now, whatever its dirty ratio
// (but respecting min.compaction.lag.ms and never the active segment), and
// returns what it did. For tests and admin tools; the store's cleaner
// threads normally do this. ErrPolicyViolation for a log that is not
// compacted.
func (s *Store) Clean(l *Log) (CleanerStats, error) { return s.cleanNow(l) }

// Validate reports the first setting out of range, wrapping
// ErrInvalidConfig and naming the Kafka key and value.
func (c Config) Validate() error { return c.validate() }
