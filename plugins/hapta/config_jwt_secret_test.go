package hapta

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGeneratedJWTSecretIsKeptInPBData(t *testing.T) {
	t.Parallel()
	for _, configured := range []Secret{"", "*"} {
		dataDir := t.TempDir()

		first, err := resolveJWTSecret(configured, dataDir)
		if err != nil {
			t.Fatal(err)
		}
		if len(first) < minJWTSecretLen {
			t.Fatalf("generated secret has %d bytes", len(first))
		}
		info, err := os.Stat(filepath.Join(dataDir, jwtSecretFile))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Fatalf("secret file mode %v, want 0600", info.Mode().Perm())
		}

		again, err := resolveJWTSecret(configured, dataDir)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, again) {
			t.Fatal("the generated secret changed on the second start")
		}

		other, err := resolveJWTSecret(configured, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(first, other) {
			t.Fatal("two data directories generated the same secret")
		}
	}
}

func TestGeneratedJWTSecretSurvivesARestartOfTheApp(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	secrets := make([][]byte, 2)
	for i := range secrets {
		app := newTestApp(t, dataDir, `{"JWT_SECRET": "*"}`)
		if err := app.Bootstrap(); err != nil {
			t.Fatal(err)
		}
		secrets[i] = app.plugin.tokens.secret
		_ = app.ResetBootstrapState()
	}
	if len(secrets[0]) < minJWTSecretLen || !bytes.Equal(secrets[0], secrets[1]) {
		t.Fatal("the app's JWT secret changed across a restart")
	}
}

func TestConfiguredJWTSecretIsUsedAndNotStored(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	got, err := resolveJWTSecret(jwtSecret, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != jwtSecret {
		t.Fatal("the configured secret was not used")
	}
	if _, err := os.Stat(filepath.Join(dataDir, jwtSecretFile)); !os.IsNotExist(err) {
		t.Fatal("a configured secret must not be written to pb_data")
	}
}

func TestDamagedJWTSecretFileIsAnError(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dataDir, jwtSecretFile), []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := resolveJWTSecret("*", dataDir)
	if err == nil || !strings.Contains(err.Error(), "damaged") || strings.Contains(err.Error(), "abc") {
		t.Fatalf("want a clear error without the content, got %v", err)
	}
}
