package acl

import (
	"fmt"
	"net/netip"
	"testing"
)

// BenchmarkAuthorize decides against 10,000 bindings: literal topics,
// prefixes of several lengths, a wildcard, a deny.
func BenchmarkAuthorize(b *testing.B) {
	var bs []Binding
	for i := range 5000 {
		bs = append(bs, allow(Topic, fmt.Sprintf("topic-%d", i), Literal, fmt.Sprintf("User:u%d", i%50), Read))
		bs = append(bs, allow(Topic, fmt.Sprintf("team%d-", i%200), Prefixed, fmt.Sprintf("User:u%d", i%50), Write))
	}
	bs = append(bs, allow(Topic, "*", Literal, "User:ops", Describe), deny(Topic, "topic-7", Literal, "User:u7", Read))
	a := New(Config{})
	a.Set(bs)
	host := netip.MustParseAddr("127.0.0.1")
	cases := []struct {
		name, principal, topic string
		op                     Operation
		want                   bool
	}{
		{"literal", "User:u3", "topic-3", Read, true},
		{"prefixed", "User:u3", "team3-orders", Write, true},
		{"denied", "User:u7", "topic-7", Read, false},
		{"no-acl", "User:u3", "unknown-topic", Read, false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if a.Authorize(c.principal, host, Topic, c.topic, c.op) != c.want {
					b.Fatal("wrong decision")
				}
			}
		})
	}
}
