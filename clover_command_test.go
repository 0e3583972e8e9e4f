package main

import (
	"path/filepath"
	"regexp"
	"testing"

	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/plugins/clover"
)

// `./pocketbase clover tenant create NAME` prints the client id and a
// secret, once; the secret authenticates the tenant as an OAuth2 client,
// and `clover tenant secret ID` replaces it.
func TestTheCloverCommandMakesTenantClients(t *testing.T) {
	dir := workDir(t, `{"logLevel": "warn"}`)
	credentials := regexp.MustCompile(`client_id=(\w+)\nclient_secret=(\S+)\n`)
	run := func(args ...string) (id, secret string) {
		t.Helper()
		command := start(t, dir, nil, append([]string{"--dev=false", "clover", "tenant"}, args...)...)
		if code := command.waitExit(t); code != 0 {
			t.Fatalf("clover tenant %v: exit %d:\n%s", args, code, command.output)
		}
		m := credentials.FindStringSubmatch(command.output.String())
		if m == nil {
			t.Fatalf("no credentials printed:\n%s", command.output)
		}
		return m[1], m[2]
	}
	id, first := run("create", "Acme", "--first-party")
	again, second := run("secret", id)

	app := core.NewBaseApp(core.BaseAppConfig{DataDir: filepath.Join(dir, "pb_data")})
	if err := app.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	defer app.ResetBootstrapState()
	tenant, err := clover.AuthenticateClient(app, id, second)
	if again != id || err != nil || tenant.GetString("name") != "Acme" || !tenant.GetBool(clover.FirstPartyField) {
		t.Fatalf("the tenant with its new secret: %v %v", tenant, err)
	}
	if _, err := clover.AuthenticateClient(app, id, first); err == nil {
		t.Fatal("the replaced secret still works")
	}
}

// `./pocketbase clover rotate-keys` makes a new active key and keeps the
// retired one published.
func TestTheCloverCommandRotatesKeys(t *testing.T) {
	dir := workDir(t, `{"logLevel": "warn"}`)
	rotated := regexp.MustCompile(`active key (\w+); (\d+) keys published`)
	rotate := func() (kid, published string) {
		t.Helper()
		command := start(t, dir, nil, "--dev=false", "clover", "rotate-keys")
		if code := command.waitExit(t); code != 0 {
			t.Fatalf("exit %d:\n%s", code, command.output)
		}
		m := rotated.FindStringSubmatch(command.output.String())
		if m == nil {
			t.Fatalf("no key printed:\n%s", command.output)
		}
		return m[1], m[2]
	}
	first, published := rotate()
	second, publishedAfter := rotate()
	if first == second || published != "1" || publishedAfter != "2" {
		t.Fatalf("keys %s then %s, published %s then %s", first, second, published, publishedAfter)
	}
}
