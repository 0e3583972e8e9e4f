package hapta

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/postr-inc/hapta/internal/testsupport"
)

// BenchmarkCachedList serves a cached page of posts through the whole
// router, against /api/health on the same router as the floor:
//
//	go test -run '^$' -bench BenchmarkCachedList -benchmem ./plugins/hapta/
func BenchmarkCachedList(b *testing.B) {
	app, server := cachedAppTB(b)
	author, _ := testsupport.NewAuthRecord(b, app, "users", "bench-author@example.com")
	for i := 0; i < 40; i++ {
		testsupport.SaveRecord(b, app, "posts", map[string]any{"title": "A post of the benchmark", "body": "Some text of a post body.", "author": author.Id})
	}
	handler := server.Config.Handler
	for _, path := range []string{"/api/health", "/api/collections/posts/records?perPage=20&sort=-created&page=1"} {
		b.Run(path, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				recorder := httptest.NewRecorder()
				handler.ServeHTTP(recorder, httptest.NewRequest(http.MethodGet, path, nil))
				if recorder.Code != http.StatusOK {
					b.Fatal(recorder.Code)
				}
			}
		})
	}
}
