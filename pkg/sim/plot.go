package sim

import (
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
)

// Chart geometry, in SVG user units.
const (
	plotW, plotH           = 900, 300
	padL, padR, padT, padB = 70, 20, 20, 40
)

// series drawn on a chart: a name, a colour and a value per sample.
type line struct {
	name  string
	color string
	value func(Sample) float64
}

// WritePlot writes the report as a self-contained HTML page: the summary,
// latency over time (p50, p90, p99, max) and throughput over time, drawn
// as inline SVG with no script and no external asset.
func (r *Report) WritePlot(w io.Writer) error {
	var b strings.Builder
	title := fmt.Sprintf("iogo sim: %s, %d players", r.Scenario, r.Players)
	fmt.Fprintf(&b, `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>%s</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse}td,th{padding:2px 12px 2px 0;text-align:right}
td:first-child,th:first-child{text-align:left}
svg{background:#fff;border:1px solid #ddd}
.axis{stroke:#888;stroke-width:1}.grid{stroke:#eee;stroke-width:1}
text{font:11px system-ui,sans-serif;fill:#555}
</style></head><body>
<h1>%s</h1>
`, html.EscapeString(title), html.EscapeString(title))
	l := r.Latency
	fmt.Fprintf(&b, `<p>%s &middot; started %s &middot; %.1f s &middot; %s requests &middot; %s errors &middot; %s req/s (steady %s req/s)</p>
<table><tr><th>latency</th><th>min</th><th>mean</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>
<tr><td>all requests</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>
`, html.EscapeString(r.URL), r.Started.Format("2006-01-02 15:04:05"), r.Seconds, group(r.Requests), group(r.Errors),
		group(int64(r.RPS+0.5)), group(int64(r.SteadyRPS+0.5)),
		fmtMS(l.MinMS), fmtMS(l.MeanMS), fmtMS(l.P50MS), fmtMS(l.P90MS), fmtMS(l.P99MS), fmtMS(l.P999MS), fmtMS(l.MaxMS))
	if sl := r.SteadyLatency; sl.Count > 0 {
		fmt.Fprintf(&b, "<tr><td>after ramp-up</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
			fmtMS(sl.MinMS), fmtMS(sl.MeanMS), fmtMS(sl.P50MS), fmtMS(sl.P90MS), fmtMS(sl.P99MS), fmtMS(sl.P999MS), fmtMS(sl.MaxMS))
	}
	for _, s := range r.Steps {
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
			html.EscapeString(s.Name), fmtMS(s.Latency.MinMS), fmtMS(s.Latency.MeanMS), fmtMS(s.Latency.P50MS),
			fmtMS(s.Latency.P90MS), fmtMS(s.Latency.P99MS), fmtMS(s.Latency.P999MS), fmtMS(s.Latency.MaxMS))
	}
	b.WriteString("</table>\n")
	if len(r.ErrorsByCode) > 0 {
		b.WriteString("<h2>Errors by code</h2><table>\n")
		for _, c := range r.codes() {
			n := r.ErrorsByCode[c]
			fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td style=\"text-align:left\">%s</td></tr>\n",
				html.EscapeString(c), group(n), html.EscapeString(oneLine(r.ErrorSamples[c], 200)))
		}
		b.WriteString("</table>\n")
	}
	b.WriteString("<h2>Latency over time (ms)</h2>\n")
	chart(&b, r.Series, []line{
		{"max", "#bbb", func(s Sample) float64 { return s.MaxMS }},
		{"p99", "#d62728", func(s Sample) float64 { return s.P99MS }},
		{"p90", "#ff7f0e", func(s Sample) float64 { return s.P90MS }},
		{"p50", "#1f77b4", func(s Sample) float64 { return s.P50MS }},
	})
	b.WriteString("<h2>Throughput over time (requests/s)</h2>\n")
	chart(&b, r.Series, []line{
		{"req/s", "#2ca02c", func(s Sample) float64 { return s.RPS }},
		{"errors/s", "#d62728", func(s Sample) float64 {
			if s.RPS == 0 || s.Requests == 0 {
				return 0
			}
			return float64(s.Errors) * s.RPS / float64(s.Requests)
		}},
	})
	b.WriteString("</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// chart draws lines over time as one SVG element.
func chart(b *strings.Builder, samples []Sample, lines []line) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">`+"\n", plotW, plotH, plotW, plotH)
	defer b.WriteString("</svg>\n")
	tMax, yMax := 0.0, 0.0
	for _, s := range samples {
		tMax = max(tMax, s.T)
		for _, l := range lines {
			if v := l.value(s); !math.IsNaN(v) && !math.IsInf(v, 0) {
				yMax = max(yMax, v)
			}
		}
	}
	if tMax <= 0 {
		tMax = 1
	}
	yStep := niceStep(yMax / 5)
	yTop := math.Max(yStep, math.Ceil(yMax/yStep)*yStep)
	x := func(t float64) float64 { return padL + t/tMax*(plotW-padL-padR) }
	y := func(v float64) float64 { return plotH - padB - v/yTop*(plotH-padT-padB) }
	// Grid and axes.
	for v := 0.0; v <= yTop*1.0001; v += yStep {
		fmt.Fprintf(b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, plotW-padR, y(v), y(v))
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", padL-6, y(v)+4, tick(v))
	}
	tStep := niceStep(tMax / 10)
	for t := 0.0; t <= tMax*1.0001; t += tStep {
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%ss</text>`+"\n", x(t), plotH-padB+16, tick(t))
	}
	fmt.Fprintf(b, `<line class="axis" x1="%d" x2="%d" y1="%d" y2="%d"/>`, padL, plotW-padR, plotH-padB, plotH-padB)
	fmt.Fprintf(b, `<line class="axis" x1="%d" x2="%d" y1="%d" y2="%d"/>`+"\n", padL, padL, padT, plotH-padB)
	// Lines, then the legend.
	for i, l := range lines {
		var pts strings.Builder
		for _, s := range samples {
			v := l.value(s)
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			fmt.Fprintf(&pts, "%.1f,%.1f ", x(s.T), y(v))
		}
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", l.color, strings.TrimSpace(pts.String()))
		lx := padL + 10 + i*90
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="3" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
			lx, padT+2, l.color, lx+16, padT+7, html.EscapeString(l.name))
	}
}

// niceStep rounds a raw axis step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// tick renders an axis value without needless decimals.
func tick(v float64) string {
	switch {
	case math.Abs(v) >= 1e6 && math.Mod(v, 1e5) == 0:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case math.Abs(v) >= 1e4 && math.Mod(v, 100) == 0:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 1:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.3g", v)
}
