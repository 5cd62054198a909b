package acl

import (
	"errors"
	"net/netip"
	"testing"
)

func allow(rt ResourceType, name string, pt PatternType, principal string, op Operation) Binding {
	return Binding{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: principal, Host: "*", Operation: op, Permission: Allow}
}

func deny(rt ResourceType, name string, pt PatternType, principal string, op Operation) Binding {
	b := allow(rt, name, pt, principal, op)
	b.Permission = Deny
	return b
}

func TestAuthorize(t *testing.T) {
	a := New(Config{SuperUsers: ParseSuperUsers("User:root; User:admin")})
	a.Set([]Binding{
		allow(Topic, "orders", Literal, "User:ann", Read),
		allow(Topic, "logs-", Prefixed, "User:ann", Write),
		deny(Topic, "logs-secret", Literal, "User:ann", Write),
		allow(Topic, "*", Literal, "User:bob", Describe),
		allow(Topic, "pub", Literal, "User:*", All),
		deny(Topic, "pub", Literal, "User:eve", Read),
		allow(Group, "g", Literal, "User:ann", Read),
		allow(Cluster, ClusterName, Literal, "User:ops", AlterConfigs),
		{ResourceType: Topic, ResourceName: "v6", PatternType: Literal, Principal: "User:ann", Host: "0:0:0:0:0:0:0:1", Operation: Read, Permission: Allow},
		{ResourceType: Topic, ResourceName: "lan", PatternType: Literal, Principal: "User:ann", Host: "10.0.0.1", Operation: Read, Permission: Allow},
	})
	f := func(principal, host string, rt ResourceType, name string, op Operation, want bool) {
		t.Helper()
		if got := a.Authorize(principal, netip.MustParseAddr(host), rt, name, op); got != want {
			t.Errorf("Authorize(%s, %s, %s %q, %s) = %v, want %v", principal, host, rt, name, op, got, want)
		}
	}
	f("User:ann", "127.0.0.1", Topic, "orders", Read, true)
	f("User:ann", "127.0.0.1", Topic, "orders", Describe, true) // implied by READ
	f("User:ann", "127.0.0.1", Topic, "orders", Write, false)
	f("User:ann", "127.0.0.1", Topic, "logs-app", Write, true) // prefix
	f("User:ann", "127.0.0.1", Topic, "logs-", Write, true)
	f("User:ann", "127.0.0.1", Topic, "logs", Write, false)
	f("User:ann", "127.0.0.1", Topic, "logs-secret", Write, false) // DENY wins
	f("User:ann", "127.0.0.1", Topic, "logs-secret", Describe, true)
	f("User:bob", "127.0.0.1", Topic, "anything", Describe, true) // wildcard name
	f("User:bob", "127.0.0.1", Topic, "anything", Read, false)    // DESCRIBE does not imply READ
	f("User:zed", "127.0.0.1", Topic, "pub", Write, true)         // User:* with ALL
	f("User:eve", "127.0.0.1", Topic, "pub", Read, false)         // deny for eve
	f("User:eve", "127.0.0.1", Topic, "pub", Write, true)
	f("User:ann", "127.0.0.1", Group, "g", Read, true)
	f("User:ann", "127.0.0.1", Group, "g2", Read, false)
	f("User:ann", "127.0.0.1", Group, "orders", Read, false) // other type
	f("User:ops", "127.0.0.1", Cluster, ClusterName, DescribeConfigs, true)
	f("User:ops", "127.0.0.1", Cluster, ClusterName, Describe, false)
	f("User:root", "127.0.0.1", Cluster, ClusterName, ClusterAction, true)
	f("User:admin", "::1", TransactionalID, "t", Write, true)
	f("User:ann", "10.0.0.1", Topic, "lan", Read, true)
	f("User:ann", "10.0.0.2", Topic, "lan", Read, false)
	f("User:ann", "::ffff:10.0.0.1", Topic, "lan", Read, true)     // IPv4-mapped: the same address
	f("User:ann", "::1", Topic, "v6", Read, true)                  // ACL written 0:0:0:0:0:0:0:1, as Java prints it
	f("User:ann", "127.0.0.1", TransactionalID, "t", Write, false) // no ACLs, default closed
}

func TestImpliedOperations(t *testing.T) {
	for granted := All; granted < numOperations; granted++ {
		for op := All; op < numOperations; op++ {
			want := granted == op || granted == All ||
				op == Describe && (granted == Read || granted == Write || granted == Delete || granted == Alter) ||
				op == DescribeConfigs && granted == AlterConfigs
			a := New(Config{})
			a.Set([]Binding{allow(Topic, "t", Literal, "User:u", granted)})
			if got := a.Authorize("User:u", netip.MustParseAddr("1.2.3.4"), Topic, "t", op); got != want {
				t.Errorf("ALLOW %s → %s = %v, want %v", granted, op, got, want)
			}
			a.Set([]Binding{allow(Topic, "t", Literal, "User:u", All), deny(Topic, "t", Literal, "User:u", granted)})
			if got, want := a.Authorize("User:u", netip.MustParseAddr("1.2.3.4"), Topic, "t", op), !(granted == op || granted == All); got != want {
				t.Errorf("DENY %s → %s = %v, want %v (denies imply nothing)", granted, op, got, want)
			}
		}
	}
}

func TestAllowEveryoneIfNoACLFound(t *testing.T) {
	a := New(Config{AllowIfNoACL: true})
	a.Set([]Binding{allow(Topic, "owned", Literal, "User:ann", Read), allow(Topic, "team-", Prefixed, "User:ann", Read)})
	f := func(name string, want bool) {
		t.Helper()
		if got := a.Authorize("User:bob", netip.MustParseAddr("127.0.0.1"), Topic, name, Read); got != want {
			t.Errorf("%s: got %v, want %v", name, got, want)
		}
	}
	f("free", true)    // no ACL applies
	f("owned", false)  // an ACL applies to the resource, not to bob
	f("team-x", false) // a prefixed ACL applies
	f("team", true)
}

func TestAuthorizeAny(t *testing.T) {
	f := func(bindings []Binding, want bool) {
		t.Helper()
		a := New(Config{})
		a.Set(bindings)
		if got := a.AuthorizeAny("User:u", netip.MustParseAddr("127.0.0.1"), Topic, Write); got != want {
			t.Errorf("%v: got %v, want %v", bindings, got, want)
		}
	}
	f(nil, false)
	f([]Binding{allow(Topic, "a", Literal, "User:u", Write)}, true)
	f([]Binding{allow(Topic, "a", Literal, "User:u", Read)}, false)
	f([]Binding{allow(Topic, "a", Literal, "User:u", Write), deny(Topic, "a", Literal, "User:u", Write)}, false)
	f([]Binding{allow(Topic, "a", Literal, "User:u", Write), deny(Topic, "*", Literal, "User:u", All)}, false)
	f([]Binding{allow(Topic, "ab", Prefixed, "User:u", Write), deny(Topic, "a", Prefixed, "User:u", Write)}, false)
	f([]Binding{allow(Topic, "a", Prefixed, "User:u", Write), deny(Topic, "ab", Prefixed, "User:u", Write)}, true)
	f([]Binding{allow(Topic, "x", Literal, "User:*", All)}, true)
	f([]Binding{allow(Group, "x", Literal, "User:u", Write)}, false)
}

func TestValidate(t *testing.T) {
	good := allow(Topic, "t", Literal, "User:u", Read)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	f := func(mut func(*Binding)) {
		t.Helper()
		b := good
		mut(&b)
		if err := b.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%v: Validate = %v, want ErrInvalid", b, err)
		}
	}
	f(func(b *Binding) { b.ResourceType = ResourceAny })
	f(func(b *Binding) { b.PatternType = PatternMatch })
	f(func(b *Binding) { b.Operation = OpAny })
	f(func(b *Binding) { b.Permission = PermissionAny })
	f(func(b *Binding) { b.ResourceName = "" })
	f(func(b *Binding) { b.ResourceType, b.ResourceName = Cluster, "c" })
	f(func(b *Binding) { b.Principal = "ann" })
	f(func(b *Binding) { b.Host = "example.com" })
}

func TestFilter(t *testing.T) {
	s := func(v string) *string { return &v }
	bs := []Binding{
		allow(Topic, "orders", Literal, "User:ann", Read),
		allow(Topic, "ord", Prefixed, "User:ann", Write),
		allow(Topic, "*", Literal, "User:bob", Describe),
		allow(Group, "orders", Literal, "User:ann", Read),
	}
	f := func(flt Filter, want ...int) {
		t.Helper()
		var got []int
		for i, b := range bs {
			if flt.Matches(b) {
				got = append(got, i)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%+v: matched %v, want %v", flt, got, want)
			return
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%+v: matched %v, want %v", flt, got, want)
			}
		}
	}
	all := Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}
	f(all, 0, 1, 2, 3)
	topicOrders := all
	topicOrders.ResourceType, topicOrders.ResourceName = Topic, s("orders")
	f(topicOrders, 0)
	match := topicOrders
	match.PatternType = PatternMatch
	f(match, 0, 1, 2)
	lit := all
	lit.PatternType = Prefixed
	f(lit, 1)
	bob := all
	bob.Principal = s("User:bob")
	f(bob, 2)
	op := all
	op.Operation = Read
	f(op, 0, 3)
	if err := (Filter{}).Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("zero filter: %v", err)
	}
	if err := all.Validate(); err != nil {
		t.Errorf("any filter: %v", err)
	}
}

func TestParse(t *testing.T) {
	for _, s := range []string{"DescribeConfigs", "describe-configs", "DESCRIBE_CONFIGS"} {
		if op, err := ParseOperation(s); err != nil || op != DescribeConfigs {
			t.Errorf("ParseOperation(%q) = %v, %v", s, op, err)
		}
	}
	if _, err := ParseOperation("fly"); err == nil {
		t.Error("ParseOperation(fly) succeeded")
	}
	if p, err := ParsePatternType("prefixed"); err != nil || p != Prefixed {
		t.Errorf("ParsePatternType = %v, %v", p, err)
	}
}
