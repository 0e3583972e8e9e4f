package hapta

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// settingKey is one key of hapta-config.json: how its JSON value and its
// HAPTA_<KEY> environment value land in Settings.
type settingKey struct {
	name     string // exactly as written in hapta-config.json
	secret   bool   // its value never appears in messages
	detailed bool   // a decoding error says what is wrong inside the value
	expect   string // the accepted shape, for error messages
	decode   func(s *Settings, raw json.RawMessage) error
	parse    func(s *Settings, text string) error
}

// envName is the environment variable that overrides the key.
func (k settingKey) envName() string { return envPrefix + strings.ToUpper(k.name) }

const envPrefix = "HAPTA_"

// settingKeys are every key hapta-config.json may hold.
var settingKeys = []settingKey{
	newKey("port", "an integer", false, func(s *Settings) *int { return &s.Port }, strconv.Atoi),
	newKey("logLevel", "a string", false, func(s *Settings) *string { return &s.LogLevel }, parseString),
	originKey(),
	newKey("ADMIN_EMAIL", "a string", false, func(s *Settings) *string { return &s.AdminEmail }, parseString),
	newKey("ADMIN_PASSWORD", "a string", true, func(s *Settings) *Secret { return &s.AdminPassword }, parseSecret),
	newKey("JWT_SECRET", "a string", true, func(s *Settings) *Secret { return &s.JWTSecret }, parseSecret),
	newKey("DatabaseUrl", "a string", false, func(s *Settings) *string { return &s.DatabaseURL }, parseString),
	newKey("Clover_Tenant_ID", "a string", false, func(s *Settings) *string { return &s.Clover.TenantID }, parseString),
	newKey("Clover_Secret", "a string", true, func(s *Settings) *Secret { return &s.Clover.Secret }, parseSecret),
	newKey("Clover_Server_Url", "a string", false, func(s *Settings) *string { return &s.Clover.ServerURL }, parseString),
	newKey("Clover_Serve", "true or false", false, func(s *Settings) *bool { return &s.Clover.Serve }, strconv.ParseBool),
	newKey("AI_ENABLED", "true or false", false, func(s *Settings) *bool { return &s.AIEnabled }, strconv.ParseBool),
	cacheKey(),
	routesKey(),
	clusterKey(),
	realtimeKey(),
}

// cacheKey is the `cache` object; in the environment, HAPTA_CACHE holds it
// as JSON.
func cacheKey() settingKey {
	return objectKey("cache", `an object such as {"maxBytes": 67108864, "collections": {"posts": {"http": true, "ttl": "dynamic"}}}`,
		func(s *Settings) *CacheSettings { return &s.Cache }, CacheSettings{}.withDefaults)
}

// routesKey is the `routes` object (JavaScript routes); HAPTA_ROUTES in the
// environment.
func routesKey() settingKey {
	return objectKey("routes", `an object such as {"dir": "pb_routes", "prefix": "/js", "reload": true, "timeout": "10s"}`,
		func(s *Settings) *RoutesSettings { return &s.Routes }, func() RoutesSettings { return RoutesSettings{} })
}

// objectKey describes a key whose value is a JSON object decoded over its
// defaults, in the file and as JSON in the environment. Unknown fields are
// refused, as unknown keys are.
func objectKey[T any](name, expect string, field func(*Settings) *T, defaults func() T) settingKey {
	decode := func(s *Settings, raw []byte) error {
		decoder := json.NewDecoder(bytes.NewReader(raw))
		decoder.DisallowUnknownFields()
		value := defaults()
		if err := decoder.Decode(&value); err != nil {
			return err
		}
		*field(s) = value
		return nil
	}
	return settingKey{
		name:     name,
		detailed: true,
		expect:   expect,
		decode:   func(s *Settings, raw json.RawMessage) error { return decode(s, raw) },
		parse:    func(s *Settings, text string) error { return decode(s, []byte(text)) },
	}
}

// newKey describes a key whose JSON value decodes straight into one field.
func newKey[T any](name, expect string, secret bool, field func(*Settings) *T, parse func(string) (T, error)) settingKey {
	return settingKey{
		name:   name,
		secret: secret,
		expect: expect,
		decode: func(s *Settings, raw json.RawMessage) error {
			return json.Unmarshal(raw, field(s))
		},
		parse: func(s *Settings, text string) error {
			value, err := parse(text)
			if err != nil {
				return err
			}
			*field(s) = value
			return nil
		},
	}
}

// originKey accepts one origin or a list: "origin": "*" or
// "origin": ["https://a.example", "https://b.example"]; in the environment,
// a comma-separated list.
func originKey() settingKey {
	return settingKey{
		name:   "origin",
		expect: "a string or a list of strings",
		decode: func(s *Settings, raw json.RawMessage) error {
			var one string
			if err := json.Unmarshal(raw, &one); err == nil {
				s.Origins = []string{one}
				return nil
			}
			var list []string
			if err := json.Unmarshal(raw, &list); err != nil {
				return err
			}
			s.Origins = list
			return nil
		},
		parse: func(s *Settings, text string) error {
			s.Origins = strings.Split(text, ",")
			for i := range s.Origins {
				s.Origins[i] = strings.TrimSpace(s.Origins[i])
			}
			return nil
		},
	}
}

func parseString(text string) (string, error) { return text, nil }
func parseSecret(text string) (Secret, error) { return Secret(text), nil }

// findKey returns the key named exactly name.
func findKey(name string) (settingKey, bool) {
	for _, k := range settingKeys {
		if k.name == name {
			return k, true
		}
	}
	return settingKey{}, false
}

// findEnvKey returns the key whose environment variable is name.
func findEnvKey(name string) (settingKey, bool) {
	for _, k := range settingKeys {
		if k.envName() == name {
			return k, true
		}
	}
	return settingKey{}, false
}

// decodeValue applies one JSON value, describing a wrong type without
// quoting a secret's value.
func (k settingKey) decodeValue(s *Settings, raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" {
		return errors.New("must be " + k.expect + ", got null")
	}
	if err := k.decode(s, raw); err != nil {
		if k.detailed {
			return errors.New("must be " + k.expect + ": " + strings.TrimPrefix(err.Error(), "json: "))
		}
		got := jsonKind(raw)
		if !k.secret {
			got += " " + string(raw)
		}
		return errors.New("must be " + k.expect + ", got " + got)
	}
	return nil
}

// parseValue applies one environment value.
func (k settingKey) parseValue(s *Settings, text string) error {
	if err := k.parse(s, text); err != nil {
		if k.detailed {
			return errors.New("must be " + k.expect + ": " + strings.TrimPrefix(err.Error(), "json: "))
		}
		if k.secret {
			return errors.New("must be " + k.expect)
		}
		return errors.New("must be " + k.expect + ", got " + strconv.Quote(text))
	}
	return nil
}

// jsonKind names the JSON type of a raw value.
func jsonKind(raw json.RawMessage) string {
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "a list"
	case 't', 'f':
		return "a boolean"
	default:
		return "a number"
	}
}
