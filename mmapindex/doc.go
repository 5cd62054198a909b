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
// not be. It is empty; lookups, Sync, Trim, TruncateTo and Close touch no
// file and RenameTo only moves its path; a writable one's first Append
// creates, preallocates and maps the file (a read-only one stays empty).
// So a segment that never gets an entry (package partition: less than
// index.interval.bytes appended) costs no index file and no mapping.
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
