package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sluice/sluice/auth/tlsconf"
	"github.com/sluice/sluice/config"
)

// tlsReloadEvery is how often the TLS listeners' key and certificate
// files are checked for changes.
const tlsReloadEvery = 5 * time.Second

// tlsListeners are the TLS configurations of the SSL and SASL_SSL
// listeners, by listener name, reloaded on SIGHUP and when their files
// change.
type tlsListeners struct {
	byName map[string]*tlsconf.Server
	log    *slog.Logger
	done   chan struct{}
	hup    chan os.Signal
}

// newTLSListeners reads every TLS listener's keys and certificates.
func newTLSListeners(cfg *config.Config, log *slog.Logger) (*tlsListeners, error) {
	t := &tlsListeners{byName: map[string]*tlsconf.Server{}, log: log}
	for _, l := range cfg.Listeners {
		if !l.Protocol.TLS() {
			continue
		}
		s, err := tlsconf.New(l.Name, cfg.SSL[l.Name], log)
		if err != nil {
			return nil, fmt.Errorf("TLS listener %s: %w", l, err)
		}
		t.byName[l.Name] = s
	}
	// The controllers' TLS CONTROLLER listener, which this node reaches
	// as a client (and a combined or controller node also serves through
	// its internal listener, when it is one of Listeners above).
	if cc := cfg.ControllerClient; cc.Protocol.TLS() && t.byName[cc.Listener] == nil {
		s, err := tlsconf.New(cc.Listener, cfg.SSL[cc.Listener], log)
		if err != nil {
			return nil, fmt.Errorf("TLS to the controllers' %s listener: %w", cc.Listener, err)
		}
		t.byName[cc.Listener] = s
	}
	return t, nil
}

// configs are the listeners' tls.Configs for netio.
func (t *tlsListeners) configs() map[string]*tls.Config {
	if len(t.byName) == 0 {
		return nil
	}
	out := make(map[string]*tls.Config, len(t.byName))
	for name, s := range t.byName {
		out[name] = s.TLSConfig()
	}
	return out
}

// principal is broker.Config.SSLPrincipal.
func (t *tlsListeners) principal(listener string, st *tls.ConnectionState) (string, error) {
	s := t.byName[listener]
	if s == nil || st == nil {
		return "User:ANONYMOUS", nil
	}
	return s.Principal(st.VerifiedChains)
}

// start watches the files and SIGHUP until stop.
func (t *tlsListeners) start() {
	if len(t.byName) == 0 {
		return
	}
	t.done = make(chan struct{})
	t.hup = make(chan os.Signal, 1)
	signal.Notify(t.hup, syscall.SIGHUP)
	for _, s := range t.byName {
		go s.Watch(t.done, tlsReloadEvery)
	}
	go func() {
		for {
			select {
			case <-t.done:
				return
			case <-t.hup:
				t.reload()
			}
		}
	}()
}

// reload re-reads every listener's files (SIGHUP); a listener whose new
// files are bad keeps its current configuration.
func (t *tlsListeners) reload() {
	for name, s := range t.byName {
		if err := s.Reload(); err != nil {
			t.log.Error("SIGHUP: cannot reload TLS certificates; keeping the previous ones", "listener", name, "err", err)
			continue
		}
		t.log.Info("SIGHUP: TLS certificates reloaded", "listener", name)
	}
}

func (t *tlsListeners) stop() {
	if t.done == nil {
		return
	}
	signal.Stop(t.hup)
	close(t.done)
	t.done = nil
}

// clientConfig is the TLS configuration this broker dials the other
// brokers' listener with (inter-broker): it trusts the listener's
// ssl.truststore (read at start; the system's CAs without one) and offers
// the keystore's certificate (the current one, after reloads) for
// ssl.client.auth. Nil when listener is not a TLS listener.
func (t *tlsListeners) clientConfig(listener string) *tls.Config {
	s := t.byName[listener]
	if s == nil {
		return nil
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    s.Current().ClientCAs,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			certs := s.Current().Certificates
			if len(certs) == 0 {
				return &tls.Certificate{}, nil
			}
			return &certs[0], nil
		},
	}
}
