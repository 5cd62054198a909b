// Package acl is Kafka's StandardAuthorizer: access control lists of
// bindings and the decision "may principal P from host H perform operation
// O on resource R".
//
// A Binding is the shape of KRaft's AccessControlEntryRecord (the record
// ACLs are in the cluster metadata log, metadata.AccessControlEntry, so
// every broker's Authorizer holds the same set):
//
//	| resource type | resource name | pattern type | principal | host | operation | permission |
//	| TOPIC         | orders-       | PREFIXED     | User:ann  | *    | READ      | ALLOW      |
//
// with Kafka's enum codes (kmsg's ACLResourceType, ACLResourcePatternType,
// ACLOperation and ACLPermissionType have the same values).
//
// Semantics, as Kafka's StandardAuthorizer:
//   - A binding applies to a resource when its pattern is LITERAL with the
//     resource's name or the wildcard "*", or PREFIXED with a prefix of the
//     name; to a principal when it names it or is "User:*"; to a host when
//     it is "*" or the client's IP address.
//   - A DENY binding for the operation (or ALL) wins over every ALLOW.
//   - An ALLOW binding for the operation or ALL allows it; so does an
//     ALLOW for an operation that implies it: READ, WRITE, DELETE and
//     ALTER imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS.
//   - A principal in super.users is allowed everything.
//   - No binding at all for the resource (for any principal): denied,
//     unless allow.everyone.if.no.acl.found is true.
//
// Decisions read an immutable index (swapped atomically when the bindings
// change: in a cluster, when the broker applies a metadata image that
// changed them) and allocate nothing: a map from name to bindings per resource
// type for literal patterns, and for prefixed patterns a map probed once
// per distinct prefix length in use.
package acl
