package broker

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluice/sluice/auth"
	"github.com/sluice/sluice/controller"
	"github.com/sluice/sluice/listener"
)

// Connections to the other brokers of the cluster.
//
// A broker reaches the others (BrokerRegistration and BrokerHeartbeat to
// the active controller's broker, forwarded DescribeQuorum) at their
// inter.broker.listener.name endpoint in the metadata image, as a Kafka
// broker does, and secures the connection as that listener demands:
//
//	dial ──▶ TLS handshake (SSL, SASL_SSL: verified against the
//	         │              listener's ssl.truststore; the keystore's
//	         │              certificate offered as the client's)
//	         ▼
//	         SaslHandshake v1 + SaslAuthenticate (SASL_*: the mechanism of
//	         │   sasl.mechanism.inter.broker.protocol, the username and
//	         │   password of listener.name.<l>.<mech>.sasl.jaas.config)
//	         ▼
//	         requests
//
// A connection to a controller's CONTROLLER listener (the raft address of
// a controller-only leader, controller.quorum.voters or
// controller.quorum.bootstrap.servers) is secured the same way, but as
// ControllerClient says: the CONTROLLER listener's security protocol and
// the login of sasl.mechanism.controller.protocol, as Kafka brokers speak
// to controllers. The controller passes those bytes to a listener of that
// protocol (controller/mux.go), where TLS and SASL end.
//
// On the receiving side the connection is an ordinary client's: with an
// authorizer, BrokerRegistration and BrokerHeartbeat need CLUSTER_ACTION on
// the cluster, which brokers get by being in super.users (as in Kafka).

// InterBrokerConfig is how this broker connects to the others.
type InterBrokerConfig struct {
	// Listener is inter.broker.listener.name: the endpoint name looked up
	// in the other brokers' registrations. "" means PLAINTEXT.
	Listener string
	// Protocol is the listener's security protocol (its
	// listener.security.protocol.map entry). "" means PLAINTEXT.
	Protocol listener.Protocol
	// Mechanism is sasl.mechanism.inter.broker.protocol, used on SASL
	// listeners; Username and Password are this broker's login, from the
	// listener's JAAS configuration for the mechanism.
	Mechanism          auth.Mechanism
	Username, Password string
	// TLS is the client configuration on SSL and SASL_SSL listeners (its
	// ServerName is set per peer from the endpoint's host).
	TLS *tls.Config
}

func (c *InterBrokerConfig) listener() string {
	if c.Listener == "" {
		return "PLAINTEXT"
	}
	return c.Listener
}

// leaderAddr is where the active controller takes controller RPCs: its
// broker's inter-broker endpoint, from the image, once its broker
// registered; else (a controller-only node, which registers no broker, or
// a combined one not registered yet) its CONTROLLER listener, the raft
// address, which passes Kafka-framed connections on (controller/mux.go). A
// broker-only node that knows no leader yet (it follows the metadata log
// only once the active controller added it) takes the next of
// Config.QuorumAddrs (controller.quorum.voters or
// controller.quorum.bootstrap.servers) and asks it for the leader with
// DescribeQuorum (v2 names each voter's CONTROLLER listener): the leader's
// address when the answer names one, else that controller itself, which
// answers NOT_CONTROLLER and the next call tries the next.
func (b *Broker) leaderAddr(ctl *controller.Controller) (string, error) {
	id, raftAddr := ctl.Leader()
	if id < 0 {
		if qs := b.cfg.QuorumAddrs; len(qs) > 0 {
			q := b.controllerAddr(qs[int(b.quorumNext.Add(1))%len(qs)])
			if a, ok := b.quorumLeaderVia(q); ok {
				return b.controllerAddr(a), nil
			}
			return q, nil
		}
		return "", errNoController
	}
	br, ok := ctl.Image().Broker(id)
	if !ok {
		if raftAddr != "" {
			return b.controllerAddr(raftAddr), nil
		}
		return "", fmt.Errorf("%w: node %d leads but its broker has not registered yet", errNoController, id)
	}
	want := b.cfg.InterBroker.listener()
	for _, e := range br.Endpoints {
		if e.Name == want {
			return net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port))), nil
		}
	}
	return "", fmt.Errorf("%w: node %d has no %s endpoint (inter.broker.listener.name)", errNoController, id, want)
}

// controllerAddr records addr as a controller's CONTROLLER listener, so
// that dialPeer secures connections to it as ControllerClient says.
func (b *Broker) controllerAddr(addr string) string {
	b.ctlAddrs.Store(addr, struct{}{})
	return addr
}

// quorumLeaderVia asks the controller at addr (a CONTROLLER listener) for
// the active controller's CONTROLLER listener, with DescribeQuorum v2.
func (b *Broker) quorumLeaderVia(addr string) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req := kmsg.NewPtrDescribeQuorumRequest()
	t := kmsg.NewDescribeQuorumRequestTopic()
	t.Topic = "__cluster_metadata"
	t.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = []kmsg.DescribeQuorumRequestTopic{t}
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	if err := b.callPeerAt(ctx, addr, b.peerClientID(), req, resp, 2); err != nil {
		return "", false
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		return "", false
	}
	leader := resp.Topics[0].Partitions[0].LeaderID
	for _, n := range resp.Nodes {
		if n.NodeID == leader && len(n.Listeners) > 0 {
			l := n.Listeners[0]
			return net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port))), true
		}
	}
	return "", false
}

// dialPeer connects to another broker's inter-broker listener at addr and
// secures the connection as InterBroker says; at a controller's CONTROLLER
// listener (an address leaderAddr handed out as one), as ControllerClient
// says, as a Kafka broker speaks to the controllers in the CONTROLLER
// listener's security protocol (the CONTROLLER listener passes the bytes
// on to a listener of that protocol, controller/mux.go).
func (b *Broker) dialPeer(ctx context.Context, addr string) (net.Conn, error) {
	ib := &b.cfg.InterBroker
	if _, ok := b.ctlAddrs.Load(addr); ok {
		ib = &b.cfg.ControllerClient
	}
	d := net.Dialer{Timeout: peerTimeout}
	ctx, cancel := context.WithTimeout(ctx, peerTimeout)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("broker: cannot reach broker %s: %w", addr, err)
	}
	if ib.Protocol.TLS() {
		cfg := &tls.Config{}
		if ib.TLS != nil {
			cfg = ib.TLS.Clone()
		}
		if host, _, err := net.SplitHostPort(addr); err == nil && cfg.ServerName == "" {
			cfg.ServerName = host
		}
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("broker: TLS handshake with broker %s: %w", addr, err)
		}
		c = tc
	}
	if ib.Protocol.SASL() {
		if err := b.peerSASL(ctx, c, addr, ib); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	return c, nil
}

// peerMechanism is the client side of InterBroker's mechanism.
func (ib *InterBrokerConfig) peerMechanism() (sasl.Mechanism, error) {
	switch ib.Mechanism {
	case auth.Plain:
		return plain.Auth{User: ib.Username, Pass: ib.Password}.AsMechanism(), nil
	case auth.ScramSHA256:
		return scram.Auth{User: ib.Username, Pass: ib.Password}.AsSha256Mechanism(), nil
	case auth.ScramSHA512:
		return scram.Auth{User: ib.Username, Pass: ib.Password}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("broker: inter-broker SASL mechanism %q is not served", ib.Mechanism)
}

// peerSASL authenticates c (SaslHandshake v1, then SaslAuthenticate until
// the mechanism is done).
func (b *Broker) peerSASL(ctx context.Context, c net.Conn, addr string, ib *InterBrokerConfig) error {
	mech, err := ib.peerMechanism()
	if err != nil {
		return err
	}
	clientID := b.peerClientID()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Mechanism = mech.Name()
	hsResp := hs.ResponseKind().(*kmsg.SASLHandshakeResponse)
	if err := roundTrip(c, clientID, 1, hs, hsResp); err != nil {
		return err
	}
	if hsResp.ErrorCode != 0 {
		return fmt.Errorf("broker: SaslHandshake %s with broker %s: %w", mech.Name(), addr, kerr.ErrorForCode(hsResp.ErrorCode))
	}
	host, _, _ := net.SplitHostPort(addr)
	sess, token, err := mech.Authenticate(ctx, host)
	if err != nil {
		return fmt.Errorf("broker: SASL %s with broker %s: %w", mech.Name(), addr, err)
	}
	for corr, done := int32(2), false; !done; corr++ {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.SASLAuthBytes = token
		resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		if err := roundTrip(c, clientID, corr, req, resp); err != nil {
			return err
		}
		if resp.ErrorCode != 0 {
			msg := ""
			if resp.ErrorMessage != nil {
				msg = ": " + *resp.ErrorMessage
			}
			return fmt.Errorf("broker: SASL %s as %s with broker %s: %w%s", mech.Name(), ib.Username, addr,
				kerr.ErrorForCode(resp.ErrorCode), msg)
		}
		if done, token, err = sess.Challenge(resp.SASLAuthBytes); err != nil {
			return fmt.Errorf("broker: SASL %s with broker %s: %w", mech.Name(), addr, err)
		}
	}
	return nil
}

func (b *Broker) peerClientID() string {
	return "sluice-broker-" + strconv.Itoa(int(b.cfg.NodeID))
}
