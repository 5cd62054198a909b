package console

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/sluice/sluice/acl"
	"github.com/sluice/sluice/auth"
	"github.com/sluice/sluice/broker"
	"github.com/sluice/sluice/listener"
)

// secureEnv is a broker whose only listener is SASL_PLAINTEXT, with an
// authorizer (super user User:admin), PLAIN users admin and carol, and
// its console wired as sluiced wires it (in-process clients per viewer,
// the broker's authorizer and passwords). The test client is admin. The
// console's clock is *clock (Unix ms).
func secureEnv(t *testing.T, clock *atomic.Int64) *env {
	t.Helper()
	start := time.Now()
	clock.Store(start.UnixMilli())
	return startEnvWith(t, start, func(sc *broker.ServerConfig) {
		sc.Net.Listeners = []listener.Listener{{Name: "SASL_PLAINTEXT", Protocol: listener.SASLPlaintext, Host: "127.0.0.1"}}
		sc.Broker.SASL.Mechanisms = auth.Mechanisms
		sc.Broker.SASL.PlainUsersAll = map[string]string{"admin": "admin-pw", "carol": "carol-pw"}
		sc.Broker.SASL.FailedAuthDelay = time.Millisecond
		sc.Broker.Authorizer = &acl.Config{SuperUsers: []string{"User:admin"}}
	}, func(c *Config, b *broker.Broker) {
		c.Dial, c.DialInternal = b.DialAs, b.DialInternal()
		c.Authorize, c.LoginRequired, c.CheckPassword = b.Authorize, b.HasUsers, b.CheckPassword
		c.SessionTimeout = time.Hour
		c.Now = func() time.Time { return time.UnixMilli(clock.Load()) }
	}, []kgo.Opt{kgo.SASL(plain.Auth{User: "admin", Pass: "admin-pw"}.AsMechanism())})
}

func mustAdmin(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestLoginAndACLs: with SASL users the console asks for a login
// (SCRAM or PLAIN password), its session cookie is HttpOnly, SameSite
// Strict and expiring; the logged-in user sees the topics and groups its
// ACLs allow, reads only with READ, and its mutations reach the broker
// as its principal over the in-process connection (the only listener is
// SASL); logout and expiry end the session.
func TestLoginAndACLs(t *testing.T) {
	var clock atomic.Int64
	e := secureEnv(t, &clock)
	ctx := context.Background()
	adm := kadm.NewClient(e.kcl)
	_, err := adm.CreateTopics(ctx, 1, 1, nil, "a-orders", "b-secret")
	mustAdmin(t, "create topics", err)
	e.produce(t, "a-orders", 0, 5, 5, func(i int) string { return "order-" + string(rune('0'+i)) })
	e.produce(t, "b-secret", 0, 3, 3, func(i int) string { return "secret" })
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "alice-pw"}})
	if err == nil {
		err = res.Error()
	}
	mustAdmin(t, "upsert alice", err)
	acls := kadm.NewACLs().Allow("User:alice").Topics("a-").ResourcePatternType(kadm.ACLPatternPrefixed).
		Operations(kadm.OpRead)
	_, err = adm.CreateACLs(ctx, acls)
	mustAdmin(t, "ACLs", err)
	_, err = adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").Groups("ga").Operations(kadm.OpRead))
	mustAdmin(t, "group ACL", err)
	for _, g := range []string{"ga", "gb"} {
		var os kadm.Offsets
		os.Add(kadm.Offset{Topic: "a-orders", Partition: 0, At: 1, LeaderEpoch: -1})
		_, err := adm.CommitOffsets(ctx, g, os)
		mustAdmin(t, "commit "+g, err)
	}

	// Before a login: the API answers 401, the page sends to the login
	// page, which (and the login API) is served.
	var out map[string]any
	mustStatus(t, "topics before login", e.get(t, "/api/topics", &out), http.StatusUnauthorized, out)
	noRedirect := &http.Client{Jar: e.cl.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(e.http.URL + "/")
	mustAdmin(t, "GET /", err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login.html" {
		t.Fatalf("GET / before login: %d to %q, want 303 to /login.html", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code := e.get(t, "/login.html", nil); code != http.StatusOK {
		t.Fatalf("login page: %d", code)
	}
	var sess map[string]any
	e.get(t, "/api/session", &sess)
	if sess["login_required"] != true || sess["user"] != "" {
		t.Fatalf("session before login: %v", sess)
	}

	// Bad logins.
	mustStatus(t, "login without CSRF", e.do(t, http.MethodPost, "/api/login", map[string]string{"user": "alice", "password": "alice-pw"}, false, &out), http.StatusForbidden, out)
	mustStatus(t, "wrong SCRAM password", e.post(t, "/api/login", map[string]string{"user": "alice", "password": "nope"}, &out), http.StatusUnauthorized, out)
	mustStatus(t, "wrong PLAIN password", e.post(t, "/api/login", map[string]string{"user": "carol", "password": "alice-pw"}, &out), http.StatusUnauthorized, out)
	mustStatus(t, "unknown user", e.post(t, "/api/login", map[string]string{"user": "mallory", "password": "x"}, &out), http.StatusUnauthorized, out)

	// alice logs in (SCRAM-SHA-512 credential): the cookie's attributes.
	preLogin := e.token()
	resp = e.rawPost(t, "/api/login", `{"user":"alice","password":"alice-pw"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login alice: %d", resp.StatusCode)
	}
	var sc *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			sc = c
		}
	}
	if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.MaxAge != 3600 || sc.Expires.IsZero() {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, Max-Age 3600 and Expires", sc)
	}
	e.get(t, "/api/session", &sess)
	if sess["user"] != "alice" || sess["principal"] != "User:alice" {
		t.Fatalf("session after login: %v", sess)
	}

	// What alice sees.
	var topics struct{ Topics []TopicSummary }
	mustStatus(t, "topics", e.get(t, "/api/topics", &topics), http.StatusOK, topics)
	if len(topics.Topics) != 1 || topics.Topics[0].Name != "a-orders" || topics.Topics[0].Records != 5 {
		t.Fatalf("alice's topics: %+v, want a-orders only", topics.Topics)
	}
	mustStatus(t, "b-secret page", e.get(t, "/api/topics/b-secret", &out), http.StatusNotFound, out)
	mustStatus(t, "b-secret records", e.get(t, "/api/topics/b-secret/records", &out), http.StatusNotFound, out)
	mustStatus(t, "b-secret query", e.get(t, `/api/query?sql=SELECT+value+FROM+%22b-secret%22`, &out), http.StatusNotFound, out)
	var recs struct{ Records []Record }
	mustStatus(t, "a-orders records", e.get(t, "/api/topics/a-orders/records", &recs), http.StatusOK, recs)
	if len(recs.Records) != 5 {
		t.Fatalf("a-orders records: %d, want 5", len(recs.Records))
	}
	var ov map[string]any
	e.get(t, "/api/overview", &ov)
	if ov["topics"] != float64(1) {
		t.Fatalf("overview topics for alice: %v, want 1", ov["topics"])
	}
	var groups struct{ Groups []GroupSummary }
	mustStatus(t, "groups", e.get(t, "/api/groups", &groups), http.StatusOK, groups)
	if len(groups.Groups) != 1 || groups.Groups[0].Group != "ga" {
		t.Fatalf("alice's groups: %+v, want ga only", groups.Groups)
	}
	mustStatus(t, "group gb", e.get(t, "/api/groups/gb", &out), http.StatusBadGateway, out)

	// Mutations act as alice: WRITE and CREATE are the broker's checks.
	rec := map[string]any{"partition": 0, "value": "from-alice"}
	if code := e.post(t, "/api/topics/a-orders/records", rec, &out); code == http.StatusCreated {
		t.Fatalf("produce without WRITE succeeded: %v", out)
	}
	if code := e.post(t, "/api/topics", map[string]any{"name": "a-new", "partitions": 1}, &out); code == http.StatusCreated {
		t.Fatalf("create without CREATE succeeded: %v", out)
	}
	_, err = adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").Topics("a-orders").Operations(kadm.OpWrite))
	mustAdmin(t, "WRITE ACL", err)
	mustStatus(t, "produce with WRITE", e.post(t, "/api/topics/a-orders/records", rec, &out), http.StatusCreated, out)
	if out["offset"] != float64(5) {
		t.Fatalf("produced at %v, want offset 5", out["offset"])
	}

	// CSRF: the header must be the session's token, not the one from
	// before the login nor none.
	mustStatus(t, "produce without CSRF", e.do(t, http.MethodPost, "/api/topics/a-orders/records", rec, false, &out), http.StatusForbidden, out)
	if preLogin == e.token() {
		t.Fatal("the CSRF token did not change at login")
	}
	req, _ := http.NewRequest(http.MethodPost, e.http.URL+"/api/topics/a-orders/records", nil)
	req.Header.Set(csrfHeader, preLogin)
	resp, err = e.cl.Do(req)
	mustAdmin(t, "POST with the old token", err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("POST with the pre-login CSRF token: %d, want 403", resp.StatusCode)
	}

	// Logout ends the session.
	mustStatus(t, "logout", e.post(t, "/api/logout", map[string]any{}, &out), http.StatusOK, out)
	mustStatus(t, "topics after logout", e.get(t, "/api/topics", &out), http.StatusUnauthorized, out)

	// carol (a PLAIN user) has no ACLs: she sees nothing; her session
	// expires after SessionTimeout.
	mustStatus(t, "login carol", e.post(t, "/api/login", map[string]string{"user": "carol", "password": "carol-pw"}, &out), http.StatusOK, out)
	topics.Topics = nil
	mustStatus(t, "carol's topics", e.get(t, "/api/topics", &topics), http.StatusOK, topics)
	if len(topics.Topics) != 0 {
		t.Fatalf("carol sees %+v, want nothing", topics.Topics)
	}
	clock.Add(time.Hour.Milliseconds())
	mustStatus(t, "topics after expiry", e.get(t, "/api/topics", &out), http.StatusUnauthorized, out)
}

// TestNoLoginWithoutUsers: without SASL users the console needs no
// login, and logging in is refused.
func TestNoLoginWithoutUsers(t *testing.T) {
	e := startEnvWith(t, time.Now(), nil, func(c *Config, b *broker.Broker) {
		c.Dial, c.Authorize, c.LoginRequired, c.CheckPassword = b.DialAs, b.Authorize, b.HasUsers, b.CheckPassword
	}, nil)
	var out map[string]any
	mustStatus(t, "topics", e.get(t, "/api/topics", &out), http.StatusOK, out)
	mustStatus(t, "login", e.post(t, "/api/login", map[string]string{"user": "x", "password": "y"}, &out), http.StatusBadRequest, out)
	e.createTopic(t, "t", 2) // through the in-process client, as User:ANONYMOUS
	if n := len(e.con.topicLogs()["t"]); n != 2 {
		t.Fatalf("topic t has %d partitions, want 2", n)
	}
}
