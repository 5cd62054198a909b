package metrics

import (
	"bytes"
	"io"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/sluice/sluice/broker"
)

// stackTrace matches what a Go stack trace or error page would show.
var stackTrace = regexp.MustCompile(`goroutine \d+ \[|\.go:\d+|error|panic`)

func TestLabelValue(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := labelValue(in); got != want {
			t.Fatalf("labelValue(%q) = %q, want %q", in, got, want)
		}
	}
	f("", "")
	f("group-1", "group-1")
	f("grüße", "grüße")
	f("g\xff", `g\xff`)
	f("\xc3", `\xc3`)                 // a truncated sequence
	f("a\xc3\xa9\xe9b", `aé\xe9b`)    // valid runes kept, each bad byte escaped
	f("\xed\xa0\x80", `\xed\xa0\x80`) // a surrogate is not valid UTF-8
}

// TestScrapeInvalidUTF8Group: a group name that is not UTF-8 no longer
// fails the whole scrape (it was a permanent HTTP 500 whose body held a
// stack trace); a collision of escaped and literal names costs one sample,
// is logged, and the scrape still answers 200 without error text.
func TestScrapeInvalidUTF8Group(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	m := New()
	lags := []broker.PartitionLag{
		{Group: "g\xff", Topic: "t", Partition: 0, Committed: 5, Lag: 1},
		{Group: "ok", Topic: "t", Partition: 0, Committed: 7},
	}
	m.SetSources(Sources{Lag: func() []broker.PartitionLag { return lags }})
	scrape := func() string {
		t.Helper()
		rec := httptest.NewRecorder()
		m.Handler(log).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		b, _ := io.ReadAll(rec.Body)
		if rec.Code != 200 {
			t.Fatalf("status %d:\n%s", rec.Code, b)
		}
		if loc := stackTrace.Find(b); loc != nil {
			t.Fatalf("response shows %q:\n%s", loc, b)
		}
		return string(b)
	}
	out := scrape()
	for _, want := range []string{
		`sluice_consumer_group_committed_offset{group="g\\xff",partition="0",topic="t"} 5`,
		`sluice_consumer_group_lag{group="g\\xff",partition="0",topic="t"} 1`,
		`sluice_consumer_group_committed_offset{group="ok",partition="0",topic="t"} 7`,
		"sluice_go_goroutines ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if logs.Len() != 0 {
		t.Errorf("logged: %s", logs.String())
	}

	lags = append(lags, broker.PartitionLag{Group: `g\xff`, Topic: "t", Partition: 0, Committed: 9})
	out = scrape()
	if !strings.Contains(out, `sluice_consumer_group_committed_offset{group="ok",partition="0",topic="t"} 7`) {
		t.Errorf("other samples lost:\n%s", out)
	}
	if !strings.Contains(logs.String(), "some samples could not be gathered") {
		t.Errorf("collision not logged: %q", logs.String())
	}
}
