package testsupport

import (
	"testing"
	"time"
)

// Eventually retries check until it passes, and fails the test when it
// has not within 15 seconds.
func Eventually(t testing.TB, what string, check func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !check(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting until " + what)
		}
	}
}
