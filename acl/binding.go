package acl

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// Binding is one access control entry on one resource pattern: the
// fields of KRaft's AccessControlEntryRecord, less its id.
type Binding struct {
	ResourceType ResourceType `json:"resourceType"`
	ResourceName string       `json:"resourceName"`
	PatternType  PatternType  `json:"patternType"`
	Principal    string       `json:"principal"`
	Host         string       `json:"host"`
	Operation    Operation    `json:"operation"`
	Permission   Permission   `json:"permissionType"`
}

// ErrInvalid marks a binding or filter Kafka rejects with INVALID_REQUEST.
var ErrInvalid = errors.New("acl: invalid")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Validate checks a binding as Kafka checks a new ACL (AclControlManager
// and CreateAcls): concrete types, a non-empty name, kafka-cluster for
// CLUSTER, a principal of the form Type:name, a host.
func (b Binding) Validate() error {
	switch {
	case b.ResourceType <= ResourceAny || b.ResourceType >= numResourceTypes:
		return invalid("invalid resource type %s", b.ResourceType)
	case b.PatternType != Literal && b.PatternType != Prefixed:
		return invalid("invalid patternType %s", b.PatternType)
	case b.Operation <= OpAny || b.Operation >= numOperations:
		return invalid("invalid operation %s", b.Operation)
	case b.Permission != Allow && b.Permission != Deny:
		return invalid("invalid permissionType %s", b.Permission)
	case b.ResourceName == "":
		return invalid("resource name should not be empty")
	case b.ResourceType == Cluster && b.ResourceName != ClusterName:
		return invalid("the only valid name for the CLUSTER resource is %s", ClusterName)
	case strings.IndexByte(b.Principal, ':') <= 0:
		return invalid("could not parse principal from `%s` (no colon is present separating the principal type from the principal name)", b.Principal)
	case b.Host == "":
		return invalid("host should not be empty")
	case b.Host != WildcardHost && net.ParseIP(b.Host) == nil:
		return invalid("host %q is not * or an IP address", b.Host)
	}
	return nil
}

// String is kafka-acls' form of a binding.
func (b Binding) String() string {
	return fmt.Sprintf("(principal=%s, host=%s, operation=%s, permissionType=%s) on ResourcePattern(resourceType=%s, name=%s, patternType=%s)",
		b.Principal, b.Host, b.Operation, b.Permission, b.ResourceType, b.ResourceName, b.PatternType)
}

// Filter selects bindings (DescribeAcls, DeleteAcls). Nil strings match
// any value; ResourceAny, PatternAny, OpAny and PermissionAny match any.
// PatternMatch selects the bindings that apply to the resource named.
type Filter struct {
	ResourceType ResourceType
	ResourceName *string
	PatternType  PatternType
	Principal    *string
	Host         *string
	Operation    Operation
	Permission   Permission
}

// Validate rejects a filter with an UNKNOWN field, as Kafka does with
// INVALID_REQUEST.
func (f Filter) Validate() error {
	switch {
	case f.ResourceType <= ResourceUnknown || f.ResourceType >= numResourceTypes:
		return invalid("unknown resource type in filter")
	case f.PatternType <= PatternUnknown || f.PatternType > Prefixed:
		return invalid("unknown pattern type in filter")
	case f.Operation <= OpUnknown || f.Operation >= numOperations:
		return invalid("unknown operation in filter")
	case f.Permission <= PermissionUnknown || f.Permission > Allow:
		return invalid("unknown permission type in filter")
	}
	return nil
}

// Matches reports whether the filter selects b (Kafka's AclBindingFilter).
func (f Filter) Matches(b Binding) bool {
	return f.matchesPattern(b) &&
		(f.Principal == nil || *f.Principal == b.Principal) &&
		(f.Host == nil || *f.Host == b.Host) &&
		(f.Operation == OpAny || f.Operation == b.Operation) &&
		(f.Permission == PermissionAny || f.Permission == b.Permission)
}

func (f Filter) matchesPattern(b Binding) bool {
	if f.ResourceType != ResourceAny && f.ResourceType != b.ResourceType {
		return false
	}
	if f.PatternType != PatternAny && f.PatternType != PatternMatch && f.PatternType != b.PatternType {
		return false
	}
	if f.ResourceName == nil {
		return true
	}
	name := *f.ResourceName
	if f.PatternType != PatternMatch {
		return name == b.ResourceName
	}
	if b.PatternType == Prefixed {
		return strings.HasPrefix(name, b.ResourceName)
	}
	return name == b.ResourceName || b.ResourceName == WildcardName
}
