package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/sluice/sluice/buildinfo"
	"github.com/sluice/sluice/console"
	"github.com/sluice/sluice/controller"
)

// httpServer is the --http-listen listener: /metrics, /healthz, /readyz,
// the web console (/ and /api/) and, with --pprof, /debug/pprof/.
type httpServer struct {
	srv  *http.Server
	done chan struct{}
}

// startHTTP listens before the store opens, so /healthz answers (and
// /readyz says 503) during a long recovery.
func (d *daemon) startHTTP() (*httpServer, error) {
	ln, err := net.Listen("tcp", d.cfg.HTTPListen)
	if err != nil {
		return nil, fmt.Errorf("cannot listen for HTTP on %q: %w", d.cfg.HTTPListen, err)
	}
	hs := &httpServer{srv: &http.Server{Handler: d.mux(), ReadHeaderTimeout: 10 * time.Second}, done: make(chan struct{})}
	d.log.Info("http listening", "addr", ln.Addr().String(), "pprof", d.cfg.Pprof)
	go func() {
		defer close(hs.done)
		if err := hs.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("http server stopped", "err", err)
		}
	}()
	return hs, nil
}

func (d *daemon) mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", d.metrics.Handler(d.log))
	mux.HandleFunc("GET /healthz", d.healthz)
	mux.HandleFunc("GET /readyz", d.readyz)
	mux.HandleFunc("GET /metadataz", d.metadataz)
	// The web console and its API (console package), once the broker runs.
	mux.HandleFunc("/", d.serveConsole)
	if d.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// healthz is 200 "ok" unless a part reports a fault: 503 with the reason
// while the Kafka listener cannot accept connections (out of file
// descriptors, its accept loop or event loops stopped).
func (d *daemon) healthz(w http.ResponseWriter, r *http.Request) {
	if f := d.netHealth.Load(); f != nil {
		if err := (*f)(); err != nil {
			http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	if err := d.storageHealth(); err != nil {
		http.Error(w, "unhealthy: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

// readyz is 200 once the Kafka listener accepts and the store is open,
// 503 before and while shutting down.
func (d *daemon) readyz(w http.ResponseWriter, r *http.Request) {
	switch d.state.Load() {
	case serving:
		fmt.Fprintln(w, "ready")
	case stopping:
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
	default:
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}
}

// metadataState is /metadataz's answer.
type metadataState struct {
	AppliedIndex uint64           `json:"applied_index"` // Raft index of the last applied metadata entry
	ImageSHA256  string           `json:"image_sha256"`  // of the image's snapshot bytes
	Brokers      []metadataBroker `json:"brokers"`
	// The last entry applied to the image, and the last one whose image
	// the broker finished reconciling (controller/applylag.go).
	Applied    *applyStamp `json:"applied,omitempty"`
	Reconciled *applyStamp `json:"reconciled,omitempty"`
}

// applyStamp is one metadata log entry's apply lag on this node.
type applyStamp struct {
	Index      uint64    `json:"index"`       // Raft index; 0: an image restored from a snapshot
	AppendedAt time.Time `json:"appended_at"` // the active controller's clock when it appended the entry
	AppliedAt  time.Time `json:"applied_at"`  // this node's clock
	LagSeconds float64   `json:"lag_seconds"` // applied_at - appended_at (0 if appended_at is unknown)
}

func newApplyStamp(s controller.ApplyStamp) *applyStamp {
	if s.AppliedAt.IsZero() {
		return nil
	}
	return &applyStamp{Index: s.Index, AppendedAt: s.AppendedAt, AppliedAt: s.AppliedAt, LagSeconds: s.Lag().Seconds()}
}

type metadataBroker struct {
	ID     int32 `json:"id"`
	Epoch  int64 `json:"epoch"` // broker epoch (-1: not registered)
	Fenced bool  `json:"fenced"`
}

// metadataz answers the metadata this node applied, as JSON
// (metadataState): nodes with equal index and digest applied the same
// metadata log; the brokers carry their epochs (a broker that registers
// again gets a new one). 503 while the broker starts, or when an entry
// was applied while it was read (ask again).
func (d *daemon) metadataz(w http.ResponseWriter, r *http.Request) {
	b := d.broker.Load()
	if b == nil {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	idx, sum, ok := b.MetadataState()
	if !ok {
		http.Error(w, "metadata changing or no quorum: ask again", http.StatusServiceUnavailable)
		return
	}
	st := metadataState{AppliedIndex: idx, ImageSHA256: hex.EncodeToString(sum[:])}
	if im, rec, ok := b.MetadataApplyStamps(); ok {
		st.Applied, st.Reconciled = newApplyStamp(im), newApplyStamp(rec)
	}
	for _, cb := range b.ClusterBrokers() {
		st.Brokers = append(st.Brokers, metadataBroker{ID: cb.ID, Epoch: cb.Epoch, Fenced: cb.Fenced})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st) // the client went away: nothing to do
}

func (hs *httpServer) close(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.srv.Shutdown(ctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	<-hs.done
}

// serveConsole hands / and /api/ to the console; 503 until the broker is up.
func (d *daemon) serveConsole(w http.ResponseWriter, r *http.Request) {
	c := d.console.Load()
	if c == nil {
		http.Error(w, "starting: the console is served once the broker is up", http.StatusServiceUnavailable)
		return
	}
	c.Handler().ServeHTTP(w, r)
}

// startConsole starts the console over the running server.
func (d *daemon) startConsole(srv *server) (*console.Console, error) {
	b := srv.Broker()
	saslListener := false
	for _, l := range d.cfg.Listeners {
		saslListener = saslListener || l.Protocol.SASL()
	}
	return console.New(console.Config{
		NodeID: b.NodeID(), ClusterID: b.ClusterID(), Rack: d.cfg.Rack, Version: buildinfo.Read().String(),
		KafkaAddr: srv.Addr().String(), Store: srv.Store(),
		Brokers: func() []console.BrokerInfo {
			var out []console.BrokerInfo
			for _, cb := range b.ClusterBrokers() {
				out = append(out, console.BrokerInfo{ID: cb.ID, Endpoints: cb.Endpoints, Rack: cb.Rack, Fenced: cb.Fenced,
					Controller: cb.Controller, Self: cb.Self})
			}
			return out
		},
		// The cluster's partitions: from the metadata image; those led by
		// other brokers are read from them on the inter-broker listener.
		Topics: func() map[string][]console.PartitionMeta {
			ts := b.ClusterTopics()
			if ts == nil {
				return nil
			}
			out := make(map[string][]console.PartitionMeta, len(ts))
			for t, ps := range ts {
				ms := make([]console.PartitionMeta, len(ps))
				for i, p := range ps {
					ms[i] = console.PartitionMeta{Partition: p.Partition, Leader: p.Leader, Replicas: p.Replicas, ISR: p.ISR}
				}
				out[t] = ms
			}
			return out
		},
		PeerAddr: b.PeerAddr, DialPeer: b.DialPeer(),
		Traffic: func() map[string]console.TopicBytes {
			out := map[string]console.TopicBytes{}
			for t, v := range b.Traffic() {
				out[t] = console.TopicBytes{In: v.In, Out: v.Out}
			}
			return out
		},
		Lag: func() []console.LagEntry {
			lag := b.GroupCommits() // partitions led elsewhere too: the console asks their leaders
			out := make([]console.LagEntry, len(lag))
			for i, l := range lag {
				out[i] = console.LagEntry{Group: l.Group, Topic: l.Topic, Partition: l.Partition, Committed: l.Committed, End: l.LogEnd}
			}
			return out
		},
		Requests:  d.metrics.RequestsTotal,
		DataDir:   d.cfg.DataDir,
		Retention: d.cfg.ConsoleRetention,
		Alerts: console.AlertRules{LagRecords: d.cfg.ConsoleAlertLagRecords, LagSeconds: d.cfg.ConsoleAlertLagSeconds,
			Webhook: d.cfg.ConsoleAlertWebhook},
		Logger: d.log,
		// Security: the console's Kafka requests go to the broker
		// in-process, as the logged-in user (or User:ANONYMOUS), so they
		// need no listener and take the broker's ACL checks.
		Dial: b.DialAs, DialInternal: b.DialInternal(), Authorize: b.Authorize, CheckPassword: b.CheckPassword,
		LoginRequired:  func() bool { return saslListener || b.HasUsers() },
		SessionTimeout: d.cfg.ConsoleSession, FailedLoginDelay: d.cfg.SASL.FailedAuthDelay,
	})
}
