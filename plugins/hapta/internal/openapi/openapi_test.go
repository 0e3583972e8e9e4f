package openapi_test

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/tools/filesystem"

	"github.com/postr-inc/hapta/plugins/hapta/internal/bind"
	"github.com/postr-inc/hapta/plugins/hapta/internal/openapi"
)

type note struct {
	ID     string   `path:"id"`
	Page   int      `query:"page"`
	Tags   []string `query:"tag"`
	Title  string   `json:"title"`
	Rating *int8    `json:"rating"`
}

func (in note) Validate() error {
	return validation.ValidateStruct(&in,
		validation.Field(&in.Title, validation.Required, validation.Length(3, 50)),
		validation.Field(&in.Page, validation.Min(1), validation.Max(100)))
}

type upload struct {
	File *filesystem.File `form:"file"`
}

func operation(t *testing.T, method, path string, params []string, input any, requireAuth bool) openapi.Operation {
	t.Helper()
	schema, err := bind.New(reflect.TypeOf(input), params)
	if err != nil {
		t.Fatal(err)
	}
	return openapi.Operation{Method: method, Path: path, PathParams: params, Input: schema, RequireAuth: requireAuth, MayForbid: requireAuth, Summary: "s", Tags: []string{"t"}}
}

// The document is valid OpenAPI 3.1, and a validator built from it accepts
// and refuses requests as the routes' rules do.
func TestTheDocumentDescribesTheRoutes(t *testing.T) {
	t.Parallel()
	doc, err := json.Marshal(openapi.Build("Test", []openapi.Operation{
		operation(t, "POST", "/notes/{id}", []string{"id"}, note{}, true),
		operation(t, "POST", "/files", nil, upload{}, false),
		operation(t, "", "/any/{rest...}", []string{"rest"}, struct{}{}, false),
	}))
	if err != nil {
		t.Fatal(err)
	}
	document, err := libopenapi.NewDocument(doc)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(document)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if ok, problems := v.ValidateDocument(); !ok {
		t.Fatalf("invalid document: %v", problems)
	}

	var parsed struct {
		Paths map[string]map[string]struct {
			Responses   map[string]any `json:"responses"`
			Security    []any          `json:"security"`
			RequestBody struct {
				Content map[string]any `json:"content"`
			} `json:"requestBody"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(doc, &parsed); err != nil {
		t.Fatal(err)
	}
	notes := parsed.Paths["/notes/{id}"]["post"]
	if notes.Security == nil || notes.Responses["401"] == nil || notes.Responses["403"] == nil || notes.Responses["415"] == nil {
		t.Errorf("/notes/{id}: auth and body answers missing: %+v", notes)
	}
	if content := parsed.Paths["/files"]["post"].RequestBody.Content; content["multipart/form-data"] == nil || content["application/json"] != nil {
		t.Errorf("/files: a file input is multipart only: %v", content)
	}
	if len(parsed.Paths["/any/{rest}"]) != 5 {
		t.Errorf("a route of any method: %v", parsed.Paths["/any/{rest}"])
	}

	requests := []struct {
		target, body string
		valid        bool
	}{
		{"/notes/n1?page=2&tag=a&tag=b", `{"title": "Fine", "rating": null}`, true},
		{"/notes/n1?page=500", `{"title": "Fine"}`, false}, // maximum 100
		{"/notes/n1", `{"title": "no"}`, false},            // minLength 3
		{"/notes/n1", `{"rating": 3}`, false},              // title required
		{"/notes/n1", `{"title": "Fine", "rating": "x"}`, false},
	}
	for _, r := range requests {
		req := httptest.NewRequest("POST", r.target, strings.NewReader(r.body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "token")
		if ok, problems := v.ValidateHttpRequest(req); ok != r.valid {
			t.Errorf("%s %s: valid %v, want %v (%v)", r.target, r.body, ok, r.valid, problems)
		}
	}
}
