package broker

import (
	"context"
	"crypto/hmac"
	"net"
	"net/netip"

	"github.com/sluice/sluice/acl"
	"github.com/sluice/sluice/auth"
	"github.com/sluice/sluice/netio"
)

// In-process clients: sluiced's web console acts as the user who logged
// in to it. It talks Kafka to the broker over a net.Pipe (DialAs), so its
// requests take the handlers' paths and the authorizer's checks with that
// user's principal, whatever listeners are configured (a SASL-only broker
// needs no loopback listener for the console). Console reads that bypass
// Kafka requests (segments, counts) ask Authorize.

// DialAs returns a dialer (kgo.Dialer's signature) whose connections are
// served in-process as principal ("User:alice") from host (the address
// ACLs match; the console's browser). The address dialed is ignored:
// every connection reaches this broker.
func (b *Broker) DialAs(principal string, host netip.Addr) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return b.dialLocal(principal, host, false)
}

// DialInternal is DialAs for the broker's own work (the console's alert
// sampler): its requests pass every ACL check, as the broker's own
// principal. Never hand it to a user's requests.
func (b *Broker) DialInternal() func(ctx context.Context, network, addr string) (net.Conn, error) {
	return b.dialLocal("User:sluice-internal", netip.AddrFrom4([4]byte{127, 0, 0, 1}), true)
}

func (b *Broker) dialLocal(principal string, host netip.Addr, internal bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
	remote := net.TCPAddrFromAddrPort(netip.AddrPortFrom(host, 0))
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		client, server := net.Pipe()
		c := netio.NewLocalConn("", remote, remote)
		c.SetState(&connState{local: principal, internal: internal})
		go func() {
			err := netio.ServeLocal(context.Background(), b, c, server)
			b.log.Debug("in-process connection closed", "principal", principal, "err", err)
		}()
		return client, nil
	}
}

// Authorize reports whether principal from host may perform op on the
// resource (name is ignored for the cluster): the broker's authorizer,
// or true when none is configured (as Kafka).
func (b *Broker) Authorize(principal string, host netip.Addr, rt acl.ResourceType, name string, op acl.Operation) bool {
	az := b.acls.auth
	if az == nil {
		return true
	}
	if rt == acl.Cluster {
		name = acl.ClusterName
	}
	if !b.securityReady(az, principal, false) {
		return false
	}
	return az.Authorize(principal, host, rt, name, op)
}

// AuthorizerOn reports whether ACLs are enforced.
func (b *Broker) AuthorizerOn() bool { return b.authzOn() }

// HasUsers reports whether SASL users exist: a SCRAM credential or a
// PLAIN user of any listener. With a controller, until this broker has
// caught up with the metadata log it cannot know, and says yes (so the
// console asks for a login rather than skip it).
func (b *Broker) HasUsers() bool {
	if b.cl != nil && !b.cl.sec.ready.Load() {
		return true
	}
	if len(b.scram.snapshot()) > 0 || len(b.cfg.SASL.PlainUsersAll) > 0 {
		return true
	}
	for _, us := range b.cfg.SASL.PlainUsers {
		if len(us) > 0 {
			return true
		}
	}
	return false
}

// CheckPassword reports whether password is user's: it verifies the
// password against each of the user's SCRAM credentials (the proof the
// SCRAM exchange would check, computed from the stored salt, iterations
// and StoredKey) and against the PLAIN users (the users file, then each
// listener's JAAS users).
func (b *Broker) CheckPassword(user, password string) bool {
	ok := false
	for _, m := range []auth.Mechanism{auth.ScramSHA256, auth.ScramSHA512} {
		if cred, found := b.scram.lookup(m, user); found && auth.VerifyScram(m, cred, password) {
			ok = true
		}
	}
	if pw, found := b.cfg.SASL.PlainUsersAll[user]; found && hmac.Equal([]byte(pw), []byte(password)) {
		ok = true
	}
	for _, us := range b.cfg.SASL.PlainUsers {
		if pw, found := us[user]; found && hmac.Equal([]byte(pw), []byte(password)) {
			ok = true
		}
	}
	return ok
}
