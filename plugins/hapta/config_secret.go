package hapta

import (
	"encoding/json"
	"log/slog"
)

// Secret is a credential from the configuration (ADMIN_PASSWORD, JWT_SECRET,
// Clover_Secret). It prints, logs and marshals as a mask, so a configuration
// dump or an error message never carries the value; Reveal returns it.
type Secret string

const secretMask = "******"

// Reveal returns the secret's value, for the one place that needs it.
func (s Secret) Reveal() string { return string(s) }

// String masks the value for fmt's %v, %s and %q.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return secretMask
}

// GoString masks the value for fmt's %#v.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// LogValue masks the value for log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON masks the value in JSON output.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }
