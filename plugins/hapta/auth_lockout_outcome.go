package hapta

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/router"
)

// outcome is what a login attempt proved about its credential.
type outcome int

const (
	outcomeNone      outcome = iota // nothing was checked (a disabled method, an error)
	outcomeFailed                   // a wrong credential
	outcomeSucceeded                // the credential was right (logged in, or MFA's first factor)
)

// handlerOutcome reads a login's outcome from PocketBase's handler: MFA's
// answer (401 with an mfaId, ErrMFA) means the first factor was right.
func handlerOutcome(e *core.RequestEvent, err error) outcome {
	if errors.Is(err, apis.ErrMFA) {
		return outcomeSucceeded
	}
	status := e.Status()
	if err != nil && !e.Written() {
		status = router.ToApiError(err).Status
	}
	return statusOutcome(status, false)
}

// answerOutcome reads a login's outcome from PocketBase's answer.
func answerOutcome(status int, body []byte) outcome {
	var answer struct {
		MFAID string `json:"mfaId"`
	}
	if status == http.StatusUnauthorized {
		_ = json.Unmarshal(body, &answer)
	}
	return statusOutcome(status, answer.MFAID != "")
}

// statusOutcome: 200 logged in and 401 with an mfaId passed the first
// factor (the credential was right); 400 is PocketBase's answer to a wrong
// one. Other answers (disabled method, rate limit, error) checked nothing.
func statusOutcome(status int, mfaRequired bool) outcome {
	switch {
	case status == http.StatusOK, status == http.StatusUnauthorized && mfaRequired:
		return outcomeSucceeded
	case status == http.StatusBadRequest:
		return outcomeFailed
	}
	return outcomeNone
}
