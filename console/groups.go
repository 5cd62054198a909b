package console

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice/sluice/acl"
)

// GroupSummary is one row of the groups list.
type GroupSummary struct {
	Group   string `json:"group"`
	State   string `json:"state"`
	Members int    `json:"members"`
	Lag     int64  `json:"lag"`
	Verdict string `json:"verdict"`
}

// PartitionLag is a group's position on one partition.
type PartitionLag struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed_offset"`
	End       int64  `json:"end_offset"`
	Lag       int64  `json:"lag"`
	// LagSeconds is the age of the oldest unconsumed record (the record at
	// the committed offset), 0 without lag.
	LagSeconds float64 `json:"lag_seconds"`
	Member     string  `json:"member,omitempty"`
	// Error says why End is unknown (-1): the partition's leader did not
	// answer within the remote bound.
	Error   string `json:"error,omitempty"`
	Verdict string `json:"verdict"`
}

// describe asks the broker about groups (all when none are named).
func (c *Console) describe(ctx context.Context, groups ...string) (kadm.DescribedGroups, error) {
	if len(groups) == 0 {
		listed, err := c.admin(ctx).ListGroups(ctx)
		if err != nil {
			return nil, err
		}
		groups = listed.Groups()
	}
	if len(groups) == 0 {
		return kadm.DescribedGroups{}, nil
	}
	return c.admin(ctx).DescribeGroups(ctx, groups...)
}

func active(d kadm.DescribedGroup) bool { return len(d.Members) > 0 }

// groupVerdicts is every group with committed offsets and its verdict.
func (c *Console) groupVerdicts(ctx context.Context) []GroupSummary {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	described, err := c.describe(ctx)
	if err != nil {
		c.warnLimited("describe groups", "console: cannot describe groups", "err", err)
	}
	// The windows end with the position now, so a reset or a catch-up
	// shows at once rather than at the next sample.
	now := map[lagKey]lagSample{}
	if c.cfg.Lag != nil {
		t := time.Now().UnixMilli()
		here := map[string]bool{}
		for _, e := range c.lagEntries(ctx) {
			now[lagKey{e.Group, e.Topic, e.Partition}] = lagSample{t, e.Committed, e.End}
			here[e.Group] = true
		}
		// Groups coordinated by other brokers: their coordinators'
		// commits (no history here: their charts are on their
		// coordinator's console).
		var others []string
		for name := range described {
			if !here[name] && c.allowed(ctx, acl.Group, name, acl.Describe) {
				others = append(others, name)
			}
		}
		for _, e := range c.otherGroupsLag(ctx, others) {
			now[lagKey{e.Group, e.Topic, e.Partition}] = lagSample{t, e.Committed, e.End}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	byGroup := map[string]*GroupSummary{}
	for name, d := range described {
		byGroup[name] = &GroupSummary{Group: name, State: d.State, Members: len(d.Members), Verdict: VerdictOK}
	}
	for k, cur := range now {
		w := withCurrent(c.mu.lag.w[k], cur)
		g := byGroup[k.group]
		if g == nil {
			g = &GroupSummary{Group: k.group, State: "Unknown", Verdict: VerdictOK}
			byGroup[k.group] = g
		}
		if len(w) > 0 {
			g.Lag += w[len(w)-1].lag()
		}
		g.Verdict = worse(g.Verdict, verdict(w, g.Members > 0))
	}
	out := make([]GroupSummary, 0, len(byGroup))
	for _, g := range byGroup {
		if c.allowed(ctx, acl.Group, g.Group, acl.Describe) {
			out = append(out, *g)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// GET /api/groups
func (c *Console) listGroups(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"groups": c.groupVerdicts(r.Context())})
}

// GET /api/groups/{group}
func (c *Console) getGroup(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("group")
	if !c.groupAccess(w, r, name, acl.Describe) {
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	described, err := c.describe(ctx, name)
	if err != nil {
		writeErr(w, http.StatusBadGateway, "cannot describe group %q: %v", name, err)
		return
	}
	d, ok := described[name]
	offsets, oerr := c.admin(ctx).FetchOffsets(ctx, name)
	if oerr != nil {
		writeErr(w, http.StatusBadGateway, "cannot fetch offsets of group %q: %v", name, oerr)
		return
	}
	if !ok || d.State == "Dead" && len(offsets) == 0 {
		writeErr(w, http.StatusNotFound, "unknown consumer group %q", name)
		return
	}
	owner := map[string]string{}
	members := []map[string]any{}
	for _, m := range d.Members {
		assigned := map[string][]int32{}
		if ca, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range ca.Topics {
				assigned[t.Topic] = t.Partitions
				for _, p := range t.Partitions {
					owner[topicPart(t.Topic, p)] = m.MemberID
				}
			}
		}
		members = append(members, map[string]any{"member_id": m.MemberID, "client_id": m.ClientID, "host": m.ClientHost,
			"instance_id": m.InstanceID, "assignments": assigned})
	}
	all := c.topicParts()
	need := map[string][]part{}
	offsets.Each(func(o kadm.OffsetResponse) {
		if p, ok := partOf(all, o.Topic, o.Partition); ok && o.Err == nil && p.remote() {
			need[o.Topic] = append(need[o.Topic], p)
		}
	})
	stats := c.remoteStats(ctx, need)
	parts := []PartitionLag{}
	verdictAll := VerdictOK
	var total int64
	offsets.Each(func(o kadm.OffsetResponse) {
		if o.Err != nil {
			return
		}
		pl := PartitionLag{Topic: o.Topic, Partition: o.Partition, Committed: o.At, End: -1, Member: owner[topicPart(o.Topic, o.Partition)]}
		if p, ok := partOf(all, o.Topic, o.Partition); ok {
			c.partitionLag(ctx, o.Topic, p, stats[o.Topic][o.Partition], &pl)
		}
		c.mu.Lock()
		w := c.mu.lag.window(lagKey{name, o.Topic, o.Partition})
		c.mu.Unlock()
		if pl.End >= 0 {
			w = withCurrent(w, lagSample{time.Now().UnixMilli(), pl.Committed, pl.End})
		}
		pl.Verdict = verdict(w, active(d))
		verdictAll = worse(verdictAll, pl.Verdict)
		total += pl.Lag
		parts = append(parts, pl)
	})
	sort.Slice(parts, func(i, j int) bool {
		if parts[i].Topic != parts[j].Topic {
			return parts[i].Topic < parts[j].Topic
		}
		return parts[i].Partition < parts[j].Partition
	})
	writeJSON(w, http.StatusOK, map[string]any{"group": name, "state": d.State, "protocol": d.Protocol,
		"protocol_type": d.ProtocolType, "members": members, "partitions": parts, "lag": total, "verdict": verdictAll})
}

func topicPart(t string, p int32) string { return fmt.Sprintf("%s\x00%d", t, p) }

// ResetPlan is one partition's committed offset now and after a reset.
type ResetPlan struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Current   int64  `json:"current_offset"`
	Target    int64  `json:"target_offset"`
}

type resetReq struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"` // empty: all of the topic's
	To         string  `json:"to"`         // earliest, latest, offset, timestamp
	Value      int64   `json:"value"`      // the offset or the timestamp (ms)
	Apply      bool    `json:"apply"`      // false: plan only
}

// POST /api/groups/{group}/reset {"topic","partitions","to","value","apply"}
// plans (apply false) or commits the new offsets. As kafka-consumer-groups
// --reset-offsets, it refuses a group with members.
func (c *Console) resetGroup(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("group")
	var req resetReq
	if !decodeBody(w, r, &req) {
		return
	}
	if !c.groupAccess(w, r, name, acl.Read) || !c.topicAccess(w, r, req.Topic, acl.Read) {
		return
	}
	if len(c.topicParts()[req.Topic]) == 0 {
		writeErr(w, http.StatusNotFound, "unknown topic %q", req.Topic)
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	plan, status, err := c.planReset(ctx, name, req)
	if err != nil {
		writeErr(w, status, "%v", err)
		return
	}
	if !req.Apply {
		writeJSON(w, http.StatusOK, map[string]any{"group": name, "applied": false, "plan": plan})
		return
	}
	described, err := c.describe(ctx, name)
	if err != nil {
		writeErr(w, http.StatusBadGateway, "cannot describe group %q: %v", name, err)
		return
	}
	if d, ok := described[name]; ok && len(d.Members) > 0 {
		writeErr(w, http.StatusConflict, "group %q has %d active member(s): stop its consumers before resetting offsets", name, len(d.Members))
		return
	}
	var os kadm.Offsets
	for _, p := range plan {
		os.Add(kadm.Offset{Topic: p.Topic, Partition: p.Partition, At: p.Target, LeaderEpoch: -1})
	}
	resp, err := c.admin(ctx).CommitOffsets(ctx, name, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		writeErr(w, http.StatusBadGateway, "cannot commit offsets for group %q: %v", name, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"group": name, "applied": true, "plan": plan})
}

func (c *Console) planReset(ctx context.Context, group string, req resetReq) ([]ResetPlan, int, error) {
	logs := c.topicParts()[req.Topic]
	parts := req.Partitions
	if len(parts) == 0 {
		for _, l := range logs {
			parts = append(parts, l.meta.Partition)
		}
	}
	current := map[int32]int64{}
	if offsets, err := c.admin(ctx).FetchOffsets(ctx, group); err == nil {
		offsets.Each(func(o kadm.OffsetResponse) {
			if o.Topic == req.Topic && o.Err == nil {
				current[o.Partition] = o.At
			}
		})
	} else {
		return nil, http.StatusBadGateway, err
	}
	plan := make([]ResetPlan, 0, len(parts))
	for _, p := range parts {
		if p < 0 || int(p) >= len(logs) {
			return nil, http.StatusBadRequest, errorf("partition %d is not in [0, %d)", p, len(logs))
		}
		rd := reader{c: c, topic: req.Topic, p: logs[p]}
		cur, ok := current[p]
		if !ok {
			cur = -1
		}
		start, end, err := rd.bounds(ctx)
		if err != nil {
			return nil, http.StatusServiceUnavailable, err
		}
		var target int64
		switch req.To {
		case "earliest":
			target = start
		case "latest":
			target = end
		case "offset":
			if req.Value < start || req.Value > end {
				return nil, http.StatusBadRequest, errorf("offset %d is out of range [%d, %d] on partition %d", req.Value, start, end, p)
			}
			target = req.Value
		case "timestamp":
			off, found, err := rd.offsetForTime(ctx, req.Value)
			if err != nil {
				return nil, http.StatusInternalServerError, err
			}
			target = end
			if found {
				target = off
			}
		default:
			return nil, http.StatusBadRequest, errorf("to must be earliest, latest, offset or timestamp, not %q", req.To)
		}
		plan = append(plan, ResetPlan{Topic: req.Topic, Partition: p, Current: cur, Target: target})
	}
	return plan, http.StatusOK, nil
}

// POST /api/groups/{group}/delete {"confirm": group name}
func (c *Console) deleteGroup(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("group")
	var req struct {
		Confirm string `json:"confirm"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Confirm != name {
		writeErr(w, http.StatusBadRequest, "type the group's name in confirm to delete it")
		return
	}
	if !c.groupAccess(w, r, name, acl.Delete) {
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	resp, err := c.admin(ctx).DeleteGroup(ctx, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		writeErr(w, http.StatusBadRequest, "cannot delete group %q: %v", name, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": name})
}

// withCurrent is the window w followed by the position now (the oldest
// sample dropped to keep lagWindow), unless the last sample already is it.
func withCurrent(w []lagSample, cur lagSample) []lagSample {
	if n := len(w); n > 0 && w[n-1].committed == cur.committed && w[n-1].end == cur.end {
		return w
	}
	out := append(append([]lagSample(nil), w...), cur)
	if len(out) > lagWindow {
		out = out[len(out)-lagWindow:]
	}
	return out
}

// partOf finds partition p of topic.
func partOf(all map[string][]part, topic string, p int32) (part, bool) {
	for _, x := range all[topic] {
		if x.meta.Partition == p {
			return x, true
		}
	}
	return part{}, false
}

// partitionLag fills pl's end offset, lag and lag in time from p's log
// here, or from its leader's answer st (remoteStats) and one record fetched
// from it.
func (c *Console) partitionLag(ctx context.Context, topic string, p part, st *remoteStat, pl *PartitionLag) {
	var start int64
	switch {
	case p.local != nil:
		start, pl.End = p.local.LogStartOffset(), p.local.HighWatermark()
	case st == nil:
		pl.Error = "no leader"
		return
	case st.err != nil:
		pl.Error = st.err.Error()
		return
	default:
		start, pl.End = st.start, st.end
	}
	pl.Lag = max(pl.End-max(pl.Committed, start), 0)
	if pl.Lag == 0 {
		return
	}
	from := max(pl.Committed, start)
	recs, err := reader{c: c, topic: topic, p: p}.read(ctx, from, pl.End, 1, 1)
	if err == nil && len(recs) > 0 {
		pl.LagSeconds = max(float64(time.Now().UnixMilli()-recs[0].Timestamp)/1000, 0)
	}
}

// groupAccess checks the viewer's op on group itself, as the coordinator
// would: a group coordinated by another broker is reached as the broker
// (routed), so its own check does not see the viewer. It answers as the
// broker's refusal did (502, GROUP_AUTHORIZATION_FAILED).
func (c *Console) groupAccess(w http.ResponseWriter, r *http.Request, group string, op acl.Operation) bool {
	if c.allowed(r.Context(), acl.Group, group, op) {
		return true
	}
	writeErr(w, http.StatusBadGateway, "group %q: %v", group, kerr.GroupAuthorizationFailed)
	return false
}
