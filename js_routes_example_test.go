package main

import (
	"testing"

	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/internal/testsupport"
	"github.com/postr-inc/hapta/plugins/clover"
	"github.com/postr-inc/hapta/plugins/hapta"
)

// The example JavaScript routes of pb_routes/, served as hapta-config.json
// serves them (under /js), over the example app's collections.
func TestTheExampleJavaScriptRoutes(t *testing.T) {
	t.Parallel()
	app := testsupport.NewApp(t, func(app core.App) {
		clover.MustRegister(app, nil, clover.Config{}) // the example app's tenant_documents need its collections
		hapta.MustRegister(app, nil, hapta.Config{ConfigFile: testsupport.WriteFile(t, "hapta-config.json", `{"logLevel": "error"}`),
			Settings: hapta.Settings{Routes: hapta.RoutesSettings{Dir: "pb_routes", Prefix: "/js"}}})
	})
	server, err := testsupport.Serve(t, app)
	if err != nil {
		t.Fatal(err)
	}
	url := server.URL + "/js/posts"
	_, token := testsupport.NewAuthRecord(t, app, "users", "writer@example.com")

	if a := testsupport.CallJSON(t, "POST", url, `{"title": "From JavaScript"}`); a.Status != 401 {
		t.Fatalf("an anonymous post: %d %s", a.Status, a.Raw)
	}
	if a := testsupport.CallJSON(t, "POST", url, `{"title": "JS"}`, "Authorization", token); a.Status != 400 || a.Object("data")["title"] == nil {
		t.Fatalf("a short title: %d %s", a.Status, a.Raw)
	}
	if a := testsupport.CallJSON(t, "POST", url, `{"title": "From JavaScript", "author": "someone-else"}`, "Authorization", token); a.Status != 400 {
		t.Fatalf("a body with an author: %d %s", a.Status, a.Raw)
	}
	if a := testsupport.CallJSON(t, "POST", url, `{"title": "From JavaScript"}`, "Authorization", token); a.Status != 201 || a.Body["title"] != "From JavaScript" {
		t.Fatalf("a post: %d %s", a.Status, a.Raw)
	}
	if a := testsupport.CallJSON(t, "POST", url+"/batch", `{"posts": [{"title": "one"}, {"title": "x"}]}`, "Authorization", token); a.Status != 400 {
		t.Fatalf("a unit with a bad post: %d %s", a.Status, a.Raw)
	}
	if a := testsupport.CallJSON(t, "POST", url+"/batch", `{"posts": [{"title": "one"}, {"title": "two"}]}`, "Authorization", token); a.Status != 201 {
		t.Fatalf("a unit: %d %s", a.Status, a.Raw)
	}
	var titles []map[string]any
	list := testsupport.CallJSON(t, "GET", url+"?perPage=10", "")
	list.Decode(t, &titles)
	if list.Status != 200 || len(titles) != 3 {
		t.Fatalf("the posts: %d %s", list.Status, list.Raw)
	}
	if a := testsupport.CallJSON(t, "GET", url+"?perPage=500", ""); a.Status != 400 || a.Object("data")["perPage"] == nil {
		t.Fatalf("a perPage too large: %d %s", a.Status, a.Raw)
	}

	// the seed's /auth in JavaScript: PocketBase's own login, with the lockout
	login := server.URL + "/js/auth?type=password"
	if a := testsupport.CallJSON(t, "POST", login, `{"emailOrUsername": "writer@example.com", "password": "password-for-tests-1"}`); a.Status != 200 ||
		a.Body["token"] == nil || a.Object("principal")["email"] != "writer@example.com" {
		t.Fatalf("a JavaScript login: %d %s", a.Status, a.Raw)
	}
	if a := testsupport.CallJSON(t, "POST", login, `{"emailOrUsername": "writer@example.com", "password": "wrong-password"}`); a.Status != 400 {
		t.Fatalf("a wrong password: %d %s", a.Status, a.Raw)
	}
	if a := testsupport.CallJSON(t, "POST", server.URL+"/js/auth?type=magic", `{}`); a.Status != 400 || a.Object("data")["type"] == nil {
		t.Fatalf("an unknown type: %d %s", a.Status, a.Raw)
	}
}
