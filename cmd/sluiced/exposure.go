package main

import (
	"log/slog"
	"net"

	"github.com/sluice/sluice/config"
	"github.com/sluice/sluice/listener"
)

// Apache Kafka starts with a PLAINTEXT listener on every interface and says
// nothing; sluiced starts too (refusing would break a Kafka
// server.properties that carries over), but says loudly at start which
// listeners let any machine that reaches them in without authentication.

// openListeners are the listeners that take clients from other machines
// without authenticating them: PLAINTEXT, and SSL without
// ssl.client.auth=required, bound to anything but a loopback address.
func openListeners(cfg *config.Config) []listener.Listener {
	var out []listener.Listener
	for _, l := range cfg.Listeners {
		if loopback(l.Host) {
			continue
		}
		switch {
		case l.Protocol == listener.Plaintext:
		case l.Protocol == listener.SSL && cfg.SSL[l.Name]["ssl.client.auth"] != "required":
		default:
			continue
		}
		out = append(out, l)
	}
	return out
}

// loopback reports whether host binds only the loopback interface ("" and
// 0.0.0.0 bind every interface; a name is resolved as the listener would).
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// warnOpenListeners logs one warning per listener openListeners finds.
func warnOpenListeners(log *slog.Logger, cfg *config.Config) {
	what := "any host that reaches it can read, write and delete every topic"
	if cfg.Authorizer {
		what = "any host that reaches it gets what the ACLs grant User:ANONYMOUS"
	}
	for _, l := range openListeners(cfg) {
		log.Warn("SECURITY: listener takes unauthenticated clients on a non-loopback address: "+what,
			"listener", l.String(), "protocol", l.Protocol,
			"fix", "bind it to 127.0.0.1, or use SASL_SSL (or SSL with ssl.client.auth=required) and authorizer.class.name: README, Secure setup")
	}
}
