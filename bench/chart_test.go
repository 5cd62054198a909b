package bench

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestNiceStep(t *testing.T) {
	f := func(raw, want float64) {
		t.Helper()
		if got := niceStep(raw); got != want {
			t.Fatalf("niceStep(%g) = %g, want %g", raw, got, want)
		}
	}
	f(0.25, 0.5)
	f(0.2, 0.2)
	f(1, 1)
	f(1.1, 2)
	f(2.5, 5)
	f(7.5, 10)
	f(167, 200)
	f(0.003, 0.005)
	f(450, 500)
}

func TestTimeTicks(t *testing.T) {
	f := func(maxT float64, want string) {
		t.Helper()
		tk := timeTicks(maxT, timeIntervals)
		var labels []string
		for _, v := range tk.values {
			labels = append(labels, tk.label(v))
		}
		if got := strings.Join(labels, " "); got != want {
			t.Fatalf("timeTicks(%g) = %q, want %q", maxT, got, want)
		}
		if tk.top != maxT && maxT > 0 {
			t.Fatalf("timeTicks(%g) ends at %g", maxT, tk.top)
		}
	}
	f(2.003, "0.0 0.5 1.0 1.5 2.0") // a 2-second run: never "0 0 0 1 1"
	f(1, "0.0 0.2 0.4 0.6 0.8 1.0")
	f(0.4, "0.00 0.05 0.10 0.15 0.20 0.25 0.30 0.35 0.40")
	f(20.4, "0 5 10 15 20")
	f(60.2, "0 10 20 30 40 50 60")
	f(61, "0 10 20 30 40 50 60")
	f(600, "0 100 200 300 400 500 600")
	f(3600, "0 500 1000 1500 2000 2500 3000 3500")
	f(0, "0.0 0.2 0.4 0.6 0.8 1.0") // no time at all: a 1-second frame
}

func TestValueTicks(t *testing.T) {
	f := func(maxV float64, want string, top float64) {
		t.Helper()
		tk := valueTicks(maxV, valueIntervals)
		var labels []string
		for _, v := range tk.values {
			labels = append(labels, tk.label(v))
		}
		if got := strings.Join(labels, " "); got != want || tk.top != top {
			t.Fatalf("valueTicks(%g) = %q top %g, want %q top %g", maxV, got, tk.top, want, top)
		}
	}
	f(835, "0 200 400 600 800 1000", 1000)
	f(1000, "0 200 400 600 800 1000", 1000)
	f(11.24, "0 5 10 15", 15)
	f(3.97, "0 1 2 3 4", 4)
	f(0.8, "0.0 0.2 0.4 0.6 0.8", 0.8)
	f(0.031, "0.00 0.01 0.02 0.03 0.04", 0.04)
	f(0, "0.0 0.2 0.4 0.6 0.8 1.0", 1)
}

func TestWrapWords(t *testing.T) {
	f := func(s string, n int, want ...string) {
		t.Helper()
		if got := wrapWords(s, n); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("wrapWords(%q, %d) = %q, want %q", s, n, got, want)
		}
	}
	f("a bb ccc", 4, "a bb", "ccc")
	f("a bb ccc", 100, "a bb ccc")
	f("loooooong a", 3, "loooooong", "a")
	f("", 10)
}

// svgTexts parses an SVG (so it must be well-formed XML) and returns the
// content of its text elements.
func svgTexts(t *testing.T, svg string) []string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	var texts []string
	inText := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return texts
		}
		if err != nil {
			t.Fatalf("chart is not well-formed XML: %v\n%s", err, svg)
		}
		switch v := tok.(type) {
		case xml.StartElement:
			inText = v.Name.Local == "text"
		case xml.CharData:
			if inText {
				texts = append(texts, string(v))
			}
		case xml.EndElement:
			inText = false
		}
	}
}

func sampleResult(seconds int) *Result {
	r := &Result{Mode: ModeProduce, Topic: "T", Partitions: 4, RecordSize: 16384, Acks: 1,
		Connections: 1, Inflight: 4, Seconds: float64(seconds) + 0.004, MBps: 835.1, RecordsPerSec: 53408,
		Latency: Latency{P50: 3.86, P99: 11.24, P999: 13.6, Max: 17.32},
		Floor:   &Floor{Kind: "tcp-to-file", MBps: 1275.3}, FloorRatio: 0.65,
		Broker: &Usage{CPUSecPerGB: 0.97, RSSMB: 51, HWMMB: 59}}
	for i := 1; i <= seconds; i++ {
		r.Series = append(r.Series, Sample{T: float64(i), MBps: 800 + float64(i%3)*20, Latencies: 100, P50: 3.5, P99: 10 + float64(i%2)})
	}
	return r
}

func TestWriteSVG(t *testing.T) {
	f := func(seconds int, wantTicks string) {
		t.Helper()
		var b strings.Builder
		res := sampleResult(seconds)
		WriteSVG(&b, res)
		texts := strings.Join(svgTexts(t, b.String()), "\n")
		// The whole result line is there, wrapped but not cut.
		for _, w := range strings.Fields(res.Line()) {
			if !strings.Contains(texts, w) {
				t.Errorf("%d s: title lacks %q:\n%s", seconds, w, texts)
			}
		}
		for _, w := range append(strings.Fields(wantTicks), "seconds since the start", "p50 per second (right)",
			"p99 per second (right)", "MB/s per second (left)", "floor (tcp-to-file): 1275 MB/s",
			"p99 of the whole run: 11.24ms", "16384-byte records") {
			if !strings.Contains(texts, w) {
				t.Errorf("%d s: chart lacks %q:\n%s", seconds, w, texts)
			}
		}
		if got := strings.Count(b.String(), "<polyline"); got != 3 && seconds > 0 || got != 0 && seconds == 0 {
			t.Errorf("%d s: %d polylines, want 3 (MB/s, p50, p99)", seconds, got)
		}
	}
	f(2, "0.5 1.0 1.5 2.0")
	f(60, "10 20 30 40 50 60")
	f(0, "0.0 0.2 1.0 no per-second sample")
}

func TestLatencyRuns(t *testing.T) {
	f := func(counts []uint64, want string) {
		t.Helper()
		var s []Sample
		for i, n := range counts {
			s = append(s, Sample{T: float64(i + 1), Latencies: n})
		}
		var got []string
		for _, run := range latencyRuns(s) {
			got = append(got, fmt.Sprintf("%g-%g", run[0].T, run[len(run)-1].T))
		}
		if strings.Join(got, " ") != want {
			t.Fatalf("latencyRuns(%v) = %v, want %q", counts, got, want)
		}
	}
	f(nil, "")
	f([]uint64{5, 5, 0}, "1-2") // the idle tail is not drawn at 0 ms
	f([]uint64{0, 3, 0, 4, 4}, "2-2 4-5")
	f([]uint64{0, 0}, "")
}
