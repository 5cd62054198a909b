package acl

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
)

// Class names of authorizer.class.name that turn authorization on.
const (
	StandardAuthorizerClass = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
	AclAuthorizerClass      = "kafka.security.authorizer.AclAuthorizer" // ZooKeeper-era name, accepted
)

// Config configures an Authorizer.
type Config struct {
	// SuperUsers are allowed everything [super.users, ';'-separated
	// principals such as User:admin]. Default none.
	SuperUsers []string
	// AllowIfNoACL allows any principal on a resource no binding applies
	// to [allow.everyone.if.no.acl.found]. Default false: a resource
	// without ACLs is closed.
	AllowIfNoACL bool
}

// Authorizer decides requests against a set of bindings. It is safe for
// concurrent use; Authorize never blocks on Set.
type Authorizer struct {
	super        map[string]bool
	allowIfNoACL bool
	idx          atomic.Pointer[index]
}

// New returns an authorizer with no bindings.
func New(cfg Config) *Authorizer {
	a := &Authorizer{super: map[string]bool{}, allowIfNoACL: cfg.AllowIfNoACL}
	for _, p := range cfg.SuperUsers {
		if p = strings.TrimSpace(p); p != "" {
			a.super[p] = true
		}
	}
	a.idx.Store(buildIndex(nil))
	return a
}

// ParseSuperUsers splits Kafka's super.users value.
func ParseSuperUsers(v string) []string {
	var out []string
	for p := range strings.SplitSeq(v, ";") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Set replaces the bindings (deduplicated and sorted).
func (a *Authorizer) Set(bindings []Binding) { a.idx.Store(buildIndex(bindings)) }

// Bindings returns a copy of the bindings, sorted.
func (a *Authorizer) Bindings() []Binding { return slices.Clone(a.idx.Load().all) }

// IsSuperUser reports whether principal is in super.users.
func (a *Authorizer) IsSuperUser(principal string) bool { return a.super[principal] }

// Authorize reports whether principal, connected from host, may perform op
// on the resource of type rt named name. It does not allocate. Hosts are
// compared as addresses (an IPv4-mapped IPv6 address is its IPv4 address),
// so an ACL's text form need not be the one Java would print.
func (a *Authorizer) Authorize(principal string, host netip.Addr, rt ResourceType, name string, op Operation) bool {
	host = host.Unmap()
	if a.super[principal] {
		return true
	}
	ti := a.idx.Load().types[rt]
	if ti == nil {
		return a.allowIfNoACL
	}
	var d decision
	d.scan(ti.literal[name], principal, host, op)
	if name != WildcardName {
		d.scan(ti.literal[WildcardName], principal, host, op)
	}
	for _, n := range ti.prefixLens {
		if n > len(name) {
			break
		}
		d.scan(ti.prefixed[name[:n]], principal, host, op)
	}
	switch {
	case d.denied:
		return false
	case d.allowed:
		return true
	}
	return !d.found && a.allowIfNoACL
}

// AuthorizeAny reports whether principal may perform op on some resource
// of type rt: Kafka's authorizeByResourceType, used where any topic will
// do (InitProducerId without a transactional id needs WRITE on some topic
// or IDEMPOTENT_WRITE on the cluster). Allowed when a hypothetical
// resource is (super user, or allow.everyone.if.no.acl.found with no
// ACLs), else when an ALLOW binding for op or ALL applies to the
// principal and host and is not covered by a DENY: a literal "*" DENY
// covers all, a literal DENY its own name, a prefixed DENY every name and
// prefix it starts.
func (a *Authorizer) AuthorizeAny(principal string, host netip.Addr, rt ResourceType, op Operation) bool {
	if a.Authorize(principal, host, rt, "hardcode", op) {
		return true
	}
	host = host.Unmap()
	var denyLit, denyPre, allowLit, allowPre []string
	for _, b := range a.idx.Load().all {
		if b.ResourceType != rt || (b.Operation != op && b.Operation != All) ||
			!matchesWho(b.Principal, parseHost(b.Host), principal, host) {
			continue
		}
		switch {
		case b.Permission == Deny && b.PatternType == Literal:
			denyLit = append(denyLit, b.ResourceName)
		case b.Permission == Deny:
			denyPre = append(denyPre, b.ResourceName)
		case b.PatternType == Literal:
			allowLit = append(allowLit, b.ResourceName)
		default:
			allowPre = append(allowPre, b.ResourceName)
		}
	}
	if slices.Contains(denyLit, WildcardName) {
		return false
	}
	deniedByPrefix := func(s string) bool {
		return slices.ContainsFunc(denyPre, func(p string) bool { return strings.HasPrefix(s, p) })
	}
	for _, n := range allowLit {
		if n == WildcardName || !slices.Contains(denyLit, n) && !deniedByPrefix(n) {
			return true
		}
	}
	for _, p := range allowPre {
		if !deniedByPrefix(p) {
			return true
		}
	}
	return false
}

// aclHost is a binding's host: any, or one address.
type aclHost struct {
	any  bool
	addr netip.Addr // unmapped; the zero Addr (matching nothing) for an unparsable host
}

func parseHost(s string) aclHost {
	if s == WildcardHost {
		return aclHost{any: true}
	}
	a, _ := netip.ParseAddr(s)
	return aclHost{addr: a.Unmap()}
}

func matchesWho(aclPrincipal string, h aclHost, principal string, host netip.Addr) bool {
	return (aclPrincipal == principal || aclPrincipal == WildcardUser) &&
		(h.any || h.addr.IsValid() && h.addr == host)
}

// decision accumulates the bindings that apply to one resource.
type decision struct{ found, denied, allowed bool }

func (d *decision) scan(es []entry, principal string, host netip.Addr, op Operation) {
	if len(es) > 0 {
		d.found = true
	}
	for i := range es {
		e := &es[i]
		if !matchesWho(e.principal, e.host, principal, host) {
			continue
		}
		if e.perm == Deny {
			if e.op == op || e.op == All {
				d.denied = true
			}
		} else if implies(e.op, op) {
			d.allowed = true
		}
	}
}

// entry is a binding less its resource, as the index stores it.
type entry struct {
	principal string
	host      aclHost
	op        Operation
	perm      Permission
}

// typeIndex holds the bindings of one resource type.
type typeIndex struct {
	literal    map[string][]entry
	prefixed   map[string][]entry
	prefixLens []int // distinct lengths of the keys of prefixed, ascending
}

// index is an immutable snapshot of every binding.
type index struct {
	all   []Binding // sorted, unique
	types [numResourceTypes]*typeIndex
}

func compareBindings(x, y Binding) int {
	return cmp.Or(cmp.Compare(x.ResourceType, y.ResourceType), cmp.Compare(x.PatternType, y.PatternType),
		strings.Compare(x.ResourceName, y.ResourceName), strings.Compare(x.Principal, y.Principal),
		strings.Compare(x.Host, y.Host), cmp.Compare(x.Operation, y.Operation), cmp.Compare(x.Permission, y.Permission))
}

// SortBindings sorts bindings by resource then entry, and drops duplicates.
func SortBindings(bs []Binding) []Binding {
	bs = slices.Clone(bs)
	slices.SortFunc(bs, compareBindings)
	return slices.Compact(bs)
}

func buildIndex(bindings []Binding) *index {
	idx := &index{all: SortBindings(bindings)}
	for _, b := range idx.all {
		if b.ResourceType < 0 || b.ResourceType >= numResourceTypes {
			continue
		}
		ti := idx.types[b.ResourceType]
		if ti == nil {
			ti = &typeIndex{literal: map[string][]entry{}, prefixed: map[string][]entry{}}
			idx.types[b.ResourceType] = ti
		}
		e := entry{principal: b.Principal, host: parseHost(b.Host), op: b.Operation, perm: b.Permission}
		if b.PatternType == Prefixed {
			if _, ok := ti.prefixed[b.ResourceName]; !ok && !slices.Contains(ti.prefixLens, len(b.ResourceName)) {
				ti.prefixLens = append(ti.prefixLens, len(b.ResourceName))
			}
			ti.prefixed[b.ResourceName] = append(ti.prefixed[b.ResourceName], e)
		} else {
			ti.literal[b.ResourceName] = append(ti.literal[b.ResourceName], e)
		}
	}
	for _, ti := range idx.types {
		if ti != nil {
			slices.Sort(ti.prefixLens)
		}
	}
	return idx
}
