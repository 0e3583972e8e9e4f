package hapta

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

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

	res, err := http.Get(server.URL + "/api/realtime")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	events := make(chan string, 16)
	go func() {
		scanner := bufio.NewScanner(res.Body)
		for scanner.Scan() {
			if line, ok := strings.CutPrefix(scanner.Text(), "data:"); ok {
				events <- line
			}
		}
		close(events)
	}()
	var connect struct {
		ClientID string `json:"clientId"`
	}
	if err := json.Unmarshal([]byte(<-events), &connect); err != nil || connect.ClientID == "" {
		t.Fatalf("no PB_CONNECT: %v", err)
	}
	subscribe := testsupport.CallJSON(t, "POST", server.URL+"/api/realtime",
		`{"clientId": "`+connect.ClientID+`", "subscriptions": ["posts"]}`)
	if subscribe.Status != 204 {
		t.Fatalf("subscribe: %d %s", subscribe.Status, subscribe.Raw)
	}

	testsupport.SaveRecord(t, app, "posts", map[string]any{"title": "Live", "author": author.Id})
	received := 0
	for timeout := time.After(time.Second); ; {
		select {
		case event, ok := <-events:
			if !ok {
				t.Fatal("the realtime connection closed")
			}
			if strings.Contains(event, `"Live"`) {
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
