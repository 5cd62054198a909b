package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/xwb1989/sqlparser"

	"github.com/sluice/sluice/acl"
	"github.com/sluice/sluice/partition"
	"github.com/sluice/sluice/segment"
)

// The query dialect: one SELECT over one topic's records, parsed by
// github.com/xwb1989/sqlparser (MySQL grammar) and evaluated here, record
// by record, inside the broker:
//
//	SELECT offset, key, value FROM "orders"
//	WHERE partition IN (0,1) AND value LIKE '%error%'
//	  AND timestamp > now() - interval '1 hour' LIMIT 100
//
// Columns: partition, offset, timestamp (ms), key, value (text), headers
// (JSON object), size (value bytes); * is all of them. json_extract(value,
// '$.a.b') (or json_value) reads a JSON path from the value (or the key).
// WHERE takes AND, OR, NOT, =, !=, <>, <, <=, >, >=, LIKE, NOT LIKE,
// IN, NOT IN, BETWEEN, IS [NOT] NULL, + and -, now() and interval N
// unit. A partition condition at the top level (partition = n, IN) limits
// the partitions read; a timestamp lower bound (timestamp > / >= t)
// starts each partition at the time index. LIMIT defaults to 100 and is at
// most maxQueryRows (Kafka Eagle's kafka.eagle.sql.topic.records.max
// was 5000). No ORDER BY, GROUP BY, joins or subqueries. The query stops
// at its time budget or when the client goes away.
const maxQueryRows = 5000

var allColumns = []string{"partition", "offset", "timestamp", "key", "value", "headers", "size"}

var (
	errQuery        = errors.New("console: bad query")
	reservedColumns = map[string]bool{"offset": true, "key": true, "value": true, "partition": true, "timestamp": true, "headers": true, "size": true}
	pgInterval      = regexp.MustCompile(`(?i)\binterval\s+'\s*(\d+)\s*([a-z]+?)s?\s*'`)
)

func queryErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errQuery, fmt.Sprintf(format, args...))
}

// normalizeSQL lets the MySQL grammar take the dialect: "double quoted"
// names become `backticked`, the column names that are MySQL keywords
// (offset, key, value, partition, timestamp) are backticked, and
// PostgreSQL's interval '1 hour' becomes interval 1 hour.
func normalizeSQL(q string) string {
	q = pgInterval.ReplaceAllString(q, "interval $1 $2")
	var b strings.Builder
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '\'' || c == '`':
			j := i + 1
			for j < len(q) && (q[j] != c || j+1 < len(q) && q[j+1] == c && c == '\'') {
				if q[j] == c || q[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(q))
			b.WriteString(q[i:j])
			i = j
		case c == '"':
			j := strings.IndexByte(q[i+1:], '"')
			if j < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString("`" + q[i+1:i+1+j] + "`")
			i += j + 2
		case isWordByte(c):
			j := i
			for j < len(q) && isWordByte(q[j]) {
				j++
			}
			w := q[i:j]
			if reservedColumns[strings.ToLower(w)] && (i == 0 || q[i-1] != '.') {
				w = "`" + strings.ToLower(w) + "`"
			}
			b.WriteString(w)
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// sqlQuery is a parsed query.
type sqlQuery struct {
	topic      string
	columns    []string
	exprs      []sqlparser.Expr // nil for a plain column
	where      sqlparser.Expr
	limit      int
	partitions []int32 // nil: all
	fromTime   int64   // 0: from the log start
	now        time.Time
}

func parseQuery(q string, now time.Time) (*sqlQuery, error) {
	st, err := sqlparser.Parse(normalizeSQL(q))
	if err != nil {
		return nil, queryErr("%v", err)
	}
	sel, ok := st.(*sqlparser.Select)
	if !ok {
		return nil, queryErr("only SELECT is supported")
	}
	if len(sel.GroupBy) > 0 || len(sel.OrderBy) > 0 || sel.Having != nil || sel.Distinct != "" {
		return nil, queryErr("GROUP BY, ORDER BY, HAVING and DISTINCT are not supported (records come in offset order per partition)")
	}
	if len(sel.From) != 1 {
		return nil, queryErr("select FROM exactly one topic")
	}
	at, ok := sel.From[0].(*sqlparser.AliasedTableExpr)
	tn, ok2 := func() (sqlparser.TableName, bool) {
		if !ok {
			return sqlparser.TableName{}, false
		}
		t, ok := at.Expr.(sqlparser.TableName)
		return t, ok
	}()
	if !ok2 {
		return nil, queryErr("FROM must name a topic")
	}
	sq := &sqlQuery{topic: tn.Name.String(), limit: 100, now: now}
	if err := sq.selectList(sel.SelectExprs); err != nil {
		return nil, err
	}
	if sel.Where != nil {
		sq.where = sel.Where.Expr
		sq.pushDown(sq.where)
	}
	if sel.Limit != nil {
		if sel.Limit.Offset != nil {
			return nil, queryErr("LIMIT with an offset is not supported")
		}
		v, ok := sel.Limit.Rowcount.(*sqlparser.SQLVal)
		n, err := strconv.Atoi(string(v.Val))
		if !ok || v.Type != sqlparser.IntVal || err != nil || n < 1 || n > maxQueryRows {
			return nil, queryErr("LIMIT must be 1..%d", maxQueryRows)
		}
		sq.limit = n
	}
	return sq, nil
}

func (sq *sqlQuery) selectList(list sqlparser.SelectExprs) error {
	for _, se := range list {
		switch e := se.(type) {
		case *sqlparser.StarExpr:
			for _, c := range allColumns {
				sq.columns = append(sq.columns, c)
				sq.exprs = append(sq.exprs, &sqlparser.ColName{Name: sqlparser.NewColIdent(c)})
			}
		case *sqlparser.AliasedExpr:
			name := e.As.String()
			if name == "" {
				name = strings.Trim(sqlparser.String(e.Expr), "`")
			}
			if err := checkExpr(e.Expr); err != nil {
				return err
			}
			sq.columns = append(sq.columns, name)
			sq.exprs = append(sq.exprs, e.Expr)
		default:
			return queryErr("unsupported select expression %s", sqlparser.String(se))
		}
	}
	return nil
}

// checkExpr refuses unknown columns before any record is read.
func checkExpr(e sqlparser.Expr) error {
	var err error
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		if c, ok := n.(*sqlparser.ColName); ok && !reservedColumns[c.Name.Lowered()] && err == nil {
			err = queryErr("unknown column %q (columns: %s)", c.Name.String(), strings.Join(allColumns, ", "))
		}
		return true, nil
	}, e)
	return err
}

// pushDown reads top-level AND conditions on partition and a lower bound
// on timestamp, to skip partitions and start at the time index.
func (sq *sqlQuery) pushDown(e sqlparser.Expr) {
	switch e := e.(type) {
	case *sqlparser.AndExpr:
		sq.pushDown(e.Left)
		sq.pushDown(e.Right)
	case *sqlparser.ParenExpr:
		sq.pushDown(e.Expr)
	case *sqlparser.ComparisonExpr:
		col, ok := e.Left.(*sqlparser.ColName)
		if !ok {
			return
		}
		switch {
		case col.Name.Lowered() == "partition" && (e.Operator == sqlparser.EqualStr || e.Operator == sqlparser.InStr):
			var ps []int32
			for _, v := range flattenTuple(e.Right) {
				if n, err := sq.eval(v, &sqlRecord{}); err == nil {
					if f, ok := n.(float64); ok {
						ps = append(ps, int32(f))
					}
				}
			}
			sq.partitions = intersect(sq.partitions, ps)
		case col.Name.Lowered() == "timestamp" && (e.Operator == sqlparser.GreaterThanStr || e.Operator == sqlparser.GreaterEqualStr):
			if v, err := sq.eval(e.Right, &sqlRecord{}); err == nil {
				if f, ok := v.(float64); ok && int64(f) > sq.fromTime {
					sq.fromTime = int64(f)
				}
			}
		}
	}
}

func flattenTuple(e sqlparser.Expr) []sqlparser.Expr {
	if t, ok := e.(sqlparser.ValTuple); ok {
		return t
	}
	return []sqlparser.Expr{e}
}

func intersect(a, b []int32) []int32 {
	if a == nil {
		return b
	}
	out := []int32{}
	for _, x := range a {
		if containsInt32(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// sqlRecord is one record under evaluation; JSON is parsed once, lazily.
type sqlRecord struct {
	r          *segment.Record
	p          int32
	valueJSON  any
	keyJSON    any
	parsedV    bool
	parsedK    bool
	headersStr *string
}

func (sr *sqlRecord) column(name string) any {
	r := sr.r
	if r == nil {
		return nil
	}
	switch name {
	case "partition":
		return float64(sr.p)
	case "offset":
		return float64(r.Offset)
	case "timestamp":
		return float64(r.Timestamp)
	case "size":
		return float64(len(r.Value))
	case "key":
		if r.KeyNull {
			return nil
		}
		return string(r.Key)
	case "value":
		if r.ValueNull {
			return nil
		}
		return string(r.Value)
	case "headers":
		if sr.headersStr == nil {
			m := map[string]string{}
			for _, h := range r.Headers {
				m[h.Key] = string(h.Value)
			}
			b, _ := json.Marshal(m)
			s := string(b)
			sr.headersStr = &s
		}
		return *sr.headersStr
	}
	return nil
}

func (sr *sqlRecord) json(col string) any {
	if col == "key" {
		if !sr.parsedK {
			sr.parsedK = true
			_ = json.Unmarshal(sr.r.Key, &sr.keyJSON)
		}
		return sr.keyJSON
	}
	if !sr.parsedV {
		sr.parsedV = true
		_ = json.Unmarshal(sr.r.Value, &sr.valueJSON)
	}
	return sr.valueJSON
}

// eval computes e for a record. Values are nil, float64, string or bool.
func (sq *sqlQuery) eval(e sqlparser.Expr, sr *sqlRecord) (any, error) {
	switch e := e.(type) {
	case *sqlparser.ColName:
		return sr.column(e.Name.Lowered()), nil
	case *sqlparser.SQLVal:
		switch e.Type {
		case sqlparser.StrVal:
			return string(e.Val), nil
		case sqlparser.IntVal, sqlparser.FloatVal:
			f, err := strconv.ParseFloat(string(e.Val), 64)
			if err != nil {
				return nil, queryErr("bad number %s", e.Val)
			}
			return f, nil
		}
		return nil, queryErr("unsupported literal %s", sqlparser.String(e))
	case *sqlparser.NullVal:
		return nil, nil
	case sqlparser.BoolVal:
		return bool(e), nil
	case *sqlparser.ParenExpr:
		return sq.eval(e.Expr, sr)
	case *sqlparser.AndExpr:
		l, err := sq.eval(e.Left, sr)
		if err != nil || !truthy(l) {
			return false, err
		}
		r, err := sq.eval(e.Right, sr)
		return truthy(r), err
	case *sqlparser.OrExpr:
		l, err := sq.eval(e.Left, sr)
		if err != nil || truthy(l) {
			return true, err
		}
		r, err := sq.eval(e.Right, sr)
		return truthy(r), err
	case *sqlparser.NotExpr:
		v, err := sq.eval(e.Expr, sr)
		return !truthy(v), err
	case *sqlparser.ComparisonExpr:
		return sq.compare(e, sr)
	case *sqlparser.RangeCond:
		v, err1 := sq.eval(e.Left, sr)
		lo, err2 := sq.eval(e.From, sr)
		hi, err3 := sq.eval(e.To, sr)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, err
		}
		in := cmp(v, lo) >= 0 && cmp(v, hi) <= 0 && v != nil
		if e.Operator == sqlparser.NotBetweenStr {
			return !in, nil
		}
		return in, nil
	case *sqlparser.IsExpr:
		v, err := sq.eval(e.Expr, sr)
		switch e.Operator {
		case sqlparser.IsNullStr:
			return v == nil, err
		case sqlparser.IsNotNullStr:
			return v != nil, err
		case sqlparser.IsTrueStr:
			return truthy(v), err
		case sqlparser.IsFalseStr:
			return !truthy(v), err
		}
		return nil, queryErr("unsupported %s", e.Operator)
	case *sqlparser.BinaryExpr:
		return sq.arith(e, sr)
	case *sqlparser.UnaryExpr:
		v, err := sq.eval(e.Expr, sr)
		if f, ok := v.(float64); ok && e.Operator == sqlparser.UMinusStr {
			return -f, err
		}
		return v, err
	case *sqlparser.IntervalExpr:
		return sq.interval(e, sr)
	case *sqlparser.FuncExpr:
		return sq.call(e, sr)
	}
	return nil, queryErr("unsupported expression %s", sqlparser.String(e))
}

func (sq *sqlQuery) compare(e *sqlparser.ComparisonExpr, sr *sqlRecord) (any, error) {
	l, err := sq.eval(e.Left, sr)
	if err != nil {
		return nil, err
	}
	switch e.Operator {
	case sqlparser.InStr, sqlparser.NotInStr:
		found := false
		for _, x := range flattenTuple(e.Right) {
			v, err := sq.eval(x, sr)
			if err != nil {
				return nil, err
			}
			if l != nil && cmp(l, v) == 0 {
				found = true
				break
			}
		}
		return found == (e.Operator == sqlparser.InStr), nil
	}
	r, err := sq.eval(e.Right, sr)
	if err != nil {
		return nil, err
	}
	if l == nil || r == nil {
		return false, nil // SQL: a comparison with NULL is not true
	}
	switch e.Operator {
	case sqlparser.EqualStr:
		return cmp(l, r) == 0, nil
	case sqlparser.NotEqualStr:
		return cmp(l, r) != 0, nil
	case sqlparser.LessThanStr:
		return cmp(l, r) < 0, nil
	case sqlparser.LessEqualStr:
		return cmp(l, r) <= 0, nil
	case sqlparser.GreaterThanStr:
		return cmp(l, r) > 0, nil
	case sqlparser.GreaterEqualStr:
		return cmp(l, r) >= 0, nil
	case sqlparser.LikeStr, sqlparser.NotLikeStr:
		pat, _ := r.(string)
		m := like(toString(l), pat)
		return m == (e.Operator == sqlparser.LikeStr), nil
	}
	return nil, queryErr("unsupported operator %s", e.Operator)
}

// like matches SQL LIKE: % any run, _ one byte; a pattern that is
// %literal% (the common case) is a substring test.
func like(s, pat string) bool {
	if len(pat) >= 2 && pat[0] == '%' && pat[len(pat)-1] == '%' && !strings.ContainsAny(pat[1:len(pat)-1], "%_") {
		return strings.Contains(s, pat[1:len(pat)-1])
	}
	if pat == "" {
		return s == ""
	}
	switch pat[0] {
	case '%':
		for i := 0; i <= len(s); i++ {
			if like(s[i:], pat[1:]) {
				return true
			}
		}
		return false
	case '_':
		return s != "" && like(s[1:], pat[1:])
	}
	return s != "" && s[0] == pat[0] && like(s[1:], pat[1:])
}

func toString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// cmp orders two values: numbers numerically (strings that are numbers
// too), else as strings.
func cmp(a, b any) int {
	fa, okA := num(a)
	fb, okB := num(b)
	if okA && okB {
		switch {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	}
	return strings.Compare(toString(a), toString(b))
}

func num(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case bool:
		if v {
			return 1, true
		}
		return 0, true
	case string:
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	}
	return 0, false
}

func truthy(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case float64:
		return v != 0
	case string:
		return v != ""
	}
	return false
}

func (sq *sqlQuery) arith(e *sqlparser.BinaryExpr, sr *sqlRecord) (any, error) {
	l, err1 := sq.eval(e.Left, sr)
	r, err2 := sq.eval(e.Right, sr)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	fl, ok1 := num(l)
	fr, ok2 := num(r)
	if !ok1 || !ok2 {
		return nil, nil
	}
	switch e.Operator {
	case sqlparser.PlusStr:
		return fl + fr, nil
	case sqlparser.MinusStr:
		return fl - fr, nil
	case sqlparser.MultStr:
		return fl * fr, nil
	case sqlparser.DivStr:
		if fr == 0 {
			return nil, nil
		}
		return fl / fr, nil
	}
	return nil, queryErr("unsupported operator %s", e.Operator)
}

var intervalUnits = map[string]time.Duration{"microsecond": time.Microsecond, "second": time.Second, "minute": time.Minute,
	"hour": time.Hour, "day": 24 * time.Hour, "week": 7 * 24 * time.Hour}

// interval is a duration in milliseconds (timestamps are in ms).
func (sq *sqlQuery) interval(e *sqlparser.IntervalExpr, sr *sqlRecord) (any, error) {
	v, err := sq.eval(e.Expr, sr)
	if err != nil {
		return nil, err
	}
	f, ok := num(v)
	unit, known := intervalUnits[strings.TrimSuffix(strings.ToLower(e.Unit), "s")]
	if !ok || !known {
		return nil, queryErr("bad interval %s (units: second, minute, hour, day, week)", sqlparser.String(e))
	}
	return f * float64(unit/time.Millisecond), nil
}

func (sq *sqlQuery) call(e *sqlparser.FuncExpr, sr *sqlRecord) (any, error) {
	switch e.Name.Lowered() {
	case "now", "current_timestamp":
		return float64(sq.now.UnixMilli()), nil
	case "json_extract", "json_value":
		if len(e.Exprs) != 2 {
			return nil, queryErr("%s(value, '$.path') takes two arguments", e.Name.String())
		}
		col, ok1 := e.Exprs[0].(*sqlparser.AliasedExpr)
		path, ok2 := e.Exprs[1].(*sqlparser.AliasedExpr)
		if !ok1 || !ok2 {
			return nil, queryErr("bad arguments to %s", e.Name.String())
		}
		c, ok := col.Expr.(*sqlparser.ColName)
		if !ok || c.Name.Lowered() != "value" && c.Name.Lowered() != "key" {
			return nil, queryErr("%s reads value or key", e.Name.String())
		}
		p, err := sq.eval(path.Expr, sr)
		if err != nil {
			return nil, err
		}
		ps, _ := p.(string)
		if sr.r == nil {
			return nil, nil
		}
		return jsonPath(sr.json(c.Name.Lowered()), ps)
	case "length":
		if len(e.Exprs) != 1 {
			return nil, queryErr("length takes one argument")
		}
		a, ok := e.Exprs[0].(*sqlparser.AliasedExpr)
		if !ok {
			return nil, queryErr("bad argument to length")
		}
		v, err := sq.eval(a.Expr, sr)
		if v == nil {
			return nil, err
		}
		return float64(len(toString(v))), err
	}
	return nil, queryErr("unknown function %s (known: now, json_extract, json_value, length)", e.Name.String())
}

// jsonPath follows $.a.b[0] into v; a missing step gives nil.
func jsonPath(v any, path string) (any, error) {
	if !strings.HasPrefix(path, "$") {
		return nil, queryErr("JSON path %q must start with $", path)
	}
	rest := path[1:]
	for rest != "" {
		switch rest[0] {
		case '.':
			end := strings.IndexAny(rest[1:], ".[")
			if end < 0 {
				end = len(rest) - 1
			}
			m, ok := v.(map[string]any)
			if !ok {
				return nil, nil
			}
			v = m[rest[1:1+end]]
			rest = rest[1+end:]
		case '[':
			end := strings.IndexByte(rest, ']')
			n, err := strconv.Atoi(rest[1:max(end, 1)])
			if end < 0 || err != nil {
				return nil, queryErr("bad JSON path %q", path)
			}
			a, ok := v.([]any)
			if !ok || n < 0 || n >= len(a) {
				return nil, nil
			}
			v = a[n]
			rest = rest[end+1:]
		default:
			return nil, queryErr("bad JSON path %q", path)
		}
	}
	switch v.(type) {
	case map[string]any, []any:
		b, _ := json.Marshal(v)
		return string(b), nil
	}
	return v, nil
}

// QueryResult is a query's answer.
type QueryResult struct {
	Columns   []string `json:"columns"`
	Rows      [][]any  `json:"rows"`
	Scanned   int64    `json:"scanned_records"`
	Bytes     int64    `json:"scanned_bytes"`
	Stopped   string   `json:"stopped"` // end, limit, budget or cancelled
	ElapsedMs int64    `json:"elapsed_ms"`
}

// run evaluates sq over the topic's partitions: local ones from their
// segments, remote ones fetched from their leaders (each read bounded by
// the remote bound; a leader that does not answer fails the query).
func (sq *sqlQuery) run(ctx context.Context, c *Console, topic string, ps []part) (QueryResult, error) {
	res := QueryResult{Columns: sq.columns, Rows: [][]any{}, Stopped: "end"}
	start := time.Now()
	defer func() { res.ElapsedMs = time.Since(start).Milliseconds() }()
	var buf []byte // one read buffer for every partition
	for _, p := range ps {
		if sq.partitions != nil && !containsInt32(sq.partitions, p.meta.Partition) {
			continue
		}
		var err error
		if p.local != nil {
			err = sq.runLocal(ctx, p.local, &buf, &res)
		} else {
			err = sq.runRemote(ctx, c, topic, p, &res)
		}
		if err != nil {
			return res, err
		}
		if len(res.Rows) >= sq.limit {
			res.Stopped = "limit"
			break
		}
	}
	return res, nil
}

// add evaluates sq on one record, adding its row to res when it matches;
// it reports whether to go on.
func (sq *sqlQuery) add(r *segment.Record, p int32, res *QueryResult) (bool, error) {
	res.Scanned++
	sr := &sqlRecord{r: r, p: p}
	if sq.where != nil {
		ok, err := sq.eval(sq.where, sr)
		if err != nil {
			return false, err
		}
		if !truthy(ok) {
			return true, nil
		}
	}
	row := make([]any, len(sq.exprs))
	for i, e := range sq.exprs {
		v, err := sq.eval(e, sr)
		if err != nil {
			return false, err
		}
		if f, ok := v.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
			v = nil
		}
		row[i] = v
	}
	res.Rows = append(res.Rows, row)
	return len(res.Rows) < sq.limit, nil
}

func (sq *sqlQuery) runLocal(ctx context.Context, l *partition.Log, buf *[]byte, res *QueryResult) error {
	from := l.LogStartOffset()
	if sq.fromTime > 0 {
		off, _, ok, err := l.OffsetForTimestamp(sq.fromTime)
		if err != nil || !ok {
			return err
		}
		from = off
	}
	var evalErr error
	return scanBatchesBuf(ctx, l, from, true, buf, func(h segment.Header, batch []byte) (bool, error) {
		res.Bytes += h.Size()
		if h.Attributes&segment.AttrControl != 0 || sq.fromTime > 0 && h.MaxTimestamp < sq.fromTime {
			return true, nil
		}
		more := true
		err := segment.Records(batch, func(r segment.Record) bool {
			if r.Offset < from {
				return true
			}
			more, evalErr = sq.add(&r, l.Partition(), res)
			return more
		})
		if evalErr != nil {
			return false, evalErr
		}
		if err != nil {
			return false, fmt.Errorf("cannot decode batch at offset %d of %s-%d: %w", h.BaseOffset, l.Topic(), l.Partition(), err)
		}
		return more, nil
	})
}

func (sq *sqlQuery) runRemote(ctx context.Context, c *Console, topic string, p part, res *QueryResult) error {
	rd := reader{c: c, topic: topic, p: p}
	from, hw, err := rd.bounds(ctx)
	if err != nil {
		return err
	}
	if sq.fromTime > 0 {
		off, ok, err := rd.offsetForTime(ctx, sq.fromTime)
		if err != nil || !ok {
			return err
		}
		from = max(from, off)
	}
	var evalErr error
	err = c.fetchRemote(ctx, topic, p.meta.Partition, from, hw, func(r segment.Record) bool {
		res.Bytes += int64(len(r.Key) + len(r.Value))
		var more bool
		more, evalErr = sq.add(&r, p.meta.Partition, res)
		return more
	})
	return errors.Join(evalErr, err)
}

// GET /api/query?sql=SELECT…&budget_ms=10000
func (c *Console) queryAPI(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("sql")
	if strings.TrimSpace(q) == "" {
		writeErr(w, http.StatusBadRequest, "sql is required")
		return
	}
	budget, err := intParam(r, "budget_ms", 10000, 1, 60000)
	if err != nil {
		writeErr(w, http.StatusBadRequest, "%v", err)
		return
	}
	sq, err := parseQuery(q, time.Now())
	if err != nil {
		writeErr(w, http.StatusBadRequest, "%v", err)
		return
	}
	if sq.where != nil {
		if err := checkExpr(sq.where); err != nil {
			writeErr(w, http.StatusBadRequest, "%v", err)
			return
		}
	}
	if !c.topicAccess(w, r, sq.topic, acl.Read) {
		return
	}
	ps := c.topicParts()[sq.topic]
	if len(ps) == 0 {
		writeErr(w, http.StatusNotFound, "unknown topic %q", sq.topic)
		return
	}
	ctx, cancel := contextWithBudget(r, time.Duration(budget)*time.Millisecond)
	defer cancel()
	res, err := sq.run(ctx, c, sq.topic, ps)
	switch {
	case err == nil:
	case r.Context().Err() == nil && errors.Is(context.Cause(ctx), errBudget):
		res.Stopped = "budget"
	case r.Context().Err() != nil:
		return // the client went away
	case errors.Is(err, errQuery):
		writeErr(w, http.StatusBadRequest, "%v", err)
		return
	default:
		writeErr(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
