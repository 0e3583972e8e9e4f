package hapta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/postr-inc/hapta/plugins/hapta/internal/cluster"
	"github.com/postr-inc/hapta/plugins/hapta/internal/jsonpos"
	"github.com/postr-inc/hapta/plugins/hapta/internal/realtime"
	"github.com/postr-inc/hapta/plugins/hapta/internal/recordcache"
)

// DefaultConfigFile is read from the working directory when no path is given.
const DefaultConfigFile = "hapta-config.json"

// configPathEnv names the configuration file when --hapta-config is not given.
const configPathEnv = "HAPTA_CONFIG"

// ConfigError is a configuration problem. It names the key and where its
// value came from, and never quotes a secret.
type ConfigError struct {
	Key     string // the hapta-config.json key; empty for the file as a whole
	Source  string // the file's path or the environment variable; empty for a default or Go value
	Problem string
}

func (e *ConfigError) Error() string {
	switch {
	case e.Key == "":
		return "hapta config: " + e.Source + ": " + e.Problem
	case e.Source == "":
		return "hapta config: " + e.Key + ": " + e.Problem
	}
	return "hapta config: " + e.Key + " (from " + e.Source + "): " + e.Problem
}

// configFile is the configuration file to read.
type configFile struct {
	path     string
	required bool // named explicitly, so it must exist
}

// locateConfigFile picks the file: the --hapta-config flag, then
// HAPTA_CONFIG, then Config.ConfigFile; otherwise the optional default.
func locateConfigFile(flagValue, configured string) configFile {
	for _, path := range []string{flagValue, os.Getenv(configPathEnv), configured} {
		if path != "" {
			return configFile{path: path, required: true}
		}
	}
	return configFile{path: DefaultConfigFile}
}

// loadedSettings are settings with where each key's value came from.
type loadedSettings struct {
	Settings
	sources map[string]string // key name -> file path or environment variable
	// cache is the `cache` key decoded by checkCache into typed values
	cache recordcache.Config
	// cluster is the `cluster` key decoded by checkCluster; nil for none
	cluster *cluster.Config
	// realtime is the `realtime` key decoded by checkRealtime
	realtime *realtime.Options
}

// source names where a key's value came from: the file or an environment
// variable, or "" for a default or a value set in Go.
func (l *loadedSettings) source(key string) string { return l.sources[key] }

// loadSettings layers the file and the HAPTA_* environment over base, then
// validates the result.
func loadSettings(base Settings, file configFile, environ []string) (*loadedSettings, error) {
	loaded := &loadedSettings{Settings: base.withDefaults(), sources: map[string]string{}}

	if err := loaded.applyFile(file); err != nil {
		return nil, err
	}
	if err := loaded.applyEnv(environ); err != nil {
		return nil, err
	}
	if err := loaded.validate(); err != nil {
		return nil, err
	}
	return loaded, nil
}

func (l *loadedSettings) applyFile(file configFile) error {
	data, err := os.ReadFile(file.path)
	if errors.Is(err, fs.ErrNotExist) && !file.required {
		return nil
	}
	if err != nil {
		return &ConfigError{Source: file.path, Problem: "cannot read the file: " + describeReadError(err)}
	}

	var values map[string]json.RawMessage
	if err := json.Unmarshal(data, &values); err != nil {
		return &ConfigError{Source: file.path, Problem: describeJSONError(data, err)}
	}

	names, err := keysInOrder(data)
	if err != nil {
		return &ConfigError{Source: file.path, Problem: err.Error()}
	}

	for _, name := range names {
		key, ok := findKey(name)
		if !ok {
			known := make([]string, len(settingKeys))
			for i, k := range settingKeys {
				known[i] = k.name
			}
			return &ConfigError{Key: name, Source: file.path,
				Problem: fmt.Sprintf("unknown key; did you mean %q?", nearest(name, known))}
		}
		if err := key.decodeValue(&l.Settings, values[name]); err != nil {
			return &ConfigError{Key: name, Source: file.path, Problem: err.Error()}
		}
		l.sources[name] = file.path
	}
	return nil
}

func (l *loadedSettings) applyEnv(environ []string) error {
	slices.Sort(environ)
	for _, entry := range environ {
		name, value, _ := strings.Cut(entry, "=")
		if !strings.HasPrefix(name, envPrefix) || name == configPathEnv {
			continue
		}
		key, ok := findEnvKey(name)
		if !ok {
			known := []string{configPathEnv}
			for _, k := range settingKeys {
				known = append(known, k.envName())
			}
			return &ConfigError{Source: name,
				Problem: fmt.Sprintf("unknown hapta setting; did you mean %s?", nearest(name, known))}
		}
		if err := key.parseValue(&l.Settings, value); err != nil {
			return &ConfigError{Key: key.name, Source: name, Problem: err.Error()}
		}
		l.sources[key.name] = name
	}
	return nil
}

// keysInOrder lists the keys of a valid JSON object in file order, refusing
// a key given twice (encoding/json would keep the last one silently).
func keysInOrder(data []byte) ([]string, error) {
	decoder := json.NewDecoder(bytes.NewReader(data))
	if _, err := decoder.Token(); err != nil { // the opening brace
		return nil, err
	}
	var names []string
	for decoder.More() {
		token, err := decoder.Token()
		if err != nil {
			return nil, err
		}
		name := token.(string) // object keys are strings in valid JSON
		if slices.Contains(names, name) {
			return nil, fmt.Errorf("the key %q is given twice", name)
		}
		names = append(names, name)

		var value json.RawMessage
		if err := decoder.Decode(&value); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// describeReadError drops the path that os errors repeat.
func describeReadError(err error) string {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Err.Error()
	}
	return err.Error()
}

// quotedCharacter is the offending character that encoding/json quotes in
// syntax errors; it is dropped because it may belong to a secret.
var quotedCharacter = regexp.MustCompile(`'(\\'|[^'])*' ?`)

// describeJSONError turns a decoding error into a message with the line and
// column of a syntax error.
func describeJSONError(data []byte, err error) string {
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		// Offset counts the offending byte too
		line, column := jsonpos.LineAndColumn(data, syntaxErr.Offset-1)
		return fmt.Sprintf("invalid JSON at line %d, column %d: %s",
			line, column, quotedCharacter.ReplaceAllString(syntaxErr.Error(), ""))
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return "must hold a JSON object of settings, not " + typeErr.Value
	}
	return "invalid JSON: " + err.Error()
}
