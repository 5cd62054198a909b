package txn

import (
	"slices"
	"strings"
	"time"
)

// Listing is one transactional id as ListTransactions shows it.
type Listing struct {
	TransactionalID string
	ProducerID      int64
	State           State
}

// List serves ListTransactions: the ids in one of states (all if empty),
// held by one of pids (all if empty), whose transaction has been running
// for at least minDuration (if > 0), sorted by id.
func (c *Coordinator) List(states []State, pids []int64, minDuration time.Duration) []Listing {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Listing
	for _, m := range c.mu.txns {
		if len(states) > 0 && !slices.Contains(states, m.state) {
			continue
		}
		if len(pids) > 0 && !slices.Contains(pids, m.producerID) {
			continue
		}
		if minDuration > 0 && (m.start.IsZero() || now.Sub(m.start) < minDuration) {
			continue
		}
		out = append(out, Listing{m.id, m.producerID, m.state})
	}
	slices.SortFunc(out, func(a, b Listing) int { return strings.Compare(a.TransactionalID, b.TransactionalID) })
	return out
}

// Description is one transactional id as DescribeTransactions shows it.
type Description struct {
	TransactionalID string
	Found           bool
	State           State
	ProducerID      int64
	ProducerEpoch   int16
	Timeout         time.Duration
	Start           time.Time // zero: no transaction
	Partitions      []TopicPartition
}

// Describe serves DescribeTransactions.
func (c *Coordinator) Describe(ids []string) []Description {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Description, 0, len(ids))
	for _, id := range ids {
		d := Description{TransactionalID: id}
		if m := c.mu.txns[id]; m != nil {
			d.Found, d.State, d.ProducerID, d.ProducerEpoch = true, m.state, m.producerID, m.epoch
			d.Timeout, d.Start, d.Partitions = m.timeout, m.start, m.sortedPartitions()
		}
		out = append(out, d)
	}
	return out
}

// States counts the transactional ids by state.
func (c *Coordinator) States() map[State]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[State]int{}
	for _, m := range c.mu.txns {
		out[m.state]++
	}
	return out
}
