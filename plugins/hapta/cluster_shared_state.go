package hapta

import (
	"encoding/json"
	"time"

	"github.com/postr-inc/hapta/plugins/hapta/internal/cluster"
)

// shareState moves the primary's login state to NATS KV, where it outlives
// a restart of the primary: the lockout's counts (unless the Go
// configuration gave a store of its own) and the started OAuth2 logins.
// Without NATS at start, both stay in memory, as on a single node.
func (p *plugin) shareState(primary *cluster.Primary) {
	lockout := p.authenticate.lockout
	if p.config.Lockout.Store == nil {
		attempts, err := primary.Attempts(max(lockout.config.Window, lockout.config.AccountWindow), lockout.config.Store)
		if err != nil {
			p.logger.Warn("cluster: the lockout counts stay in memory", "error", err)
		} else {
			lockout.config.Store = attempts
		}
	}
	states, err := primary.OAuth2States(OAuth2StateLifetime)
	if err != nil {
		p.logger.Warn("cluster: the OAuth2 login states stay in memory", "error", err)
		return
	}
	p.authenticate.oauth2 = &kvOAuth2States{kv: states, memory: p.authenticate.oauth2}
}

// kvOAuth2States keeps started OAuth2 logins on NATS KV, in memory while
// NATS cannot take them.
type kvOAuth2States struct {
	kv     *cluster.KVOnce
	memory oauth2StateStore
}

// storedOAuth2State is an oauth2State as the bucket keeps it.
type storedOAuth2State struct {
	Collection  string    `json:"collection"`
	Provider    string    `json:"provider"`
	Verifier    string    `json:"verifier"`
	RedirectURL string    `json:"redirectUrl"`
	Expires     time.Time `json:"expires"`
}

func (s *kvOAuth2States) put(state string, value oauth2State) error {
	data, _ := json.Marshal(storedOAuth2State{
		Collection: value.collection, Provider: value.provider, Verifier: value.verifier,
		RedirectURL: value.redirectURL, Expires: time.Now().Add(OAuth2StateLifetime),
	})
	if s.kv.Put(state, data) != nil {
		return s.memory.put(state, value)
	}
	return nil
}

func (s *kvOAuth2States) take(state string) (oauth2State, bool) {
	inMemory, inMemoryOK := s.memory.take(state) // taken either way: once
	data, ok := s.kv.Take(state)
	if !ok {
		return inMemory, inMemoryOK
	}
	var stored storedOAuth2State
	if json.Unmarshal(data, &stored) != nil || time.Now().After(stored.Expires) {
		return oauth2State{}, false
	}
	return oauth2State{collection: stored.Collection, provider: stored.Provider, verifier: stored.Verifier,
		redirectURL: stored.RedirectURL, expires: stored.Expires}, true
}
