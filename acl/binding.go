package acl

import (
	"errors"
	"fmt"
	"net/netip"
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

// ErrInvalid marks a binding or filter Kafka rejects with INVALID_REQUEST
// (errors.Is); the error's text is the message for the client, as Kafka's.
var ErrInvalid = errors.New("acl: invalid")

type invalidError struct{ msg string }

func (e invalidError) Error() string        { return e.msg }
func (e invalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(format string, args ...any) error {
	return invalidError{fmt.Sprintf(format, args...)}
}

// Validate checks a binding as Kafka checks a new ACL (AclControlManager
// and CreateAcls): concrete types, a non-empty name, kafka-cluster for
// CLUSTER, a principal of the form Type:name, a host.
func (b Binding) Validate() error {
	switch {
	case b.ResourceType <= ResourceAny || b.ResourceType >= numResourceTypes:
		return invalid("Invalid resourceType %s", b.ResourceType)
	case b.PatternType != Literal && b.PatternType != Prefixed:
		return invalid("Invalid patternType %s", b.PatternType)
	case b.Operation <= OpAny || b.Operation >= numOperations:
		return invalid("Invalid operation %s", b.Operation)
	case b.Permission != Allow && b.Permission != Deny:
		return invalid("Invalid permissionType %s", b.Permission)
	case b.ResourceName == "":
		return invalid("Resource name should not be empty")
	case b.ResourceType == Cluster && b.ResourceName != ClusterName:
		return invalid("The only valid name for the CLUSTER resource is %s", ClusterName)
	case strings.IndexByte(b.Principal, ':') <= 0:
		return invalid("Could not parse principal from `%s` (no colon is present separating the principal type from the principal name)", b.Principal)
	case b.Host == "":
		return invalid("Host should not be empty")
	case b.Host != WildcardHost && !validAddr(b.Host):
		return invalid("Host %q is not * or an IP address", b.Host)
	}
	return nil
}

func validAddr(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
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
		return invalid("Unknown resourceType in filter")
	case f.PatternType <= PatternUnknown || f.PatternType > Prefixed:
		return invalid("Unknown patternType in filter")
	case f.Operation <= OpUnknown || f.Operation >= numOperations:
		return invalid("Unknown operation in filter")
	case f.Permission <= PermissionUnknown || f.Permission > Allow:
		return invalid("Unknown permissionType in filter")
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
