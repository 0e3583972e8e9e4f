package hapta

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// jwtSecretFile keeps the generated JWT secret in pb_data, so tokens signed
// before a restart stay valid after it.
const jwtSecretFile = "hapta_jwt_secret"

// resolveJWTSecret returns the configured secret, or for "" and "*" the one
// generated on the first start and kept in dataDir.
func resolveJWTSecret(configured Secret, dataDir string) ([]byte, error) {
	if configured != "" && configured != generatedSecret {
		return []byte(configured.Reveal()), nil
	}

	path := filepath.Join(dataDir, jwtSecretFile)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		secret := strings.TrimSpace(string(data))
		if len(secret) < minJWTSecretLen {
			return nil, fmt.Errorf("hapta: the generated JWT secret in %s is damaged (shorter than %d bytes); delete the file to generate a new one, which invalidates issued hapta tokens", path, minJWTSecretLen)
		}
		return []byte(secret), nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("hapta: reading the generated JWT secret: %w", err)
	}

	random := make([]byte, 32)
	if _, err := rand.Read(random); err != nil {
		return nil, err
	}
	secret := hex.EncodeToString(random)
	if err := writeFileAtomically(path, []byte(secret+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("hapta: keeping the generated JWT secret: %w", err)
	}
	return []byte(secret), nil
}

// writeFileAtomically writes through a temporary file and a rename, so a
// crash never leaves a half-written file behind.
func writeFileAtomically(path string, data []byte, perm fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())

	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
