package hapta

import (
	"database/sql"
	"errors"
	"fmt"

	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/core"
)

// ensureSuperuser creates the ADMIN_EMAIL superuser when no superuser has
// that email. An existing one is left as it is: its password is not reset,
// so a password changed in the admin UI survives restarts.
func ensureSuperuser(app core.App, settings *loadedSettings) (created bool, err error) {
	if settings.AdminEmail == "" {
		return false, nil
	}

	_, err = app.FindAuthRecordByEmail(core.CollectionNameSuperusers, settings.AdminEmail)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("hapta: looking up the ADMIN_EMAIL superuser: %w", err)
	}

	collection, err := app.FindCachedCollectionByNameOrId(core.CollectionNameSuperusers)
	if err != nil {
		return false, err
	}
	superuser := core.NewRecord(collection)
	superuser.SetEmail(settings.AdminEmail)
	superuser.SetPassword(settings.AdminPassword.Reveal())

	if err := app.Save(superuser); err != nil {
		return false, describeSuperuserError(settings, err)
	}
	return true, nil
}

// describeSuperuserError names the configuration key behind a field that
// PocketBase refused (for example a password shorter than its minimum).
func describeSuperuserError(settings *loadedSettings, err error) error {
	var fieldErrors validation.Errors
	if errors.As(err, &fieldErrors) {
		for field, key := range map[string]string{core.FieldNameEmail: "ADMIN_EMAIL", core.FieldNamePassword: "ADMIN_PASSWORD"} {
			if fieldErr, ok := fieldErrors[field]; ok {
				return &ConfigError{Key: key, Source: settings.source(key),
					Problem: "PocketBase refused it for the superuser: " + fieldErr.Error()}
			}
		}
	}
	return fmt.Errorf("hapta: creating the ADMIN_EMAIL superuser: %w", err)
}
