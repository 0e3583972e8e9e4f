package cloverclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// keySet is the server's JWKS, fetched once and again only when a token
// names a key it does not have, at most once per minRefetch: tokens with
// made-up key ids cannot make the client hammer the server. A token of a
// key the server made within minRefetch of the last fetch is refused
// (ErrUnknownKey) until then.
type keySet struct {
	url        string
	http       *http.Client
	minRefetch time.Duration

	fetching sync.Mutex // held by the one fetch in flight
	mu       sync.Mutex // guards keys and fetched
	keys     map[string]jose.JSONWebKey
	fetched  time.Time
}

// ErrUnknownKey is the error of a token signed with a key the server does
// not publish (or did not when the keys were last read).
var ErrUnknownKey = errors.New("clover: the token's signing key is unknown")

// keyErrorSlot carries the key set's error past go-oidc, which keeps only
// its text.
type keyErrorSlot struct{ err error }

type keyErrorKey struct{}

// VerifySignature is go-oidc's KeySet: the payload of a JWS signed with
// one of the server's RS256 keys.
func (k *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	payload, err := k.verifySignature(ctx, raw)
	if slot, ok := ctx.Value(keyErrorKey{}).(*keyErrorSlot); ok {
		slot.err = err
	}
	return payload, err
}

func (k *keySet) verifySignature(ctx context.Context, raw string) ([]byte, error) {
	signed, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, err
	}
	if len(signed.Signatures) != 1 {
		return nil, errors.New("clover: a token must have one signature")
	}
	kid := signed.Signatures[0].Header.KeyID
	key, err := k.key(ctx, kid)
	if err != nil {
		return nil, err
	}
	return signed.Verify(key.Key)
}

func (k *keySet) key(ctx context.Context, kid string) (jose.JSONWebKey, error) {
	if key, ok, recent := k.cached(kid); ok || recent {
		return key, orUnknown(ok)
	}
	k.fetching.Lock() // one fetch at a time; verifications with known keys go on
	defer k.fetching.Unlock()
	if key, ok, recent := k.cached(kid); ok || recent {
		return key, orUnknown(ok)
	}
	// not the caller's context: a cancelled request must not waste the
	// one fetch the interval allows
	fetchCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), k.http.Timeout)
	defer cancel()
	if err := k.fetch(fetchCtx); err != nil {
		return jose.JSONWebKey{}, err
	}
	key, ok, _ := k.cached(kid)
	return key, orUnknown(ok)
}

// cached is the key if known, and whether the set was fetched too
// recently to fetch it again.
func (k *keySet) cached(kid string) (jose.JSONWebKey, bool, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key, ok := k.keys[kid]
	return key, ok, !k.fetched.IsZero() && time.Since(k.fetched) < k.minRefetch
}

func orUnknown(found bool) error {
	if found {
		return nil
	}
	return ErrUnknownKey
}

// fetch reads the JWKS and replaces the known keys.
func (k *keySet) fetch(ctx context.Context) error {
	k.mu.Lock()
	k.fetched = time.Now() // a failed fetch counts too: the limit holds while the server is down
	k.mu.Unlock()
	request, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return err
	}
	response, err := k.http.Do(request)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: the JWKS answered %d", ErrUnavailable, response.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(response.Body, 1<<20)).Decode(&set); err != nil {
		return fmt.Errorf("clover: the JWKS: %w", err)
	}
	keys := map[string]jose.JSONWebKey{}
	for _, key := range set.Keys {
		if key.Use == "sig" && key.Algorithm == string(jose.RS256) && key.Valid() && key.IsPublic() {
			keys[key.KeyID] = key
		}
	}
	k.mu.Lock()
	k.keys = keys
	k.mu.Unlock()
	return nil
}
