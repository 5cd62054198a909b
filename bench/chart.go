package bench

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// The chart of a run (chart.svg of --report):
//
//	┌ title: mode and settings; the whole result line, wrapped, never cut ┐
//	│ MB/s (left axis)                             latency ms (right axis) │
//	│   ─── MB/s per second (blue)   - - - the floor's MB/s, when measured │
//	│   ─── p50 per second (green)   ─── p99 per second (red)              │
//	│   - - - p99 of the whole run (red, dashed)                           │
//	│ time since the start, seconds: ticks of 1, 2 or 5 × 10^k             │
//	└ legend                                                               ┘
//
// Each sample is drawn at the end of its one-second interval; with few
// samples every point also gets a marker, so a 2-second run shows two
// points on labelled axes rather than an empty frame.

// Chart geometry and colours.
const (
	chartW         = 900
	plotL, plotR   = 80, 820 // the plot's left and right edges
	titleLineH     = 17
	titleChars     = 118 // characters per title line at 12 px
	headChars      = 92  // characters per headline line (14 px bold)
	markerMax      = 40  // samples up to which each point gets a marker
	colorMBps      = "#1f77b4"
	colorP50       = "#2ca02c"
	colorP99       = "#d62728"
	colorFloor     = "#7f7f7f"
	timeIntervals  = 8 // about this many ticks on the time axis
	valueIntervals = 5
)

// niceStep is the smallest 1, 2 or 5 × 10^k at or above raw (raw > 0).
func niceStep(raw float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// ticks is an axis: its values, the decimals their labels need, and the
// value at the axis' far end.
type ticks struct {
	values []float64
	dec    int
	top    float64
}

// decimals is how many fractional digits label a step of 1, 2 or 5 × 10^k.
func decimals(step float64) int {
	return max(0, int(math.Ceil(-math.Log10(step)-1e-9)))
}

// valueTicks spans 0 to the first tick at or above maxV, about n
// intervals of 1, 2 or 5 × 10^k (maxV ≤ 0 gives 0 to 1).
func valueTicks(maxV float64, n int) ticks {
	if !(maxV > 0) || math.IsInf(maxV, 0) {
		maxV = 1
	}
	step := niceStep(maxV / float64(n))
	k := math.Ceil(maxV/step - 1e-9)
	t := ticks{dec: decimals(step), top: k * step}
	for i := 0.0; i <= k; i++ {
		t.values = append(t.values, i*step)
	}
	return t
}

// timeTicks spans exactly 0 to maxT (a run's length) with ticks of 1, 2
// or 5 × 10^k seconds at or below it, about n intervals.
func timeTicks(maxT float64, n int) ticks {
	if !(maxT > 0) || math.IsInf(maxT, 0) {
		maxT = 1
	}
	step := niceStep(maxT / float64(n))
	t := ticks{dec: decimals(step), top: maxT}
	for i := 0.0; i*step <= maxT*(1+1e-9); i++ {
		t.values = append(t.values, i*step)
	}
	return t
}

func (t ticks) label(v float64) string { return strconv.FormatFloat(v, 'f', t.dec, 64) }

// chart holds one drawing's scales.
type chart struct {
	w                io.Writer
	top, bottom      int // the plot's top and bottom edges
	tx, mb, lat      ticks
	res              *Result
	latName, mbName  string
	legend           []legendItem
	markers, noData  bool
	headLines        int // title lines of the headline (bold)
	runP99, floorMBs float64
}

type legendItem struct {
	color, label string
	dashed       bool
}

// WriteSVG draws the run's throughput (left axis) and per-second p50 and
// p99 latency (right axis) against seconds since its start, under a title
// that holds the whole result line.
func WriteSVG(w io.Writer, res *Result) {
	c := newChart(w, res)
	height := c.bottom + 90
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		chartW, height, chartW, height)
	fmt.Fprintf(w, `<rect width="%d" height="%d" fill="white"/>`+"\n", chartW, height)
	c.title()
	c.axes()
	c.series()
	c.drawLegend(height - 14)
	fmt.Fprintln(w, `</svg>`)
}

func newChart(w io.Writer, res *Result) *chart {
	c := &chart{w: w, res: res, markers: len(res.Series) <= markerMax, noData: len(res.Series) == 0}
	maxT, maxMB, maxLat := res.Seconds, 0.0, res.Latency.P99
	for _, p := range res.Series {
		maxT, maxMB, maxLat = max(maxT, p.T), max(maxMB, p.MBps), max(maxLat, p.P99, p.P50)
	}
	if c.noData {
		maxT = max(maxT, 1) // a frame of at least one second around the note
	}
	c.runP99 = res.Latency.P99
	if res.Floor != nil {
		c.floorMBs = res.Floor.MBps
		maxMB = max(maxMB, c.floorMBs)
	}
	c.tx, c.mb, c.lat = timeTicks(maxT, timeIntervals), valueTicks(maxMB, valueIntervals), valueTicks(maxLat, valueIntervals)
	c.top = 14 + titleLineH*len(c.titleLines()) + 16
	c.bottom = c.top + 300
	c.mbName, c.latName = "MB/s", latencyName(res.Mode)
	return c
}

func latencyName(mode string) string {
	switch mode {
	case ModeE2E:
		return "end-to-end latency, ms"
	case ModeConsume:
		return "fetch round trip, ms"
	}
	return "produce latency (write to response), ms"
}

// titleLines is the headline (mode and settings) and the result line
// wrapped at word boundaries.
func (c *chart) titleLines() []string {
	r := c.res
	head := fmt.Sprintf("sluice bench %s: topic %s, %d partition(s), ", r.Mode, r.Topic, r.Partitions)
	if r.RecordSize > 0 {
		head += fmt.Sprintf("%d-byte records, ", r.RecordSize)
	}
	if r.Mode != ModeConsume {
		head += fmt.Sprintf("acks=%d, ", r.Acks)
	}
	head += fmt.Sprintf("%d connection(s), %d in flight", r.Connections, r.Inflight)
	if r.Rate != "" && r.Mode != ModeConsume {
		head += ", rate " + r.Rate
	}
	head += fmt.Sprintf(", %.1f s", r.Seconds)
	lines := wrapWords(head, headChars)
	c.headLines = len(lines)
	if r.Produce != nil {
		lines = append(lines, wrapWords("produce side: "+r.Produce.Line(), titleChars)...)
	}
	return append(lines, wrapWords(r.Mode+": "+r.Line(), titleChars)...)
}

// wrapWords splits s into lines of at most n characters at spaces (a
// longer word gets a line of its own).
func wrapWords(s string, n int) []string {
	var lines []string
	var cur strings.Builder
	for _, w := range strings.Fields(s) {
		if cur.Len() > 0 && cur.Len()+1+len(w) > n {
			lines = append(lines, cur.String())
			cur.Reset()
		}
		if cur.Len() > 0 {
			cur.WriteByte(' ')
		}
		cur.WriteString(w)
	}
	if cur.Len() > 0 {
		lines = append(lines, cur.String())
	}
	return lines
}

func (c *chart) title() {
	for i, l := range c.titleLines() {
		size, weight := 12, "normal"
		if i < c.headLines {
			size, weight = 14, "bold"
		}
		fmt.Fprintf(c.w, `<text x="20" y="%d" font-size="%d" font-weight="%s">%s</text>`+"\n",
			20+i*titleLineH, size, weight, xmlEscape(l))
	}
}

func (c *chart) x(t float64) float64 {
	return plotL + t/c.tx.top*(plotR-plotL)
}

func (c *chart) y(v float64, t ticks) float64 {
	return float64(c.bottom) - v/t.top*float64(c.bottom-c.top)
}

func (c *chart) axes() {
	w, b, t := c.w, c.bottom, c.top
	for _, v := range c.mb.values {
		yy := c.y(v, c.mb)
		fmt.Fprintf(w, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e0e0e0"/>`+"\n", plotL, plotR, yy, yy)
		fmt.Fprintf(w, `<text x="%d" y="%.1f" text-anchor="end" fill="%s">%s</text>`+"\n", plotL-6, yy+4, colorMBps, c.mb.label(v))
	}
	for _, v := range c.lat.values {
		yy := c.y(v, c.lat)
		fmt.Fprintf(w, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="black"/>`+"\n", plotR, plotR+4, yy, yy)
		fmt.Fprintf(w, `<text x="%d" y="%.1f" fill="%s">%s</text>`+"\n", plotR+7, yy+4, colorP99, c.lat.label(v))
	}
	for _, v := range c.tx.values {
		xx := c.x(v)
		fmt.Fprintf(w, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="black"/>`+"\n", xx, xx, b, b+4)
		fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", xx, b+18, c.tx.label(v))
	}
	fmt.Fprintf(w, `<path d="M%d %d V%d H%d V%d" fill="none" stroke="black"/>`+"\n", plotL, t, b, plotR, t)
	fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="middle">seconds since the start (each point ends a one-second interval)</text>`+"\n", (plotL+plotR)/2, b+36)
	mid := (t + b) / 2
	fmt.Fprintf(w, `<text x="20" y="%d" fill="%s" transform="rotate(-90 20 %d)" text-anchor="middle">%s</text>`+"\n", mid, colorMBps, mid, c.mbName)
	fmt.Fprintf(w, `<text x="%d" y="%d" fill="%s" transform="rotate(90 %d %d)" text-anchor="middle">%s</text>`+"\n",
		chartW-18, mid, colorP99, chartW-18, mid, xmlEscape(c.latName))
	if c.noData {
		fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="middle" fill="#555">no per-second sample: the run lasted %.2f s</text>`+"\n",
			(plotL+plotR)/2, mid, c.res.Seconds)
	}
}

func (c *chart) series() {
	s := c.res.Series
	if c.floorMBs > 0 {
		c.hline(c.y(c.floorMBs, c.mb), colorFloor, fmt.Sprintf("floor (%s): %.0f MB/s", c.res.Floor.Kind, c.floorMBs))
	}
	if c.runP99 > 0 {
		c.hline(c.y(c.runP99, c.lat), colorP99, "p99 of the whole run: "+fmtMS(c.runP99))
	}
	c.line(s, colorMBps, "MB/s per second (left)", func(p Sample) float64 { return c.y(p.MBps, c.mb) })
	// A second without a latency value (the idle tail of a run) is a gap in
	// the latency lines, not a fall to 0 ms.
	lat := latencyRuns(s)
	c.legend = append(c.legend, legendItem{color: colorP50, label: "p50 per second (right)"},
		legendItem{color: colorP99, label: "p99 per second (right)"})
	for _, run := range lat {
		c.path(run, colorP50, func(p Sample) float64 { return c.y(p.P50, c.lat) })
		c.path(run, colorP99, func(p Sample) float64 { return c.y(p.P99, c.lat) })
	}
}

// latencyRuns splits s into runs of samples that have latency values.
func latencyRuns(s []Sample) [][]Sample {
	var runs [][]Sample
	start := -1
	for i := 0; i <= len(s); i++ {
		has := i < len(s) && s[i].Latencies > 0
		switch {
		case has && start < 0:
			start = i
		case !has && start >= 0:
			runs = append(runs, s[start:i])
			start = -1
		}
	}
	return runs
}

// hline draws a dashed horizontal reference line across the plot.
func (c *chart) hline(y float64, color, label string) {
	fmt.Fprintf(c.w, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="1.5" stroke-dasharray="6 4"/>`+"\n",
		plotL, plotR, y, y, color)
	c.legend = append(c.legend, legendItem{color: color, label: label, dashed: true})
}

func (c *chart) line(s []Sample, color, label string, y func(Sample) float64) {
	c.legend = append(c.legend, legendItem{color: color, label: label})
	c.path(s, color, y)
}

// path draws s as one polyline, with a marker per point when there are
// few.
func (c *chart) path(s []Sample, color string, y func(Sample) float64) {
	if len(s) == 0 {
		return
	}
	fmt.Fprintf(c.w, `<polyline fill="none" stroke="%s" stroke-width="2" points="`, color)
	for i, p := range s {
		if i > 0 {
			fmt.Fprint(c.w, " ")
		}
		fmt.Fprintf(c.w, "%.1f,%.1f", c.x(p.T), y(p))
	}
	fmt.Fprintln(c.w, `"/>`)
	if c.markers {
		for _, p := range s {
			fmt.Fprintf(c.w, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", c.x(p.T), y(p), color)
		}
	}
}

// drawLegend lays the legend out in one or two rows under the time axis.
func (c *chart) drawLegend(y int) {
	x, row := 20, 0
	for _, it := range c.legend {
		width := 34 + 7*len(it.label) + 18
		if x+width > chartW-10 && x > 20 {
			x, row = 20, row+1
		}
		yy := y - 16*(1-row) // two rows end at y
		dash := ""
		if it.dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(c.w, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", x, x+26, yy-4, yy-4, it.color, dash)
		fmt.Fprintf(c.w, `<text x="%d" y="%d">%s</text>`+"\n", x+32, yy, xmlEscape(it.label))
		x += width
	}
}
