package console

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestNormalizeSQL(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := normalizeSQL(in); got != want {
			t.Fatalf("normalizeSQL(%q) =\n%q, want\n%q", in, got, want)
		}
	}
	f(`SELECT offset, key FROM "orders"`, "SELECT `offset`, `key` FROM `orders`")
	f(`select * from t where value like '%key offset%'`, "select * from t where `value` like '%key offset%'")
	f(`SELECT 1 FROM t WHERE Timestamp > now() - interval '2 hours'`, "SELECT 1 FROM t WHERE `timestamp` > now() - interval 2 hour")
	f("SELECT `key` FROM `a-b` WHERE value = 'it''s'", "SELECT `key` FROM `a-b` WHERE `value` = 'it''s'")
	f(`SELECT "unterminated`, `SELECT "unterminated`)
}

func TestLike(t *testing.T) {
	f := func(s, pat string, want bool) {
		t.Helper()
		if like(s, pat) != want {
			t.Fatalf("like(%q, %q) != %v", s, pat, want)
		}
	}
	f("payment failed", "%fail%", true)
	f("payment failed", "pay%", true)
	f("payment failed", "%ed", true)
	f("payment failed", "pay_ent%", true)
	f("payment failed", "%ok%", false)
	f("", "", true)
	f("a", "", false)
	f("abc", "a%c", true)
	f("abd", "a%c", false)
}

func query(t *testing.T, e *env, sql string, want int) (QueryResult, apiError) {
	t.Helper()
	var res QueryResult
	var bad apiError
	got := e.get(t, "/api/query?sql="+url.QueryEscape(sql), &res)
	if got != want {
		e.get(t, "/api/query?sql="+url.QueryEscape(sql), &bad)
		t.Fatalf("%s: status %d, want %d: %s", sql, got, want, bad.Error)
	}
	if want != 200 {
		e.get(t, "/api/query?sql="+url.QueryEscape(sql), &bad)
	}
	return res, bad
}

func TestQuery(t *testing.T) {
	e := startEnv(t)
	e.createTopic(t, "orders", 3)
	for p := int32(0); p < 3; p++ {
		e.produce(t, "orders", p, 100, 10, func(i int) string {
			status := "shipped"
			if i%25 == 3 {
				status = "error: card declined"
			}
			return fmt.Sprintf(`{"id":%d,"status":%q,"customer":{"tier":"gold","n":%d},"items":[%d,2]}`, i, status, i%5, i)
		})
	}
	res, _ := query(t, e, `SELECT offset, key, value FROM "orders" WHERE partition IN (0,1) AND value LIKE '%error%' AND timestamp > now() - interval '1 hour' LIMIT 100`, 200)
	if len(res.Rows) != 8 || res.Columns[0] != "offset" || res.Stopped != "end" || res.Rows[0][0] != float64(3) || res.Rows[0][1] != "k3" ||
		!strings.Contains(res.Rows[0][2].(string), "card declined") || res.Scanned != 200 {
		t.Fatalf("brief's query: %+v", res)
	}
	res, _ = query(t, e, `SELECT json_extract(value, '$.customer.n') AS n, json_extract(value, '$.items[0]') item, json_extract(value, '$.customer') c
		FROM orders WHERE partition = 2 AND json_extract(value, '$.customer.n') = 4 AND offset BETWEEN 10 AND 30 LIMIT 3`, 200)
	if len(res.Rows) != 3 || res.Columns[0] != "n" || res.Columns[1] != "item" || res.Rows[0][0] != float64(4) || res.Rows[0][1] != float64(14) ||
		res.Rows[0][2] != `{"n":4,"tier":"gold"}` || res.Stopped != "limit" || res.Scanned != 25 {
		t.Fatalf("json query: %+v", res)
	}
	res, _ = query(t, e, `SELECT * FROM orders WHERE (offset < 2 OR offset >= 99) AND NOT partition = 1 AND key IS NOT NULL AND size > 10`, 200)
	if len(res.Rows) != 6 || len(res.Columns) != 7 || res.Columns[5] != "headers" || !strings.Contains(res.Rows[0][5].(string), `"seq":"0"`) {
		t.Fatalf("star query: %+v", res)
	}
	res, _ = query(t, e, fmt.Sprintf(`SELECT offset FROM orders WHERE timestamp > %d`, time.Now().Add(time.Hour).UnixMilli()), 200)
	if len(res.Rows) != 0 || res.Scanned != 0 {
		t.Fatalf("future timestamps: %+v", res)
	}
	for _, bad := range []string{
		`DELETE FROM orders`, `SELECT offset FROM orders ORDER BY offset`, `SELECT nope FROM orders`, `SELECT offset FROM orders WHERE nope = 1`,
		`SELECT offset FROM orders LIMIT 0`, `SELECT offset FROM orders LIMIT 6000`, `SELECT offset FROM orders LIMIT 1, 2`,
		`SELECT offset FROM a, b`, `SELEC offset`, `SELECT upper(value) FROM orders`, `SELECT json_extract(value, 'x') FROM orders`,
		`SELECT offset FROM orders WHERE timestamp > now() - interval 1 fortnight`,
	} {
		_, msg := query(t, e, bad, 400)
		if msg.Error == "" {
			t.Fatalf("%s: no error message", bad)
		}
	}
	query(t, e, `SELECT offset FROM nope`, 404)
	var bad apiError
	mustStatus(t, "no sql", e.get(t, "/api/query", &bad), 400, bad)
	mustStatus(t, "bad budget", e.get(t, "/api/query?sql=SELECT+1+FROM+orders&budget_ms=0", &bad), 400, bad)

	// A query that would run long is cut off by its budget (context):
	// here the context is cancelled from inside, as the budget does.
	sq, err := parseQuery(`SELECT offset FROM orders WHERE value LIKE '%never%'`, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sq.run(ctx, e.con, "orders", e.con.topicParts()["orders"]); err != context.Canceled {
		t.Fatalf("cancelled query: %v", err)
	}
}
