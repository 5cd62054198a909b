package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice/sluice/acl"
)

// Security: logins, sessions and what a viewer may see.
//
// When Config.LoginRequired says so (the broker has SASL users or a SASL
// listener), every API call but /api/csrf, /api/session, /api/login and
// /api/openapi.json needs the session cookie sluice_session (HttpOnly,
// SameSite=Strict, expiring after Config.SessionTimeout), issued by
// POST /api/login once Config.CheckPassword accepts the user's password.
// The viewer is then "User:<name>" from the browser's IP address;
// without a login, "User:ANONYMOUS" (as a PLAINTEXT client). Kafka
// requests the console sends for a viewer (mutations, group and config
// reads) go through a client that acts as that principal (Config.Dial,
// in-process), so the broker's own ACL checks apply; what the console
// reads from the segments itself is filtered with Config.Authorize:
// topics it may DESCRIBE, records of topics it may READ, groups it may
// DESCRIBE.

const (
	sessionCookie = "sluice_session"
	// maxSessions bounds the sessions kept; a login beyond it evicts the
	// session closest to expiry.
	maxSessions = 4096
	// maxClients bounds the per-viewer Kafka clients kept.
	maxClients = 256
)

// viewer is who an HTTP request acts as.
type viewer struct {
	user      string // "" without a login
	principal string
	host      netip.Addr
	csrf      string // the session's CSRF token; "" without a session
}

type viewerKey struct{}

// viewerOf is the request's viewer (the console itself when none).
func viewerOf(ctx context.Context) *viewer {
	v, _ := ctx.Value(viewerKey{}).(*viewer)
	return v
}

type session struct {
	user    string
	csrf    string
	expires time.Time
}

// sessions are the logged-in sessions, by cookie value.
type sessions struct {
	mu struct {
		sync.Mutex
		m map[string]session
	}
}

func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *sessions) add(sess session, now time.Time) string {
	id := newToken()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.m == nil {
		s.mu.m = map[string]session{}
	}
	for k, v := range s.mu.m {
		if !now.Before(v.expires) {
			delete(s.mu.m, k)
		}
	}
	if len(s.mu.m) >= maxSessions {
		var oldest string
		for k, v := range s.mu.m {
			if oldest == "" || v.expires.Before(s.mu.m[oldest].expires) {
				oldest = k
			}
		}
		delete(s.mu.m, oldest)
	}
	s.mu.m[id] = sess
	return id
}

func (s *sessions) get(id string, now time.Time) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.mu.m[id]
	if ok && !now.Before(v.expires) {
		delete(s.mu.m, id)
		return session{}, false
	}
	return v, ok
}

func (s *sessions) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.mu.m, id)
}

func (c *Console) loginRequired() bool {
	return c.cfg.LoginRequired != nil && c.cfg.LoginRequired()
}

// publicPath reports whether path is served without a login: the static
// assets (no data in them), the login API and the API description.
func publicPath(path string) bool {
	switch path {
	case "/api/csrf", "/api/session", "/api/login", "/api/openapi.json":
		return true
	}
	return !strings.HasPrefix(path, "/api/") && path != "/" && path != "/index.html"
}

// guard finds the request's viewer: its session when a login is
// required (else 401 for the API, a redirect to the login page for the
// console's page), User:ANONYMOUS otherwise.
func (c *Console) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := &viewer{principal: "User:ANONYMOUS", host: remoteHost(r)}
		if c.loginRequired() {
			sess, ok := c.sessionOf(r)
			switch {
			case ok:
				v.user, v.principal, v.csrf = sess.user, "User:"+sess.user, sess.csrf
			case publicPath(r.URL.Path):
			case strings.HasPrefix(r.URL.Path, "/api/"):
				writeErr(w, http.StatusUnauthorized, "login required: POST /api/login")
				return
			default:
				http.Redirect(w, r, "/login.html", http.StatusSeeOther)
				return
			}
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), viewerKey{}, v)))
	})
}

func (c *Console) sessionOf(r *http.Request) (session, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	return c.sessions.get(ck.Value, c.cfg.Now())
}

func remoteHost(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// GET /api/session: whether a login is required and who is logged in.
func (c *Console) sessionAPI(w http.ResponseWriter, r *http.Request) {
	v := viewerOf(r.Context())
	writeJSON(w, http.StatusOK, map[string]any{"login_required": c.loginRequired(), "user": v.user,
		"principal": v.principal, "authorizer": c.cfg.Authorize != nil})
}

// POST /api/login {"user", "password"}: a session cookie, or 401 after
// Config.FailedLoginDelay.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	var req struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if !c.loginRequired() {
		writeErr(w, http.StatusBadRequest, "this broker has no SASL users: the console needs no login")
		return
	}
	if req.User == "" || c.cfg.CheckPassword == nil || !c.cfg.CheckPassword(req.User, req.Password) {
		c.log.Warn("console: login failed", "user", req.User, "remote", r.RemoteAddr)
		if d := c.cfg.FailedLoginDelay; d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
			}
			t.Stop()
		}
		writeErr(w, http.StatusUnauthorized, "invalid user name or password")
		return
	}
	now := c.cfg.Now()
	sess := session{user: req.User, csrf: newToken()[:32], expires: now.Add(c.cfg.SessionTimeout)}
	id := c.sessions.add(sess, now)
	secure := r.TLS != nil
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, Expires: sess.expires, MaxAge: int(c.cfg.SessionTimeout / time.Second)})
	// A fresh CSRF token bound to the session: a token planted before the
	// login is useless after it.
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: sess.csrf, Path: "/", Secure: secure, SameSite: http.SameSiteStrictMode})
	c.log.Info("console: login", "user", req.User, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, map[string]any{"user": req.User, "principal": "User:" + req.User,
		"expires": sess.expires.UnixMilli(), "csrf": sess.csrf})
}

// POST /api/logout ends the session.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		c.sessions.remove(ck.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	writeJSON(w, http.StatusOK, map[string]any{"logged_out": true})
}

// csrfOK checks a POST's CSRF header: against the session's token when
// logged in, else against the sluice_csrf cookie (double submit).
func csrfOK(r *http.Request) bool {
	hdr := r.Header.Get(csrfHeader)
	if hdr == "" {
		return false
	}
	if v := viewerOf(r.Context()); v != nil && v.csrf != "" {
		return subtle.ConstantTimeCompare([]byte(v.csrf), []byte(hdr)) == 1
	}
	ck, err := r.Cookie(csrfCookie)
	return err == nil && subtle.ConstantTimeCompare([]byte(ck.Value), []byte(hdr)) == 1
}

// allowed reports whether the request's viewer may perform op on the
// resource; true without an authorizer or a viewer (the console's own
// background work).
func (c *Console) allowed(ctx context.Context, rt acl.ResourceType, name string, op acl.Operation) bool {
	v := viewerOf(ctx)
	if c.cfg.Authorize == nil || v == nil {
		return true
	}
	return c.cfg.Authorize(v.principal, v.host, rt, name, op)
}

// topicAccess answers 404 for a topic the viewer may not DESCRIBE (as
// if absent) and 403 when it lacks op; it reports whether to go on.
func (c *Console) topicAccess(w http.ResponseWriter, r *http.Request, topic string, op acl.Operation) bool {
	if !c.allowed(r.Context(), acl.Topic, topic, acl.Describe) {
		writeErr(w, http.StatusNotFound, "unknown topic %q", topic)
		return false
	}
	if op != acl.Describe && !c.allowed(r.Context(), acl.Topic, topic, op) {
		writeErr(w, http.StatusForbidden, "not authorized: %s on topic %q", op, topic)
		return false
	}
	return true
}

// viewerClient is a Kafka client acting as one principal from one host.
type viewerClient struct {
	kcl  *kgo.Client
	adm  *kadm.Client
	used time.Time
}

// clients are the per-viewer Kafka clients.
type clients struct {
	mu struct {
		sync.Mutex
		m map[string]*viewerClient
	}
}

// client is the Kafka client for ctx's viewer: one acting as its
// principal when Config.Dial is set, else the console's own.
func (c *Console) client(ctx context.Context) *kgo.Client {
	if vc := c.viewerClient(ctx); vc != nil {
		return vc.kcl
	}
	return c.kcl
}

// admin is client as a kadm.Client.
func (c *Console) admin(ctx context.Context) *kadm.Client {
	if vc := c.viewerClient(ctx); vc != nil {
		return vc.adm
	}
	return c.adm
}

func (c *Console) viewerClient(ctx context.Context) *viewerClient {
	v := viewerOf(ctx)
	if v == nil || c.cfg.Dial == nil {
		return nil
	}
	key := v.principal + "|" + v.host.String()
	now := time.Now()
	c.clients.mu.Lock()
	defer c.clients.mu.Unlock()
	if c.clients.mu.m == nil {
		c.clients.mu.m = map[string]*viewerClient{}
	}
	if vc := c.clients.mu.m[key]; vc != nil {
		vc.used = now
		return vc
	}
	if len(c.clients.mu.m) >= maxClients {
		c.evictClientLocked()
	}
	kcl, err := kgo.NewClient(kgo.SeedBrokers(c.cfg.KafkaAddr), kgo.ClientID("sluice-console"),
		kgo.Dialer(routed(&c.cfg, c.cfg.Dial(v.principal, v.host))),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0), kgo.DisableIdempotentWrite())
	if err != nil {
		panic("BUG: console: kgo.NewClient with fixed options: " + err.Error())
	}
	vc := &viewerClient{kcl: kcl, adm: kadm.NewClient(kcl), used: now}
	c.clients.mu.m[key] = vc
	return vc
}

// evictClientLocked closes the least recently used client. Close only
// closes its pipes (no network I/O), so it runs under the lock.
func (c *Console) evictClientLocked() {
	var oldest string
	for k, vc := range c.clients.mu.m {
		if oldest == "" || vc.used.Before(c.clients.mu.m[oldest].used) {
			oldest = k
		}
	}
	if vc := c.clients.mu.m[oldest]; vc != nil {
		go vc.kcl.Close()
		delete(c.clients.mu.m, oldest)
	}
}

func (c *Console) closeClients() {
	c.clients.mu.Lock()
	m := c.clients.mu.m
	c.clients.mu.m = nil
	c.clients.mu.Unlock()
	for _, vc := range m {
		vc.kcl.Close()
	}
}

// DialFunc is kgo.Dialer's signature.
type DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// seriesAllowed: a group's lag series needs DESCRIBE on the group; the
// cluster's series (rates, disk) are shown to every viewer.
func (c *Console) seriesAllowed(ctx context.Context, name string) bool {
	g, ok := strings.CutPrefix(name, "group_lag:")
	return !ok || c.allowed(ctx, acl.Group, g, acl.Describe)
}
