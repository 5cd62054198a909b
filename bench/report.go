package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// WriteReport writes dir/results.json and dir/chart.svg (throughput and
// p99 latency per second).
func WriteReport(dir string, res *Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: cannot create report directory: %w", err)
	}
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: cannot encode results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: cannot write results: %w", err)
	}
	var svg strings.Builder
	WriteSVG(&svg, res)
	if err := os.WriteFile(filepath.Join(dir, "chart.svg"), []byte(svg.String()), 0o644); err != nil {
		return fmt.Errorf("bench: cannot write chart: %w", err)
	}
	return nil
}

// Chart geometry.
const (
	svgW, svgH             = 800, 360
	padL, padR, padT, padB = 70, 70, 40, 50
)

// WriteSVG draws MB/s (left axis, blue) and p99 ms (right axis, red) per
// second of the run.
func WriteSVG(w io.Writer, res *Result) {
	s := res.Series
	maxT, maxMB, maxP := 1.0, 1.0, 1.0
	for _, p := range s {
		maxT, maxMB, maxP = max(maxT, p.T), max(maxMB, p.MBps), max(maxP, p.P99)
	}
	maxMB, maxP = niceCeil(maxMB), niceCeil(maxP)
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", svgW, svgH)
	fmt.Fprintf(w, `<rect width="%d" height="%d" fill="white"/>`+"\n", svgW, svgH)
	fmt.Fprintf(w, `<text x="%d" y="20" font-size="14">sluice bench %s: %s</text>`+"\n", padL, res.Mode, xmlEscape(res.Line()))
	drawAxes(w, maxT, maxMB, maxP)
	x := func(t float64) float64 { return padL + t/maxT*(svgW-padL-padR) }
	y := func(v, top float64) float64 { return svgH - padB - v/top*(svgH-padT-padB) }
	polyline(w, s, "#1f77b4", func(p Sample) (float64, float64) { return x(p.T), y(p.MBps, maxMB) })
	polyline(w, s, "#d62728", func(p Sample) (float64, float64) { return x(p.T), y(p.P99, maxP) })
	fmt.Fprintln(w, `</svg>`)
}

func drawAxes(w io.Writer, maxT, maxMB, maxP float64) {
	x0, x1, y0, y1 := padL, svgW-padR, svgH-padB, padT
	fmt.Fprintf(w, `<path d="M%d %d V%d H%d V%d" fill="none" stroke="black"/>`+"\n", x0, y1, y0, x1, y1)
	for i := 0; i <= 4; i++ {
		f := float64(i) / 4
		yy := float64(y0) - f*float64(y0-y1)
		fmt.Fprintf(w, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x0, x1, yy, yy)
		fmt.Fprintf(w, `<text x="%d" y="%.1f" text-anchor="end" fill="#1f77b4">%g</text>`+"\n", x0-5, yy+4, f*maxMB)
		fmt.Fprintf(w, `<text x="%d" y="%.1f" fill="#d62728">%g</text>`+"\n", x1+5, yy+4, f*maxP)
		xx := float64(x0) + f*float64(x1-x0)
		fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle">%.0f</text>`+"\n", xx, y0+18, f*maxT)
	}
	fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="middle">seconds</text>`+"\n", (x0+x1)/2, y0+38)
	fmt.Fprintf(w, `<text x="15" y="%d" fill="#1f77b4" transform="rotate(-90 15 %d)" text-anchor="middle">MB/s</text>`+"\n", (y0+y1)/2, (y0+y1)/2)
	fmt.Fprintf(w, `<text x="%d" y="%d" fill="#d62728" transform="rotate(90 %d %d)" text-anchor="middle">p99 ms</text>`+"\n", svgW-15, (y0+y1)/2, svgW-15, (y0+y1)/2)
}

func polyline(w io.Writer, s []Sample, color string, pt func(Sample) (float64, float64)) {
	if len(s) == 0 {
		return
	}
	fmt.Fprintf(w, `<polyline fill="none" stroke="%s" stroke-width="2" points="`, color)
	for i, p := range s {
		x, y := pt(p)
		if i > 0 {
			fmt.Fprint(w, " ")
		}
		fmt.Fprintf(w, "%.1f,%.1f", x, y)
	}
	fmt.Fprintln(w, `"/>`)
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
