package inproc

import (
	"net/http"

	"github.com/pocketbase/pocketbase/core"
)

// ResponseBuffer is an http.ResponseWriter that keeps the answer in memory.
// Inside a transaction (WithApp), PocketBase writes a write's success
// answer only when the transaction commits: until then Written is false.
type ResponseBuffer struct {
	header  http.Header
	Status  int
	Body    []byte
	Written bool
}

func NewResponseBuffer() *ResponseBuffer {
	return &ResponseBuffer{header: http.Header{}, Status: http.StatusOK}
}

func (w *ResponseBuffer) Header() http.Header    { return w.header }
func (w *ResponseBuffer) WriteHeader(status int) { w.Status, w.Written = status, true }
func (w *ResponseBuffer) Write(p []byte) (int, error) {
	w.Written = true
	w.Body = append(w.Body, p...)
	return len(p), nil
}

// Capture runs the rest of e's handler chain into a buffer instead of the
// client's response, and puts the response back.
func Capture(e *core.RequestEvent) (*ResponseBuffer, error) {
	original := e.Response
	buffer := NewResponseBuffer()
	e.Response = buffer
	err := e.Next()
	e.Response = original
	return buffer, err
}
