package console

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluice/sluice/acl"
	"github.com/sluice/sluice/partition"
)

// PartitionInfo is one partition as the topic page shows it.
type PartitionInfo struct {
	Partition int32   `json:"partition"`
	Leader    int32   `json:"leader"`
	Replicas  []int32 `json:"replicas"`
	ISR       []int32 `json:"isr"`
	// Remote: led by another broker, read from it (records is then the
	// offset span, approximate; segments -1); Unavailable: its leader
	// did not answer within the bound, or it has none (offsets -1).
	Remote        bool  `json:"remote,omitempty"`
	Unavailable   bool  `json:"unavailable,omitempty"`
	LogStart      int64 `json:"log_start_offset"`
	LogEnd        int64 `json:"log_end_offset"`
	HighWatermark int64 `json:"high_watermark"`
	// LastStable is the last stable offset: the high watermark, as
	// Sluice has no transactions yet.
	LastStable    int64  `json:"last_stable_offset"`
	Segments      int    `json:"segments"`
	SizeBytes     int64  `json:"size_bytes"`
	Records       int64  `json:"records"`
	Approximate   bool   `json:"records_approximate"`
	Compacted     bool   `json:"compacted_gaps"`
	Transactional bool   `json:"transactional"`
	Error         string `json:"error,omitempty"`
}

// TopicSummary is one row of the topics list.
type TopicSummary struct {
	Name        string `json:"name"`
	Internal    bool   `json:"internal"`
	Partitions  int    `json:"partitions"`
	SizeBytes   int64  `json:"size_bytes"`
	Records     int64  `json:"records"`
	Approximate bool   `json:"records_approximate"`
	// RecordsNote says what the count includes where it is not plain.
	RecordsNote string `json:"records_note,omitempty"`
	BytesIn     int64  `json:"bytes_in"`
	BytesOut    int64  `json:"bytes_out"`
	Cleanup     string `json:"cleanup_policy"`
	// Unavailable counts partitions whose leader did not answer.
	Unavailable int `json:"unavailable_partitions"`
}

// topicLogs groups the store's logs by topic, partitions in order.
func (c *Console) topicLogs() map[string][]*partition.Log {
	out := map[string][]*partition.Log{}
	for _, l := range c.cfg.Store.Logs() {
		out[l.Topic()] = append(out[l.Topic()], l)
	}
	for _, ls := range out {
		sort.Slice(ls, func(i, j int) bool { return ls[i].Partition() < ls[j].Partition() })
	}
	return out
}

// partitionInfo describes the local log l, counting its records from
// batch headers (incrementally: only batches appended since the last
// count are read).
func (c *Console) partitionInfo(ctx context.Context, p part) PartitionInfo {
	l := p.local
	pi := PartitionInfo{Partition: l.Partition(), Leader: p.meta.Leader, Replicas: p.meta.Replicas, ISR: p.meta.ISR,
		LogStart: l.LogStartOffset(), LogEnd: l.LogEndOffset(), HighWatermark: l.HighWatermark(), Segments: l.Segments(), SizeBytes: l.Size()}
	pi.LastStable = pi.HighWatermark
	key := fmt.Sprintf("%s/%d", l.Topic(), l.Partition())
	var prev countState
	if v, ok := c.counts.Load(key); ok {
		prev = v.(countState)
	}
	cs, err := countRecords(ctx, l, prev)
	if err != nil {
		pi.Error = err.Error()
	} else {
		c.counts.Store(key, cs)
	}
	pi.Records, pi.Approximate, pi.Compacted, pi.Transactional = cs.records, cs.approximate || err != nil, cs.compactedGaps, cs.transactional
	return pi
}

// partitionInfos describes a topic's partitions: local ones from the
// segments, remote ones from stats (remoteStats).
func (c *Console) partitionInfos(ctx context.Context, name string, ps []part, stats map[string]map[int32]*remoteStat) []PartitionInfo {
	out := make([]PartitionInfo, 0, len(ps))
	for _, p := range ps {
		if p.remote() {
			out = append(out, remoteInfo(p, stats[name][p.meta.Partition]))
			continue
		}
		out = append(out, c.partitionInfo(ctx, p))
	}
	return out
}

func (c *Console) summarize(name string, ps []part, infos []PartitionInfo, traffic map[string]TopicBytes) TopicSummary {
	s := TopicSummary{Name: name, Internal: strings.HasPrefix(name, "__"), Partitions: len(ps),
		BytesIn: traffic[name].In, BytesOut: traffic[name].Out}
	for _, p := range ps {
		if p.local != nil {
			s.Cleanup = p.local.Config().CleanupPolicy
			break
		}
	}
	var compacted, txn, remote bool
	for _, pi := range infos {
		s.SizeBytes += max(pi.SizeBytes, 0)
		s.Records += max(pi.Records, 0)
		s.Approximate = s.Approximate || pi.Approximate
		s.Unavailable += boolInt(pi.Unavailable)
		compacted, txn, remote = compacted || pi.Compacted, txn || pi.Transactional, remote || pi.Remote
	}
	s.RecordsNote = recordsNote(s.Approximate && !remote, compacted, txn)
	if remote {
		s.RecordsNote = strings.TrimPrefix(s.RecordsNote+"; partitions led by other brokers count their offset span (compaction gaps and markers included)", "; ")
	}
	return s
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func recordsNote(approx, compacted, txn bool) string {
	var notes []string
	if approx {
		notes = append(notes, "approximate: the log starts inside a compacted batch")
	}
	if compacted {
		notes = append(notes, "exact count of the records compaction kept (offsets have gaps)")
	}
	if txn {
		notes = append(notes, "includes records of aborted transactions; markers excluded")
	}
	return strings.Join(notes, "; ")
}

func (c *Console) traffic() map[string]TopicBytes {
	if c.cfg.Traffic == nil {
		return map[string]TopicBytes{}
	}
	return c.cfg.Traffic()
}

// GET /api/topics?q=substring&internal=true
func (c *Console) listTopics(w http.ResponseWriter, r *http.Request) {
	q := strings.ToLower(r.URL.Query().Get("q"))
	internal := r.URL.Query().Get("internal") == "true"
	traffic := c.traffic()
	out := []TopicSummary{}
	shown := map[string][]part{}
	for name, ps := range c.topicParts() {
		if q != "" && !strings.Contains(strings.ToLower(name), q) || !internal && strings.HasPrefix(name, "__") ||
			!c.allowed(r.Context(), acl.Topic, name, acl.Describe) {
			continue
		}
		shown[name] = ps
	}
	stats := c.remoteStats(r.Context(), shown)
	for name, ps := range shown {
		out = append(out, c.summarize(name, ps, c.partitionInfos(r.Context(), name, ps, stats), traffic))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, http.StatusOK, map[string]any{"topics": out})
}

// ConfigEntry is one topic config with where its value comes from.
type ConfigEntry struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	Source    string `json:"source"`
	Sensitive bool   `json:"sensitive,omitempty"`
}

// GET /api/topics/{topic}
func (c *Console) getTopic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	ps := c.topicParts()[name]
	if len(ps) == 0 || !c.allowed(r.Context(), acl.Topic, name, acl.Describe) {
		writeErr(w, http.StatusNotFound, "unknown topic %q", name)
		return
	}
	parts := c.partitionInfos(r.Context(), name, ps, c.remoteStats(r.Context(), map[string][]part{name: ps}))
	ctx, cancel := reqCtx(r)
	defer cancel()
	configs := []ConfigEntry{}
	var cfgErr string
	rcs, err := c.admin(ctx).DescribeTopicConfigs(ctx, name)
	if err == nil && len(rcs) == 1 && rcs[0].Err != nil {
		err = rcs[0].Err
	}
	if err != nil {
		cfgErr = err.Error()
	} else {
		for _, e := range rcs[0].Configs {
			configs = append(configs, ConfigEntry{Name: e.Key, Value: e.MaybeValue(), Source: e.Source.String(), Sensitive: e.Sensitive})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"summary": c.summarize(name, ps, parts, c.traffic()), "partitions": parts,
		"configs": configs, "configs_error": cfgErr,
	})
}

type createTopicReq struct {
	Name       string            `json:"name"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs"`
}

// POST /api/topics {"name", "partitions", "configs"}
func (c *Console) createTopic(w http.ResponseWriter, r *http.Request) {
	var req createTopicReq
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Name == "" {
		writeErr(w, http.StatusBadRequest, "name is required")
		return
	}
	if req.Partitions == 0 {
		req.Partitions = -1 // the broker's num.partitions
	}
	cfg := map[string]*string{}
	for k, v := range req.Configs {
		cfg[k] = &v
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	resp, err := c.admin(ctx).CreateTopic(ctx, req.Partitions, -1, cfg, req.Name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		writeErr(w, http.StatusBadRequest, "cannot create topic %q: %v", req.Name, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"name": resp.Topic, "partitions": resp.NumPartitions})
}

// POST /api/topics/{topic}/partitions {"count": total}
func (c *Console) addPartitions(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	var req struct {
		Count int `json:"count"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	have := len(c.topicParts()[name])
	if have == 0 {
		writeErr(w, http.StatusNotFound, "unknown topic %q", name)
		return
	}
	if req.Count <= have {
		writeErr(w, http.StatusBadRequest, "count %d must be more than the %d partitions the topic has", req.Count, have)
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	resp, err := c.admin(ctx).UpdatePartitions(ctx, req.Count, name)
	if err == nil {
		if one, ok := resp[name]; ok && one.Err != nil {
			err = fmt.Errorf("%w: %s", one.Err, one.ErrMessage)
		}
	}
	if err != nil {
		writeErr(w, http.StatusBadRequest, "cannot add partitions to %q: %v", name, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": name, "partitions": req.Count})
}

// POST /api/topics/{topic}/delete {"confirm": topic name}
func (c *Console) deleteTopic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	var req struct {
		Confirm string `json:"confirm"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Confirm != name {
		writeErr(w, http.StatusBadRequest, "type the topic's name in confirm to delete it")
		return
	}
	if len(c.topicParts()[name]) == 0 {
		writeErr(w, http.StatusNotFound, "unknown topic %q", name)
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	resp, err := c.admin(ctx).DeleteTopic(ctx, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		writeErr(w, http.StatusBadRequest, "cannot delete topic %q: %v", name, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": name})
}

// GET /api/overview
func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	all := c.cfg.Store.Logs()
	logs := all[:0:0]
	topics := map[string]bool{}
	var size int64
	for _, l := range all {
		if !c.allowed(r.Context(), acl.Topic, l.Topic(), acl.Describe) {
			continue
		}
		logs = append(logs, l)
		topics[l.Topic()] = true
		size += l.Size()
	}
	offline := []string{}
	for _, o := range c.cfg.Store.Offline() {
		offline = append(offline, fmt.Sprintf("%s-%d", o.Topic, o.Partition))
	}
	for _, l := range c.cfg.Store.OfflineLogs() {
		offline = append(offline, fmt.Sprintf("%s-%d", l.Topic(), l.Partition()))
	}
	// The cluster's partitions, from the metadata image: how many, which
	// have no leader, which lack replicas in their ISR, who leads them.
	partitions, under := len(logs), 0
	leaders := map[int32]int{c.cfg.NodeID: len(logs)}
	if c.cfg.Topics != nil {
		if image := c.cfg.Topics(); image != nil {
			partitions, leaders = 0, map[int32]int{}
			for t, ps := range image {
				if !c.allowed(r.Context(), acl.Topic, t, acl.Describe) {
					continue
				}
				topics[t] = true
				for _, p := range ps {
					partitions++
					leaders[p.Leader]++
					if p.Leader < 0 {
						offline = append(offline, fmt.Sprintf("%s-%d", t, p.Partition))
					}
					if len(p.ISR) < len(p.Replicas) {
						under++
					}
				}
			}
		}
	}
	fsTotal, fsFree := c.statDisk(c.cfg.Store.Dir())
	alerts := c.alerts(r.Context())
	writeJSON(w, http.StatusOK, map[string]any{
		"cluster_id": c.cfg.ClusterID,
		"brokers":    c.brokers(leaders, size),
		"topics":     len(topics), "partitions": partitions, "log_bytes": size,
		"disk_total_bytes": fsTotal, "disk_free_bytes": fsFree,
		"offline_partitions": offline, "under_replicated_partitions": under, "alerts": alerts,
	})
}

// brokers is the overview's brokers table: every broker of the cluster
// (id, endpoints, rack, alive or fenced, the controller, the partitions it
// leads in the metadata image); this one also with its version, uptime
// and log bytes, which the others' consoles show for them.
func (c *Console) brokers(leaders map[int32]int, size int64) []map[string]any {
	self := map[string]any{"id": c.cfg.NodeID, "endpoint": c.cfg.KafkaAddr, "endpoints": []string{c.cfg.KafkaAddr}, "version": c.cfg.Version,
		"rack": c.cfg.Rack, "leaders": leaders[c.cfg.NodeID], "log_bytes": size, "started": c.cfg.Started.UnixMilli(),
		"uptime_seconds": int64(time.Since(c.cfg.Started).Seconds()), "controller": true, "state": "alive", "self": true}
	if c.cfg.Brokers == nil {
		return []map[string]any{self}
	}
	var out []map[string]any
	for _, b := range c.cfg.Brokers() {
		state := "alive"
		if b.Fenced {
			state = "fenced"
		}
		m := map[string]any{"id": b.ID, "endpoint": strings.Join(b.Endpoints, ", "), "endpoints": b.Endpoints, "rack": b.Rack,
			"controller": b.Controller, "state": state, "self": b.Self, "leaders": leaders[b.ID]}
		if b.Self {
			for _, k := range []string{"version", "leaders", "log_bytes", "started", "uptime_seconds"} {
				m[k] = self[k]
			}
		}
		out = append(out, m)
	}
	return out
}

// GET /api/series?name=bytes_in_per_sec&since=3600 (seconds back; default 600)
func (c *Console) seriesAPI(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name == "" {
		names := []string{}
		for _, n := range c.hist.names() {
			if c.seriesAllowed(r.Context(), n) {
				names = append(names, n)
			}
		}
		writeJSON(w, http.StatusOK, map[string]any{"names": names})
		return
	}
	if !c.seriesAllowed(r.Context(), name) {
		writeJSON(w, http.StatusOK, map[string]any{"name": name, "points": []any{}})
		return
	}
	since, err := intParam(r, "since", 600, 1, int64(c.cfg.Retention/time.Second))
	if err != nil {
		writeErr(w, http.StatusBadRequest, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": name, "points": c.hist.get(name, time.Now().Add(-time.Duration(since)*time.Second))})
}

// POST /api/topics/{topic}/configs {"set": {"retention.ms": "3600000"}, "delete": ["cleanup.policy"]}
// changes topic configs (IncrementalAlterConfigs: delete returns a key to
// its default).
func (c *Console) alterConfigs(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	var req struct {
		Set    map[string]string `json:"set"`
		Delete []string          `json:"delete"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if len(c.topicParts()[name]) == 0 {
		writeErr(w, http.StatusNotFound, "unknown topic %q", name)
		return
	}
	var ops []kadm.AlterConfig
	for k, v := range req.Set {
		ops = append(ops, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
	}
	for _, k := range req.Delete {
		ops = append(ops, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	if len(ops) == 0 {
		writeErr(w, http.StatusBadRequest, "nothing to change: give set or delete")
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	resp, err := c.admin(ctx).AlterTopicConfigs(ctx, ops, name)
	if err == nil && len(resp) == 1 && resp[0].Err != nil {
		err = fmt.Errorf("%w: %s", resp[0].Err, resp[0].ErrMessage)
	}
	if err != nil {
		writeErr(w, http.StatusBadRequest, "cannot change configs of %q: %v", name, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": name, "changed": len(ops)})
}
