package console

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice/sluice/acl"
	"github.com/sluice/sluice/internal/lograte"
	"github.com/sluice/sluice/partition"
)

//go:embed web
var webFS embed.FS

// LagEntry is one group's committed offset on one partition and the
// partition's end (high watermark; -1 when this broker has no log of it:
// the console asks the partition's leader, as for one led elsewhere).
type LagEntry struct {
	Group     string
	Topic     string
	Partition int32
	Committed int64
	End       int64
}

// TopicBytes is the record bytes appended to and fetched from one topic
// since the broker started.
type TopicBytes struct{ In, Out int64 }

// BrokerInfo is one broker of the cluster (from the metadata image).
type BrokerInfo struct {
	ID         int32
	Endpoints  []string // NAME://host:port
	Rack       string
	Fenced     bool
	Controller bool // the active controller runs on this node
	Self       bool // the broker serving this console
}

// Config wires the console to the running broker.
type Config struct {
	NodeID    int32
	ClusterID string
	Rack      string // broker.rack, "" when unset
	Version   string
	// KafkaAddr is the broker's own Kafka listener: the console sends its
	// admin requests (create, delete, configs, groups, commits, produce)
	// there, as any client would, so they take the broker's normal path.
	KafkaAddr string
	// Store is read directly for offsets, sizes, record counts, browsing
	// and search (the console reads segments itself).
	Store *partition.Store
	// Brokers lists the cluster's brokers (broker.ClusterBrokers); nil:
	// this broker alone.
	Brokers func() []BrokerInfo
	// Topics lists every topic's partitions from the metadata image
	// (broker.ClusterTopics); nil: the store's logs are the cluster.
	// Partitions led by other brokers are read from their leaders with a
	// client on the inter-broker listener: PeerAddr gives a broker's
	// inter-broker endpoint (broker.PeerAddr), DialPeer dials it as the
	// broker (broker.DialPeer, TLS and SASL as configured).
	Topics   func() map[string][]PartitionMeta
	PeerAddr func(id int32) (string, bool)
	DialPeer DialFunc
	// RemoteTimeout bounds each read from another broker (3 s): past it,
	// the partition shows as unavailable.
	RemoteTimeout time.Duration
	Traffic       func() map[string]TopicBytes // may be nil
	Lag           func() []LagEntry            // may be nil
	// Requests is the total number of Kafka requests handled (may be nil).
	Requests func() float64
	// DataDir holds the history file (DataDir/console/history); empty: not
	// persisted.
	DataDir string
	// Retention [console.metrics.retention.ms] is how long the per-minute
	// history is kept (7 days): memory and disk grow with it (16 bytes per
	// minute per series).
	Retention time.Duration
	// SampleEvery is how often series are sampled (5 s).
	SampleEvery time.Duration
	// MaxSeries bounds the series kept (256).
	MaxSeries int
	Started   time.Time
	Logger    *slog.Logger
	// Alerts are the alert thresholds and the webhook (all off by default).
	Alerts AlertRules
	// Now is the clock of the first sample and of sessions (time.Now);
	// tests set it.
	Now func() time.Time

	// Security (see security.go); all optional.

	// Dial connects a Kafka client acting as principal from host
	// (broker.DialAs, in-process): requests the console sends for a
	// viewer use it. Nil: the console's own client for every viewer.
	Dial func(principal string, host netip.Addr) DialFunc
	// DialInternal is the console's own client's dialer (the sampler's
	// group reads; broker.DialInternal). Nil: TCP to KafkaAddr.
	DialInternal DialFunc
	// Authorize is the broker's authorizer (broker.Authorize); nil: every
	// viewer sees everything.
	Authorize func(principal string, host netip.Addr, rt acl.ResourceType, name string, op acl.Operation) bool
	// LoginRequired says whether the console asks for a login now (the
	// broker has SASL users or a SASL listener); nil: never.
	LoginRequired func() bool
	// CheckPassword verifies a login (broker.CheckPassword).
	CheckPassword func(user, password string) bool
	// SessionTimeout [console.session.timeout.ms] is how long a login
	// lasts (8 h).
	SessionTimeout time.Duration
	// FailedLoginDelay holds back the answer to a wrong password (0:
	// none; sluiced uses connection.failed.authentication.delay.ms).
	FailedLoginDelay time.Duration
}

// Console serves the web console and its JSON API.
type Console struct {
	cfg  Config
	log  *slog.Logger
	kcl  *kgo.Client
	adm  *kadm.Client
	hist *history
	// statDisk reports the data directory's filesystem size and free
	// bytes (diskSpace; tests replace it, so the host's disk does not
	// decide which alerts fire).
	statDisk func(dir string) (total, free uint64)
	mux      http.Handler
	stop     chan struct{}
	done     chan struct{}
	counts   sync.Map // "topic/partition" → countState

	sessions sessions
	clients  clients

	// searchHook (tests) runs before each batch a search reads;
	// lastSearch is how the last search ended (end, limit, budget,
	// cancelled).
	sent       map[string]Alert // alerts the webhook was last told of (sampler goroutine only)
	searchHook atomic.Pointer[func(ctx context.Context)]
	lastSearch atomic.Value
	lastAlerts atomic.Pointer[evaluated] // the sampler's last evaluation, for /metrics
	// warnRate limits the warnings the sampler would repeat every sample
	// (warnings.go).
	warnRate *lograte.PerKey

	// peer is the inter-broker admin client (cluster.go), made on first
	// use.
	peer struct {
		sync.Mutex
		cl  *kgo.Client
		adm *kadm.Client
	}

	mu struct {
		sync.Mutex
		lag      lagTracker
		prev     counters
		prevTime time.Time
	}
}

type counters struct{ in, out, requests float64 }

// saveEvery is how often the history file is rewritten (and at Close): a
// crash loses at most this much of the per-minute history. At the series
// cap the file is about 40 MiB, so a shorter period would write that much
// every few minutes.
const saveEvery = 10 * time.Minute

// New starts the console's sampler; Close stops it and saves the history.
func New(cfg Config) (*Console, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 7 * 24 * time.Hour
	}
	if cfg.SampleEvery <= 0 {
		cfg.SampleEvery = 5 * time.Second
	}
	if cfg.MaxSeries <= 0 {
		cfg.MaxSeries = 256
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 8 * time.Hour
	}
	if cfg.Started.IsZero() {
		cfg.Started = time.Now()
	}
	opts := []kgo.Opt{kgo.SeedBrokers(cfg.KafkaAddr), kgo.ClientID("sluice-console"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0), kgo.DisableIdempotentWrite()}
	if cfg.DialInternal != nil {
		opts = append(opts, kgo.Dialer(routed(&cfg, cfg.DialInternal)))
	}
	kcl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("console: cannot create Kafka client for %s: %w", cfg.KafkaAddr, err)
	}
	c := &Console{cfg: cfg, log: cfg.Logger, kcl: kcl, adm: kadm.NewClient(kcl), statDisk: diskSpace, warnRate: lograte.New(warnEvery),
		hist: newHistory(cfg.SampleEvery, cfg.Retention, cfg.MaxSeries), stop: make(chan struct{}), done: make(chan struct{})}
	c.mu.lag = lagTracker{maxKeys: 10000, w: map[lagKey][]lagSample{}}
	if p := c.historyPath(); p != "" {
		if err := c.hist.load(p, time.Now().Add(-cfg.Retention)); err != nil {
			c.log.Warn("console: ignoring metrics history", "err", err)
		}
	}
	c.routes()
	c.sample(cfg.Now())
	go c.sampler()
	return c, nil
}

func (c *Console) historyPath() string {
	if c.cfg.DataDir == "" {
		return ""
	}
	return filepath.Join(c.cfg.DataDir, "console", "history")
}

// Close stops sampling, saves the history and closes the Kafka client.
func (c *Console) Close() error {
	close(c.stop)
	<-c.done
	c.kcl.Close()
	c.closePeer()
	c.closeClients()
	if p := c.historyPath(); p != "" {
		return c.hist.save(p)
	}
	return nil
}

func (c *Console) sampler() {
	defer close(c.done)
	t := time.NewTicker(c.cfg.SampleEvery)
	defer t.Stop()
	lastSave := time.Now()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			c.pass(now)
			if p := c.historyPath(); p != "" && now.Sub(lastSave) >= saveEvery {
				lastSave = now
				if err := c.hist.save(p); err != nil {
					c.log.Warn("console: cannot save metrics history", "err", err)
				}
			}
		}
	}
}

// pass is one tick of the sampler: a sample, then the alerts. Its steps
// share one listing of the cluster's partitions (withPartsMemo): with
// consumer groups each step needs it, and at 10,000 partitions each
// listing copies the metadata image.
func (c *Console) pass(now time.Time) {
	ctx := withPartsMemo(context.Background())
	c.sampleIn(ctx, now)
	c.notifyAlerts(ctx)
}

// sample reads the counters and lag once and adds a point to each series.
func (c *Console) sample(now time.Time) { c.sampleIn(context.Background(), now) }

func (c *Console) sampleIn(ctx context.Context, now time.Time) {
	var cur counters
	if c.cfg.Traffic != nil {
		for _, t := range c.cfg.Traffic() {
			cur.in += float64(t.In)
			cur.out += float64(t.Out)
		}
	}
	if c.cfg.Requests != nil {
		cur.requests = c.cfg.Requests()
	}
	var disk float64
	logs := c.cfg.Store.Logs()
	for _, l := range logs {
		disk += float64(l.Size())
	}
	lag := c.lagEntries(ctx)
	c.mu.Lock()
	prev, prevTime := c.mu.prev, c.mu.prevTime
	c.mu.prev, c.mu.prevTime = cur, now
	c.mu.lag.add(now, lag)
	c.mu.Unlock()
	if !prevTime.IsZero() {
		dt := now.Sub(prevTime).Seconds()
		if dt > 0 {
			c.hist.add("bytes_in_per_sec", now, max(cur.in-prev.in, 0)/dt)
			c.hist.add("bytes_out_per_sec", now, max(cur.out-prev.out, 0)/dt)
			c.hist.add("requests_per_sec", now, max(cur.requests-prev.requests, 0)/dt)
		}
	}
	c.hist.add("disk_bytes", now, disk)
	c.hist.add("partitions", now, float64(len(logs)))
	total := map[string]float64{}
	for _, e := range lag {
		total[e.Group] += float64(max(e.End-e.Committed, 0))
	}
	for g, v := range total {
		c.hist.add("group_lag:"+g, now, v)
	}
}

// Handler serves the console: pages at /, the API under /api/.
func (c *Console) Handler() http.Handler { return c.mux }

func (c *Console) routes() {
	m := http.NewServeMux()
	static, err := fs.Sub(webFS, "web")
	if err != nil {
		panic("BUG: console: embedded web folder missing: " + err.Error())
	}
	files := http.FileServerFS(static)
	m.Handle("/", c.withCSRFCookie(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeErr(w, http.StatusMethodNotAllowed, "method %s not allowed", r.Method)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})))
	m.HandleFunc("GET /api/openapi.json", c.openAPI)
	m.HandleFunc("GET /api/session", c.sessionAPI)
	m.HandleFunc("POST /api/login", c.post(c.login))
	m.HandleFunc("POST /api/logout", c.post(c.logout))
	m.HandleFunc("GET /api/csrf", c.csrf)
	m.HandleFunc("GET /api/overview", c.overview)
	m.HandleFunc("GET /api/alerts", c.alertsAPI)
	m.HandleFunc("GET /api/series", c.seriesAPI)
	m.HandleFunc("GET /api/topics", c.listTopics)
	m.HandleFunc("POST /api/topics", c.post(c.createTopic))
	m.HandleFunc("GET /api/topics/{topic}", c.getTopic)
	m.HandleFunc("POST /api/topics/{topic}/partitions", c.post(c.addPartitions))
	m.HandleFunc("POST /api/topics/{topic}/delete", c.post(c.deleteTopic))
	m.HandleFunc("POST /api/topics/{topic}/configs", c.post(c.alterConfigs))
	m.HandleFunc("GET /api/topics/{topic}/records", c.browse)
	m.HandleFunc("POST /api/topics/{topic}/records", c.post(c.produce))
	m.HandleFunc("GET /api/topics/{topic}/search", c.searchAPI)
	m.HandleFunc("GET /api/query", c.queryAPI)
	m.HandleFunc("GET /api/groups", c.listGroups)
	m.HandleFunc("GET /api/groups/{group}", c.getGroup)
	m.HandleFunc("POST /api/groups/{group}/reset", c.post(c.resetGroup))
	m.HandleFunc("POST /api/groups/{group}/delete", c.post(c.deleteGroup))
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusNotFound, "no such API endpoint: %s %s", r.Method, r.URL.Path)
	})
	c.mux = c.guard(m)
}

// CSRF: double-submit. Every page and GET /api/csrf set the cookie
// sluice_csrf (SameSite=Strict) to a random token; a POST must carry the
// same token in the X-Sluice-CSRF header, which another site's page cannot
// read or set.
const (
	csrfCookie = "sluice_csrf"
	csrfHeader = "X-Sluice-CSRF"
)

func (c *Console) withCSRFCookie(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		csrfToken(w, r)
		h.ServeHTTP(w, r)
	})
}

func csrfToken(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(csrfCookie); err == nil && len(ck.Value) == 32 {
		return ck.Value
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: tok, Path: "/", SameSite: http.SameSiteStrictMode})
	return tok
}

func (c *Console) csrf(w http.ResponseWriter, r *http.Request) {
	tok := csrfToken(w, r)
	if v := viewerOf(r.Context()); v != nil && v.csrf != "" {
		tok = v.csrf
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": tok, "header": csrfHeader})
}

// post wraps a mutating handler: it needs the CSRF header to match the
// cookie, and a JSON body of at most 1 MiB.
func (c *Console) post(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !csrfOK(r) {
			writeErr(w, http.StatusForbidden, "missing or wrong CSRF token: send the %s cookie's value in the %s header", csrfCookie, csrfHeader)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

// apiError is every error body: {"error": "..."}.
type apiError struct {
	Error string `json:"error"`
}

func writeErr(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, apiError{fmt.Sprintf(format, args...)})
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeErr(w, http.StatusBadRequest, "bad JSON body: %v", err)
		return false
	}
	return true
}

// reqCtx bounds an admin call.
func reqCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 30*time.Second)
}
