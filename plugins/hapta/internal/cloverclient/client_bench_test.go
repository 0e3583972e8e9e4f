package cloverclient_test

import (
	"context"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/internal/testsupport"
	"github.com/postr-inc/hapta/plugins/clover"
	"github.com/postr-inc/hapta/plugins/hapta"
	"github.com/postr-inc/hapta/plugins/hapta/internal/cloverclient"
)

// benchServer is a Clover server over loopback HTTP with a first-party
// tenant and a member, a client of that tenant, and an access token.
func benchServer(b *testing.B) (client *cloverclient.Client, token string, app core.App, pocketBaseToken string) {
	b.Helper()
	app = testsupport.NewApp(b, func(app core.App) {
		hapta.MustRegister(app, nil, hapta.Config{ConfigFile: testsupport.WriteFile(b, "hapta-config.json", `{"logLevel": "error"}`)})
		clover.MustRegister(app, nil, clover.Config{Serve: true})
	})
	server, err := testsupport.Serve(b, app)
	if err != nil {
		b.Fatal(err)
	}
	settings := app.Settings()
	settings.Meta.AppURL = server.URL
	if err := app.Save(settings); err != nil {
		b.Fatal(err)
	}
	tenant := testsupport.SaveRecord(b, app, clover.TenantsCollection, map[string]any{"name": "bench", clover.FirstPartyField: true})
	secret, err := clover.NewClientSecret(app, tenant)
	if err != nil {
		b.Fatal(err)
	}
	user, pocketBaseToken := testsupport.NewAuthRecord(b, app, "users", "bench@example.com")
	testsupport.SaveRecord(b, app, clover.MembersCollection, map[string]any{"tenant": tenant.Id, "user": user.Id})

	client = cloverclient.New(cloverclient.Config{ServerURL: server.URL, TenantID: tenant.Id, Secret: secret, PollEvery: time.Hour})
	client.Start()
	b.Cleanup(client.Stop)
	for deadline := time.Now().Add(10 * time.Second); client.Health() != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("the client does not reach the server:", client.Health())
		}
	}
	tokens, err := client.ExchangePocketBaseToken(context.Background(), pocketBaseToken)
	if err != nil {
		b.Fatal(err)
	}
	return client, tokens.AccessToken, app, pocketBaseToken
}

// BenchmarkCheckToken compares the ways an application can check a token
// on each request: a Clover access token verified offline (signature,
// claims, revoked ids), the same token introspected at the server over
// loopback HTTP (RFC 7662), and, for reference, PocketBase checking its
// own auth token against its database.
func BenchmarkCheckToken(b *testing.B) {
	client, token, app, pocketBaseToken := benchServer(b)
	ctx := context.Background()

	b.Run("clover-offline", func(b *testing.B) {
		for b.Loop() {
			if _, err := client.Verify(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("clover-introspection", func(b *testing.B) {
		for b.Loop() {
			if active, err := client.Introspect(ctx, token); err != nil || !active {
				b.Fatal(active, err)
			}
		}
	})
	b.Run("pocketbase-token", func(b *testing.B) {
		for b.Loop() {
			if _, err := app.FindAuthRecordByToken(pocketBaseToken, core.TokenTypeAuth); err != nil {
				b.Fatal(err)
			}
		}
	})
}
