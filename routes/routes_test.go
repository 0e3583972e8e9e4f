package routes_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/internal/testsupport"
	_ "github.com/postr-inc/hapta/migrations" // the example app's collections
	"github.com/postr-inc/hapta/plugins/clover"
	"github.com/postr-inc/hapta/plugins/hapta"
	"github.com/postr-inc/hapta/routes"
)

// exampleApp is the distribution's app (hapta, clover, the example app's
// migrations and routes) in a temporary data directory, served over
// loopback HTTP.
func exampleApp(t *testing.T) (core.App, *httptest.Server) {
	t.Helper()
	return exampleAppWith(t, `{"logLevel": "warn"}`)
}

// exampleAppWith is exampleApp with the given hapta-config.json.
func exampleAppWith(t *testing.T, haptaConfig string) (core.App, *httptest.Server) {
	t.Helper()
	app := testsupport.NewApp(t, func(app core.App) {
		hapta.MustRegister(app, nil, hapta.Config{ConfigFile: testsupport.WriteFile(t, "hapta-config.json", haptaConfig)})
		clover.MustRegister(app, nil, clover.Config{})
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
	t.Parallel()
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
	t.Parallel()
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

// ownerOnly makes the posts' list and view rules owner-only, as an
// application with private posts (or drafts) would.
func ownerOnly(t *testing.T, app core.App) {
	t.Helper()
	posts, err := app.FindCollectionByNameOrId("posts")
	if err != nil {
		t.Fatal(err)
	}
	rule := `@request.auth.id != "" && author = @request.auth.id`
	posts.ListRule, posts.ViewRule = &rule, &rule
	if err := app.Save(posts); err != nil {
		t.Fatal(err)
	}
}

func createPost(t *testing.T, server *httptest.Server, token, title, text string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"title": title, "body": text})
	status, answer := call(t, "POST", server.URL+"/api/posts", token, string(body))
	if status != 201 {
		t.Fatalf("create %q: %d %v", title, status, answer)
	}
	return answer["id"].(string)
}

// feedTitles is the titles of a feed page (nil, and an error reported, when
// the answer is not 200 or totalItems does not agree).
func feedTitles(t *testing.T, server *httptest.Server, token string, query url.Values) []string {
	t.Helper()
	status, body := call(t, "GET", server.URL+"/api/feed?"+query.Encode(), token, "")
	items, _ := body["items"].([]any)
	if status != 200 || body["totalItems"] != float64(len(items)) {
		t.Errorf("feed?%s: %d %v", query.Encode(), status, body)
		return nil
	}
	titles := []string{}
	for _, item := range items {
		titles = append(titles, item.(map[string]any)["title"].(string))
	}
	return titles
}

// TestPostsFollowTheRules: the example routes read through ctx.DB(), so the
// posts collection's list and view rules decide who sees a post, with the
// record cache on posts (as in the shipped hapta-config.json) and without.
func TestPostsFollowTheRules(t *testing.T) {
	t.Parallel()
	for name, config := range map[string]string{
		"uncached": `{"logLevel": "warn"}`,
		"cached":   `{"logLevel": "warn", "cache": {"collections": {"posts": {"http": true}}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testPostsFollowTheRules(t, config)
		})
	}
}

func testPostsFollowTheRules(t *testing.T, config string) {
	app, server := exampleAppWith(t, config)
	aliceID, alice := userToken(t, app, "alice@example.com")
	_, bob := userToken(t, app, "bob@example.com")
	aliceFirst := createPost(t, server, alice, "Alice's first draft", "")
	bobsPost := createPost(t, server, bob, "Bob's post", "")
	createPost(t, server, alice, "Alice's second draft", "")

	callers := map[string]string{"anonymous": "", "bob": bob}
	queries := []url.Values{{}, {"author": {aliceID}}, {"q": {"draft"}}}
	// read while the posts are public (and cached, where the cache is on)
	for _, token := range callers {
		for _, query := range queries {
			feedTitles(t, server, token, query)
		}
		if status, body := call(t, "GET", server.URL+"/api/posts/"+aliceFirst, token, ""); status != 200 {
			t.Fatalf("viewing a public post: %d %v", status, body)
		}
	}
	ownerOnly(t, app)

	for name, token := range callers {
		for _, query := range queries {
			for _, title := range feedTitles(t, server, token, query) {
				if strings.HasPrefix(title, "Alice") {
					t.Errorf("%s's feed?%s has Alice's post %q", name, query.Encode(), title)
				}
			}
		}
		if status, body := call(t, "GET", server.URL+"/api/posts/"+aliceFirst, token, ""); status != 404 {
			t.Errorf("%s viewing Alice's post: %d %v", name, status, body)
		}
	}
	if titles := feedTitles(t, server, alice, url.Values{}); strings.Join(titles, "|") != "Alice's second draft|Alice's first draft" {
		t.Errorf("Alice's feed, newest first: %q", titles)
	}
	if titles := feedTitles(t, server, bob, url.Values{}); strings.Join(titles, "|") != "Bob's post" {
		t.Errorf("Bob's feed: %q", titles)
	}
	if status, body := call(t, "GET", server.URL+"/api/posts/"+aliceFirst, alice, ""); status != 200 || body["title"] != "Alice's first draft" {
		t.Errorf("Alice viewing her post: %d %v", status, body)
	}
	if status, body := call(t, "GET", server.URL+"/api/posts/"+bobsPost, bob, ""); status != 200 || body["title"] != "Bob's post" {
		t.Errorf("Bob viewing his post: %d %v", status, body)
	}
}

// TestFeedFilterInjection: the feed's author and q go into PocketBase's
// filter as string literals, so quotes, backslashes, "||", "//" and LIKE
// wildcards match as text and cannot widen the feed. (The posts' public list
// rule keeps it quick: with a non-empty rule PocketBase delays empty filtered
// answers by up to 500ms after three in three seconds, against timing attacks.)
func TestFeedFilterInjection(t *testing.T) {
	t.Parallel()
	app, server := exampleApp(t)
	_, alice := userToken(t, app, "alice@example.com")
	createPost(t, server, alice, `Alice's "quoted" \ note, 100%`, `it's "mine"`)
	createPost(t, server, alice, "Plain post", "nothing special")

	tricky := `Alice's "quoted" \ note, 100%`
	cases := []struct {
		param, value string
		want         []string
	}{
		// each author value is 15 characters, the length of an id
		{"author", `x" || author!="`, nil},
		{"author", `x' || author!='`, nil},
		{"author", `\" || author!="`, nil},
		{"author", `\" || id!='' //`, nil},
		{"author", `x" || true //  `, nil},
		{"q", `" || id != "`, nil},
		{"q", `' || id != '`, nil},
		{"q", `x") || (id != "x`, nil},
		{"q", `x" || id != "x" //`, nil},
		{"q", `) || id != '' //\`, nil},
		{"q", "_", nil},
		{"q", "%", []string{tricky}},
		{"q", "0%", []string{tricky}},
		{"q", `"quoted" \ `, []string{tricky}},
		{"q", `'s "mine"`, []string{tricky}},
		{"q", "POST", []string{"Plain post"}},
	}
	for _, c := range cases {
		got := feedTitles(t, server, "", url.Values{c.param: {c.value}})
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("feed?%s=%s: %q, want %q", c.param, c.value, got, c.want)
		}
	}
}
