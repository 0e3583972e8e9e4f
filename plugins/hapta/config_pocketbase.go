package hapta

import (
	"fmt"

	"github.com/pocketbase/pocketbase/core"
)

// applyPocketBaseSettings writes logLevel and DatabaseUrl into PocketBase's
// settings, so that they hold from start and the admin UI shows them. It
// saves only on a difference; an edit made in the admin UI lasts until the
// next start.
func applyPocketBaseSettings(app core.App, s Settings) error {
	settings, err := app.Settings().Clone()
	if err != nil {
		return err
	}

	changed := false
	if minLevel := int(logLevels[s.LogLevel]); settings.Logs.MinLevel != minLevel {
		settings.Logs.MinLevel = minLevel
		changed = true
	}
	if s.DatabaseURL != "" && settings.Meta.AppURL != s.DatabaseURL {
		settings.Meta.AppURL = s.DatabaseURL
		changed = true
	}
	if !changed {
		return nil
	}

	if err := app.Save(settings); err != nil {
		return fmt.Errorf("hapta: saving logLevel and DatabaseUrl into PocketBase's settings: %w", err)
	}
	return nil
}
