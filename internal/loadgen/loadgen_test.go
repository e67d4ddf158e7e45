package loadgen

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunCountsQueueing: every call is made once, and a call whose worker was still waiting for a slow answer at
// its scheduled time has that wait in its Latency but not in its Answer.
func TestRunCountsQueueing(t *testing.T) {
	const n, workers, rate, slow = 200, 2, 1000, 40 * time.Millisecond
	var made [n + 10]atomic.Int32
	res, err := Run(n, Options{Rate: rate, Workers: workers, Warmup: 10}, func(w, i int) error {
		if i%workers != w {
			t.Errorf("call %d made by worker %d", i, w)
		}
		made[i].Add(1)
		if i == 50 {
			time.Sleep(slow)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range made {
		if got := made[i].Load(); got != 1 {
			t.Fatalf("call %d made %d times", i, got)
		}
	}
	if len(res.Latency) != n || len(res.Answer) != n || len(res.Late) != n {
		t.Fatalf("%d/%d/%d measurements, want %d", len(res.Latency), len(res.Answer), len(res.Late), n)
	}
	// Call 52 (measured index 42) was due 2 ms after call 50 on the same worker, which answered after 40 ms.
	if got := res.Latency[42]; got < slow-5*time.Millisecond {
		t.Errorf("latency of the call queued behind the slow one = %s, want about %s", got, slow-2*time.Millisecond)
	}
	if got := res.Answer[42]; got > 10*time.Millisecond {
		t.Errorf("answer time of the queued call = %s, want near zero", got)
	}
	if got := res.Latency[40]; got < slow {
		t.Errorf("latency of the slow call = %s, want at least %s", got, slow)
	}
	if res.Elapsed < (n-1)*time.Second/rate {
		t.Errorf("elapsed %s, shorter than the schedule", res.Elapsed)
	}
}

func TestRunReportsErrors(t *testing.T) {
	boom := errors.New("boom")
	_, err := Run(20, Options{Rate: 10000, Workers: 4}, func(_, i int) error {
		if i == 7 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "1 of 20") {
		t.Fatalf("err = %v, want boom, 1 of 20", err)
	}
	if _, err := Run(1, Options{Rate: 0, Workers: 1}, nil); err == nil {
		t.Fatal("rate 0 accepted")
	}
}

// TestSpawn runs a load in a child process against an HTTP server here, checking every answer.
func TestSpawn(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Test") != "yes" {
			http.Error(w, "no header", http.StatusBadRequest)
			return
		}
		io.WriteString(w, strings.ToUpper(string(body)))
	}))
	defer srv.Close()
	spec := Spec{Protocol: "http", Addr: srv.URL, Header: map[string]string{"X-Test": "yes"},
		Requests: []string{"a", "b"}, Answers: []string{"A", "B"}, Calls: 300, Options: Options{Rate: 2000, Workers: 4, Warmup: 20}}
	res, err := Spawn("TestLoadgenChild", spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Latency) != 300 || calls.Load() != 320 {
		t.Fatalf("%d measured, %d served; want 300 and 320", len(res.Latency), calls.Load())
	}
	spec.Answers = []string{"A", "C"}
	if _, err := Spawn("TestLoadgenChild", spec); err == nil || !strings.Contains(err.Error(), `want "C"`) {
		t.Fatalf("a wrong answer was not reported: %v", err)
	}
}

func TestLoadgenChild(t *testing.T) {
	if !IsChild() {
		t.Skip("TestSpawn's load generator process")
	}
	if err := ChildMain(); err != nil {
		t.Fatal(err)
	}
}
