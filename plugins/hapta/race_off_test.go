//go:build !race

package hapta

const raceDetector = false
