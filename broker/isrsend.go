package broker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/controller"
	"github.com/sluice/sluice/metadata"
)

// isrSender coalesces the ISR changes this broker's partition leaders ask
// for into one AlterPartition at a time, as Kafka's AlterPartitionManager
// does: the changes asked for while one request is in flight go together
// in the next, which the controller decides and commits as one Raft entry
// (controller.AlterPartitions). A broker leaving or rejoining the ISRs of
// 1,000 partitions made 1,000 requests, each waiting for its own commit
// (one decision at a time), over seconds.
//
// The first caller with nothing in flight sends, and keeps sending what
// arrived meanwhile until the queue is empty; the others wait for their
// item's answer.
type isrSender struct {
	mu      sync.Mutex
	queue   []*isrAsk
	sending bool
}

// isrSendHook, when set (tests), is called with each batch's size before
// it is sent.
var isrSendHook atomic.Pointer[func(n int)]

// queued is how many changes wait for the next request (tests).
func (s *isrSender) queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// isrAsk is one partition's change and, once done is closed, its answer.
type isrAsk struct {
	st             *leaderState
	partitionEpoch int32
	isr            []int32
	p              metadata.Partition
	err            error
	done           chan struct{}
}

// sendAlterPartition asks the active controller for st's new ISR and
// returns the partition as committed.
func (rm *replicaManager) sendAlterPartition(st *leaderState, partitionEpoch int32, isr []int32) (metadata.Partition, error) {
	a := &isrAsk{st: st, partitionEpoch: partitionEpoch, isr: isr, done: make(chan struct{})}
	s := &rm.isrSend
	s.mu.Lock()
	s.queue = append(s.queue, a)
	if s.sending {
		s.mu.Unlock()
		<-a.done
		return a.p, a.err
	}
	s.sending = true
	s.mu.Unlock()
	for {
		s.mu.Lock()
		batch := s.queue
		s.queue = nil
		if len(batch) == 0 {
			s.sending = false
			s.mu.Unlock()
			break
		}
		s.mu.Unlock()
		if hook := isrSendHook.Load(); hook != nil {
			(*hook)(len(batch))
		}
		rm.sendAlterPartitions(batch)
		for _, b := range batch {
			close(b.done)
		}
	}
	return a.p, a.err // a went in the first batch
}

// sendAlterPartitions sends batch as one AlterPartition: to the local
// controller when it is the active one, else as API 56 to the active
// controller's broker listener. It sets each item's answer.
func (rm *replicaManager) sendAlterPartitions(batch []*isrAsk) {
	cl := rm.b.cl
	epoch := cl.epoch.Load()
	fail := func(err error) {
		for _, a := range batch {
			a.err = err
		}
	}
	if cl.ctl.IsLeader() {
		items := make([]controller.ISRChange, len(batch))
		for i, a := range batch {
			items[i] = controller.ISRChange{TopicID: a.st.topicID, Partition: a.st.partition,
				LeaderEpoch: a.st.epoch, PartitionEpoch: a.partitionEpoch, ISR: a.isr}
		}
		ps, errs, err := cl.ctl.AlterPartitions(rm.self, epoch, items)
		if err != nil {
			fail(err)
			return
		}
		for i, a := range batch {
			a.p, a.err = ps[i], errs[i]
		}
		return
	}
	addr, err := rm.b.leaderAddr(cl.ctl)
	if err != nil {
		fail(err)
		return
	}
	req := kmsg.NewPtrAlterPartitionRequest()
	req.BrokerID, req.BrokerEpoch = rm.self, epoch
	im := cl.ctl.Image()
	topicAt := map[metadata.UUID]int{}
	for _, a := range batch {
		ti, ok := topicAt[a.st.topicID]
		if !ok {
			rt := kmsg.NewAlterPartitionRequestTopic()
			rt.Topic, rt.TopicID = a.st.topic, a.st.topicID
			req.Topics = append(req.Topics, rt)
			ti = len(req.Topics) - 1
			topicAt[a.st.topicID] = ti
		}
		rp := kmsg.NewAlterPartitionRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch = a.st.partition, a.st.epoch, a.partitionEpoch
		for _, r := range a.isr {
			m := kmsg.NewAlterPartitionRequestTopicPartitionNewEpochISR()
			m.BrokerID = r
			if br, ok := im.Broker(r); ok {
				m.BrokerEpoch = br.Epoch
			}
			rp.NewEpochISR = append(rp.NewEpochISR, m)
		}
		req.Topics[ti].Partitions = append(req.Topics[ti].Partitions, rp)
	}
	resp := req.ResponseKind().(*kmsg.AlterPartitionResponse)
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	defer cancel()
	if err := rm.b.callPeer(ctx, addr, rm.b.peerClientID(), req, resp); err != nil {
		fail(err)
		return
	}
	if resp.ErrorCode != 0 {
		fail(errors.Join(errAlterPartition, kerr.ErrorForCode(resp.ErrorCode)))
		return
	}
	type key struct {
		topic     metadata.UUID
		partition int32
	}
	answers := map[key]*kmsg.AlterPartitionResponseTopicPartition{}
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		for j := range rt.Partitions {
			answers[key{metadata.UUID(rt.TopidID), rt.Partitions[j].Partition}] = &rt.Partitions[j]
		}
	}
	for _, a := range batch {
		sp := answers[key{a.st.topicID, a.st.partition}]
		switch {
		case sp == nil:
			a.err = errors.Join(errAlterPartition, errors.New("malformed response: the partition is missing"))
		case sp.ErrorCode != 0:
			a.err = errors.Join(errAlterPartition, kerr.ErrorForCode(sp.ErrorCode))
		default:
			a.p = metadata.Partition{TopicID: a.st.topicID, Partition: a.st.partition, ISR: sp.ISR, Leader: sp.LeaderID,
				LeaderEpoch: sp.LeaderEpoch, PartitionEpoch: sp.PartitionEpoch}
		}
	}
}
