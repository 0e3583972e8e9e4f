package bind_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/tools/router"

	"github.com/postr-inc/hapta/plugins/hapta/internal/bind"
)

type input struct {
	ID    string `path:"id"`
	Page  int    `query:"page"`
	Title string `json:"title" form:"heading"`
}

type noBody struct {
	Page int `query:"page"`
}

func TestBindReturnsWhatItRead(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, contentType, body, query string
		into                           any
		want                           input
		wantJSON                       string
		wantFieldErrors                []string
		wantStatus                     int // of an answer of its own
	}{
		{name: "json", contentType: "application/json", body: `{"title": "Hi"}`, query: "page=2", into: &input{}, want: input{ID: "n1", Page: 2, Title: "Hi"}, wantJSON: `{"title": "Hi"}`},
		{name: "json kept without body fields", contentType: "application/json", body: `{"x": 1}`, into: &noBody{}, wantJSON: `{"x": 1}`},
		{name: "form under its form name", contentType: "application/x-www-form-urlencoded", body: "heading=Form", into: &input{}, want: input{ID: "n1", Title: "Form"}},
		{name: "values that do not parse", contentType: "application/json", body: `{"title": 5}`, query: "page=two", into: &input{}, want: input{ID: "n1"}, wantJSON: `{"title": 5}`, wantFieldErrors: []string{"page", "title"}},
		{name: "malformed json", contentType: "application/json", body: `{"title"`, into: &input{}, wantStatus: 400},
		{name: "not an object", contentType: "application/json", body: `[1]`, into: &input{}, wantStatus: 400},
		{name: "unsupported body", contentType: "text/plain", body: "hi", into: &input{}, wantStatus: 415},
		{name: "a body without a type", body: "hi", into: &input{}, wantStatus: 415},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			schema, err := bind.New(reflect.TypeOf(c.into).Elem(), []string{"id"})
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodPost, "/notes/n1?"+c.query, strings.NewReader(c.body))
			r.SetPathValue("id", "n1")
			if c.contentType != "" {
				r.Header.Set("Content-Type", c.contentType)
			}
			read, err := schema.Bind(r, r.URL.Query(), reflect.ValueOf(c.into))
			var apiErr *router.ApiError
			if c.wantStatus != 0 {
				if !errors.As(err, &apiErr) || apiErr.Status != c.wantStatus {
					t.Fatalf("error %v, want an answer %d", err, c.wantStatus)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(read.JSON) != c.wantJSON {
				t.Errorf("JSON %q, want %q", read.JSON, c.wantJSON)
			}
			if got, ok := c.into.(*input); ok && *got != c.want {
				t.Errorf("bound %+v, want %+v", *got, c.want)
			}
			for _, name := range c.wantFieldErrors {
				if read.FieldErrors[name] == nil {
					t.Errorf("no field error for %s in %v", name, read.FieldErrors)
				}
			}
			if len(read.FieldErrors) != len(c.wantFieldErrors) {
				t.Errorf("field errors %v, want %v", read.FieldErrors, c.wantFieldErrors)
			}
		})
	}
}

func TestNewRefusesMistakesInTheTags(t *testing.T) {
	t.Parallel()
	type twoSources struct {
		X string `json:"x" query:"x"`
	}
	type missingParam struct {
		X string `path:"nope"`
	}
	type notText struct {
		X map[string]any `query:"x"`
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[twoSources](), reflect.TypeFor[missingParam](), reflect.TypeFor[notText](), reflect.TypeFor[string]()} {
		if _, err := bind.New(typ, []string{"id"}); err == nil {
			t.Errorf("%s: no error", typ)
		}
	}
}

type ruled struct {
	Page  int    `query:"page"`
	Title string `json:"title"`
}

func (in ruled) Validate() error {
	return validation.ValidateStruct(&in,
		validation.Field(&in.Title, validation.Required, validation.Length(3, 50)),
		validation.Field(&in.Page, validation.Min(1), validation.Max(100)))
}

func TestValidateAnswersEveryFieldUnderItsClientName(t *testing.T) {
	t.Parallel()
	schema, err := bind.New(reflect.TypeFor[ruled](), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = schema.Validate(&ruled{Page: 500}, validation.Errors{"title": validation.NewError("validation_invalid_type", "Must be a string.")})
	var apiErr *router.ApiError
	if !errors.As(err, &apiErr) || apiErr.Status != 400 {
		t.Fatalf("error %v, want a 400", err)
	}
	data := apiErr.Data
	if data["page"] == nil || data["title"].(map[string]any)["code"] != "validation_invalid_type" {
		t.Fatalf("field errors %v: want page's rule and title's binding error", data)
	}
	if err := schema.Validate(&ruled{Page: 1, Title: "Fine"}, nil); err != nil {
		t.Fatalf("a valid input: %v", err)
	}
}

func TestLimitsAreReadFromTheRules(t *testing.T) {
	t.Parallel()
	schema, err := bind.New(reflect.TypeFor[ruled](), nil)
	if err != nil {
		t.Fatal(err)
	}
	limits := schema.Limits()
	if !limits.Required["title"] || limits.Required["page"] {
		t.Errorf("required %v, want title only", limits.Required)
	}
	want := map[string]map[string]any{"title": {"minLength": 3, "maxLength": 50}, "page": {"minimum": 1, "maximum": 100}}
	if !reflect.DeepEqual(limits.Keywords, want) {
		t.Errorf("keywords %v, want %v", limits.Keywords, want)
	}
}
