package broker

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/sluice/sluice/acl"
	"github.com/sluice/sluice/netio"
)

// BenchmarkAuthorizeRequest is the per-request cost of a check as a
// handler pays it (principalOf on a real connection, then the decision)
// with 2,000 ACLs, a new request each time so nothing is cached.
func BenchmarkAuthorizeRequest(b *testing.B) {
	var conn atomic.Pointer[netio.Conn]
	ts := startServer(b, "", func(c *ServerConfig) {
		c.Broker.Authorizer = &acl.Config{}
		c.Broker.principalForTest = func(c *netio.Conn) string { conn.Store(c); return "User:u1" }
	})
	var bs []acl.Binding
	for i := range 1000 {
		bs = append(bs,
			acl.Binding{ResourceType: acl.Topic, ResourceName: fmt.Sprintf("t%d", i), PatternType: acl.Literal,
				Principal: fmt.Sprintf("User:u%d", i%10), Host: "*", Operation: acl.Write, Permission: acl.Allow},
			acl.Binding{ResourceType: acl.Topic, ResourceName: fmt.Sprintf("p%d-", i), PatternType: acl.Prefixed,
				Principal: fmt.Sprintf("User:u%d", i%10), Host: "127.0.0.1", Operation: acl.Read, Permission: acl.Allow})
	}
	ts.Broker().acls.auth.Set(bs)
	rc := dialRaw(b, ts.addr)
	rc.roundTrip(produceReq(9, 1, "t1", 0, makeBatch(batchOpts{}, []byte("v"))))
	c := conn.Load()
	if c == nil {
		b.Fatal("no connection seen")
	}
	br := ts.Broker()
	for _, bc := range []struct {
		name, topic string
		chk         *check
	}{{"literal-write", "t1", &chkProduceTopic}, {"prefixed-read", "p1-orders", &chkFetchTopic}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := request{conn: c}
				if !br.allowed(&r, bc.chk, bc.topic) {
					b.Fatal("denied")
				}
			}
		})
	}
}
