package benchserver

import (
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Op sends one request of a workload and returns the bytes of its answer's
// body.
type Op func(r *rand.Rand) (int64, error)

// Samples are the latencies and the answers' bytes of a workload's rounds.
type Samples struct {
	latencies []time.Duration
	bytes     int64
}

// Add adds other's samples.
func (s *Samples) Add(other Samples) {
	s.latencies = append(s.latencies, other.latencies...)
	s.bytes += other.bytes
}

// Result summarizes samples.
type Result struct {
	RPS      float64
	P50, P99 time.Duration
	Bytes    float64 // mean bytes of an answer's body
}

// Summarize is the throughput over elapsed and the latencies' percentiles.
func (s *Samples) Summarize(elapsed time.Duration) Result {
	slices.Sort(s.latencies)
	n := len(s.latencies)
	return Result{
		RPS: float64(n) / elapsed.Seconds(),
		P50: s.latencies[n/2], P99: s.latencies[n*99/100],
		Bytes: float64(s.bytes) / float64(n),
	}
}

// Drive drives op from concurrency clients for duration; the first error
// stops it.
func Drive(op Op, duration time.Duration, concurrency int) (Samples, error) {
	var mu sync.Mutex
	var all Samples
	var first error
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for worker := 0; worker < concurrency; worker++ {
		wg.Add(1)
		go func(worker int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(worker), uint64(time.Now().UnixNano())))
			var mine Samples
			var err error
			for err == nil && time.Now().Before(deadline) {
				began := time.Now()
				var n int64
				if n, err = op(r); err == nil {
					mine.latencies = append(mine.latencies, time.Since(began))
					mine.bytes += n
				}
			}
			mu.Lock()
			defer mu.Unlock()
			all.Add(mine)
			if first == nil {
				first = err
			}
		}(worker)
	}
	wg.Wait()
	return all, first
}
