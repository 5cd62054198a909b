package console

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice/sluice/partition"
	"github.com/sluice/sluice/segment"
)

// The cluster: every topic's partitions come from the metadata image
// (Config.Topics); a partition this broker leads is read from its own
// segments, one led by another broker through the Kafka protocol, on the
// inter-broker listener as the broker itself (Config.DialPeer):
//
//	offsets  ListOffsets (earliest, latest: the high watermark)
//	sizes    DescribeLogDirs
//	records  Fetch (browse, search, SQL, lag in time)
//
// Every remote call is bounded by Config.RemoteTimeout (3 s): a broker
// that is down makes its partitions "unavailable" on the page, which still
// answers within the bound.

// PartitionMeta is one partition as the metadata image has it.
type PartitionMeta struct {
	Partition int32
	Leader    int32 // -1: no leader
	Replicas  []int32
	ISR       []int32
}

// errUnavailable marks a partition whose leader cannot be read now.
var (
	errUnavailable = errors.New("console: partition unavailable")
	errNoLeader    = fmt.Errorf("%w: no leader", errUnavailable)
)

// firstLine is err's message up to its first line break (joined errors).
func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// part is one partition of a topic: led here (local is its log) or led
// by another broker (local is nil).
type part struct {
	meta  PartitionMeta
	local *partition.Log
}

func (p part) remote() bool { return p.local == nil }

// topicParts is every topic's partitions, in order: the metadata image's
// when there is one (Config.Topics answers non-nil), else the store's
// logs.
func (c *Console) topicParts() map[string][]part {
	logs := c.topicLogs()
	out := map[string][]part{}
	var image map[string][]PartitionMeta
	if c.cfg.Topics != nil {
		image = c.cfg.Topics()
	}
	if image == nil {
		for t, ls := range logs {
			for _, l := range ls {
				self := []int32{c.cfg.NodeID}
				out[t] = append(out[t], part{meta: PartitionMeta{Partition: l.Partition(), Leader: c.cfg.NodeID, Replicas: self, ISR: self}, local: l})
			}
		}
		return out
	}
	for t, metas := range image {
		local := map[int32]*partition.Log{}
		for _, l := range logs[t] {
			local[l.Partition()] = l
		}
		ps := make([]part, len(metas))
		for i, m := range metas {
			ps[i] = part{meta: m}
			if m.Leader == c.cfg.NodeID {
				ps[i].local = local[m.Partition]
			}
		}
		out[t] = ps
	}
	return out
}

// partsMemo is one listing of the cluster's partitions (topicParts),
// made at most once for the context that carries it (withPartsMemo) and
// only read after.
type partsMemo struct {
	once sync.Once
	all  map[string][]part
}

type partsMemoKey struct{}

// withPartsMemo returns ctx carrying an empty partsMemo: the calls of
// topicPartsIn under it share one listing.
func withPartsMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, partsMemoKey{}, &partsMemo{})
}

// topicPartsIn is topicParts, listed once per partsMemo when ctx carries
// one. The map is shared then: callers only read it.
func (c *Console) topicPartsIn(ctx context.Context) map[string][]part {
	m, ok := ctx.Value(partsMemoKey{}).(*partsMemo)
	if !ok {
		return c.topicParts()
	}
	m.once.Do(func() { m.all = c.topicParts() })
	return m.all
}

func (c *Console) remoteTimeout() time.Duration {
	if c.cfg.RemoteTimeout > 0 {
		return c.cfg.RemoteTimeout
	}
	return 3 * time.Second
}

// peerOpts are a client's options to reach the cluster on the
// inter-broker listener, seeded with this broker's own endpoint.
func (c *Console) peerOpts() ([]kgo.Opt, error) {
	if c.cfg.DialPeer == nil || c.cfg.PeerAddr == nil {
		return nil, fmt.Errorf("%w: no inter-broker client", errUnavailable)
	}
	seed, ok := c.cfg.PeerAddr(c.cfg.NodeID)
	if !ok {
		return nil, fmt.Errorf("%w: this broker's inter-broker endpoint is not registered yet", errUnavailable)
	}
	return []kgo.Opt{kgo.SeedBrokers(seed), kgo.Dialer(c.cfg.DialPeer), kgo.ClientID("sluice-console-peer"),
		kgo.DialTimeout(c.remoteTimeout()), kgo.RequestRetries(2)}, nil
}

// peerAdmin is the console's long-lived admin client to the cluster.
func (c *Console) peerAdmin() (*kadm.Client, error) {
	c.peer.Lock()
	defer c.peer.Unlock()
	if c.peer.adm != nil {
		return c.peer.adm, nil
	}
	opts, err := c.peerOpts()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("console: cannot create inter-broker client: %w", err)
	}
	c.peer.cl, c.peer.adm = cl, kadm.NewClient(cl)
	return c.peer.adm, nil
}

func (c *Console) closePeer() {
	c.peer.Lock()
	defer c.peer.Unlock()
	if c.peer.cl != nil {
		c.peer.cl.Close()
		c.peer.cl, c.peer.adm = nil, nil
	}
}

// remoteStat is a remote partition's offsets and size, as its leader
// answers them.
type remoteStat struct {
	start, end, size int64
	sized            bool
	err              error
}

// remoteStats asks the leaders of ps's remote partitions for their log
// start and end offsets and sizes, within the remote bound. A partition
// whose leader does not answer has err set.
func (c *Console) remoteStats(ctx context.Context, topics map[string][]part) map[string]map[int32]*remoteStat {
	out := map[string]map[int32]*remoteStat{}
	set := kadm.TopicsSet{}
	var names []string
	for t, ps := range topics {
		for _, p := range ps {
			if !p.remote() {
				continue
			}
			if out[t] == nil {
				out[t] = map[int32]*remoteStat{}
				names = append(names, t)
			}
			st := &remoteStat{err: fmt.Errorf("%w: leader %d did not answer", errUnavailable, p.meta.Leader)}
			if p.meta.Leader < 0 {
				st.err = errNoLeader
			}
			out[t][p.meta.Partition] = st
			set.Add(t, p.meta.Partition)
		}
	}
	if len(names) == 0 {
		return out
	}
	adm, err := c.peerAdmin()
	if err != nil {
		for _, ps := range out {
			for _, st := range ps {
				st.err = err
			}
		}
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, c.remoteTimeout())
	defer cancel()
	var wg sync.WaitGroup
	var starts, ends kadm.ListedOffsets
	var dirs kadm.DescribedAllLogDirs
	var serr, eerr error
	wg.Add(3)
	go func() { defer wg.Done(); starts, serr = adm.ListStartOffsets(ctx, names...) }()
	go func() { defer wg.Done(); ends, eerr = adm.ListEndOffsets(ctx, names...) }()
	go func() { defer wg.Done(); dirs, _ = adm.DescribeAllLogDirs(ctx, set) }()
	wg.Wait()
	callErr := errors.Join(serr, eerr)
	for t, ps := range out {
		for p, st := range ps {
			s, ok1 := starts.Lookup(t, p)
			e, ok2 := ends.Lookup(t, p)
			switch {
			case (!ok1 || !ok2) && callErr != nil && st.err != nil && !errors.Is(st.err, errNoLeader):
				st.err = fmt.Errorf("%w: leader %d did not answer: %v", errUnavailable, c.leaderOf(topics, t, p), firstLine(callErr))
			case ok1 && s.Err != nil:
				st.err = fmt.Errorf("%w: %v", errUnavailable, s.Err)
			case ok2 && e.Err != nil:
				st.err = fmt.Errorf("%w: %v", errUnavailable, e.Err)
			case ok1 && ok2:
				st.start, st.end, st.err = s.Offset, e.Offset, nil
			}
		}
	}
	for _, bd := range dirs {
		for _, d := range bd {
			d.Topics.Each(func(lp kadm.DescribedLogDirPartition) {
				if st := out[lp.Topic][lp.Partition]; st != nil && lp.Broker == c.leaderOf(topics, lp.Topic, lp.Partition) {
					st.size, st.sized = lp.Size, true
				}
			})
		}
	}
	return out
}

func (c *Console) leaderOf(topics map[string][]part, t string, p int32) int32 {
	for _, x := range topics[t] {
		if x.meta.Partition == p {
			return x.meta.Leader
		}
	}
	return -1
}

// remoteInfo is a remote partition's row of the topic page.
func remoteInfo(p part, st *remoteStat) PartitionInfo {
	pi := PartitionInfo{Partition: p.meta.Partition, Leader: p.meta.Leader, Replicas: p.meta.Replicas, ISR: p.meta.ISR,
		Segments: -1, SizeBytes: -1, Remote: true}
	if st == nil || st.err != nil {
		pi.Unavailable, pi.Approximate = true, true
		pi.LogStart, pi.LogEnd, pi.HighWatermark, pi.LastStable = -1, -1, -1, -1
		if st != nil {
			pi.Error = st.err.Error()
		}
		return pi
	}
	pi.LogStart, pi.LogEnd, pi.HighWatermark, pi.LastStable = st.start, st.end, st.end, st.end
	pi.Records, pi.Approximate = st.end-st.start, true
	if st.sized {
		pi.SizeBytes = st.size
	}
	return pi
}

// fetchRemote reads records of the partition p of topic with from <=
// offset < to from its leader (Fetch on the inter-broker listener), calling
// fn for each until it returns false. It ends at to, or when ctx ends.
func (c *Console) fetchRemote(ctx context.Context, topic string, p int32, from, to int64, fn func(segment.Record) bool) error {
	if from >= to {
		return nil
	}
	opts, err := c.peerOpts()
	if err != nil {
		return err
	}
	opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(from)}}),
		kgo.FetchMaxWait(100*time.Millisecond), kgo.FetchMaxPartitionBytes(4<<20),
		kgo.KeepControlRecords()) // seen, so a log ending in a marker ends the read
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("console: cannot create fetch client: %w", err)
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: fetching %s-%d from its leader: %w", errUnavailable, topic, p, context.Cause(ctx))
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return fmt.Errorf("%w: fetching %s-%d: %w", errUnavailable, topic, p, ferr)
		}
		done := false
		fs.EachRecord(func(r *kgo.Record) {
			if done || r.Offset < from {
				return
			}
			if r.Offset >= to || !r.Attrs.IsControl() && !fn(segmentRecord(r)) {
				done = true
				return
			}
			done = r.Offset+1 >= to
		})
		if done {
			return nil
		}
	}
}

func segmentRecord(r *kgo.Record) segment.Record {
	out := segment.Record{Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(), Key: r.Key, Value: r.Value,
		KeyNull: r.Key == nil, ValueNull: r.Value == nil}
	for _, h := range r.Headers {
		out.Headers = append(out.Headers, segment.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return out
}

// remoteBounds is a remote partition's log start and high watermark, from
// its leader within the remote bound.
func (c *Console) remoteBounds(ctx context.Context, topic string, p part) (start, hw int64, err error) {
	st := c.remoteStats(ctx, map[string][]part{topic: {p}})[topic][p.meta.Partition]
	if st == nil {
		return 0, 0, fmt.Errorf("%w: %s-%d has no leader", errUnavailable, topic, p.meta.Partition)
	}
	return st.start, st.end, st.err
}

// remoteOffsetForTime is the first offset of the remote partition with a
// timestamp at or after ms (ok false: none).
func (c *Console) remoteOffsetForTime(ctx context.Context, topic string, p int32, ms int64) (int64, bool, error) {
	adm, err := c.peerAdmin()
	if err != nil {
		return 0, false, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.remoteTimeout())
	defer cancel()
	lo, err := adm.ListOffsetsAfterMilli(ctx, ms, topic)
	if err != nil {
		return 0, false, fmt.Errorf("%w: %v", errUnavailable, err)
	}
	o, ok := lo.Lookup(topic, p)
	if !ok || o.Err != nil {
		return 0, false, fmt.Errorf("%w: offset for time in %s-%d: %v", errUnavailable, topic, p, o.Err)
	}
	return o.Offset, o.Offset >= 0, nil
}

// routed wraps local, the in-process dialer of the console's Kafka
// clients, so that a connection to another broker of the cluster (an
// address in its registration, which Metadata answers) goes to that
// broker's inter-broker listener (cfg.DialPeer) rather than to this
// broker: group requests reach their coordinator and produce its
// partition's leader. Those requests then act as the broker, not as the
// viewer, so the console checks the viewer's ACLs itself before sending
// them (groups.go, data.go). Without DialPeer, or for this broker's own
// addresses, local dials.
func routed(cfg *Config, local DialFunc) DialFunc {
	if cfg.DialPeer == nil || cfg.PeerAddr == nil || cfg.Brokers == nil {
		return local
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == cfg.KafkaAddr {
			return local(ctx, network, addr)
		}
		for _, b := range cfg.Brokers() {
			for _, e := range b.Endpoints {
				_, hostPort, ok := strings.Cut(e, "://")
				if !ok || hostPort != addr {
					continue
				}
				if b.Self {
					return local(ctx, network, addr)
				}
				peer, ok := cfg.PeerAddr(b.ID)
				if !ok {
					return nil, fmt.Errorf("%w: broker %d has no inter-broker endpoint", errUnavailable, b.ID)
				}
				return cfg.DialPeer(ctx, network, peer)
			}
		}
		return local(ctx, network, addr)
	}
}

// lagEntries is Config.Lag with the end offsets of partitions led by other
// brokers asked of their leaders (one bounded round for all): a group's
// lag counts every partition, wherever it is led. Entries whose leader
// does not answer are left out.
func (c *Console) lagEntries(ctx context.Context) []LagEntry {
	if c.cfg.Lag == nil {
		return nil
	}
	return c.fillEnds(ctx, c.cfg.Lag())
}

// fillEnds sets the end offsets of lag's entries on partitions led by other
// brokers from their leaders, leaving out those that do not answer (and
// entries with no end). With no entries it looks at no partition: the
// sampler calls it every 5 s, and listing 10,000 partitions for nothing
// was half of an idle broker's CPU.
func (c *Console) fillEnds(ctx context.Context, lag []LagEntry) []LagEntry {
	if len(lag) == 0 {
		return lag
	}
	all := c.topicPartsIn(ctx)
	need := map[string][]part{}
	seen := map[string]bool{}
	for _, e := range lag {
		p, ok := partOf(all, e.Topic, e.Partition)
		if k := topicPart(e.Topic, e.Partition); ok && p.remote() && !seen[k] {
			seen[k] = true
			need[e.Topic] = append(need[e.Topic], p)
		}
	}
	stats := c.remoteStats(ctx, need)
	out := lag[:0]
	for _, e := range lag {
		p, ok := partOf(all, e.Topic, e.Partition)
		if ok && p.remote() {
			st := stats[e.Topic][e.Partition]
			if st == nil || st.err != nil {
				continue
			}
			e.End = st.end
		}
		if e.End >= 0 {
			out = append(out, e)
		}
	}
	return out
}

// otherGroupsLag is the lag entries of groups coordinated by other brokers
// (their coordinators' OffsetFetch, one bounded round), with every
// partition's end offset.
func (c *Console) otherGroupsLag(ctx context.Context, groups []string) []LagEntry {
	if len(groups) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.remoteTimeout())
	defer cancel()
	all := c.topicPartsIn(ctx)
	var out []LagEntry
	for g, r := range c.admin(ctx).FetchManyOffsets(ctx, groups...) {
		if r.Err != nil {
			continue
		}
		r.Fetched.Each(func(o kadm.OffsetResponse) {
			if o.Err != nil || o.At < 0 {
				return
			}
			e := LagEntry{Group: g, Topic: o.Topic, Partition: o.Partition, Committed: o.At, End: -1}
			if p, ok := partOf(all, o.Topic, o.Partition); ok && p.local != nil {
				e.End = p.local.HighWatermark()
			}
			out = append(out, e)
		})
	}
	return c.fillEnds(ctx, out)
}
