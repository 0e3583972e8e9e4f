package hapta

import (
	"testing"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
)

// newPosts creates the posts collection the tests of this package read:
// public to list and view, written by its author (users), as the example
// app's posts.
func newPosts(t testing.TB, app core.App) *core.Collection {
	t.Helper()
	users, err := app.FindCollectionByNameOrId("users")
	if err != nil {
		t.Fatal(err)
	}
	posts := core.NewBaseCollection("posts")
	posts.ListRule, posts.ViewRule = types.Pointer(""), types.Pointer("")
	posts.CreateRule = types.Pointer(`@request.auth.collectionName = "users" && author = @request.auth.id`)
	posts.UpdateRule = types.Pointer("author = @request.auth.id")
	posts.DeleteRule = posts.UpdateRule
	posts.Fields.Add(
		&core.TextField{Name: "title", Required: true, Max: 200},
		&core.TextField{Name: "body", Max: 20000},
		&core.RelationField{Name: "author", Required: true, CollectionId: users.Id, MaxSelect: 1, CascadeDelete: true},
		&core.AutodateField{Name: "created", OnCreate: true},
		&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
	)
	if err := app.Save(posts); err != nil {
		t.Fatal(err)
	}
	return posts
}
