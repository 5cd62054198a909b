package console

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice/sluice/acl"
	"github.com/sluice/sluice/partition"
	"github.com/sluice/sluice/segment"
)

func intParam(r *http.Request, name string, def, lo, hi int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("%s must be an integer in [%d, %d], not %q", name, lo, hi, s)
	}
	return v, nil
}

// timeParam reads a time as Unix milliseconds or RFC 3339 (0 when absent).
func timeParam(r *http.Request, name string) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil && v >= 0 {
		return v, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, fmt.Errorf("%s must be Unix milliseconds or RFC 3339, not %q", name, s)
	}
	return t.UnixMilli(), nil
}

func (c *Console) partitionPart(w http.ResponseWriter, r *http.Request) (string, part, bool) {
	topic := r.PathValue("topic")
	if !c.topicAccess(w, r, topic, acl.Read) {
		return "", part{}, false
	}
	ps := c.topicParts()[topic]
	if len(ps) == 0 {
		writeErr(w, http.StatusNotFound, "unknown topic %q", topic)
		return "", part{}, false
	}
	p, err := intParam(r, "partition", 0, 0, int64(len(ps)-1))
	if err != nil {
		writeErr(w, http.StatusBadRequest, "%v", err)
		return "", part{}, false
	}
	return topic, ps[p], true
}

// reader reads one partition's records: from its segments here, or from
// its leader (remote).
type reader struct {
	c     *Console
	topic string
	p     part
}

func (rd reader) bounds(ctx context.Context) (start, hw int64, err error) {
	if l := rd.p.local; l != nil {
		return l.LogStartOffset(), l.HighWatermark(), nil
	}
	return rd.c.remoteBounds(ctx, rd.topic, rd.p)
}

func (rd reader) offsetForTime(ctx context.Context, ms int64) (int64, bool, error) {
	if l := rd.p.local; l != nil {
		off, _, found, err := l.OffsetForTimestamp(ms)
		return off, found, err
	}
	return rd.c.remoteOffsetForTime(ctx, rd.topic, rd.p.meta.Partition, ms)
}

// read decodes records with from <= offset < to (to is the high
// watermark hw), at most limit, oldest first.
func (rd reader) read(ctx context.Context, from, to int64, limit, maxBytes int) ([]Record, error) {
	if l := rd.p.local; l != nil {
		return readRecords(ctx, l, from, to, limit, maxBytes)
	}
	var out []Record
	ctx, cancel := context.WithTimeout(ctx, rd.c.remoteTimeout())
	defer cancel()
	err := rd.c.fetchRemote(ctx, rd.topic, rd.p.meta.Partition, from, to, func(sr segment.Record) bool {
		out = append(out, newRecord(rd.p.meta.Partition, sr, maxBytes))
		return len(out) < limit
	})
	return out, err
}

// GET /api/topics/{topic}/records?partition=0&offset=N&time=T&limit=50&max_bytes=4096
// Without offset or time: the newest records, newest first (before=N
// pages back). With offset or time: from there on, oldest first. A
// partition led by another broker is fetched from it (503 when it does
// not answer within the remote bound).
func (c *Console) browse(w http.ResponseWriter, r *http.Request) {
	topic, p, ok := c.partitionPart(w, r)
	if !ok {
		return
	}
	rd := reader{c: c, topic: topic, p: p}
	limit, err1 := intParam(r, "limit", 50, 1, 1000)
	maxBytes, err2 := intParam(r, "max_bytes", 4096, 1, 1<<20)
	offset, err3 := intParam(r, "offset", -1, 0, 1<<62)
	before, err4 := intParam(r, "before", -1, 0, 1<<62)
	ts, err5 := timeParam(r, "time")
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		writeErr(w, http.StatusBadRequest, "%v", err)
		return
	}
	start, hw, err := rd.bounds(r.Context())
	if err != nil {
		writeErr(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	var recs []Record
	order := "newest"
	switch {
	case offset >= 0 || ts > 0:
		order = "oldest"
		if ts > 0 {
			off, found, terr := rd.offsetForTime(r.Context(), ts)
			if terr != nil {
				writeErr(w, http.StatusInternalServerError, "cannot look up time %d: %v", ts, terr)
				return
			}
			offset = hw
			if found {
				offset = min(off, hw)
			}
		}
		if offset < start || offset > hw {
			writeErr(w, http.StatusBadRequest, "offset %d is out of range [%d, %d]", offset, start, hw)
			return
		}
		recs, err = rd.read(r.Context(), offset, hw, int(limit), int(maxBytes))
	default:
		if before < 0 || before > hw {
			before = hw
		}
		recs, err = rd.read(r.Context(), max(before-limit, start), before, int(limit), int(maxBytes))
		slices.Reverse(recs)
	}
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, errUnavailable) {
			code = http.StatusServiceUnavailable
		}
		writeErr(w, code, "%v", err)
		return
	}
	if recs == nil {
		recs = []Record{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"topic": topic, "partition": p.meta.Partition, "order": order,
		"log_start_offset": start, "high_watermark": hw, "records": recs, "leader": p.meta.Leader, "remote": p.remote()})
}

// GET /api/topics/{topic}/search?q=&in=value|key|header|any|json&path=$.a&partitions=0,1&from=&to=&limit=100&budget_ms=10000&format=ndjson|jsonl|csv
//
// format ndjson (default) streams lines {"progress":…}, {"record":…} and a
// last {"done":…} (with "stopped": limit, end, budget or cancelled);
// jsonl and csv answer the matching records only, as a download. The scan
// stops at budget_ms (at most 60 s) or when the client goes away.
func (c *Console) searchAPI(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	if !c.topicAccess(w, r, topic, acl.Read) {
		return
	}
	ps := c.topicParts()[topic]
	if len(ps) == 0 {
		writeErr(w, http.StatusNotFound, "unknown topic %q", topic)
		return
	}
	q, budget, format, err := parseSearch(r, len(ps))
	if err != nil {
		writeErr(w, http.StatusBadRequest, "%v", err)
		return
	}
	var sel []*partition.Log
	var remote []part
	for _, p := range ps {
		switch {
		case q.Partitions != nil && !containsInt32(q.Partitions, p.meta.Partition):
		case p.local != nil:
			sel = append(sel, p.local)
		default:
			remote = append(remote, p)
		}
	}
	ctx, cancel := contextWithBudget(r, budget)
	defer cancel()
	if h := c.searchHook.Load(); h != nil {
		q.onBatch = *h
	}
	out := newSearchWriter(w, format, topic)
	p, err := search(ctx, sel, q, out.record, out.progress)
	for _, rp := range remote {
		if err != nil || p.Matches >= q.Limit {
			break
		}
		err = c.searchRemote(ctx, topic, rp, q, &p, out.record)
	}
	stopped := "end"
	switch {
	case p.Matches >= q.Limit:
		stopped = "limit"
	case r.Context().Err() == nil && errors.Is(context.Cause(ctx), errBudget):
		stopped, err = "budget", nil
	case r.Context().Err() != nil:
		stopped, err = "cancelled", nil
	case err != nil:
		stopped = "error"
	}
	c.lastSearch.Store(stopped)
	out.done(p, stopped, err)
}

func containsInt32(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func parseSearch(r *http.Request, partitions int) (Query, time.Duration, string, error) {
	v := r.URL.Query()
	q := Query{Text: []byte(v.Get("q")), In: v.Get("in")}
	if len(q.Text) == 0 {
		return q, 0, "", errors.New("q (the substring to look for) is required")
	}
	switch q.In {
	case "":
		q.In = "value"
	case "key", "value", "header", "any":
	case "json":
		q.Path = v.Get("path")
		if _, err := jsonPath(nil, q.Path); err != nil {
			return q, 0, "", fmt.Errorf("in=json needs path, a JSON path such as $.status: %v", err)
		}
	default:
		return q, 0, "", fmt.Errorf("in must be key, value, header, any or json, not %q", q.In)
	}
	if ps := v.Get("partitions"); ps != "" {
		q.Partitions = []int32{}
		for _, s := range strings.Split(ps, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
			if err != nil || n < 0 || int(n) >= partitions {
				return q, 0, "", fmt.Errorf("partitions: %q is not a partition of this topic (0..%d)", s, partitions-1)
			}
			q.Partitions = append(q.Partitions, int32(n))
		}
	}
	limit, err1 := intParam(r, "limit", 100, 1, 10000)
	maxBytes, err2 := intParam(r, "max_bytes", 4096, 1, 1<<20)
	budget, err3 := intParam(r, "budget_ms", 10000, 1, 60000)
	from, err4 := timeParam(r, "from")
	to, err5 := timeParam(r, "to")
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return q, 0, "", err
	}
	if to > 0 && from > to {
		return q, 0, "", fmt.Errorf("from (%d) is after to (%d)", from, to)
	}
	q.Limit, q.MaxBytes, q.From, q.To = int(limit), int(maxBytes), from, to
	format := v.Get("format")
	switch format {
	case "":
		format = "ndjson"
	case "ndjson", "jsonl", "csv":
	default:
		return q, 0, "", fmt.Errorf("format must be ndjson, jsonl or csv, not %q", format)
	}
	return q, time.Duration(budget) * time.Millisecond, format, nil
}

// searchWriter writes a search's output as it goes.
type searchWriter struct {
	w      http.ResponseWriter
	rc     *http.ResponseController
	enc    *json.Encoder
	csv    *csv.Writer
	format string
}

func newSearchWriter(w http.ResponseWriter, format, topic string) *searchWriter {
	s := &searchWriter{w: w, rc: http.NewResponseController(w), enc: json.NewEncoder(w), format: format}
	switch format {
	case "ndjson":
		w.Header().Set("Content-Type", "application/x-ndjson")
	case "jsonl":
		w.Header().Set("Content-Type", "application/jsonl")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", topic+"-search.jsonl"))
	case "csv":
		w.Header().Set("Content-Type", "text/csv")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", topic+"-search.csv"))
		s.csv = csv.NewWriter(w)
		_ = s.csv.Write([]string{"partition", "offset", "timestamp", "key", "value", "headers"})
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return s
}

func (s *searchWriter) record(r Record) {
	switch s.format {
	case "ndjson":
		_ = s.enc.Encode(map[string]Record{"record": r})
		_ = s.rc.Flush()
	case "jsonl":
		_ = s.enc.Encode(r)
	case "csv":
		hs, _ := json.Marshal(r.Headers)
		_ = s.csv.Write([]string{strconv.Itoa(int(r.Partition)), strconv.FormatInt(r.Offset, 10),
			strconv.FormatInt(r.Timestamp, 10), textOr64(r.Key, r.KeyB64), textOr64(r.Value, r.ValueB64), string(hs)})
	}
}

// textOr64 is the text, else "base64:" and the bytes, else empty (null).
func textOr64(text, b64 *string) string {
	switch {
	case text != nil:
		return *text
	case b64 != nil:
		return "base64:" + *b64
	}
	return ""
}

func (s *searchWriter) progress(p Progress) {
	if s.format == "ndjson" {
		_ = s.enc.Encode(map[string]Progress{"progress": p})
		_ = s.rc.Flush()
	}
}

func (s *searchWriter) done(p Progress, stopped string, err error) {
	switch s.format {
	case "ndjson":
		d := map[string]any{"progress": p, "stopped": stopped}
		if err != nil {
			d["error"] = err.Error()
		}
		_ = s.enc.Encode(map[string]any{"done": d})
	case "csv":
		s.csv.Flush()
	}
}

// POST /api/topics/{topic}/records {"partition", "key", "value", "headers": [{"key","value"}], "encoding": "text"|"base64"}
func (c *Console) produce(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	n := len(c.topicParts()[topic])
	if n == 0 || !c.allowed(r.Context(), acl.Topic, topic, acl.Describe) {
		writeErr(w, http.StatusNotFound, "unknown topic %q", topic)
		return
	}
	// The leader may be another broker, reached as the broker (routed):
	// check WRITE here as the leader would for the viewer.
	if !c.allowed(r.Context(), acl.Topic, topic, acl.Write) {
		writeErr(w, http.StatusForbidden, "topic %q: %v", topic, kerr.TopicAuthorizationFailed)
		return
	}
	var req struct {
		Partition *int32  `json:"partition"`
		Key       *string `json:"key"`
		Value     *string `json:"value"`
		Headers   []struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		} `json:"headers"`
		Encoding string `json:"encoding"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	dec := func(s *string) ([]byte, error) {
		if s == nil {
			return nil, nil
		}
		if req.Encoding == "base64" {
			return base64.StdEncoding.DecodeString(*s)
		}
		return []byte(*s), nil
	}
	rec := &kgo.Record{Topic: topic}
	var err1, err2 error
	rec.Key, err1 = dec(req.Key)
	rec.Value, err2 = dec(req.Value)
	if err := errors.Join(err1, err2); err != nil || req.Encoding != "" && req.Encoding != "text" && req.Encoding != "base64" {
		writeErr(w, http.StatusBadRequest, "bad key or value for encoding %q: %v", req.Encoding, err)
		return
	}
	for _, h := range req.Headers {
		hv, err := dec(&h.Value)
		if err != nil {
			writeErr(w, http.StatusBadRequest, "bad header %q: %v", h.Key, err)
			return
		}
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: h.Key, Value: hv})
	}
	if req.Partition != nil {
		if *req.Partition < 0 || int(*req.Partition) >= n {
			writeErr(w, http.StatusBadRequest, "partition %d is not in [0, %d)", *req.Partition, n)
			return
		}
		rec.Partition = *req.Partition
	} else {
		rec.Partition = int32(time.Now().UnixNano() % int64(n))
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	if err := c.client(ctx).ProduceSync(ctx, rec).FirstErr(); err != nil {
		writeErr(w, http.StatusBadGateway, "cannot produce to %s-%d: %v", topic, rec.Partition, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"topic": topic, "partition": rec.Partition, "offset": rec.Offset})
}

// searchRemote searches a partition led by another broker, fetching its
// records from the leader up to the high watermark it answers.
func (c *Console) searchRemote(ctx context.Context, topic string, p part, q Query, pr *Progress, found func(Record)) error {
	rd := reader{c: c, topic: topic, p: p}
	from, hw, err := rd.bounds(ctx)
	if err != nil {
		return err
	}
	if q.From > 0 {
		off, ok, err := rd.offsetForTime(ctx, q.From)
		if err != nil || !ok {
			return err
		}
		from = max(from, off)
	}
	return c.fetchRemote(ctx, topic, p.meta.Partition, from, hw, func(r segment.Record) bool {
		pr.Records++
		pr.ScannedBytes += int64(len(r.Key) + len(r.Value))
		if (q.From > 0 && r.Timestamp < q.From) || (q.To > 0 && r.Timestamp > q.To) {
			return true
		}
		if q.match(&r) {
			pr.Matches++
			found(newRecord(p.meta.Partition, r, q.MaxBytes))
		}
		return pr.Matches < q.Limit
	})
}
