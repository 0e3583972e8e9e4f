package testsupport

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// JSONAnswer is an HTTP answer with a JSON body.
type JSONAnswer struct {
	Status int
	Header http.Header
	Body   map[string]any // when the JSON is an object
	Raw    []byte
}

// CallJSON sends a JSON body (none when "") with header name/value pairs
// (empty values are left out) and decodes the JSON answered.
func CallJSON(t testing.TB, method, url, body string, headers ...string) JSONAnswer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] != "" {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	answer := JSONAnswer{Status: res.StatusCode, Header: res.Header, Body: map[string]any{}, Raw: data}
	if len(data) == 0 { // 204 and the like
		return answer
	}
	if !json.Valid(data) {
		t.Fatalf("%s %s answered %d, not JSON: %s", method, url, res.StatusCode, data)
	}
	_ = json.Unmarshal(data, &answer.Body) // stays empty for a list
	return answer
}
