package testsupport

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Answer is an HTTP answer, read whole.
type Answer struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any // the body when it is a JSON object, else empty
}

// Call sends a request with body (nil for none) of contentType ("" for
// none) and header name/value pairs (pairs with an empty value are left
// out), and reads the answer.
func Call(t testing.TB, method, url, contentType string, body io.Reader, headers ...string) Answer {
	t.Helper()
	return CallWith(t, http.DefaultClient, method, url, contentType, body, headers...)
}

// CallWith is Call through client (a browser with cookies, say).
func CallWith(t testing.TB, client *http.Client, method, url, contentType string, body io.Reader, headers ...string) Answer {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] != "" {
			req.Header.Add(headers[i], headers[i+1])
		}
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	answer := Answer{Status: res.StatusCode, Header: res.Header, Raw: data, Body: map[string]any{}}
	_ = json.Unmarshal(data, &answer.Body) // stays empty for other bodies
	return answer
}

// CallJSON sends a JSON body (none when "") and requires a JSON answer
// (or none, as for 204).
func CallJSON(t testing.TB, method, url, body string, headers ...string) Answer {
	t.Helper()
	contentType := ""
	if body != "" {
		contentType = "application/json"
	}
	answer := Call(t, method, url, contentType, strings.NewReader(body), headers...)
	if len(answer.Raw) > 0 && !json.Valid(answer.Raw) {
		t.Fatalf("%s %s answered %d, not JSON: %s", method, url, answer.Status, answer.Raw)
	}
	return answer
}

// Decode decodes the JSON answer into v.
func (a Answer) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(a.Raw, v); err != nil {
		t.Fatalf("not JSON (%v): %s", err, a.Raw)
	}
}

// Object is the JSON object under name in the answer's body, nil when
// there is none.
func (a Answer) Object(name string) map[string]any {
	object, _ := a.Body[name].(map[string]any)
	return object
}
