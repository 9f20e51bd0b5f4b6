package sim

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of a run. Its JSON form (WriteJSON) is stable for
// scripts: durations are in milliseconds or seconds, as the field names say.
type Report struct {
	Scenario string    `json:"scenario"`
	URL      string    `json:"url"`
	Players  int       `json:"players"`
	RampUpMS float64   `json:"ramp_up_ms"`
	Rate     float64   `json:"rate_per_player,omitempty"`
	Started  time.Time `json:"started"`
	// Connected is the number of players that connected at some point.
	Connected int `json:"connected"`
	// Seconds is the length of the run, from the first player's start to
	// the bound.
	Seconds  float64 `json:"seconds"`
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	// RPS is Requests / Seconds, ramp-up included.
	RPS float64 `json:"rps"`
	// SteadyRPS is the rate once every player was connected and set up,
	// over SteadySeconds: the figure to compare between runs.
	SteadyRPS     float64 `json:"steady_rps"`
	SteadySeconds float64 `json:"steady_seconds"`
	// SteadyErrors counts the errors of that window, SteadyLatency its
	// latencies.
	SteadyErrors  int64   `json:"steady_errors"`
	SteadyLatency Latency `json:"steady_latency"`
	// Latency covers every answered request, error responses included.
	Latency Latency      `json:"latency"`
	Steps   []StepReport `json:"steps"`
	// ErrorsByCode counts failures by code: a server status code ("-1004",
	// "7") or one of the simulator's codes (CodeDial, CodeTimeout, ...).
	ErrorsByCode map[string]int64 `json:"errors_by_code"`
	// ErrorSamples holds the first message seen for each code.
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	// Pushes counts the pushes the players received; PushesDropped those
	// the client dropped because nobody read them fast enough.
	Pushes        int64 `json:"pushes"`
	PushesDropped int64 `json:"pushes_dropped"`
	// Series is the latency and throughput over time, one sample per
	// Config.Interval.
	Series []Sample `json:"series"`
}

// Latency summarizes a latency histogram, in milliseconds.
type Latency struct {
	Count  int64   `json:"count"`
	MinMS  float64 `json:"min_ms"`
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms"`
	P90MS  float64 `json:"p90_ms"`
	P99MS  float64 `json:"p99_ms"`
	P999MS float64 `json:"p999_ms"`
	MaxMS  float64 `json:"max_ms"`
}

// StepReport is the tally of one step of the scenario.
type StepReport struct {
	Name     string  `json:"name"`
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	Latency  Latency `json:"latency"`
}

func summarize(h *Histogram) Latency {
	return Latency{
		Count: h.Count(), MinMS: ms(h.Min()), MeanMS: ms(h.Mean()),
		P50MS: ms(h.Quantile(0.5)), P90MS: ms(h.Quantile(0.9)), P99MS: ms(h.Quantile(0.99)),
		P999MS: ms(h.Quantile(0.999)), MaxMS: ms(h.Max()),
	}
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "scenario %s against %s\n", r.Scenario, r.URL)
	fmt.Fprintf(&b, "players  %d (%d connected), ramp-up %s", r.Players, r.Connected, fmtMS(r.RampUpMS))
	if r.Rate > 0 {
		fmt.Fprintf(&b, ", at most %g req/s each", r.Rate)
	}
	fmt.Fprintf(&b, "\nran      %.1fs: %s requests, %s errors\n", r.Seconds, group(r.Requests), group(r.Errors))
	fmt.Fprintf(&b, "rate     %s req/s", group(int64(r.RPS+0.5)))
	if r.SteadySeconds > 0 {
		fmt.Fprintf(&b, " (%s req/s and %s errors over the %.1fs after ramp-up)",
			group(int64(r.SteadyRPS+0.5)), group(r.SteadyErrors), r.SteadySeconds)
	}
	l := r.Latency
	fmt.Fprintf(&b, "\nlatency  min %s  mean %s  p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n",
		fmtMS(l.MinMS), fmtMS(l.MeanMS), fmtMS(l.P50MS), fmtMS(l.P90MS), fmtMS(l.P99MS), fmtMS(l.P999MS), fmtMS(l.MaxMS))
	if l := r.SteadyLatency; r.SteadySeconds > 0 && l.Count > 0 {
		fmt.Fprintf(&b, "  steady min %s  mean %s  p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n",
			fmtMS(l.MinMS), fmtMS(l.MeanMS), fmtMS(l.P50MS), fmtMS(l.P90MS), fmtMS(l.P99MS), fmtMS(l.P999MS), fmtMS(l.MaxMS))
	}
	fmt.Fprintf(&b, "pushes   %s received, %s dropped\n", group(r.Pushes), group(r.PushesDropped))
	if len(r.Steps) > 0 {
		b.WriteString("\n")
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "STEP\tREQUESTS\tERRORS\tP50\tP90\tP99\tP99.9\tMAX\t")
		for _, s := range r.Steps {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", s.Name, group(s.Requests), group(s.Errors),
				fmtMS(s.Latency.P50MS), fmtMS(s.Latency.P90MS), fmtMS(s.Latency.P99MS), fmtMS(s.Latency.P999MS), fmtMS(s.Latency.MaxMS))
		}
		tw.Flush()
	}
	if len(r.ErrorsByCode) > 0 {
		b.WriteString("\nerrors by code:\n")
		for _, c := range r.codes() {
			fmt.Fprintf(&b, "  %-12s %10s  %s\n", c, group(r.ErrorsByCode[c]), oneLine(r.ErrorSamples[c], 100))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// codes returns the error codes, the most frequent first.
func (r *Report) codes() []string {
	codes := make([]string, 0, len(r.ErrorsByCode))
	for c := range r.ErrorsByCode {
		codes = append(codes, c)
	}
	slices.SortFunc(codes, func(a, b string) int {
		if c := cmp.Compare(r.ErrorsByCode[b], r.ErrorsByCode[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return codes
}

// fmtMS renders milliseconds with a precision that suits their size.
func fmtMS(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 1:
		return fmt.Sprintf("%.0fµs", v*1000)
	case v < 10:
		return fmt.Sprintf("%.2fms", v)
	case v < 1000:
		return fmt.Sprintf("%.1fms", v)
	}
	return fmt.Sprintf("%.2fs", v/1000)
}

// group renders n with thousands separators.
func group(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
