package controller

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// Raft's RPCs carry no cluster id. hashicorp/raft checks a vote's sender
// against its configuration, but not an append's: a node that is sent
// another cluster's appends (it listens on an address that cluster still
// names, say a stopped node's) follows that cluster's leader, and its own
// metadata cannot change meanwhile. KRaft rejects such a request by its
// cluster id (INCONSISTENT_CLUSTER_ID).
//
// soleGuard covers the case where the answer needs no cluster id: a node
// whose latest configuration has itself as the only voter. Its quorum's
// only possible leader is itself (a voter added later is in that
// configuration from the moment its leader appends the change), so an
// append, a snapshot or a TimeoutNow from any other server is another
// cluster's, and is refused. A node with other voters, or with none yet
// (one waiting to join), is left as it was.

// errForeignLeader answers a refused request.
var errForeignLeader = errors.New("controller: refused a raft request from a server outside this node's one-voter quorum (another cluster's leader?)")

// soleGuard is a raft.Transport around the network transport that
// refuses, on a one-voter quorum, the leader requests of other servers.
type soleGuard struct {
	*raft.NetworkTransport
	self    raft.ServerID
	r       atomic.Pointer[raft.Raft] // set by started, once NewRaft returns
	ready   chan struct{}             // closed by started
	in      chan raft.RPC
	done    chan struct{}
	stopped sync.Once
	refused atomic.Int64
	warn    func(from raft.ServerID, addr string, times int64)
}

func newSoleGuard(t *raft.NetworkTransport, self raft.ServerID, warn func(raft.ServerID, string, int64)) *soleGuard {
	g := &soleGuard{NetworkTransport: t, self: self, ready: make(chan struct{}), in: make(chan raft.RPC), done: make(chan struct{}), warn: warn}
	go g.pass()
	return g
}

// pass hands raft the requests it may see, until Close.
func (g *soleGuard) pass() {
	for {
		select {
		case rpc := <-g.NetworkTransport.Consumer():
			if g.foreign(rpc) {
				continue
			}
			select {
			case g.in <- rpc:
			case <-g.done:
				return
			}
		case <-g.done:
			return
		}
	}
}

// Consumer is the guarded request channel.
func (g *soleGuard) Consumer() <-chan raft.RPC { return g.in }

// SetHeartbeatHandler guards the transport's fast path too: heartbeats
// skip Consumer.
func (g *soleGuard) SetHeartbeatHandler(cb func(raft.RPC)) {
	if cb == nil {
		g.NetworkTransport.SetHeartbeatHandler(nil)
		return
	}
	g.NetworkTransport.SetHeartbeatHandler(func(rpc raft.RPC) {
		if !g.foreign(rpc) {
			cb(rpc)
		}
	})
}

// started gives the guard raft, whose configuration it reads. Requests
// that arrive before it wait for it: raft reads its transport from
// within NewRaft, before it returns.
func (g *soleGuard) started(r *raft.Raft) {
	g.r.Store(r)
	close(g.ready)
}

// Close stops pass and closes the transport.
func (g *soleGuard) Close() error {
	g.stopped.Do(func() { close(g.done) })
	return g.NetworkTransport.Close()
}

// foreign reports whether rpc is a leader's request from another server
// to this one-voter quorum, and if so answers it with errForeignLeader.
func (g *soleGuard) foreign(rpc raft.RPC) bool {
	var from raft.RPCHeader
	switch req := rpc.Command.(type) {
	case *raft.AppendEntriesRequest:
		from = req.RPCHeader
	case *raft.InstallSnapshotRequest:
		from = req.RPCHeader
	case *raft.TimeoutNowRequest:
		from = req.RPCHeader
	default:
		return false
	}
	select {
	case <-g.ready:
	case <-g.done:
		rpc.Respond(nil, raft.ErrTransportShutdown)
		return true
	}
	// Even a request naming this node's own id is refused: raft sends none
	// to itself, and the other cluster's leader may have the same id.
	f := g.r.Load().GetConfiguration() // the latest configuration, read without raft's main loop
	if f.Error() != nil || !soleVoter(f.Configuration(), g.self) {
		return false
	}
	if rpc.Reader != nil { // a snapshot's data follows on the connection
		_, _ = io.Copy(io.Discard, rpc.Reader)
	}
	rpc.Respond(nil, errForeignLeader)
	if n := g.refused.Add(1); n&(n-1) == 0 && g.warn != nil { // the 1st, 2nd, 4th, 8th... time
		g.warn(raft.ServerID(from.ID), string(from.Addr), n)
	}
	return true
}

// soleVoter reports whether cfg's only voter is self.
func soleVoter(cfg raft.Configuration, self raft.ServerID) bool {
	voters := 0
	for _, s := range cfg.Servers {
		if s.Suffrage != raft.Voter {
			continue
		}
		if s.ID != self {
			return false
		}
		voters++
	}
	return voters == 1
}
