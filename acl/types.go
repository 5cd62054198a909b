package acl

import (
	"fmt"
	"strings"
)

// ResourceType is a kind of resource, with Kafka's codes.
type ResourceType int8

// Resource types. Any matches every type in a Filter.
const (
	ResourceUnknown  ResourceType = 0
	ResourceAny      ResourceType = 1
	Topic            ResourceType = 2
	Group            ResourceType = 3
	Cluster          ResourceType = 4
	TransactionalID  ResourceType = 5
	DelegationToken  ResourceType = 6
	User             ResourceType = 7
	numResourceTypes              = 8
	ClusterName                   = "kafka-cluster" // the one CLUSTER resource
)

// PatternType says how a binding's resource name matches names.
type PatternType int8

// Pattern types. Any and Match appear only in filters: Any matches
// bindings of every pattern type by their exact name; Match matches the
// bindings that would apply to the named resource.
const (
	PatternUnknown PatternType = 0
	PatternAny     PatternType = 1
	PatternMatch   PatternType = 2
	Literal        PatternType = 3
	Prefixed       PatternType = 4
	WildcardName               = "*"      // a LITERAL name matching every resource of its type
	WildcardUser               = "User:*" // a principal matching every user
	WildcardHost               = "*"
)

// Operation is what a request does to a resource, with Kafka's codes.
type Operation int8

// Operations.
const (
	OpUnknown       Operation = 0
	OpAny           Operation = 1 // filters only
	All             Operation = 2
	Read            Operation = 3
	Write           Operation = 4
	Create          Operation = 5
	Delete          Operation = 6
	Alter           Operation = 7
	Describe        Operation = 8
	ClusterAction   Operation = 9
	DescribeConfigs Operation = 10
	AlterConfigs    Operation = 11
	IdempotentWrite Operation = 12
	CreateTokens    Operation = 13
	DescribeTokens  Operation = 14
	numOperations             = 15
)

// Permission is ALLOW or DENY, with Kafka's codes.
type Permission int8

// Permissions.
const (
	PermissionUnknown Permission = 0
	PermissionAny     Permission = 1 // filters only
	Deny              Permission = 2
	Allow             Permission = 3
)

var (
	resourceNames = []string{"UNKNOWN", "ANY", "TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID", "DELEGATION_TOKEN", "USER"}
	patternNames  = []string{"UNKNOWN", "ANY", "MATCH", "LITERAL", "PREFIXED"}
	opNames       = []string{"UNKNOWN", "ANY", "ALL", "READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE",
		"CLUSTER_ACTION", "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE", "CREATE_TOKENS", "DESCRIBE_TOKENS"}
	permNames = []string{"UNKNOWN", "ANY", "DENY", "ALLOW"}
)

func name(names []string, v int8) string {
	if v < 0 || int(v) >= len(names) {
		return "UNKNOWN"
	}
	return names[v]
}

func (t ResourceType) String() string { return name(resourceNames, int8(t)) }
func (p PatternType) String() string  { return name(patternNames, int8(p)) }
func (o Operation) String() string    { return name(opNames, int8(o)) }
func (p Permission) String() string   { return name(permNames, int8(p)) }

// parse finds s in names, ignoring case and treating '-' as '_'.
func parse(names []string, what, s string) (int8, error) {
	s = strings.ReplaceAll(strings.ToUpper(strings.TrimSpace(s)), "-", "_")
	for i, n := range names {
		if n == s || strings.ReplaceAll(n, "_", "") == s {
			return int8(i), nil
		}
	}
	return 0, fmt.Errorf("acl: unknown %s %q", what, s)
}

// ParseOperation parses an operation name (Read, DESCRIBE_CONFIGS, describe-configs, DescribeConfigs).
func ParseOperation(s string) (Operation, error) {
	v, err := parse(opNames, "operation", s)
	return Operation(v), err
}

// ParsePatternType parses LITERAL, PREFIXED, ANY or MATCH.
func ParsePatternType(s string) (PatternType, error) {
	v, err := parse(patternNames, "pattern type", s)
	return PatternType(v), err
}

// ParseResourceType parses a resource type name.
func ParseResourceType(s string) (ResourceType, error) {
	v, err := parse(resourceNames, "resource type", s)
	return ResourceType(v), err
}

// implies reports whether an ALLOW for granted also allows op.
func implies(granted, op Operation) bool {
	if granted == op || granted == All {
		return true
	}
	switch op {
	case Describe:
		return granted == Read || granted == Write || granted == Delete || granted == Alter
	case DescribeConfigs:
		return granted == AlterConfigs
	}
	return false
}
