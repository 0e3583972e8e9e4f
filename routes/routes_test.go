package routes_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/internal/testsupport"
	_ "github.com/postr-inc/hapta/migrations"
	"github.com/postr-inc/hapta/plugins/hapta"
	"github.com/postr-inc/hapta/routes"
)

// exampleApp is the distribution's app (hapta, migrations, the example
// routes) in a temporary data directory, served over loopback HTTP.
func exampleApp(t *testing.T) (core.App, *httptest.Server) {
	t.Helper()
	dir := t.TempDir()
	config := filepath.Join(dir, "hapta-config.json")
	if err := os.WriteFile(config, []byte(`{"logLevel": "warn"}`), 0o600); err != nil {
		t.Fatal(err)
	}

	app := testsupport.NewApp(t, func(app core.App) {
		hapta.MustRegister(app, hapta.Config{ConfigFile: config})
		routes.Register(app)
	})
	server, err := testsupport.Serve(t, app)
	if err != nil {
		t.Fatal(err)
	}
	return app, server
}

func userToken(t *testing.T, app core.App, email string) (id, token string) {
	t.Helper()
	user, token := testsupport.NewAuthRecord(t, app, "users", email)
	return user.Id, token
}

func call(t *testing.T, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	answer := testsupport.CallJSON(t, method, url, body, "Authorization", token)
	return answer.Status, answer.Body
}

func TestExampleRoutes(t *testing.T) {
	app, server := exampleApp(t)
	aliceID, alice := userToken(t, app, "alice@example.com")
	_, bob := userToken(t, app, "bob@example.com")

	if status, body := call(t, "POST", server.URL+"/api/posts", "", `{"title": "Anonymous"}`); status != 401 {
		t.Fatalf("create without auth: %d %v", status, body)
	}
	if status, body := call(t, "POST", server.URL+"/api/posts", alice, `{"title": "no"}`); status != 400 ||
		body["data"].(map[string]any)["title"] == nil {
		t.Fatalf("create with a short title: %d %v", status, body)
	}

	var firstID string
	for i, token := range []string{alice, bob, alice} {
		status, body := call(t, "POST", server.URL+"/api/posts", token, fmt.Sprintf(`{"title": "Post number %d", "body": "text %d"}`, i, i))
		if status != 201 {
			t.Fatalf("create: %d %v", status, body)
		}
		if i == 0 {
			firstID = body["id"].(string)
		}
	}

	status, body := call(t, "GET", server.URL+"/api/posts/"+firstID, "", "")
	if status != 200 || body["title"] != "Post number 0" || body["author"] != aliceID {
		t.Fatalf("view: %d %v", status, body)
	}
	if status, _ := call(t, "GET", server.URL+"/api/posts/aaaaaaaaaaaaaaa", "", ""); status != 404 {
		t.Fatalf("view of a missing post: %d", status)
	}

	status, body = call(t, "GET", server.URL+"/api/feed?perPage=2", "", "")
	items, _ := body["items"].([]any)
	if status != 200 || body["totalItems"] != 3.0 || len(items) != 2 || items[0].(map[string]any)["title"] != "Post number 2" {
		t.Fatalf("feed page 1: %d %v", status, body)
	}
	status, body = call(t, "GET", server.URL+"/api/feed?perPage=2&page=2", "", "")
	if items, _ := body["items"].([]any); status != 200 || len(items) != 1 {
		t.Fatalf("feed page 2: %d %v", status, body)
	}
	status, body = call(t, "GET", server.URL+"/api/feed?author="+aliceID+"&q=number", "", "")
	if status != 200 || body["totalItems"] != 2.0 {
		t.Fatalf("feed of one author: %d %v", status, body)
	}
	if status, body := call(t, "GET", server.URL+"/api/feed?perPage=1000&page=-1", "", ""); status != 400 ||
		body["data"].(map[string]any)["perPage"] == nil || body["data"].(map[string]any)["page"] == nil {
		t.Fatalf("feed with bad paging: %d %v", status, body)
	}
}

// TestOpenAPIDocument checks the generated document with libopenapi's
// validator against the OpenAPI 3.1 schema, then uses it to validate
// requests the way a client generator would read it.
func TestOpenAPIDocument(t *testing.T) {
	_, server := exampleApp(t)

	res, err := http.Get(server.URL + hapta.OpenAPIPath)
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("%d %s", res.StatusCode, spec)
	}

	document, err := libopenapi.NewDocument(spec)
	if err != nil {
		t.Fatal(err)
	}
	if version := document.GetVersion(); version != "3.1.0" {
		t.Fatalf("OpenAPI version %q", version)
	}
	v, errs := validator.NewValidator(document)
	if len(errs) > 0 {
		t.Fatalf("building the validator: %v", errs)
	}
	if ok, problems := v.ValidateDocument(); !ok {
		for _, p := range problems {
			t.Errorf("invalid document: %s: %s", p.Message, p.Reason)
		}
		t.FailNow()
	}

	model, err := document.BuildV3Model()
	if err != nil {
		t.Fatal(err)
	}
	for path, method := range map[string]string{"/api/feed": "get", "/api/posts": "post", "/api/posts/{id}": "get"} {
		item, ok := model.Model.Paths.PathItems.Get(path)
		if !ok || item.GetOperations().GetOrZero(method) == nil {
			t.Errorf("the document lacks %s %s", method, path)
		}
	}

	requests := []struct {
		method, target, body string
		valid                bool
	}{
		{"GET", "/api/feed?page=1&perPage=20", "", true},
		{"GET", "/api/feed?perPage=500", "", false}, // maximum 100, read from the schema
		{"GET", "/api/posts/abcdefghijklmno", "", true},
		{"POST", "/api/posts", `{"title": "A fine title"}`, true},
		{"POST", "/api/posts", `{"title": "no"}`, false}, // minLength 3
		{"POST", "/api/posts", `{"body": "no title"}`, false},
	}
	for _, r := range requests {
		req := httptest.NewRequest(r.method, server.URL+r.target, strings.NewReader(r.body))
		if r.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Authorization", "token")
		ok, problems := v.ValidateHttpRequest(req)
		if ok != r.valid {
			t.Errorf("%s %s %s: valid %v, want %v (%v)", r.method, r.target, r.body, ok, r.valid, problems)
		}
	}
}
