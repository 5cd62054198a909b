// Package partition owns one partition's log (Log: ordered segments,
// appends, reads, rolls, retention, recovery, offsets) and a data directory
// of them (Store: Kafka's LogManager), including the log cleaner that
// compacts logs with cleanup.policy=compact.
//
// # Files
//
// A partition directory `<topic>-<partition>/` holds Kafka's files:
// `<base>.log`, `.index`, `.timeindex` per segment (see packages segment and
// mmapindex), `<offset>.snapshot` producer-state snapshots,
// `leader-epoch-checkpoint` and `partition.metadata`. The data directory
// holds `recovery-point-offset-checkpoint`, `log-start-offset-checkpoint`,
// `cleaner-offset-checkpoint`, `.kafka_cleanshutdown` and `.lock`.
//
// Every checkpoint file is Kafka's text format:
//
//	0                       ← version
//	2                       ← number of entries
//	orders 0 1200           ← topic partition offset
//	__consumer_offsets 7 88
//
// In cleaner-offset-checkpoint the offset is the partition's first dirty
// offset: everything below it was in the cleaned section of the last
// cleaning. It is written after each cleaning; a missing or stale entry
// (outside the log) means "clean from the log start".
//
// # Offline partitions, repair, creation and deletion
//
// A partition whose log cannot be opened is taken offline rather than
// failing the store (offline.go); Repair truncates it to its last valid
// batch (repair.go). Partition directories are created under a `-new` name
// and renamed into place, and renamed to `-delete` before removal; many at
// once share one syncfs or directory fsync (topicstate.go).
//
// # File descriptors and mappings
//
// Each log's active segment holds 3 descriptors (.log, .index, .timeindex)
// and 2 read-write mappings. An inactive segment holds none while idle: its
// indexes are mapped read-only with their files closed, and its .log is
// opened when first read and parked (closed) again by the store's idle
// sweep every 2 s once no reader holds it and none did since the previous
// sweep; when more than 1,000 inactive .log files are open at a sweep,
// every one no reader holds is parked (segcache.go). A Fetch region holds a
// reference on its segment, so its descriptor stays open until sendfile is
// done with it. The store holds .lock; a compaction adds a few while it
// writes. So a broker needs about 3 descriptors per partition, plus the
// inactive segments being read (at most ~1,000 between sweeps, more only
// while readers hold them), plus 2 per client connection (the socket and
// its writer's dup, package netio), and about 2 mappings per partition
// (vm.max_map_count).
//
// A deleted partition's directory, a swapped-out or deleted segment's files
// are renamed first; a segment about to be renamed is reopened and never
// parked again, since a parked file is reopened by its path.
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
// active segment is never cleaned; a compacted log's idle active segment
// rolls after segment.ms (or max.compaction.lag.ms) so that it can be.
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
//     which are removed when the last reference is released
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
