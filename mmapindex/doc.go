// Package mmapindex owns a segment's sparse indexes, .index and .timeindex,
// in Apache Kafka's own formats (so Kafka's DumpLogSegments reads them):
// memory-mapped, preallocated while the segment is active, trimmed to their
// entries when it rolls, binary-searched without allocating. They carry no
// checksum: after a crash they are rebuilt from the log instead.
//
// .index, one 8-byte entry per indexed batch, big-endian:
//
//	+--------------------------+---------------------+
//	| relative offset (4B, u32)| position (4B, u32)  |
//	+--------------------------+---------------------+
//	  offset - baseOffset        byte position of the batch in the .log
//
// .timeindex, one 12-byte entry per new maximum timestamp, big-endian:
//
//	+--------------------------+--------------------------+
//	| timestamp (8B, i64)      | relative offset (4B, u32)|
//	+--------------------------+--------------------------+
//	  largest timestamp so far   offset - baseOffset
//
// Entries are sorted: offsets strictly increase (positions and timestamps
// never decrease). A writable index is preallocated to maxBytes of zeros, so
// after a crash the file is longer than its entries; opening takes the
// leading run of entries that keep the order as the entries, which stops at
// the zero tail:
//
//	+---------+---------+-----+---------+-------------------------------+
//	| entry 0 | entry 1 | ... | entry n | 00 00 00 … (preallocated)     |
//	+---------+---------+-----+---------+-------------------------------+
//	                                    ^ the run ends: (0, 0) does not increase
//
// Life cycle: OpenOffsetIndex/OpenTimeIndex(maxBytes > 0) creates,
// preallocates and maps read-write; Append; Trim (on roll) cuts the file to
// its entries and maps it read-only; Close trims, unmaps and closes. An
// index opened with maxBytes == 0 is mapped read-only at its size.
//
// An index may have no file at all (Absent): NewOffsetIndexFS for a file
// the caller knows is not there, OpenOffsetIndexLazyFS for one that may
// not be. A writable one keeps its first 512 entries in a heap buffer
// (lookups read them there; Sync, TruncateTo and RenameTo touch no file);
// the Append past them creates, preallocates and maps the file and copies
// them in, and Trim or Close writes them to a file of their size (none
// when there are none; Close after RenameTo writes nothing: the segment is
// being deleted). A read-only one is empty. So a segment that gets few
// entries before it rolls or the broker stops (package partition: a
// partition's first ~2 MiB at index.interval.bytes 4096) costs no index
// file and no mapping while it is written: nothing that a crash needs,
// since indexes are rebuilt from the log after one.
//
// Files: the Open*IndexFS variants open, preallocate, truncate and fsync
// through a vfs.FS (so tests can fail those calls); the mapping itself uses
// the file's descriptor, and entries are written through it. No index holds
// a descriptor after opening (as Kafka's AbstractIndex): trim and fsync
// reopen the file by its path, so 10,000 active segments cost 10,000
// descriptors (their .log files), not 30,000. So a renamed file is renamed
// through its index (RenameTo), which then reopens the new name: reopened
// by the old one, a trim would cut the file that took that name next.
// Mappings are MADV_RANDOM: a first touch of a page reads that page
// only, not 128 KiB around it (on a sparse preallocated index, 128 KiB of
// zero-filling per first touch); opening asks for the bytes already written with
// MADV_WILLNEED before counting the entries. Sync is msync
// then fsync. Indexes are never trusted after a crash (recovery rebuilds
// them), so a failed msync loses nothing that recovery cannot redo.
package mmapindex
