package clover

import (
	"testing"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/internal/testsupport"
	"github.com/postr-inc/hapta/plugins/clover/internal/signing"
	"github.com/postr-inc/hapta/plugins/hapta"
)

func maintenanceApp(t *testing.T) core.App {
	t.Helper()
	return testsupport.NewApp(t, func(app core.App) {
		hapta.MustRegister(app, nil, hapta.Config{ConfigFile: testsupport.WriteFile(t, "hapta-config.json", `{}`)})
		MustRegister(app, nil, Config{})
	})
}

func TestTheScheduleRotatesOnlyAnOldKey(t *testing.T) {
	t.Parallel()
	keys, err := signing.Open(maintenanceApp(t), SignedTokenLifetime)
	if err != nil {
		t.Fatal(err)
	}
	first, err := keys.Active()
	if err != nil {
		t.Fatal(err)
	}
	if err := rotateOnSchedule(keys, time.Hour); err != nil {
		t.Fatal(err)
	}
	if active, _ := keys.Active(); active.ID != first.ID {
		t.Fatal("a young key was rotated")
	}
	if err := rotateOnSchedule(keys, time.Nanosecond); err != nil {
		t.Fatal(err)
	}
	if active, _ := keys.Active(); active.ID == first.ID {
		t.Fatal("an old key was not rotated")
	}
}

func TestMaintenanceForgetsOnlyWhatExpired(t *testing.T) {
	t.Parallel()
	app := maintenanceApp(t)
	s := &storage{app: app, users: defaultUsersCollection}
	now := time.Now()
	for i, expires := range []time.Time{now.Add(-time.Minute), now.Add(time.Minute)} {
		_, err := app.DB().NewQuery("INSERT INTO {{" + accessTokensTable + "}} ([[jti]], [[family]], [[tenant]], [[subject]], [[scopes]], [[expires]], [[revoked]]) " +
			"VALUES ({:jti}, '', 't', 's', '[]', {:expires}, 1)").Bind(dbx.Params{"jti": string(rune('a' + i)), "expires": expires.UnixMilli()}).Execute()
		if err != nil {
			t.Fatal(err)
		}
		_, err = app.DB().NewQuery("INSERT INTO {{" + authRequestsTable + "}} ([[id]], [[data]], [[created]]) VALUES ({:id}, '{}', {:created})").
			Bind(dbx.Params{"id": string(rune('a' + i)), "created": expires.Add(-authRequestLifetime).UnixMilli()}).Execute()
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.deleteExpired(); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{accessTokensTable, authRequestsTable} {
		var left []string
		if err := app.DB().NewQuery("SELECT [[" + map[string]string{accessTokensTable: "jti", authRequestsTable: "id"}[table] + "]] FROM {{" + table + "}}").Column(&left); err != nil {
			t.Fatal(err)
		}
		if len(left) != 1 || left[0] != "b" {
			t.Fatalf("%s after the clean-up: %v", table, left)
		}
	}
}
