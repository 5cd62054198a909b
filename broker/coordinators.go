package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/group"
	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/partition"
	"github.com/sluice/sluice/txn"
)

// Coordinators in a cluster: groups and transactional ids move with the
// leadership of their __consumer_offsets / __transaction_state partition.
//
//	metadata image ──▶ reconciler pass ──▶ electCoordinators
//	                                         for each partition p of the two topics:
//	                                           leader here: Elect(p, leader epoch, local log)
//	                                           otherwise:   Resign(p, leader epoch)
//
// Both coordinators are opened with LoadOnElection on every broker of a
// cluster once their topic exists, and follow the image from then on:
//
//	 Unloaded ──Elect──▶ Loading ──load done──▶ Loaded
//	 NOT_COORDINATOR     COORDINATOR_LOAD_       serving
//	    ▲                IN_PROGRESS                │
//	    └────── Resign (another broker leads) ──────┘
//
// FindCoordinator answers the leader of the key's partition; a broker
// answers for a group or transactional id only once it has loaded the
// partition, so a client that reached a stale coordinator gets
// NOT_COORDINATOR and looks it up again. The load reads whatever log the
// new leader has (with replication: the replicated partition; without it,
// the new leader's empty or stale local log).
//
// Transaction markers: the coordinator's epoch is the leader epoch of the
// id's __transaction_state partition. A marker for a partition this broker
// leads is appended locally; for one another broker leads, the markers are
// sent to that broker in one WriteTxnMarkers (API 27) per broker over the
// inter-broker connection (peer.go). A transactional Produce to a
// partition led here whose transactional id another broker coordinates is
// verified with that broker by AddPartitionsToTxn v5 VerifyOnly (KIP-890),
// once per transaction and partition: later batches find the transaction
// ongoing in the partition's producer state (partition.Log.InTransaction).
// The implicit add of transactions v2 (Produce v12, TxnOffsetCommit v5)
// for such an id is an AddPartitionsToTxn v5 to that broker.

// electCoordinators brings both coordinators to the partitions' leaders in
// the published topics (called after each reconcile pass, and when a
// coordinator opens).
func (b *Broker) electCoordinators() {
	if b.cl == nil {
		return
	}
	b.gr.mu.Lock()
	gc := b.gr.c
	b.gr.mu.Unlock()
	b.tx.mu.Lock()
	tc := b.tx.c
	b.tx.mu.Unlock()
	if gc != nil {
		b.electOn(group.TopicName, gc.Elect, gc.Resign)
	}
	if tc != nil {
		b.electOn(txn.TopicName, tc.Elect, tc.Resign)
	}
}

// electOn calls elect for every partition of topic name this broker leads
// and resign for the others.
func (b *Broker) electOn(name string, elect func(p, epoch int32, l *partition.Log) <-chan struct{}, resign func(p, epoch int32)) {
	t := b.topics.get(name)
	if t == nil || t.meta == nil {
		return
	}
	for i, ip := range t.meta.Partitions {
		p := int32(i)
		if ip.Leader == b.cfg.NodeID && i < len(t.partitions) {
			elect(p, ip.LeaderEpoch, t.partitions[i]) // nil log: offline here
		} else {
			resign(p, ip.LeaderEpoch)
		}
	}
}

// followCoordinators is the reconciler's step after a pass: open the
// coordinators whose topic now exists, then elect.
func (b *Broker) followCoordinators() {
	if err := b.loadGroups(); err != nil && !errors.Is(err, errGroupsClosed) {
		b.log.Error("cannot load the consumer groups", "err", err)
	}
	if err := b.loadTxns(); err != nil && !errors.Is(err, errTxnsClosed) {
		b.log.Error("cannot load the transaction coordinator", "err", err)
	}
	b.electCoordinators()
}

// partitionCoordinator is FindCoordinator's answer for key in a cluster:
// the leader of its partition of topic name (NodeID -1: no leader, or its
// endpoint unknown); ok false when this broker leads it, or without a
// cluster.
func (b *Broker) partitionCoordinator(c *netio.Conn, name, key string) (kmsg.MetadataResponseBroker, bool) {
	var none kmsg.MetadataResponseBroker
	none.NodeID = -1
	if b.cl == nil {
		return none, false
	}
	t := b.topics.get(name)
	if t == nil || t.meta == nil || len(t.meta.Partitions) == 0 {
		return none, false
	}
	leader := t.meta.Partitions[group.PartitionFor(key, int32(len(t.meta.Partitions)))].Leader
	if leader == b.cfg.NodeID {
		return none, false
	}
	for _, br := range b.liveBrokers(c) {
		if br.NodeID == leader {
			return br, true
		}
	}
	return none, true
}

// peerAddr is broker id's inter-broker endpoint, from the image.
func (b *Broker) peerAddr(id int32) (string, error) {
	br, ok := b.cfg.Controller.Image().Broker(id)
	if !ok {
		return "", fmt.Errorf("broker: node %d is not registered", id)
	}
	want := b.cfg.InterBroker.listener()
	for _, e := range br.Endpoints {
		if e.Name == want {
			return net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port))), nil
		}
	}
	return "", fmt.Errorf("broker: node %d has no %s endpoint (inter.broker.listener.name)", id, want)
}

// remoteLeader is the leader of tp when another broker leads it (ok), or
// -1 with ok when it has no leader; ok false when this broker answers
// for it (it leads it, or there is no cluster).
func (b *Broker) remoteLeader(tp txn.TopicPartition) (int32, bool) {
	if b.cl == nil {
		return 0, false
	}
	t := b.topics.get(tp.Topic)
	if t == nil || t.meta == nil || tp.Partition < 0 || int(tp.Partition) >= len(t.meta.Partitions) {
		return 0, false // unknown here: the local path answers UNKNOWN_TOPIC_OR_PARTITION
	}
	leader := t.meta.Partitions[tp.Partition].Leader
	if leader == b.cfg.NodeID {
		return 0, false
	}
	return leader, true
}

// writeRemoteMarkers sends m's markers for tps, all led by broker leader,
// in one WriteTxnMarkers, and returns the per-partition error codes.
func (b *Broker) writeRemoteMarkers(ctx context.Context, m txn.Markers, leader int32, tps []txn.TopicPartition) (map[txn.TopicPartition]int16, error) {
	if leader < 0 {
		return nil, fmt.Errorf("broker: %s-%d has no leader", tps[0].Topic, tps[0].Partition)
	}
	addr, err := b.peerAddr(leader)
	if err != nil {
		return nil, err
	}
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	mk := kmsg.NewWriteTxnMarkersRequestMarker()
	mk.ProducerID, mk.ProducerEpoch, mk.Committed, mk.CoordinatorEpoch = m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch
	byTopic := map[string]int{}
	for _, tp := range tps {
		i, ok := byTopic[tp.Topic]
		if !ok {
			i = len(mk.Topics)
			byTopic[tp.Topic] = i
			rt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			rt.Topic = tp.Topic
			mk.Topics = append(mk.Topics, rt)
		}
		mk.Topics[i].Partitions = append(mk.Topics[i].Partitions, tp.Partition)
	}
	req.Markers = append(req.Markers, mk)
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	if err := b.callPeerPooled(ctx, addr, 1, req, resp); err != nil {
		return nil, fmt.Errorf("broker: WriteTxnMarkers to broker %d: %w", leader, err)
	}
	codes := make(map[txn.TopicPartition]int16, len(tps))
	for _, tp := range tps {
		codes[tp] = kerr.UnknownServerError.Code // unless answered
	}
	for _, rm := range resp.Markers {
		for _, rt := range rm.Topics {
			for _, rp := range rt.Partitions {
				codes[txn.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}] = rp.ErrorCode
			}
		}
	}
	return codes, nil
}

// writeMarkersSplit writes m's markers: locally where this broker leads,
// and with one WriteTxnMarkers per other leader, concurrently.
func (b *Broker) writeMarkersSplit(ctx context.Context, m txn.Markers) error {
	remote := map[int32][]txn.TopicPartition{}
	var local []txn.TopicPartition
	for _, tp := range m.Partitions {
		if leader, ok := b.remoteLeader(tp); ok {
			remote[leader] = append(remote[leader], tp)
		} else {
			local = append(local, tp)
		}
	}
	var mu sync.Mutex
	var errs []error
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for _, tp := range local {
		wg.Go(func() {
			if err := b.writeLocalMarker(ctx, m, tp); err != nil {
				fail(err)
			}
		})
	}
	for leader, tps := range remote {
		wg.Go(func() {
			codes, err := b.writeRemoteMarkers(ctx, m, leader, tps)
			if err != nil {
				fail(err)
				return
			}
			for _, tp := range tps {
				if err := b.markerResult(m, tp, codes[tp]); err != nil {
					fail(err)
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// txnCoordinatorAddr is the inter-broker address of the coordinator of
// transactional id when another broker leads its __transaction_state
// partition; an error when it has no leader, this broker leads it (not
// loaded yet), or its address is unknown.
func (b *Broker) txnCoordinatorAddr(id string) (string, error) {
	t := b.topics.get(txn.TopicName)
	if t == nil || t.meta == nil || len(t.meta.Partitions) == 0 {
		return "", errors.New("broker: no " + txn.TopicName)
	}
	leader := t.meta.Partitions[txn.PartitionFor(id, int32(len(t.meta.Partitions)))].Leader
	if leader < 0 || leader == b.cfg.NodeID {
		return "", fmt.Errorf("broker: the coordinator of %q is moving (leader %d)", id, leader)
	}
	return b.peerAddr(leader)
}

// addPartitionsRemote sends AddPartitionsToTxn v5 for one transaction to
// the coordinator of id (VerifyOnly: only check them) and returns the
// request's error code and each partition's.
func (b *Broker) addPartitionsRemote(ctx context.Context, id string, pid int64, epoch int16, tps []txn.TopicPartition,
	verifyOnly bool) (int16, map[txn.TopicPartition]int16, error) {
	addr, err := b.txnCoordinatorAddr(id)
	if err != nil {
		return 0, nil, err
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	tr := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tr.TransactionalID, tr.ProducerID, tr.ProducerEpoch, tr.VerifyOnly = id, pid, epoch, verifyOnly
	byTopic := map[string]int{}
	for _, tp := range tps {
		i, ok := byTopic[tp.Topic]
		if !ok {
			i = len(tr.Topics)
			byTopic[tp.Topic] = i
			rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
			rt.Topic = tp.Topic
			tr.Topics = append(tr.Topics, rt)
		}
		tr.Topics[i].Partitions = append(tr.Topics[i].Partitions, tp.Partition)
	}
	req.Transactions = append(req.Transactions, tr)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if err := b.callPeerPooled(ctx, addr, 5, req, resp); err != nil {
		return 0, nil, err
	}
	codes := make(map[txn.TopicPartition]int16, len(tps))
	for _, tp := range tps {
		codes[tp] = kerr.UnknownServerError.Code // unless answered
	}
	for _, rtx := range resp.Transactions {
		for _, rt := range rtx.Topics {
			for _, rp := range rt.Partitions {
				codes[txn.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}] = rp.ErrorCode
			}
		}
	}
	return resp.ErrorCode, codes, nil
}

// verifyRemote asks the coordinator of transactional id (the leader of its
// __transaction_state partition) whether the partition is in the
// producer's ongoing transaction (AddPartitionsToTxn v5 VerifyOnly).
func (b *Broker) verifyRemote(id, topic string, p int32, pid int64, epoch int16) int16 {
	tp := txn.TopicPartition{Topic: topic, Partition: p}
	top, codes, err := b.addPartitionsRemote(context.Background(), id, pid, epoch, []txn.TopicPartition{tp}, true)
	switch {
	case err != nil:
		b.log.Warn("cannot verify a transactional produce with its coordinator", "transactional_id", id, "err", err)
		return kerr.NotEnoughReplicas.Code // retriable: the coordinator moves
	case top != 0:
		return verifyCode(top)
	}
	return verifyCode(codes[tp])
}

// addRemote adds tps to id's transaction on its coordinator, another
// broker (the implicit add of transactions v2), and returns its error.
func (b *Broker) addRemote(ctx context.Context, id string, pid int64, epoch int16, tps []txn.TopicPartition) error {
	top, codes, err := b.addPartitionsRemote(ctx, id, pid, epoch, tps, false)
	if err != nil {
		b.log.Warn("cannot add partitions to a transaction on its coordinator", "transactional_id", id, "err", err)
		return kerr.CoordinatorNotAvailable // retriable
	}
	if top != 0 {
		return kerr.ErrorForCode(top)
	}
	for _, tp := range tps {
		if c := codes[tp]; c != 0 {
			return kerr.ErrorForCode(c)
		}
	}
	return nil
}

// verifyCode maps a coordinator's VerifyOnly answer to the Produce error:
// a coordinator that moved or is loading is retriable for the producer.
func verifyCode(code int16) int16 {
	switch code {
	case kerr.NotCoordinator.Code, kerr.CoordinatorLoadInProgress.Code, kerr.CoordinatorNotAvailable.Code,
		kerr.ConcurrentTransactions.Code:
		return kerr.NotEnoughReplicas.Code
	}
	return code
}

// callPeerPooled sends req at version to the broker at addr and reads its
// response, on an idle connection of the pool if there is one (retried
// once on a fresh connection if that fails: the peer may have restarted),
// else on a new one, which then joins the pool.
func (b *Broker) callPeerPooled(ctx context.Context, addr string, version int16, req kmsg.Request, resp kmsg.Response) error {
	if c := b.peers.get(addr); c != nil {
		if err := roundTripAt(c, b.peerClientID(), 100, version, req, resp); err == nil {
			b.peers.put(addr, c)
			return nil
		}
		_ = c.Close()
	}
	c, err := b.dialPeer(ctx, addr)
	if err != nil {
		return err
	}
	if err := roundTripAt(c, b.peerClientID(), 100, version, req, resp); err != nil {
		_ = c.Close()
		return err
	}
	b.peers.put(addr, c)
	return nil
}

// maxIdlePeerConns bounds the idle connections kept per peer.
const maxIdlePeerConns = 4

// peerPool keeps idle connections to other brokers (markers and produce
// verifications), so that a request does not pay a dial, TLS handshake
// and SASL exchange each time. A connection is used by one request at a
// time: taken out by get, given back by put after a whole round trip.
type peerPool struct {
	mu struct {
		sync.Mutex
		idle   map[string][]*idleWatch // each read while idle: a peer's FIN closes it (idleconn.go)
		closed bool
	}
}

func (p *peerPool) get(addr string) net.Conn {
	for {
		p.mu.Lock()
		ws := p.mu.idle[addr]
		if len(ws) == 0 {
			p.mu.Unlock()
			return nil
		}
		w := ws[len(ws)-1]
		p.mu.idle[addr] = ws[:len(ws)-1]
		p.mu.Unlock()
		if c := w.take(); c != nil {
			return c
		} // closed by the peer while idle: the next one
	}
}

func (p *peerPool) put(addr string, c net.Conn) {
	p.mu.Lock()
	if p.mu.closed || len(p.mu.idle[addr]) >= maxIdlePeerConns {
		p.mu.Unlock()
		_ = c.Close()
		return
	}
	if p.mu.idle == nil {
		p.mu.idle = map[string][]*idleWatch{}
	}
	p.mu.idle[addr] = append(p.mu.idle[addr], watchIdle(c))
	p.mu.Unlock()
}

// close closes the idle connections; later ones are closed when put back.
func (p *peerPool) close() {
	p.mu.Lock()
	idle := p.mu.idle
	p.mu.idle, p.mu.closed = nil, true
	p.mu.Unlock()
	for _, ws := range idle {
		for _, w := range ws {
			if c := w.take(); c != nil {
				_ = c.Close()
			}
		}
	}
}
