//go:build race

package hapta

// raceDetector: the test binary runs under the race detector, ten times
// slower; tests that gain nothing from it run in a separate plain run.
const raceDetector = true
