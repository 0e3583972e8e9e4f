package hapta

import (
	"io"
	"log/slog"

	"github.com/pocketbase/pocketbase/core"
)

// logLevels are the accepted logLevel values.
var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

// newLogger returns hapta's logger. It writes to PocketBase's logger (the
// admin UI's Logs, filtered by the level hapta sets there) and, outside dev
// mode, where PocketBase prints nothing to the terminal, to console too.
func newLogger(app core.App, level slog.Level, console io.Writer) *slog.Logger {
	handler := app.Logger().Handler()
	if !app.IsDev() {
		handler = slog.NewMultiHandler(handler, slog.NewTextHandler(console, &slog.HandlerOptions{Level: level}))
	}
	return slog.New(handler).With("plugin", "hapta")
}
