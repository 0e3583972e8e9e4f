package hapta

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/postr-inc/hapta/internal/sse"
	"github.com/postr-inc/hapta/internal/testsupport"
)

// PocketBase's router constructor binds the realtime broadcasts on the
// app's hooks; hapta's private routers must not bind them again.
func TestHaptasPrivateRoutersSendNoRealtimeMessageTwice(t *testing.T) {
	t.Parallel()
	app, server := cachedApp(t)
	author, _ := testsupport.NewAuthRecord(t, app, "users", "rt@example.com")
	services := ServicesOf(app)
	// build both private routers: the database service's and Authenticate's
	if _, err := services.DB.AsSystem().List("posts", ListOptions{}); err != nil {
		t.Fatal(err)
	}
	_, _ = services.Authenticate.Password(Caller{RemoteAddr: "127.0.0.1:1"}, PasswordLogin{Identity: "rt@example.com", Password: "wrong-password"})

	stream, err := sse.Connect(http.DefaultClient, server.URL, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if err := stream.Subscribe("", "posts"); err != nil {
		t.Fatal(err)
	}

	testsupport.SaveRecord(t, app, "posts", map[string]any{"title": "Live", "author": author.Id})
	received := 0
	for timeout := time.After(time.Second); ; {
		select {
		case event, ok := <-stream.Events:
			if !ok {
				t.Fatal("the realtime connection closed")
			}
			if strings.Contains(event.Data, `"Live"`) {
				received++
			}
			continue
		case <-timeout:
		}
		break
	}
	if received != 1 {
		t.Fatalf("one create sent %d realtime messages", received)
	}
}
