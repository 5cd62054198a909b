// Package metadata holds the cluster's metadata records and the immutable
// image built by applying them in order. It knows nothing of sockets, files
// or Raft: the controller package replicates batches of records through its
// quorum, and every broker applies the committed batches to its image.
//
//	broker ──reads──▶ metadata.Image ◀──applies── controller (Raft FSM)
//	  (handlers,          (immutable,               (proposes records,
//	   reconciler)         swapped whole)            commits, applies)
//
// # Records
//
// The records are KRaft's, typed: RegisterBroker (endpoints, rack,
// incarnation, broker epoch), FenceBroker, UnfenceBroker, UnregisterBroker
// {broker, epoch} (type 17: the registration is gone), Topic {name, id},
// Partition {replicas, ISR, leader, leader epoch, partition epoch; version
// 1 adds KIP-966's eligible leader replicas and last known ELR; version 2
// adds those two and the adding and removing replicas of a pending
// reassignment, KIP-455}, PartitionChange (versions 1 and 2 likewise,
// nullable: null keeps, empty clears), RemoveTopic, Config {resource, key,
// value or delete}, ProducerIdsBlock {broker, first id, size}, and the
// security records (types 9-12): AccessControlEntry {id, resource type,
// name, pattern type, principal, host, operation, permission} and
// RemoveAccessControlEntry {id};
// UserScramCredential {user, mechanism, salt, stored key, server key,
// iterations}, which sets or replaces, and RemoveUserScramCredential. Salt
// and keys are encoded as strings (uint16 length). A snapshot restates ACLs
// by id and credentials by user and mechanism after the producer-id block.
// Types 13-15 are reserved. Nothing proposes the security records yet.
//
// # Encoding
//
// A batch (one Raft log entry) is frames back to back. One frame, integers
// big-endian:
//
//	 0        1           2            6
//	+--------+-----------+------------+---------------------+
//	| type   | version   | length     | fields              |
//	| (1B)   | (1B)      | (4B)       | (length bytes)      |
//	+--------+-----------+------------+---------------------+
//
// Fields are written in the record's declared order, with no tags:
//
//	int8/16/32/64   fixed width, two's complement
//	bool            1B, 0 or 1 (anything else is corrupt)
//	uuid            16B
//	string          uint16 length, then UTF-8 bytes
//	[]T             int32 count, then the elements
//	nullable []T    int32 count, -1 = null (PartitionChange: "unchanged")
//
// The encoding is canonical: a frame that decodes re-encodes to the same
// bytes. Decoders bound every length and count by the bytes left in the
// frame, refuse bytes after the last field and unknown type/version pairs;
// every such failure wraps ErrCorrupt. A new field means a new version of
// the record; decoders keep reading the old ones. Encoders write the
// lowest version that holds the record, so a frame that would re-encode
// at a lower version is corrupt.
//
// Partition and PartitionChange are written at version 1 only when they
// carry an ELR or a last known ELR (appended after the version 0 fields:
// two []int32, nullable in PartitionChange), else at version 0, so logs
// and snapshots written before KIP-966 decode unchanged (with no ELR) and
// a cluster that never enables it writes the same bytes as before. A
// version 1 frame without either list is corrupt (it would re-encode as
// version 0). Version 2 is written when a reassignment is pending (a
// Partition with adding or removing replicas) or a PartitionChange sets
// adding or removing (an empty list ends the reassignment): after the
// version 0 fields come the ELR, the last known ELR, adding and removing
// (all four nullable in PartitionChange). A version 2 Partition without a
// reassignment, or a version 2 PartitionChange with both adding and
// removing null, is corrupt. The image checks the ELR and the last known
// ELR are replicas, apart from the ISR and from each other, and that
// adding and removing are disjoint replicas that leave one at least.
//
// # Image
//
// Image.Apply(records) returns a new Image: maps are cloned on first write
// and a topic's partition slice on its first change, so readers holding the
// old image keep a consistent snapshot and unchanged topics are shared. A
// record that does not apply (a partition of an unknown topic, a fence of a
// broker at another epoch, a producer-id block below the next id)
// refuses the whole batch with ErrInvalid; replicas apply the same log and
// refuse the same batches, so their images stay identical.
//
// LocalChangesFor(prev, next, broker) is what a broker's reconciler does
// between two images: replicas to delete, partitions it now leads, and
// partitions it follows, each new or changed. Topics that Apply shared
// between the images are skipped.
//
// A snapshot is the magic "SLMD", a format version byte, and the frames of
// Image.Records(): brokers by id, topics by name each followed by its
// partitions, configs by resource and key, the last producer-id block.
// Equal images have equal snapshot bytes.
package metadata
