package console

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// chromium finds Debian's chromium (scripts/test-deps.sh installs it). The
// test skips without it, unless SLUICE_REQUIRE_CHROMIUM is set.
func chromium(t *testing.T) string {
	for _, p := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	msg := "chromium not found: install it with scripts/test-deps.sh (Debian package chromium) to run the console's browser test"
	if os.Getenv("SLUICE_REQUIRE_CHROMIUM") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// shotsDir is where screenshots go: $SLUICE_CONSOLE_SHOTS, else the
// git-ignored .bench/console-shots at the repository root.
func shotsDir(t *testing.T) string {
	dir := os.Getenv("SLUICE_CONSOLE_SHOTS")
	if dir == "" {
		dir = filepath.Join("..", ".bench", "console-shots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBrowser opens the console in headless Chromium against a broker with
// data, a topic with error records and a stopped group whose lag rises,
// checks each page shows what it should and saves a screenshot of each.
func TestBrowser(t *testing.T) {
	exe := chromium(t)
	start := time.Now().Add(-90 * time.Second)
	e := startEnvAt(t, start.Add(-7*time.Second))
	seedBrowserData(t, e, start)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 860), chromedp.Flag("disable-gpu", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	dir := shotsDir(t)
	base := e.http.URL + "/"

	shot := func(name string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("%s: screenshot: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	waitText := func(sel, want string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](fmt.Sprintf(`(document.querySelector(%q)||{}).innerText?.includes(%q)`, sel, want),
			chromedp.WithPollingTimeout(15*time.Second))
	}
	visible := func(sel string) chromedp.Action[chromedp.Void] { return chromedp.WaitVisible(sel) }

	shot("overview", chromedp.Navigate(base+"#/"), waitText("#cards", "Partitions"), waitText("#brokers", e.srv.Addr().String()),
		visible(`#c-bytes_in_per_sec svg path`))
	if s := text("#alerts"); !strings.Contains(s, `"billing" is stopped`) {
		t.Errorf("overview alerts: %q", s)
	}
	shot("topics", chromedp.Navigate(base+"#/topics"), waitText("#list", "orders"))
	// Create a topic from the page.
	if err := chromedp.Do(ctx, chromedp.Click("summary"), chromedp.SetValue("#newname", "clicks"), chromedp.SetValue("#newparts", "2"),
		chromedp.Click("#create"), waitText("#list", "clicks")); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	if n := len(e.con.topicLogs()["clicks"]); n != 2 {
		t.Fatalf("topic created from the page has %d partitions", n)
	}
	if s := text("#list"); !strings.Contains(s, "1,200") {
		t.Errorf("topics list lacks orders' 1,200 records: %q", s)
	}
	shot("topic", chromedp.Navigate(base+"#/topics/orders"), waitText("main", "cleanup.policy"))
	if s := text("main"); !strings.Contains(s, "High watermark") || !strings.Contains(s, "DEFAULT_CONFIG") {
		t.Errorf("topic page: %q", s)
	}
	if err := chromedp.Do(ctx, chromedp.SetValue("#cfgname", "retention.ms"), chromedp.SetValue("#cfgval", "3600000"),
		chromedp.Click("#cfgset"), waitText("main", "DYNAMIC_TOPIC_CONFIG")); err != nil {
		t.Fatalf("edit config: %v", err)
	}
	shot("search", chromedp.Navigate(base+"#/messages/orders"), visible("#sq"),
		chromedp.SendKeys("#sq", "payment failed"), chromedp.Click("#sgo"),
		waitText("#sstatus", "stopped: end"))
	if s := text("#sstatus"); !strings.HasPrefix(s, "12 match(es)") {
		t.Errorf("search status: %q", s)
	}
	if s := text("#recs"); strings.Count(s, "payment failed") != 12 {
		t.Errorf("search results: %q", s)
	}
	// Export what the search found, by the page's own link.
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('xcsv').href`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(href)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if lines := strings.Split(strings.TrimSpace(string(body)), "\n"); len(lines) != 13 || !strings.Contains(lines[1], "payment failed") {
		t.Errorf("CSV export from %s: %q", href, body)
	}
	shot("group", chromedp.Navigate(base+"#/groups/billing"), waitText("#head", "stopped"),
		visible(`#lagchart svg path`), waitText("#parts", "payments"))
	// Reset the stopped group to the end: plan, then apply.
	if err := chromedp.Do(ctx, chromedp.SetValue("#rto", "latest"), chromedp.Click("#rplan"), waitText("#rplanout", "Plan:"),
		chromedp.Click("#rapply"), waitText("#rplanout", "Applied:"), waitText("#head", "OK")); err != nil {
		t.Fatalf("reset offsets: %v", err)
	}
	shot("groups", chromedp.Navigate(base+"#/groups"), waitText("#list", "billing"))
	sql := `SELECT partition, offset, json_extract(value, '$.amount') AS amount, value FROM "orders"
WHERE partition IN (0,1) AND value LIKE '%payment failed%' AND timestamp > now() - interval '1 hour' LIMIT 100`
	shot("query", chromedp.Navigate(base+"#/query"), visible("#sql"), chromedp.SetValue("#sql", sql), chromedp.Click("#run"),
		waitText("#qstatus", "row(s)"))
	if s := text("#qstatus"); !strings.HasPrefix(s, "8 row(s)") {
		t.Errorf("query status: %q", s)
	}
	t.Logf("screenshots in %s", dir)
}

// seedBrowserData makes topics with records (some with "payment failed"),
// a group that read everything and stopped, then more records arriving
// while samples are taken, so its lag chart rises; it also gives the
// overview's charts a few points.
func seedBrowserData(t *testing.T, e *env, start time.Time) {
	e.createTopic(t, "orders", 3)
	e.createTopic(t, "payments", 1)
	e.createTopic(t, "audit", 2)
	for p := int32(0); p < 3; p++ {
		e.produce(t, "orders", p, 400, 50, func(i int) string {
			if i%100 == 42 {
				return fmt.Sprintf(`{"order":%d,"status":"payment failed","amount":%d.99}`, i, i%70)
			}
			return fmt.Sprintf(`{"order":%d,"status":"shipped","amount":%d.50}`, i, i%90)
		})
	}
	e.produce(t, "payments", 0, 150, 30, func(i int) string { return fmt.Sprintf("payment-%d", i) })
	consumeTopic(t, e, "billing", "payments", 150)
	reader, err := kgo.NewClient(kgo.SeedBrokers(e.srv.Addr().String()), kgo.ConsumeTopics("audit"))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	for i := range 12 {
		e.produce(t, "payments", 0, 5+i*3, 5, func(i int) string { return "late payment" })
		e.produce(t, "audit", int32(i%2), 20+10*(i%4), 20, func(i int) string { return "audit entry" })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		for got := 0; got < 20+10*(i%4); {
			fs := reader.PollRecords(ctx, 100)
			if ctx.Err() != nil {
				t.Fatal(ctx.Err())
			}
			got += fs.NumRecords()
		}
		cancel()
		e.con.sample(start.Add(time.Duration(i) * 7 * time.Second))
	}
}

// TestBrowserLogin: against a broker with SASL users and ACLs, the
// console sends to its login page, refuses a wrong password, and after a
// login shows the user and only the topics its ACLs allow; logging out
// leads back to the login page. Screenshots login*.png, topics-alice.png.
func TestBrowserLogin(t *testing.T) {
	exe := chromium(t)
	var clock atomic.Int64
	e := secureEnv(t, &clock)
	adm := kadm.NewClient(e.kcl)
	bg := context.Background()
	_, err := adm.CreateTopics(bg, 2, 1, nil, "a-orders", "b-secret")
	mustAdmin(t, "create topics", err)
	e.produce(t, "a-orders", 1, 40, 20, func(i int) string { return fmt.Sprintf("order %d", i) })
	res, err := adm.AlterUserSCRAMs(bg, nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "alice-pw"}})
	if err == nil {
		err = res.Error()
	}
	mustAdmin(t, "upsert alice", err)
	_, err = adm.CreateACLs(bg, kadm.NewACLs().Allow("User:alice").Topics("a-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpRead))
	mustAdmin(t, "ACL", err)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 700), chromedp.Flag("disable-gpu", true))
	actx, cancelA := chromedp.NewExecAllocator(bg, opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	dir := shotsDir(t)
	shot := func(name string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("%s: screenshot: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	waitText := func(sel, want string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](fmt.Sprintf(`(document.querySelector(%q)||{}).innerText?.includes(%q)`, sel, want),
			chromedp.WithPollingTimeout(15*time.Second))
	}
	shot("login", chromedp.Navigate(e.http.URL+"/"), chromedp.WaitVisible("#user"))
	shot("login-failed", chromedp.SetValue("#user", "alice"), chromedp.SetValue("#password", "wrong"),
		chromedp.Click("#submit"), waitText("#msg", "invalid user name or password"))
	if err := chromedp.Do(ctx, chromedp.SetValue("#password", "alice-pw"), chromedp.Click("#submit")); err != nil {
		t.Fatal(err)
	}
	// The page navigates to the console: poll until it is there (a query
	// during the navigation fails).
	for deadline := time.Now().Add(15 * time.Second); ; {
		p, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname + (document.getElementById('who')?.innerText || '')`))
		if err == nil && strings.HasPrefix(p, "/User:alice") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after login: at %q (%v)", p, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	shot("topics-alice", chromedp.Navigate(e.http.URL+"/#/topics"), waitText("#list", "a-orders"))
	s, err := chromedp.Run(ctx, chromedp.Text("#list"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s, "b-secret") || !strings.Contains(s, "40") {
		t.Errorf("alice's topics list: %q, want a-orders (40 records) and no b-secret", s)
	}
	if err := chromedp.Do(ctx, chromedp.Click("#logout"), chromedp.WaitVisible("#user")); err != nil {
		t.Fatalf("logout: %v", err)
	}
}
