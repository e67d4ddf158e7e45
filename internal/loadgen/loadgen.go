// Package loadgen makes calls at a fixed rate from several workers and measures how long each takes to be answered.
package loadgen

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Options says how Run makes its calls.
type Options struct {
	Rate    int // calls per second, over all workers
	Workers int // concurrent callers (one connection each, typically); each keeps its own share of the schedule
	Warmup  int // calls made first at the same rate and not measured: connections opened, caches filled
}

// Result is what Run measured, one entry per measured call, in call order.
type Result struct {
	// Latency is each answer's time from the call's scheduled time, less the load generator's own lateness in
	// waking up for it (see Late). A call whose worker was still waiting for the previous answer at its scheduled
	// time counts that wait: queueing behind a slow answer is not hidden.
	Latency []time.Duration
	// Answer is each answer's time from the moment its call was made: what the client saw.
	Answer []time.Duration
	// Late is how long after it was due (or after the previous answer, when that came later) each call was made:
	// the load generator's timer and scheduling, not the server's. Go's timers on Linux wake up to a millisecond
	// late when the process is otherwise idle.
	Late    []time.Duration
	Elapsed time.Duration // from the first measured call's scheduled time to the last answer
	Error   string        `json:",omitempty"` // a child process's failure (Spawn)
}

// Run makes n measured calls (after opts.Warmup unmeasured ones), call i at start + i/Rate, by worker i mod
// Workers. It returns the first error a call reported, after all calls have been made.
func Run(n int, opts Options, call func(worker, i int) error) (Result, error) {
	if opts.Rate < 1 || opts.Workers < 1 || n < 1 || opts.Warmup < 0 {
		return Result{}, fmt.Errorf("loadgen: rate %d, workers %d, calls %d, warmup %d: all must be positive", opts.Rate, opts.Workers, n, opts.Warmup)
	}
	total := opts.Warmup + n
	period := time.Second / time.Duration(opts.Rate)
	res := Result{Latency: make([]time.Duration, n), Answer: make([]time.Duration, n), Late: make([]time.Duration, n)}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	start := time.Now().Add(10 * time.Millisecond)
	for w := range opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prev := start
			for i := w; i < total; i += opts.Workers {
				due := start.Add(time.Duration(i) * period)
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				}
				ready := due
				if prev.After(due) {
					ready = prev
				}
				t0 := time.Now()
				err := call(w, i)
				t1 := time.Now()
				prev = t1
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("call %d: %w", i, err))
					mu.Unlock()
				}
				if k := i - opts.Warmup; k >= 0 {
					res.Late[k] = t0.Sub(ready)
					res.Answer[k] = t1.Sub(t0)
					res.Latency[k] = t1.Sub(due) - res.Late[k]
				}
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start.Add(time.Duration(opts.Warmup) * period))
	if len(errs) > 0 {
		return res, fmt.Errorf("loadgen: %d of %d calls failed, first: %w", len(errs), total, errors.Join(errs[0]))
	}
	return res, nil
}

// Percentile returns the p-quantile (0 <= p <= 1) of ds, sorting a copy.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1))]
}

// Reporter is what Report writes to: a *testing.B.
type Reporter interface {
	ReportMetric(n float64, unit string)
}

// Report writes the rate, the p50, p99 and maximum of Latency, and the p99 of Answer and of Late, in milliseconds.
func (r Result) Report(b Reporter) {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(float64(len(r.Latency))/r.Elapsed.Seconds(), "req/s")
	b.ReportMetric(ms(Percentile(r.Latency, 0.5)), "p50-ms")
	b.ReportMetric(ms(Percentile(r.Latency, 0.99)), "p99-ms")
	b.ReportMetric(ms(Percentile(r.Latency, 1)), "max-ms")
	b.ReportMetric(ms(Percentile(r.Answer, 0.99)), "answer-p99-ms")
	b.ReportMetric(ms(Percentile(r.Late, 0.99)), "late-p99-ms")
}
