package hapta

import (
	"fmt"
	"testing"

	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/internal/testsupport"
)

// BenchmarkUnitOfWork saves units of 100 creates in process, through the
// same path as POST /api/hapta/batch without HTTP, beside
// BenchmarkPlainSaves, the floor: PocketBase's own Save of the same records
// in one transaction, with no rules or request:
//
//	go test -run '^$' -bench 'BenchmarkUnitOfWork|BenchmarkPlainSaves' -benchmem ./plugins/hapta/
func BenchmarkUnitOfWork(b *testing.B) {
	app := haptaApp(b, `{"logLevel": "error"}`)
	newPosts(b, app)
	db := ServicesOf(app).DB.AsSystem()
	user := testsupport.SaveRecord(b, app, "users", map[string]any{"email": "bench@example.com", "password": "bench-password-1"})
	n := 0
	for b.Loop() {
		unit := db.Begin()
		for range 100 {
			n++
			unit.Create("posts", map[string]any{"title": fmt.Sprintf("post %d", n), "author": user.Id})
		}
		if _, err := unit.SaveChanges(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPlainSaves(b *testing.B) {
	app := haptaApp(b, `{"logLevel": "error"}`)
	posts := newPosts(b, app)
	user := testsupport.SaveRecord(b, app, "users", map[string]any{"email": "bench@example.com", "password": "bench-password-1"})
	n := 0
	for b.Loop() {
		err := app.RunInTransaction(func(txApp core.App) error {
			for range 100 {
				n++
				post := core.NewRecord(posts)
				post.Set("title", fmt.Sprintf("post %d", n))
				post.Set("author", user.Id)
				if err := txApp.Save(post); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
