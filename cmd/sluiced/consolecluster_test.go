package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// clusterPartition is a row of the console's topic page (/api/topics/{t}).
type clusterPartition struct {
	Partition     int32
	Leader        int32
	Replicas, ISR []int32
	HighWatermark int64 `json:"high_watermark"`
	LogEnd        int64 `json:"log_end_offset"`
	SizeBytes     int64 `json:"size_bytes"`
	Remote        bool
	Unavailable   bool
	Error         string
}

func consoleJSON(t *testing.T, base, path string, out any) int {
	t.Helper()
	code, body := httpGet(t, base+path)
	if code == 200 {
		if err := json.Unmarshal([]byte(body), out); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, body)
		}
	}
	return code
}

// In a cluster, any broker's console shows the whole cluster: broker 1's
// console shows all six partitions of an RF=1 topic spread over three
// brokers (end offsets and sizes from their leaders), browses a partition
// led by broker 3, counts every record with SQL and computes a group's lag
// on every partition; with broker 2 killed its partitions show as
// unavailable and the page still answers.
func TestConsoleClusterWide(t *testing.T) {
	nodes, addrs := threeNodes(t)
	defer stopAll(nodes)
	const topic = "spread"
	cl := mustClient(t, kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DisableIdempotentWrite())
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 6, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	var leaders []int32
	eventually(t, 15*time.Second, func() string {
		var err error
		leaders, err = leadersOf(addrs[0], topic)
		if err != nil || len(leaders) != 6 || slices.Contains(leaders, -1) {
			return fmt.Sprintf("leaders of %s: %v %v", topic, leaders, err)
		}
		return ""
	})
	for _, id := range []int32{1, 2, 3} {
		if !slices.Contains(leaders, id) {
			t.Fatalf("leaders %v: broker %d leads none", leaders, id)
		}
	}
	// Partition p gets p+2 records.
	want := make([]int64, 6)
	var total int64
	for p := range int32(6) {
		for i := range p + 2 {
			r := &kgo.Record{Topic: topic, Partition: p, Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("p%d-v%d", p, i))}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce to %d: %v", p, err)
			}
		}
		want[p] = int64(p + 2)
		total += want[p]
	}
	// A group coordinated by broker 3 committed 1 on every partition: its
	// lag is end-1 everywhere.
	group := ""
	for i := 0; group == ""; i++ {
		name := fmt.Sprintf("watchers-%d", i)
		if id, err := coordinatorOf(addrs[0], 0, name); err == nil && id == 3 {
			group = name
		} else if i > 200 {
			t.Fatalf("no group name coordinated by broker 3: %v", err)
		}
	}
	var offs kadm.Offsets
	for p := range int32(6) {
		offs.Add(kadm.Offset{Topic: topic, Partition: p, At: 1, LeaderEpoch: -1})
	}
	if resp, err := adm.CommitOffsets(ctx, group, offs); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}

	base := "http://" + nodes[0].waitLog("http listening")["addr"].(string)
	var page struct {
		Summary struct {
			Partitions int
			Records    int64
		}
		Partitions []clusterPartition
	}
	if code := consoleJSON(t, base, "/api/topics/"+topic, &page); code != 200 || len(page.Partitions) != 6 {
		t.Fatalf("topic page: %d, %+v", code, page)
	}
	for i, p := range page.Partitions {
		if p.Partition != int32(i) || p.Leader != leaders[i] || p.HighWatermark != want[i] || p.LogEnd < want[i] ||
			p.Unavailable || p.Remote != (p.Leader != 1) || !slices.Equal(p.Replicas, []int32{leaders[i]}) ||
			!slices.Equal(p.ISR, []int32{leaders[i]}) || p.SizeBytes <= 0 {
			t.Errorf("partition %d: %+v, want leader %d, high watermark %d", i, p, leaders[i], want[i])
		}
	}
	if page.Summary.Partitions != 6 || page.Summary.Records != total {
		t.Errorf("summary %+v, want 6 partitions, %d records", page.Summary, total)
	}

	// Browse a partition led by broker 3, oldest first and newest first.
	on3 := slices.Index(leaders, 3)
	var recs struct {
		Records []struct {
			Offset int64
			Value  string
		}
	}
	if code := consoleJSON(t, base, fmt.Sprintf("/api/topics/%s/records?partition=%d&offset=0", topic, on3), &recs); code != 200 ||
		int64(len(recs.Records)) != want[on3] || recs.Records[1].Value != fmt.Sprintf("p%d-v1", on3) {
		t.Fatalf("browse %s-%d (broker 3): %d %+v", topic, on3, code, recs)
	}
	if code := consoleJSON(t, base, fmt.Sprintf("/api/topics/%s/records?partition=%d&limit=1", topic, on3), &recs); code != 200 ||
		len(recs.Records) != 1 || recs.Records[0].Offset != want[on3]-1 {
		t.Fatalf("newest of %s-%d: %d %+v", topic, on3, code, recs)
	}

	// Search every partition: the one match is on broker 3.
	code, body := httpGet(t, fmt.Sprintf("%s/api/topics/%s/search?q=p%d-v1&format=jsonl", base, topic, on3))
	if lines := strings.Split(strings.TrimSpace(body), "\n"); code != 200 || len(lines) != 1 || !strings.Contains(lines[0], fmt.Sprintf(`"partition":%d`, on3)) {
		t.Fatalf("search: %d %q", code, body)
	}

	// SQL over every partition, wherever it is led.
	var res struct {
		Rows    [][]any
		Stopped string
	}
	q := url.QueryEscape(fmt.Sprintf(`SELECT partition, offset FROM "%s" LIMIT 1000`, topic))
	if code := consoleJSON(t, base, "/api/query?sql="+q, &res); code != 200 || int64(len(res.Rows)) != total || res.Stopped != "end" {
		t.Fatalf("query: %d: %d rows (want %d), stopped %q", code, len(res.Rows), total, res.Stopped)
	}
	q = url.QueryEscape(fmt.Sprintf(`SELECT offset FROM "%s" WHERE value LIKE '%%-v3'`, topic))
	if code := consoleJSON(t, base, "/api/query?sql="+q, &res); code != 200 || len(res.Rows) != 4 { // partitions 2..5 have a v3
		t.Fatalf("query with WHERE: %d: %+v", code, res)
	}

	// Group lag on every partition.
	var g struct {
		Lag        int64
		Partitions []struct {
			Partition int32
			End       int64 `json:"end_offset"`
			Lag       int64
			Error     string
		}
	}
	if code := consoleJSON(t, base, "/api/groups/"+group, &g); code != 200 || len(g.Partitions) != 6 || g.Lag != total-6 {
		t.Fatalf("group: %d %+v, want lag %d", code, g, total-6)
	}
	for _, p := range g.Partitions {
		if p.End != want[p.Partition] || p.Lag != want[p.Partition]-1 {
			t.Errorf("group lag on %d: %+v, want end %d", p.Partition, p, want[p.Partition])
		}
	}

	// The groups list: the same lag, though broker 3 coordinates it.
	var gl struct {
		Groups []struct {
			Group string
			Lag   int64
		}
	}
	if code := consoleJSON(t, base, "/api/groups", &gl); code != 200 ||
		!slices.ContainsFunc(gl.Groups, func(x struct {
			Group string
			Lag   int64
		}) bool {
			return x.Group == group && x.Lag == total-6
		}) {
		t.Errorf("groups list: %d %+v, want %s with lag %d", code, gl, group, total-6)
	}

	// The overview counts leaders per broker from the metadata image.
	var ov struct {
		Brokers []struct {
			ID      int32
			Leaders int
		}
		Under int `json:"under_replicated_partitions"`
	}
	if code := consoleJSON(t, base, "/api/overview", &ov); code != 200 || len(ov.Brokers) != 3 || ov.Under != 0 {
		t.Fatalf("overview: %d %+v", code, ov)
	}
	for _, b := range ov.Brokers {
		n := 0
		for _, l := range leaders {
			n += boolInt(l == b.ID)
		}
		if b.Leaders < n { // __consumer_offsets adds to the topic's
			t.Errorf("overview: broker %d leads %d partitions, want at least %d", b.ID, b.Leaders, n)
		}
	}

	// Produce from the console to a partition led by broker 3.
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	if _, err := hc.Get(base + "/api/csrf"); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(base)
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/topics/%s/records", base, topic),
		strings.NewReader(fmt.Sprintf(`{"partition":%d,"value":"from the console"}`, on3)))
	for _, c := range jar.Cookies(u) {
		if c.Name == "sluice_csrf" {
			req.Header.Set("X-Sluice-CSRF", c.Value)
		}
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var produced struct{ Offset int64 }
	_ = json.NewDecoder(resp.Body).Decode(&produced)
	resp.Body.Close()
	if resp.StatusCode != 201 || produced.Offset != want[on3] {
		t.Fatalf("produce to %s-%d (broker 3) from the console: %d %+v", topic, on3, resp.StatusCode, produced)
	}
	want[on3]++

	// Broker 2 down: its partitions are unavailable, the others still
	// read; the page answers (the remote bound is 3 s; 20 s is generous).
	nodes[1].kill()
	began := time.Now()
	eventually(t, 20*time.Second, func() string {
		if code := consoleJSON(t, base, "/api/topics/"+topic, &page); code != 200 || len(page.Partitions) != 6 {
			return fmt.Sprintf("topic page after kill: %d", code)
		}
		for i, p := range page.Partitions {
			if leaders[i] == 2 && !p.Unavailable {
				return fmt.Sprintf("partition %d of killed broker 2: %+v", i, p)
			}
			if leaders[i] != 2 && (p.Unavailable || p.HighWatermark != want[i]) {
				return fmt.Sprintf("partition %d on a live broker: %+v", i, p)
			}
		}
		return ""
	})
	t.Logf("after the kill, the topic page showed broker 2's partitions unavailable within %v", time.Since(began))
	shotClusterTopic(t, base+"/#/topics/"+topic)
	on2 := slices.Index(leaders, 2)
	var e struct{ Error string }
	if code := consoleJSON(t, base, fmt.Sprintf("/api/topics/%s/records?partition=%d", topic, on2), &e); code != 503 {
		t.Errorf("browse of a partition on the killed broker: %d, want 503", code)
	}

	// Broker 3 hung (SIGSTOP): connections to it stay open and silent;
	// the page still answers, its partitions unavailable once the remote
	// bound (3 s) passes.
	if err := nodes[2].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer nodes[2].kill() // SIGKILL ends a stopped process too
	eventually(t, 30*time.Second, func() string {
		began := time.Now()
		code := consoleJSON(t, base, "/api/topics/"+topic, &page)
		took := time.Since(began)
		if code != 200 || len(page.Partitions) != 6 {
			return fmt.Sprintf("topic page with broker 3 hung: %d", code)
		}
		if took > 15*time.Second {
			t.Fatalf("topic page took %v with broker 3 hung (remote bound 3 s)", took)
		}
		for i, p := range page.Partitions {
			if leaders[i] != 1 && !p.Unavailable || leaders[i] == 1 && (p.Unavailable || p.HighWatermark != want[i]) {
				return fmt.Sprintf("partition %d (leader %d) with broker 3 hung: %+v", i, leaders[i], p)
			}
		}
		t.Logf("with broker 3 hung the topic page answered in %v", took)
		return ""
	})
}

// shotClusterTopic renders the topic page at url in headless Chromium (when
// installed, as console's TestBrowser), checks it shows the unavailable
// partitions, and saves .bench/console-shots/cluster-topic.png.
func shotClusterTopic(t *testing.T, url string) {
	t.Helper()
	exe, err := exec.LookPath("chromium")
	if err != nil {
		t.Log("chromium not found: no screenshot of the cluster's topic page")
		return
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 860), chromedp.Flag("disable-gpu", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.Poll[chromedp.Void](
		`(document.querySelector("main")||{}).innerText?.includes("unavailable")`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("topic page in chromium: %v", err)
	}
	s, err := chromedp.Run(ctx, chromedp.Text("main"))
	if err != nil || !strings.Contains(s, "Replicas") || !strings.Contains(s, "(here)") {
		t.Errorf("topic page text: %v %q", err, s)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := filepath.Join("..", "..", ".bench", "console-shots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cluster-topic.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
