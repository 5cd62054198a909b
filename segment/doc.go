// Package segment owns one .log file of a partition: batched appends,
// batch scanning, CRC validation and truncation.
//
// A .log file is Kafka's: RecordBatch v2 batches back to back, exactly as a
// producer sent them except for baseOffset and partitionLeaderEpoch, which
// the broker sets (neither is covered by the CRC). All integers big-endian.
//
//	+-------------------------+  position 0
//	| batch                   |
//	+-------------------------+  position 0 + size
//	| batch                   |
//	+-------------------------+
//	| …                       |
//	+-------------------------+  Size(): end of the last whole batch
//	| zeros (only while fsync'd |  (see "Zeros written ahead")
//	| after every few KB)       |
//	+-------------------------+  the file's length
//
// One batch (HeaderSize = 61 bytes, then the records):
//
//	 0         8             12                      16        17      21
//	+----------+-------------+-----------------------+---------+-------+
//	|baseOffset| batchLength | partitionLeaderEpoch  | magic=2 | crc   |
//	|   (8B)   |    (4B)     |         (4B)          |  (1B)   | (4B)  |
//	+----------+-------------+-----------------------+---------+-------+
//	 21           23                27              35             43
//	+------------+-----------------+---------------+--------------+
//	| attributes | lastOffsetDelta | baseTimestamp | maxTimestamp |
//	|    (2B)    |      (4B)       |     (8B)      |     (8B)     |
//	+------------+-----------------+---------------+--------------+
//	 43           51              53             57             61
//	+------------+---------------+--------------+--------------+---------+
//	| producerId | producerEpoch | baseSequence | recordsCount | records |
//	|    (8B)    |     (2B)      |     (4B)     |     (4B)     |   …     |
//	+------------+---------------+--------------+--------------+---------+
//
// batchLength counts the bytes after itself (size = 12 + batchLength). crc is
// CRC-32C (Castagnoli) over attributes..end. attributes: bits 0-2 codec
// (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd), bit 3 timestamp type
// (1 = LogAppendTime), bit 4 transactional, bit 5 control.
// recordsCount == lastOffsetDelta + 1. With a codec, the records section is
// compressed as a whole (snappy may be raw or xerial-framed).
//
// One record (varint = zigzag varint as in protobuf; nullable lengths -1):
//
//	+-------------+------------+-----------------+----------------+
//	| length      | attributes | timestampDelta  | offsetDelta    |
//	| (varint)    |   (1B)     |   (varlong)     |   (varint)     |
//	+-------------+------------+-----------------+----------------+
//	| keyLength (varint) | key | valueLength (varint) | value      |
//	+--------------------+-----+----------------------+------------+
//	| headerCount (varint) | headers: keyLength, key, valueLength, value … |
//	+----------------------+----------------------------------------------+
//
// The legacy message sets of magic 0 and 1 (Produce v0-2, Fetch v0-3) are
// never stored: legacy.go draws their layout, up-converts them to one
// RecordBatch v2 on append and down-converts batches for old fetchers.
//
// A produce request's batches may be checked while they arrive
// (BatchStream, stream.go): the same CRC-32C and record walk, piece by
// piece, each piece still in cache. SplitPrechecked takes those results
// for the bytes they were computed over and uses them only to accept; an
// error is always Validate's own.
//
// Recovery trusts nothing: Recover validates every batch and stops at the
// first that is torn (ErrTorn: the file ends inside it) or corrupt
// (ErrCorrupt: bad magic, length, CRC, count or record framing).
//
// # Error classes
//
// Two classes never mix. Corruption wraps ErrCorrupt (the storage engine's
// one corruption marker, as pebble's base.ErrCorruption; partition exports
// it as ErrCorruption), or ErrTorn for a batch cut short by the end of the
// file. I/O errors keep their cause (an *os.PathError wrapping a
// syscall.Errno such as EIO or ENOSPC), wrapped with the path and position.
//
// A failed Append is undone (the file truncated back to where the append
// began) and returned; the caller decides what it means. An fsync error from
// Sync must be treated as sticky by the caller: the kernel may have dropped
// the unwritten pages, so the file's tail cannot be trusted until recovery
// reads it again (package partition takes the log offline). Files are
// opened through a vfs.FS (OpenFS); sendfile uses the descriptor (OS).
//
// # Zeros written ahead
//
// A file whose last fsync covered fewer than 256 KiB of appended bytes and
// came within 10 ms of the one before (fsync=always under a stream of small
// produce requests) keeps zeros after its last batch: when fewer than 512 KiB of them are left, Append writes zeros up
// to the page boundary 1 MiB past the new end (not fsync'd; the next
// fsync writes them to disk with the batches). The appends after that
// overwrite blocks that are allocated and written, so their fdatasync
// writes the data and a cache flush, and not also the inode (its size)
// and the block-allocation metadata that growing a file takes (on ext4,
// 2.6 device writes per fsync instead of 3.8; docs/BENCHMARKS.md, "zeros
// written ahead"). The price is that the disk writes those bytes twice
// (zeros, then data); files fsync'd in larger pieces, or not at all, get
// no zeros and end at their last batch, as Kafka's do.
//
// Size never counts the zeros. TrimAhead cuts them (and fdatasyncs the new
// length) when the file stops being appended to; package partition calls
// it when a segment rolls and when a log closes, so inactive segments and
// a cleanly stopped broker's files end at their last batch. After a crash
// the active file may still end in zeros: Recover stops at the first of
// them with ErrZeroTail (a kind of ErrTorn) when every byte after the last
// valid batch is zero, and the caller drops them.
//
// # Writeback
//
// Append does not fsync (Sync does), but every 1 MiB appended it asks the
// kernel to start writing back the whole pages appended so far
// (sync_file_range SYNC_FILE_RANGE_WRITE; it does not wait for the disk and
// promises nothing about durability). Left to itself, the kernel lets dirty
// pages pile up to vm.dirty_background_ratio and then writes GBs back at
// once, which stalls appends for tens of milliseconds; started early, the
// same writeback is spread evenly. Errors of this hint are ignored: the next
// fsync reports them.
//
// An Append's buffers go to the kernel in pwritev calls of at most IOV_MAX
// buffers and 2 MiB, a buffer cut where a call's bytes run out. Under
// fsync=always a partition's round can gather tens of MiB (every request
// queued while the last fsync ran); written in one call, such a round cost
// the benchmark VM 3-5 times the CPU per byte of the same bytes in 2 MiB
// calls (docs/BENCHMARKS.md, "appends in calls of at most 2 MiB"). Such
// an append starts the writeback after each call, not only at its end, so
// the disk takes the first calls' pages while the kernel copies the rest
// and the fsync that follows has less left to write.
package segment
