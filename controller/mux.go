package controller

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/raft"
)

// The CONTROLLER listener carries two protocols, as Kafka's does: raft's
// transport between quorum members, and the Kafka-framed controller RPCs
// brokers send (BrokerRegistration, BrokerHeartbeat, forwarded admin
// requests), which Config.Serve receives. The first two bytes of a
// connection tell them apart:
//
//	raft:  [rpc type: 0..4 in raft v1.8, 0..15 taken][msgpack map marker
//	       0x80-0x8f or 0xde]
//	Kafka: [int32 frame size, big-endian]...: byte 1 is below 0x80 for any
//	       frame under 8 MiB (controller RPCs are a few hundred bytes)
//
// A Kafka frame of 8 MiB or more whose first byte is 0..15 would be taken
// for raft and dropped by raft's decoder; nothing sends one. A TLS
// connection opens with a handshake record (0x16) and goes to Serve as
// well: Serve passes the bytes on to a listener that terminates TLS (and
// SASL), so the CONTROLLER listener's security applies to the controller
// RPCs; raft's own connections stay plaintext.

// errNotAdvertisable is raft's own check: peers cannot dial a wildcard.
var errNotAdvertisable = errors.New("controller: the CONTROLLER listener's address is not advertisable")

// muxSniffTimeout bounds the wait for a new connection's first two bytes.
const muxSniffTimeout = 10 * time.Second

// isRaftPrefix reports whether a connection starting with b0, b1 speaks
// raft's transport.
func isRaftPrefix(b0, b1 byte) bool {
	return b0 <= 0x0f && (b1&0xf0 == 0x80 || b1 == 0xde)
}

// muxLayer is a raft.StreamLayer on a TCP listener that hands raft's
// connections to raft and the others to serve.
type muxLayer struct {
	ln        net.Listener
	advertise net.Addr
	serve     func(net.Conn)
	raftConns chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
	// quit, when set, is closed when the controller stops: a dial being
	// retried gives up (Dial).
	quit <-chan struct{}
}

func newMuxLayer(bind string, advertise net.Addr, serve func(net.Conn)) (*muxLayer, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	if advertise == nil {
		advertise = ln.Addr()
	}
	if a, ok := advertise.(*net.TCPAddr); ok && a.Port == 0 { // port 0: the one bound
		advertise = &net.TCPAddr{IP: a.IP, Port: ln.Addr().(*net.TCPAddr).Port, Zone: a.Zone}
	}
	if a, ok := advertise.(*net.TCPAddr); !ok || a.IP == nil || a.IP.IsUnspecified() {
		_ = ln.Close()
		return nil, fmt.Errorf("%w: %s binds every interface and no address to advertise was given (list this node in controller.quorum.voters)", errNotAdvertisable, bind)
	}
	m := &muxLayer{ln: ln, advertise: advertise, serve: serve, raftConns: make(chan net.Conn), closed: make(chan struct{})}
	go m.acceptLoop()
	return m, nil
}

func (m *muxLayer) acceptLoop() {
	for {
		c, err := m.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			m.Close()
			return
		}
		go m.route(c)
	}
}

// route reads the first two bytes and passes the connection on, bytes
// included.
func (m *muxLayer) route(c net.Conn) {
	var head [2]byte
	_ = c.SetReadDeadline(time.Now().Add(muxSniffTimeout))
	if _, err := io.ReadFull(c, head[:]); err != nil {
		_ = c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	pc := &prefixConn{Conn: c, prefix: head[:]}
	if !isRaftPrefix(head[0], head[1]) {
		m.serve(pc)
		return
	}
	select {
	case m.raftConns <- pc:
	case <-m.closed:
		_ = c.Close()
	}
}

// Accept returns the next raft connection.
func (m *muxLayer) Accept() (net.Conn, error) {
	select {
	case c := <-m.raftConns:
		return c, nil
	case <-m.closed:
		return nil, raft.ErrTransportShutdown
	}
}

func (m *muxLayer) Close() error {
	var err error
	m.closeOnce.Do(func() {
		close(m.closed)
		err = m.ln.Close()
	})
	return err
}

func (m *muxLayer) Addr() net.Addr { return m.advertise }

// Dial connects to a quorum member, retrying a refused connection every
// dialRetry until timeout (the transport's, 5 s).
//
// hashicorp/raft backs off after each failed RPC to a follower, doubling
// up to 10.24 s between attempts (replication.go, maxFailureScale), and
// nothing cuts that wait short. A member that was down refused each
// attempt at once, so a few seconds down made the next attempt wait
// seconds, and the member restarted in the meantime stayed behind: its
// broker kept the metadata of before its stop (a node of a
// 1,000-partition cluster, restarted 11 s after a kill -9, started
// following its partitions 0.5–7 s after it registered). A refused
// connection now costs one failure per timeout, as a dial to a host that
// does not answer does, and a member that comes back while a dial is
// being retried is connected to as soon as it listens.
func (m *muxLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", string(address), time.Until(deadline))
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || time.Until(deadline) < dialRetry {
			return c, err
		}
		select {
		case <-time.After(dialRetry):
		case <-m.closed:
			return nil, err
		case <-m.quit: // nil unless set: never ready
			return nil, err
		}
	}
}

// dialRetry is how often Dial tries a refused connection again.
const dialRetry = 50 * time.Millisecond

// prefixConn replays the bytes the router read before the rest.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// ProxyTo returns a Config.Serve that splices each connection to addr()
// (this node's Kafka listener), both ways, until either side closes.
func ProxyTo(addr func() string) func(net.Conn) {
	return func(c net.Conn) {
		target := addr()
		if target == "" {
			_ = c.Close()
			return
		}
		up, err := net.DialTimeout("tcp", target, 5*time.Second)
		if err != nil {
			_ = c.Close()
			return
		}
		done := make(chan struct{}, 2)
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			done <- struct{}{}
		}
		go pipe(up, c)
		go pipe(c, up)
		<-done
		_ = c.Close()
		_ = up.Close()
		<-done
	}
}
