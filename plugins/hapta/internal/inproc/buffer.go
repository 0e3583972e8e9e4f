package inproc

import "net/http"

// ResponseBuffer is an http.ResponseWriter that keeps the answer in memory.
type ResponseBuffer struct {
	header http.Header
	Status int
	Body   []byte
}

func NewResponseBuffer() *ResponseBuffer {
	return &ResponseBuffer{header: http.Header{}, Status: http.StatusOK}
}

func (w *ResponseBuffer) Header() http.Header    { return w.header }
func (w *ResponseBuffer) WriteHeader(status int) { w.Status = status }
func (w *ResponseBuffer) Write(p []byte) (int, error) {
	w.Body = append(w.Body, p...)
	return len(p), nil
}
