package console

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice/sluice/partition"
)

func TestOverviewPagesAndOpenAPI(t *testing.T) {
	e := startEnv(t)
	e.createTopic(t, "orders", 2)
	e.produce(t, "orders", 0, 10, 5, func(i int) string { return fmt.Sprintf("v%d", i) })
	e.con.sample(time.Now())
	e.con.sample(time.Now().Add(time.Second))
	var o struct {
		Brokers []struct {
			ID       int32  `json:"id"`
			Endpoint string `json:"endpoint"`
		} `json:"brokers"`
		Topics, Partitions int
		LogBytes           int64    `json:"log_bytes"`
		Offline            []string `json:"offline_partitions"`
		Alerts             []Alert  `json:"alerts"`
	}
	mustStatus(t, "overview", e.get(t, "/api/overview", &o), 200, o)
	if len(o.Brokers) != 1 || o.Brokers[0].Endpoint != e.srv.Addr().String() || o.Topics != 1 || o.Partitions != 2 || o.LogBytes <= 0 || len(o.Offline) != 0 {
		t.Fatalf("overview: %+v", o)
	}
	var s struct{ Points []Point }
	mustStatus(t, "series", e.get(t, "/api/series?name=bytes_in_per_sec&since=600", &s), 200, s)
	if len(s.Points) != 2 || s.Points[0].V <= 0 {
		t.Fatalf("bytes_in_per_sec: %+v, want two rate points from three samples (New takes one), the first > 0", s.Points)
	}
	var bad apiError
	mustStatus(t, "series since=0", e.get(t, "/api/series?name=x&since=0", &bad), 400, bad)

	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	mustStatus(t, "openapi", e.get(t, "/api/openapi.json", &doc), 200, doc)
	for _, p := range []string{"/api/overview", "/api/series", "/api/topics", "/api/topics/{topic}", "/api/topics/{topic}/partitions",
		"/api/topics/{topic}/delete", "/api/topics/{topic}/configs", "/api/topics/{topic}/records", "/api/query", "/api/alerts", "/api/topics/{topic}/search", "/api/groups", "/api/groups/{group}",
		"/api/groups/{group}/reset", "/api/groups/{group}/delete", "/api/csrf", "/api/session", "/api/login", "/api/logout"} {
		if doc.Paths[p] == nil {
			t.Errorf("openapi.json lacks %s", p)
		}
	}
	mustStatus(t, "unknown endpoint", e.get(t, "/api/nope", &bad), 404, bad)

	for _, page := range []string{"/", "/app.js", "/ui.js", "/style.css"} {
		resp, err := e.cl.Get(e.http.URL + page)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(body) == 0 || strings.Contains(string(body), "http://") && page == "/" {
			t.Fatalf("%s: %d %q", page, resp.StatusCode, body)
		}
	}
}

func TestCSRF(t *testing.T) {
	e := startEnv(t)
	var out apiError
	mustStatus(t, "no header", e.do(t, "POST", "/api/topics", map[string]any{"name": "x"}, false, &out), 403, out)
	req, _ := http.NewRequest("POST", e.http.URL+"/api/topics", strings.NewReader(`{"name":"x"}`))
	req.Header.Set(csrfHeader, strings.Repeat("0", 32))
	resp, err := e.cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("wrong token: %d", resp.StatusCode)
	}
	if len(e.con.topicLogs()) != 0 {
		t.Fatal("a refused POST created a topic")
	}
}

func TestTopicsLifecycle(t *testing.T) {
	e := startEnv(t)
	var out map[string]any
	mustStatus(t, "bad name", e.post(t, "/api/topics", map[string]any{"name": "bad/name", "partitions": 1}, &out), 400, out)
	mustStatus(t, "no name", e.post(t, "/api/topics", map[string]any{"partitions": 1}, &out), 400, out)
	mustStatus(t, "unknown field", e.post(t, "/api/topics", map[string]any{"name": "a", "parts": 1}, &out), 400, out)
	mustStatus(t, "bad config", e.post(t, "/api/topics", map[string]any{"name": "a", "partitions": 1, "configs": map[string]string{"cleanup.policy": "shred"}}, &out), 400, out)
	e.createTopic(t, "orders", 3)
	e.createTopic(t, "payments", 1)
	mustStatus(t, "duplicate", e.post(t, "/api/topics", map[string]any{"name": "orders", "partitions": 1}, &out), 400, out)
	e.produce(t, "orders", 0, 120, 7, func(i int) string { return fmt.Sprintf("order %d", i) })
	e.produce(t, "orders", 2, 33, 10, func(i int) string { return "x" })

	var list struct{ Topics []TopicSummary }
	mustStatus(t, "list", e.get(t, "/api/topics?q=ORD", &list), 200, list)
	if len(list.Topics) != 1 || list.Topics[0].Name != "orders" || list.Topics[0].Records != 153 || list.Topics[0].Partitions != 3 || list.Topics[0].SizeBytes <= 0 {
		t.Fatalf("list ?q=ORD: %+v", list.Topics)
	}
	// Counting goes on from where it stopped.
	e.produce(t, "orders", 0, 5, 5, func(i int) string { return "more" })
	var tp struct {
		Summary    TopicSummary
		Partitions []PartitionInfo
		Configs    []ConfigEntry
	}
	mustStatus(t, "topic", e.get(t, "/api/topics/orders", &tp), 200, tp)
	if tp.Summary.Records != 158 || len(tp.Partitions) != 3 || tp.Partitions[0].Records != 125 || tp.Partitions[0].HighWatermark != 125 ||
		tp.Partitions[0].LogEnd != 125 || tp.Partitions[0].Segments != 1 || tp.Partitions[1].Records != 0 {
		t.Fatalf("topic: %+v", tp)
	}
	if !hasConfig(tp.Configs, "cleanup.policy", "delete", "DEFAULT_CONFIG") {
		t.Fatalf("configs lack cleanup.policy=delete from DEFAULT_CONFIG: %+v", tp.Configs)
	}
	mustStatus(t, "unknown topic", e.get(t, "/api/topics/nope", &out), 404, out)

	mustStatus(t, "set config", e.post(t, "/api/topics/orders/configs", map[string]any{"set": map[string]string{"retention.ms": "3600000"}}, &out), 200, out)
	if ms := e.con.topicLogs()["orders"][0].Config().RetentionMs; ms != 3600000 {
		t.Fatalf("retention.ms after set: %d", ms)
	}
	mustStatus(t, "topic after set", e.get(t, "/api/topics/orders", &tp), 200, tp)
	if !hasConfig(tp.Configs, "retention.ms", "3600000", "DYNAMIC_TOPIC_CONFIG") {
		t.Fatalf("retention.ms not shown as a dynamic topic config: %+v", tp.Configs)
	}
	mustStatus(t, "reset config", e.post(t, "/api/topics/orders/configs", map[string]any{"delete": []string{"retention.ms"}}, &out), 200, out)
	if ms := e.con.topicLogs()["orders"][0].Config().RetentionMs; ms != 604800000 {
		t.Fatalf("retention.ms after delete: %d", ms)
	}
	mustStatus(t, "bad config value", e.post(t, "/api/topics/orders/configs", map[string]any{"set": map[string]string{"retention.ms": "soon"}}, &out), 400, out)
	mustStatus(t, "unknown config", e.post(t, "/api/topics/orders/configs", map[string]any{"set": map[string]string{"no.such": "1"}}, &out), 400, out)
	mustStatus(t, "empty change", e.post(t, "/api/topics/orders/configs", map[string]any{}, &out), 400, out)
	mustStatus(t, "config of unknown topic", e.post(t, "/api/topics/nope/configs", map[string]any{"delete": []string{"x"}}, &out), 404, out)

	mustStatus(t, "shrink", e.post(t, "/api/topics/orders/partitions", map[string]any{"count": 3}, &out), 400, out)
	mustStatus(t, "grow unknown", e.post(t, "/api/topics/nope/partitions", map[string]any{"count": 3}, &out), 404, out)
	mustStatus(t, "grow", e.post(t, "/api/topics/orders/partitions", map[string]any{"count": 5}, &out), 200, out)
	if n := len(e.con.topicLogs()["orders"]); n != 5 {
		t.Fatalf("orders has %d partitions after growing to 5", n)
	}

	mustStatus(t, "delete unconfirmed", e.post(t, "/api/topics/orders/delete", map[string]any{"confirm": "order"}, &out), 400, out)
	mustStatus(t, "delete unknown", e.post(t, "/api/topics/nope/delete", map[string]any{"confirm": "nope"}, &out), 404, out)
	mustStatus(t, "delete", e.post(t, "/api/topics/orders/delete", map[string]any{"confirm": "orders"}, &out), 200, out)
	mustStatus(t, "deleted topic", e.get(t, "/api/topics/orders", &out), 404, out)
}

func hasConfig(cs []ConfigEntry, name, value, source string) bool {
	for _, c := range cs {
		if c.Name == name && c.Value == value && c.Source == source {
			return true
		}
	}
	return false
}

type browseResp struct {
	Order   string
	Records []Record
	HW      int64 `json:"high_watermark"`
}

func TestBrowseAndProduce(t *testing.T) {
	e := startEnv(t)
	e.createTopic(t, "t", 2)
	e.produce(t, "t", 1, 100, 9, func(i int) string { return fmt.Sprintf("value-%03d", i) })
	var b browseResp
	mustStatus(t, "newest", e.get(t, "/api/topics/t/records?partition=1&limit=5", &b), 200, b)
	if b.Order != "newest" || len(b.Records) != 5 || b.Records[0].Offset != 99 || b.Records[4].Offset != 95 || *b.Records[0].Value != "value-099" ||
		*b.Records[0].Key != "k99" || len(b.Records[0].Headers) != 1 || *b.Records[0].Headers[0].Value != "99" {
		t.Fatalf("newest: %+v", b)
	}
	mustStatus(t, "page back", e.get(t, "/api/topics/t/records?partition=1&limit=3&before=10", &b), 200, b)
	if len(b.Records) != 3 || b.Records[0].Offset != 9 || b.Records[2].Offset != 7 {
		t.Fatalf("before=10: %+v", b.Records)
	}
	mustStatus(t, "from offset", e.get(t, "/api/topics/t/records?partition=1&offset=40&limit=3&max_bytes=5", &b), 200, b)
	if b.Order != "oldest" || len(b.Records) != 3 || b.Records[0].Offset != 40 || *b.Records[0].Value != "value" || !b.Records[0].Truncated || b.Records[0].ValueSize != 9 {
		t.Fatalf("offset=40: %+v", b.Records)
	}
	ts := b.Records[1].Timestamp
	mustStatus(t, "from time", e.get(t, fmt.Sprintf("/api/topics/t/records?partition=1&time=%d&limit=1", ts), &b), 200, b)
	if len(b.Records) != 1 || b.Records[0].Timestamp < ts {
		t.Fatalf("time=%d: %+v", ts, b.Records)
	}
	mustStatus(t, "empty partition", e.get(t, "/api/topics/t/records?partition=0", &b), 200, b)
	if len(b.Records) != 0 {
		t.Fatalf("partition 0: %+v", b.Records)
	}
	var bad apiError
	f := func(q string, want int) {
		t.Helper()
		mustStatus(t, q, e.get(t, "/api/topics/"+q, &bad), want, bad)
	}
	f("t/records?partition=1&offset=101", 400)
	f("t/records?partition=1&offset=-1", 400)
	f("t/records?partition=1&offset=abc", 400)
	f("t/records?partition=2", 400)
	f("t/records?partition=1&limit=0", 400)
	f("t/records?partition=1&time=yesterday", 400)
	f("nope/records", 404)

	var pr struct {
		Partition int32
		Offset    int64
	}
	mustStatus(t, "produce", e.post(t, "/api/topics/t/records", map[string]any{"partition": 0, "key": "a2V5", "value": "//8=",
		"encoding": "base64", "headers": []map[string]string{{"key": "h", "value": "aGk="}}}, &pr), 201, pr)
	mustStatus(t, "read back", e.get(t, "/api/topics/t/records?partition=0", &b), 200, b)
	if len(b.Records) != 1 || *b.Records[0].Key != "key" || b.Records[0].Value != nil || *b.Records[0].ValueB64 != "//8=" || *b.Records[0].Headers[0].Value != "hi" {
		t.Fatalf("produced record: %+v", b.Records)
	}
	mustStatus(t, "produce bad partition", e.post(t, "/api/topics/t/records", map[string]any{"partition": 9, "value": "x"}, &bad), 400, bad)
	mustStatus(t, "produce bad base64", e.post(t, "/api/topics/t/records", map[string]any{"value": "!!", "encoding": "base64"}, &bad), 400, bad)
	mustStatus(t, "produce unknown topic", e.post(t, "/api/topics/nope/records", map[string]any{"value": "x"}, &bad), 404, bad)
}

// searchLines runs a search and returns its records and the done line.
func searchLines(t *testing.T, e *env, query string) ([]Record, map[string]any) {
	t.Helper()
	resp, err := e.cl.Get(e.http.URL + "/api/topics/" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("search %s: %d %s", query, resp.StatusCode, b)
	}
	var recs []Record
	var done map[string]any
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var line struct {
			Record   *Record
			Progress *Progress
			Done     map[string]any
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %q: %v", sc.Bytes(), err)
		}
		if line.Record != nil {
			recs = append(recs, *line.Record)
		}
		if line.Done != nil {
			done = line.Done
		}
	}
	if done == nil {
		t.Fatalf("search %s: no done line", query)
	}
	return recs, done
}

func TestSearch(t *testing.T) {
	e := startEnv(t)
	e.createTopic(t, "logs", 3)
	for p := int32(0); p < 3; p++ {
		e.produce(t, "logs", p, 200, 20, func(i int) string {
			if i%50 == 7 {
				return fmt.Sprintf(`{"level":"error","p":%d,"i":%d}`, p, i)
			}
			return fmt.Sprintf(`{"level":"info","i":%d}`, i)
		})
	}
	recs, done := searchLines(t, e, "logs/search?q=error")
	if len(recs) != 12 || done["stopped"] != "end" {
		t.Fatalf("value search: %d records, done %v", len(recs), done)
	}
	for _, r := range recs {
		if !strings.Contains(*r.Value, "error") {
			t.Fatalf("non-matching record %+v", r)
		}
	}
	recs, done = searchLines(t, e, "logs/search?q=error&partitions=1&limit=2")
	if len(recs) != 2 || recs[0].Partition != 1 || recs[0].Offset != 7 || recs[1].Offset != 57 || done["stopped"] != "limit" {
		t.Fatalf("limited search: %+v %v", recs, done)
	}
	recs, _ = searchLines(t, e, "logs/search?q=k107&in=key&partitions=2")
	if len(recs) != 1 || *recs[0].Key != "k107" {
		t.Fatalf("key search: %+v", recs)
	}
	recs, _ = searchLines(t, e, "logs/search?q=err&in=json&path=$.level&partitions=1")
	if len(recs) != 4 || !strings.Contains(*recs[0].Value, `"p":1`) {
		t.Fatalf("JSON field search: %+v", recs)
	}
	recs, _ = searchLines(t, e, "logs/search?q=1&in=json&path=$.p")
	if len(recs) != 4 {
		t.Fatalf("JSON number field search: %d records", len(recs))
	}
	recs, _ = searchLines(t, e, "logs/search?q=199&in=header&partitions=0")
	if len(recs) != 1 || recs[0].Offset != 199 {
		t.Fatalf("header search: %+v", recs)
	}
	recs, _ = searchLines(t, e, fmt.Sprintf("logs/search?q=error&from=%d", time.Now().Add(time.Hour).UnixMilli()))
	if len(recs) != 0 {
		t.Fatalf("future time range found %d", len(recs))
	}
	recs, _ = searchLines(t, e, fmt.Sprintf("logs/search?q=error&from=%d&to=%d", time.Now().Add(-time.Hour).UnixMilli(), time.Now().Add(time.Hour).UnixMilli()))
	if len(recs) != 12 {
		t.Fatalf("time range around now found %d", len(recs))
	}

	// Export.
	resp, err := e.cl.Get(e.http.URL + "/api/topics/logs/search?q=error&partitions=0&format=csv")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil || len(rows) != 5 || rows[0][4] != "value" || rows[1][1] != "7" || !strings.Contains(rows[1][4], "error") ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("csv export: %v %q", err, rows)
	}
	resp, err = e.cl.Get(e.http.URL + "/api/topics/logs/search?q=error&partitions=0&format=jsonl")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	var first Record
	if len(lines) != 4 || json.Unmarshal([]byte(lines[0]), &first) != nil || first.Offset != 7 {
		t.Fatalf("jsonl export: %q", body)
	}

	var bad apiError
	for _, q := range []string{"logs/search", "logs/search?q=x&in=body", "logs/search?q=x&partitions=3", "logs/search?q=x&limit=0",
		"logs/search?q=x&budget_ms=999999", "logs/search?q=x&in=json", "logs/search?q=x&in=json&path=status", "logs/search?q=x&from=5&to=4", "logs/search?q=x&format=xml"} {
		mustStatus(t, q, e.get(t, "/api/topics/"+q, &bad), 400, bad)
	}
	mustStatus(t, "unknown topic", e.get(t, "/api/topics/nope/search?q=x", &bad), 404, bad)
}

// TestSearchCancelled cancels a search from inside (as a client going away
// does): it stops at the next batch with the context's error, having
// reported what it scanned.
func TestSearchCancelled(t *testing.T) {
	e := startEnv(t)
	e.createTopic(t, "big", 1)
	e.produce(t, "big", 0, 500, 5, func(i int) string { return "match me" })
	logs := e.con.topicLogs()["big"]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	p, err := search(ctx, logs, Query{Text: []byte("match"), In: "value", Limit: 10000}, func(Record) {
		n++
		if n == 3 {
			cancel()
		}
	}, func(Progress) {})
	if err != context.Canceled || n != 5 || p.Batches != 1 || p.ScannedBytes >= p.TotalBytes {
		t.Fatalf("cancelled search: err %v, %d found, %+v", err, n, p)
	}

	// Over HTTP: the hook holds the scan at its first batch until the
	// request's context ends, by the budget here, then by the client
	// going away; either way the scan stops there and says why.
	hold := func(ctx context.Context) {
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Second):
		}
	}
	e.con.searchHook.Store(&hold)
	_, done := searchLines(t, e, "big/search?q=match&budget_ms=50")
	prog := done["progress"].(map[string]any)
	if done["stopped"] != "budget" || prog["batches"] != float64(0) || prog["matches"] != float64(0) {
		t.Fatalf("budget search: %v", done)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var once sync.Once
	signal := func(ctx context.Context) {
		once.Do(func() { close(started) })
		hold(ctx)
	}
	e.con.searchHook.Store(&signal)
	req, _ := http.NewRequestWithContext(cctx, "GET", e.http.URL+"/api/topics/big/search?q=match&limit=10000&budget_ms=60000", nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := e.cl.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		errc <- err
	}()
	<-started
	ccancel()
	if err := <-errc; err == nil {
		t.Fatal("the cancelled request succeeded")
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.con.lastSearch.Load() != "cancelled" {
		if time.Now().After(deadline) {
			t.Fatalf("the search did not stop as cancelled: last search %v", e.con.lastSearch.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestGroupsLagVerdictResetDelete(t *testing.T) {
	e := startEnv(t)
	e.createTopic(t, "events", 2)
	e.produce(t, "events", 0, 40, 10, func(i int) string { return fmt.Sprint(i) })
	e.produce(t, "events", 1, 40, 10, func(i int) string { return fmt.Sprint(i) })

	// A consumer reads all 80 records, commits and goes away: the group is
	// Empty with committed offsets.
	consume(t, e, "reporting", 80)
	e.produce(t, "events", 0, 10, 10, func(i int) string { return "late" })
	now := time.Now()
	e.con.sample(now)
	e.produce(t, "events", 0, 10, 10, func(i int) string { return "later" })
	e.con.sample(now.Add(5 * time.Second))

	var list struct{ Groups []GroupSummary }
	mustStatus(t, "groups", e.get(t, "/api/groups", &list), 200, list)
	if len(list.Groups) != 1 || list.Groups[0].Group != "reporting" || list.Groups[0].Verdict != VerdictStopped || list.Groups[0].Members != 0 {
		t.Fatalf("groups: %+v", list.Groups)
	}
	var g struct {
		State      string
		Verdict    string
		Lag        int64
		Partitions []PartitionLag
	}
	mustStatus(t, "group", e.get(t, "/api/groups/reporting", &g), 200, g)
	var lagTotal int64
	for _, p := range g.Partitions {
		lagTotal += p.Lag
		if p.Lag > 0 && (p.LagSeconds <= 0 || p.End != p.Committed+p.Lag) {
			t.Fatalf("partition lag: %+v", p)
		}
	}
	if g.State != "Empty" || g.Verdict != VerdictStopped || g.Lag != 20 || lagTotal != 20 || len(g.Partitions) != 2 {
		t.Fatalf("group: %+v", g)
	}
	var s struct{ Points []Point }
	e.get(t, "/api/series?name=group_lag:reporting&since=600", &s)
	if len(s.Points) != 2 || s.Points[1].V <= s.Points[0].V {
		t.Fatalf("lag history should rise: %+v", s.Points)
	}

	var plan struct {
		Applied bool
		Plan    []ResetPlan
	}
	var bad apiError
	mustStatus(t, "reset unknown topic", e.post(t, "/api/groups/reporting/reset", map[string]any{"topic": "nope", "to": "latest"}, &bad), 404, bad)
	mustStatus(t, "reset bad to", e.post(t, "/api/groups/reporting/reset", map[string]any{"topic": "events", "to": "tomorrow"}, &bad), 400, bad)
	mustStatus(t, "reset bad offset", e.post(t, "/api/groups/reporting/reset", map[string]any{"topic": "events", "to": "offset", "value": 1000}, &bad), 400, bad)
	mustStatus(t, "plan", e.post(t, "/api/groups/reporting/reset", map[string]any{"topic": "events", "to": "latest"}, &plan), 200, plan)
	if plan.Applied || len(plan.Plan) != 2 || plan.Plan[0].Target != 60 || plan.Plan[0].Current == 60 {
		t.Fatalf("plan: %+v", plan)
	}
	mustStatus(t, "group unchanged by plan", e.get(t, "/api/groups/reporting", &g), 200, g)
	if g.Lag != 20 {
		t.Fatalf("a plan changed the lag: %+v", g)
	}
	mustStatus(t, "apply", e.post(t, "/api/groups/reporting/reset", map[string]any{"topic": "events", "to": "latest", "apply": true}, &plan), 200, plan)
	mustStatus(t, "group after reset", e.get(t, "/api/groups/reporting", &g), 200, g)
	if g.Lag != 0 {
		t.Fatalf("lag after reset to latest: %+v", g)
	}
	mustStatus(t, "unknown group", e.get(t, "/api/groups/nope", &bad), 404, bad)
	mustStatus(t, "delete unconfirmed", e.post(t, "/api/groups/reporting/delete", map[string]any{"confirm": "x"}, &bad), 400, bad)
	mustStatus(t, "delete", e.post(t, "/api/groups/reporting/delete", map[string]any{"confirm": "reporting"}, &bad), 200, bad)
	mustStatus(t, "deleted group", e.get(t, "/api/groups/reporting", &bad), 404, bad)
}

// TestResetRefusedWithMembers: a group with a live member keeps its offsets.
func TestResetRefusedWithMembers(t *testing.T) {
	e := startEnv(t)
	e.createTopic(t, "events", 1)
	e.produce(t, "events", 0, 5, 5, func(i int) string { return "x" })
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.srv.Addr().String()), kgo.ConsumerGroup("live"), kgo.ConsumeTopics("events"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for got := 0; got < 5; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	var bad apiError
	mustStatus(t, "reset active group", e.post(t, "/api/groups/live/reset", map[string]any{"topic": "events", "to": "earliest", "apply": true}, &bad), 409, bad)
	mustStatus(t, "delete active group", e.post(t, "/api/groups/live/delete", map[string]any{"confirm": "live"}, &bad), 400, bad)
}

// consume reads n records of events in group and commits, then leaves.
func consume(t *testing.T, e *env, group string, n int) { consumeTopic(t, e, group, "events", n) }

// consumeTopic reads n records of topic in group and commits, then leaves.
func consumeTopic(t *testing.T, e *env, group, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.srv.Addr().String()), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for got := 0; got < n; {
		fs := cl.PollRecords(ctx, n-got)
		if err := ctx.Err(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	cl.Close() // leaves the group
}

func TestHistoryPersisted(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/console/history"
	h := newHistory(time.Second, 3*time.Minute, 2)
	t0 := time.UnixMilli(1_700_000_000_000).Truncate(time.Minute)
	for i := range 10 {
		h.add("a", t0.Add(time.Duration(i)*time.Minute), float64(i))
	}
	if h.add("b", t0, 1) != true || h.add("c", t0, 1) != false {
		t.Fatal("maxSeries not enforced")
	}
	if err := h.save(path); err != nil {
		t.Fatal(err)
	}
	h2 := newHistory(time.Second, 3*time.Minute, 10)
	if err := h2.load(path, t0.Add(7*time.Minute)); err != nil {
		t.Fatal(err)
	}
	got := h2.get("a", t0.Add(-time.Hour))
	// The history ring keeps 3 minutes (6, 7, 8; minute 9 was still open
	// when saved) and load drops what is older than minute 7.
	if len(got) != 2 || got[0].V != 7 || got[1].V != 8 {
		t.Fatalf("reloaded history: %+v", got)
	}
	// A damaged file is refused, not half-read.
	data, _ := readFile(path)
	data[10] ^= 1
	if err := writeFileAtomic(path, data); err != nil {
		t.Fatal(err)
	}
	if err := newHistory(time.Second, time.Hour, 10).load(path, t0); err == nil {
		t.Fatal("corrupt history loaded")
	}
}

func TestVerdict(t *testing.T) {
	f := func(active bool, want string, s ...[2]int64) {
		t.Helper()
		var w []lagSample
		for i, x := range s {
			w = append(w, lagSample{t: int64(i), committed: x[0], end: x[1]})
		}
		if got := verdict(w, active); got != want {
			t.Fatalf("verdict(%v, active %v) = %s, want %s", s, active, got, want)
		}
	}
	f(true, VerdictOK)
	f(true, VerdictOK, [2]int64{5, 5})
	f(false, VerdictStopped, [2]int64{5, 9})
	f(true, VerdictOK, [2]int64{5, 9})
	f(true, VerdictOK, [2]int64{5, 9}, [2]int64{9, 9}, [2]int64{9, 12})        // caught up once
	f(true, VerdictStalled, [2]int64{5, 9}, [2]int64{5, 9}, [2]int64{5, 12})   // members, offset still
	f(false, VerdictStopped, [2]int64{5, 9}, [2]int64{5, 9}, [2]int64{5, 12})  // no members, lag grows
	f(true, VerdictLagging, [2]int64{5, 9}, [2]int64{6, 12}, [2]int64{7, 20})  // moving, lag growing
	f(true, VerdictOK, [2]int64{5, 9}, [2]int64{8, 12}, [2]int64{12, 14})      // moving, lag falling
	f(false, VerdictStopped, [2]int64{5, 9}, [2]int64{6, 12}, [2]int64{6, 20}) // left while lag grows
	if worse(VerdictLagging, VerdictStopped) != VerdictStopped || worse(VerdictStalled, VerdictOK) != VerdictStalled {
		t.Fatal("worse")
	}
}

func TestRecordCountAfterDeleteRecords(t *testing.T) {
	e := startEnv(t)
	e.createTopic(t, "d", 1)
	e.produce(t, "d", 0, 30, 10, func(i int) string { return "x" })
	l := e.con.topicLogs()["d"][0]
	if _, err := l.DeleteRecordsBefore(15); err != nil {
		t.Fatal(err)
	}
	var tp struct{ Partitions []PartitionInfo }
	mustStatus(t, "topic", e.get(t, "/api/topics/d", &tp), 200, tp)
	if p := tp.Partitions[0]; p.Records != 15 || p.LogStart != 15 || p.Approximate {
		t.Fatalf("after DeleteRecords(15): %+v", p)
	}
	var _ = partition.ErrOffsetOutOfRange
}

// TestCorruptSegment: a batch whose length overruns the log, or whose CRC
// fails, makes browse, search and counts report an error, never hang or
// serve garbage.
func TestCorruptSegment(t *testing.T) {
	f := func(name, want string, corrupt func(b []byte)) {
		t.Run(name, func(t *testing.T) {
			e := startEnv(t)
			e.createTopic(t, "c", 1)
			e.produce(t, "c", 0, 30, 10, func(i int) string { return fmt.Sprintf("value %d", i) })
			l := e.con.topicLogs()["c"][0]
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			seg := filepath.Join(l.Dir(), "00000000000000000000.log")
			b, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			corrupt(b)
			if err := os.WriteFile(seg, b, 0o644); err != nil {
				t.Fatal(err)
			}
			_, done := searchLines(t, e, "c/search?q=value")
			if done["stopped"] != "error" || !strings.Contains(fmt.Sprint(done["error"]), want) {
				t.Fatalf("search over a corrupt segment: %v", done)
			}
			var bad apiError
			mustStatus(t, "browse", e.get(t, "/api/topics/c/records?offset=0", &bad), 500, bad)
			var tp struct{ Partitions []PartitionInfo }
			mustStatus(t, "topic", e.get(t, "/api/topics/c", &tp), 200, tp)
			if tp.Partitions[0].Error == "" && name == "length" {
				t.Fatalf("count over an overrunning batch: %+v", tp.Partitions[0])
			}
		})
	}
	f("length", "corrupt batch", func(b []byte) { // the second batch's length
		second := 12 + int(binary.BigEndian.Uint32(b[8:]))
		binary.BigEndian.PutUint32(b[second+8:], 1<<30)
	})
	f("crc", "crc mismatch", func(b []byte) { b[len(b)-3] ^= 0xff })
}

// TestSearchLargeTopicCancelled: a search over a topic of many segments
// (2 partitions × 2 MiB, several segments each) reads batch after batch until
// its client goes away, then stops before the next batch: the hook, which
// runs before each batch, holds the scan at batch 200 of 256 (in the second
// partition) until the request ends, and no batch is read after it. No
// timing is involved.
func TestSearchLargeTopicCancelled(t *testing.T) {
	e := startEnv(t)
	var out map[string]any
	mustStatus(t, "create", e.post(t, "/api/topics", map[string]any{"name": "large", "partitions": 2,
		"configs": map[string]string{"segment.bytes": "16384"}}, &out), http.StatusCreated, out)
	big := strings.Repeat("x", 1000)
	for p := int32(0); p < 2; p++ {
		e.produce(t, "large", p, 2048, 16, func(i int) string { return big })
	}
	logs := e.con.topicLogs()["large"]
	if n := logs[0].Segments(); n < 5 {
		t.Fatalf("%d segments, want many", n)
	}
	var batches atomic.Int64
	started := make(chan struct{})
	hook := func(ctx context.Context) {
		if batches.Add(1) == 200 {
			close(started)
			<-ctx.Done()
		}
	}
	e.con.searchHook.Store(&hook)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", e.http.URL+"/api/topics/large/search?q=never&limit=10000&budget_ms=60000", nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := e.cl.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		errc <- err
	}()
	select {
	case <-started:
	case err := <-errc:
		cancel()
		t.Fatalf("the search ended before batch 200 (%d batches, %v)", batches.Load(), err)
	}
	cancel()
	<-errc
	deadline := time.Now().Add(10 * time.Second)
	for e.con.lastSearch.Load() != "cancelled" {
		if time.Now().After(deadline) {
			t.Fatalf("the search did not stop as cancelled: %v", e.con.lastSearch.Load())
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	if n := batches.Load(); n != 200 {
		t.Fatalf("the hook ran %d times: batches were read after the cancel", n)
	}
}
