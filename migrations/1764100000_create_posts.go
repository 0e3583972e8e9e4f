package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
	"github.com/pocketbase/pocketbase/tools/types"
)

// The example application's posts: anyone reads them, signed-in users
// write them, and only a post's author changes or deletes it.
func init() {
	m.Register(func(app core.App) error {
		users, err := app.FindCollectionByNameOrId("users")
		if err != nil {
			return err
		}

		posts := core.NewBaseCollection("posts")
		posts.ListRule = types.Pointer("")
		posts.ViewRule = types.Pointer("")
		posts.CreateRule = types.Pointer(`@request.auth.collectionName = "users" && author = @request.auth.id`)
		posts.UpdateRule = types.Pointer(`author = @request.auth.id && (@request.body.author:isset = false || @request.body.author = @request.auth.id)`)
		posts.DeleteRule = types.Pointer("author = @request.auth.id")

		posts.Fields.Add(
			&core.TextField{Name: "title", Required: true, Min: 3, Max: 200},
			&core.TextField{Name: "body", Max: 10000},
			&core.RelationField{Name: "author", Required: true, CollectionId: users.Id, MaxSelect: 1, CascadeDelete: true},
			&core.AutodateField{Name: "created", OnCreate: true},
			&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
		)
		posts.AddIndex("idx_posts_created", false, "created", "")
		posts.AddIndex("idx_posts_author", false, "author", "")

		return app.Save(posts)
	}, func(app core.App) error {
		posts, err := app.FindCollectionByNameOrId("posts")
		if err != nil {
			return err
		}
		return app.Delete(posts)
	})
}
