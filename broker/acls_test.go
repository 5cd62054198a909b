package broker

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/acl"
	"github.com/sluice/sluice/netio"
)

// principals names the principal of each test connection by the
// client's address (the server's RemoteAddr), until SASL exists.
type principals struct{ m sync.Map }

func (p *principals) of(c *netio.Conn) string {
	if v, ok := p.m.Load(c.RemoteAddr().String()); ok {
		return v.(string)
	}
	return anonymous
}

// authServer is a broker with the authorizer on; admin is a super user.
type authServer struct {
	*testServer
	who *principals
}

const testAdmin = "User:admin"

func startAuthServer(t *testing.T, dir string, cfg acl.Config) *authServer {
	t.Helper()
	who := &principals{}
	cfg.SuperUsers = append(cfg.SuperUsers, testAdmin)
	ts := startServer(t, dir, func(c *ServerConfig) {
		c.Broker.Authorizer = &cfg
		c.Broker.principalForTest = who.of
	})
	return &authServer{testServer: ts, who: who}
}

// dialAs is a raw connection acting as principal.
func (as *authServer) dialAs(t *testing.T, principal string) *rawConn {
	t.Helper()
	rc := dialRaw(t, as.addr)
	as.who.m.Store(rc.c.LocalAddr().String(), principal)
	return rc
}

// kgoAs is a franz-go client whose every connection acts as principal.
func (as *authServer) kgoAs(t *testing.T, principal string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	dial := func(ctx context.Context, network, host string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, host)
		if err == nil {
			as.who.m.Store(c.LocalAddr().String(), principal)
		}
		return c, err
	}
	return newKgo(t, as.addr, append([]kgo.Opt{kgo.Dialer(dial)}, opts...)...)
}

func TestACLAPIs(t *testing.T) {
	dir := t.TempDir()
	as := startAuthServer(t, dir, acl.Config{})
	adm := kadm.NewClient(as.kgoAs(t, testAdmin))
	ctx := testCtx(t)

	b := kadm.NewACLs().Allow("User:ann").AllowHosts().Topics("orders").Operations(kadm.OpRead, kadm.OpWrite)
	b2 := kadm.NewACLs().Deny("User:eve").DenyHosts("10.0.0.1").Groups("g-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpRead)
	for _, bb := range []*kadm.ACLBuilder{b, b2} {
		res, err := adm.CreateACLs(ctx, bb)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("create %+v: %v", r, r.Err)
			}
		}
	}
	// Creating again changes nothing.
	if _, err := adm.CreateACLs(ctx, b); err != nil {
		t.Fatal(err)
	}
	describe := func(bb *kadm.ACLBuilder) []kadm.DescribedACL {
		t.Helper()
		res, err := adm.DescribeACLs(ctx, bb)
		if err != nil {
			t.Fatal(err)
		}
		var out []kadm.DescribedACL
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("describe: %v", r.Err)
			}
			out = append(out, r.Described...)
		}
		return out
	}
	all := kadm.NewACLs().AnyResource().Allow().Deny().AllowHosts().DenyHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny)
	if got := describe(all); len(got) != 3 {
		t.Fatalf("described %d ACLs, want 3: %+v", len(got), got)
	}
	match := kadm.NewACLs().Groups("g-team").Allow().Deny().AllowHosts().DenyHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternMatch)
	if got := describe(match); len(got) != 1 || got[0].Principal != "User:eve" || got[0].Host != "10.0.0.1" {
		t.Fatalf("MATCH g-team: %+v", got)
	}

	// A restart keeps them (acls.json).
	as.stop(t)
	as = startAuthServer(t, dir, acl.Config{})
	adm = kadm.NewClient(as.kgoAs(t, testAdmin))
	if got := describe(all); len(got) != 3 {
		t.Fatalf("after restart: %d ACLs, want 3", len(got))
	}

	del := kadm.NewACLs().Topics("orders").Allow("User:ann").AllowHosts().Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral)
	res, err := adm.DeleteACLs(ctx, del)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Err != nil || len(res[0].Deleted) != 1 || res[0].Deleted[0].Operation != kmsg.ACLOperationRead {
		t.Fatalf("delete: %+v", res)
	}
	if got := describe(all); len(got) != 2 {
		t.Fatalf("after delete: %d ACLs, want 2", len(got))
	}
}

func TestACLAPIErrors(t *testing.T) {
	// No authorizer: SECURITY_DISABLED on all three.
	plain := startServer(t, "")
	rc := dialRaw(t, plain.addr)
	d := kmsg.NewPtrDescribeACLsRequest()
	d.Version = 3
	d.ResourceType, d.ResourcePatternType, d.Operation, d.PermissionType = 1, 1, 1, 1
	if got := rc.roundTrip(d).(*kmsg.DescribeACLsResponse).ErrorCode; got != kerr.SecurityDisabled.Code {
		t.Errorf("describe without authorizer: error %d, want SECURITY_DISABLED", got)
	}
	c := kmsg.NewPtrCreateACLsRequest()
	c.Version = 3
	cr := kmsg.NewCreateACLsRequestCreation()
	cr.ResourceType, cr.ResourceName, cr.ResourcePatternType = 2, "t", 3
	cr.Principal, cr.Host, cr.Operation, cr.PermissionType = "User:a", "*", 3, 3
	c.Creations = append(c.Creations, cr)
	if got := rc.roundTrip(c).(*kmsg.CreateACLsResponse).Results[0].ErrorCode; got != kerr.SecurityDisabled.Code {
		t.Errorf("create without authorizer: %d", got)
	}

	as := startAuthServer(t, "", acl.Config{})
	// Not allowed ALTER/DESCRIBE on the cluster.
	ann := as.dialAs(t, "User:ann")
	if got := ann.roundTrip(d).(*kmsg.DescribeACLsResponse).ErrorCode; got != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("describe as ann: %d, want CLUSTER_AUTHORIZATION_FAILED", got)
	}
	if got := ann.roundTrip(c).(*kmsg.CreateACLsResponse).Results[0].ErrorCode; got != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("create as ann: %d, want CLUSTER_AUTHORIZATION_FAILED", got)
	}
	// Invalid creations and filters: INVALID_REQUEST.
	admin := as.dialAs(t, testAdmin)
	bad := func(mut func(*kmsg.CreateACLsRequestCreation)) {
		t.Helper()
		req := kmsg.NewPtrCreateACLsRequest()
		req.Version = 3
		x := cr
		mut(&x)
		req.Creations = []kmsg.CreateACLsRequestCreation{x}
		if got := admin.roundTrip(req).(*kmsg.CreateACLsResponse).Results[0].ErrorCode; got != kerr.InvalidRequest.Code {
			t.Errorf("create %+v: %d, want INVALID_REQUEST", x, got)
		}
	}
	bad(func(x *kmsg.CreateACLsRequestCreation) { x.ResourcePatternType = 1 })
	bad(func(x *kmsg.CreateACLsRequestCreation) { x.Operation = 1 })
	bad(func(x *kmsg.CreateACLsRequestCreation) { x.PermissionType = 0 })
	bad(func(x *kmsg.CreateACLsRequestCreation) { x.ResourceName = "" })
	bad(func(x *kmsg.CreateACLsRequestCreation) { x.ResourceType, x.ResourceName = 4, "other" })
	bad(func(x *kmsg.CreateACLsRequestCreation) { x.Principal = "ann" })
	d0 := *d
	d0.Operation = 0
	if got := admin.roundTrip(&d0).(*kmsg.DescribeACLsResponse).ErrorCode; got != kerr.InvalidRequest.Code {
		t.Errorf("describe with UNKNOWN operation: %d, want INVALID_REQUEST", got)
	}
	del := kmsg.NewPtrDeleteACLsRequest()
	del.Version = 3
	f := kmsg.NewDeleteACLsRequestFilter()
	f.ResourceType, f.ResourcePatternType, f.Operation, f.PermissionType = 1, 0, 1, 1
	del.Filters = append(del.Filters, f)
	if got := admin.roundTrip(del).(*kmsg.DeleteACLsResponse).Results[0].ErrorCode; got != kerr.InvalidRequest.Code {
		t.Errorf("delete with UNKNOWN pattern type: %d, want INVALID_REQUEST", got)
	}
}

func TestACLFileCorrupt(t *testing.T) {
	dir := t.TempDir()
	as := startAuthServer(t, dir, acl.Config{})
	as.stop(t)
	if err := os.WriteFile(filepath.Join(dir, aclsFile), []byte(`{"version":1,"acls":[{"id":"x"`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testServerConfig(dir)
	cfg.Broker.Authorizer = &acl.Config{}
	if srv, err := StartServer(cfg); !errors.Is(err, ErrACLsCorrupt) {
		if err == nil {
			srv.Shutdown(context.Background())
		}
		t.Fatalf("StartServer with a torn acls.json: %v, want ErrACLsCorrupt", err)
	}
}

// TestACLFranzGo: a real client within and outside its ACLs.
func TestACLFranzGo(t *testing.T) {
	as := startAuthServer(t, "", acl.Config{})
	ctx := testCtx(t)
	adm := kadm.NewClient(as.kgoAs(t, testAdmin))
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "orders", "secret"); err != nil {
		t.Fatal(err)
	}
	as.setACLs(t, []acl.Binding{
		{ResourceType: acl.Topic, ResourceName: "orders", PatternType: acl.Literal, Principal: "User:ann", Host: "*", Operation: acl.Write, Permission: acl.Allow},
		{ResourceType: acl.Topic, ResourceName: "orders", PatternType: acl.Literal, Principal: "User:cat", Host: "*", Operation: acl.Read, Permission: acl.Allow},
		{ResourceType: acl.Topic, ResourceName: "orders", PatternType: acl.Literal, Principal: "User:bob", Host: "*", Operation: acl.Describe, Permission: acl.Allow},
		{ResourceType: acl.Group, ResourceName: "billing", PatternType: acl.Literal, Principal: "User:cat", Host: "*", Operation: acl.Read, Permission: acl.Allow},
	})
	// ann may write orders (and so get a producer id), not secret.
	ann := as.kgoAs(t, "User:ann", kgo.RecordRetries(1))
	if err := ann.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("a")}).FirstErr(); err != nil {
		t.Fatalf("ann produce to orders: %v", err)
	}
	if err := ann.ProduceSync(ctx, &kgo.Record{Topic: "secret", Value: []byte("a")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("ann produce to secret: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	// bob may describe orders but write nothing: the idempotent producer's
	// InitProducerId fails (no WRITE on any topic, no IDEMPOTENT_WRITE).
	bob := as.kgoAs(t, "User:bob", kgo.RecordRetries(1))
	if err := bob.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("b")}).FirstErr(); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("bob produce: %v, want CLUSTER_AUTHORIZATION_FAILED (InitProducerId)", err)
	}
	// cat consumes orders in group billing.
	cat := as.kgoAs(t, "User:cat", kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := cat.PollRecords(ctx, 1)
	if err := fs.Err0(); err != nil || fs.NumRecords() != 1 || string(fs.Records()[0].Value) != "a" {
		t.Fatalf("cat consume: %v, %d records", err, fs.NumRecords())
	}
	if err := cat.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("cat commit: %v", err)
	}
	// cat's ACLs do not reach group other.
	dog := as.kgoAs(t, "User:cat", kgo.ConsumerGroup("other"), kgo.ConsumeTopics("orders"))
	if err := dog.PollRecords(ctx, 1).Err0(); !errors.Is(err, kerr.GroupAuthorizationFailed) {
		t.Fatalf("cat in group other: %v, want GROUP_AUTHORIZATION_FAILED", err)
	}
}

// TestACLFileCrashMidWrite: a write that died before its rename leaves a
// temporary file; the ACLs of the last completed write are what load.
func TestACLFileCrashMidWrite(t *testing.T) {
	dir := t.TempDir()
	as := startAuthServer(t, dir, acl.Config{})
	b := acl.Binding{ResourceType: acl.Topic, ResourceName: "orders", PatternType: acl.Literal,
		Principal: "User:ann", Host: "*", Operation: acl.Read, Permission: acl.Allow}
	as.setACLs(t, []acl.Binding{b})
	as.stop(t)
	torn := filepath.Join(dir, aclsFile+".tmp123")
	if err := os.WriteFile(torn, []byte(`{"version":1,"acls":[{"id":"x","resourceType":2,"resour`), 0o644); err != nil {
		t.Fatal(err)
	}
	as = startAuthServer(t, dir, acl.Config{})
	if got := as.Broker().acls.auth.Bindings(); len(got) != 1 || got[0] != b {
		t.Fatalf("after a crash mid-write: %+v, want [%+v]", got, b)
	}
}

// FuzzReadACLs: any acls.json either loads as valid bindings (which write
// back and reload the same) or fails as ErrACLsCorrupt, never another way.
func FuzzReadACLs(f *testing.F) {
	f.Add([]byte(`{"version":1,"acls":[{"id":"a","resourceType":2,"resourceName":"t","patternType":3,` +
		`"principal":"User:a","host":"*","operation":3,"permissionType":3}]}`))
	f.Add([]byte(`{"version":1,"acls":[]}`))
	f.Add([]byte(`{"version":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, aclsFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		recs, err := readACLs(dir)
		if err != nil {
			if !errors.Is(err, ErrACLsCorrupt) {
				t.Fatalf("error not marked corrupt: %v", err)
			}
			return
		}
		a := &acls{dir: dir, auth: acl.New(acl.Config{})}
		a.mu.Lock()
		err = a.commitLocked(recs)
		a.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		again, err := readACLs(dir)
		if err != nil || len(again) != len(recs) {
			t.Fatalf("rewritten file: %d records, %v; want %d", len(again), err, len(recs))
		}
		for i := range recs {
			if again[i] != recs[i] {
				t.Fatalf("record %d: %+v, want %+v", i, again[i], recs[i])
			}
		}
	})
}
