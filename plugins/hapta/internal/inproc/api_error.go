package inproc

import (
	"encoding/json"

	"github.com/pocketbase/pocketbase/apis"
)

// DecodeAPIError rebuilds PocketBase's error answer as an ApiError.
func DecodeAPIError(status int, body []byte) error {
	var answer struct {
		Message string         `json:"message"`
		Data    map[string]any `json:"data"`
	}
	_ = json.Unmarshal(body, &answer)
	apiErr := apis.NewApiError(status, answer.Message, nil)
	if answer.Data != nil {
		apiErr.Data = answer.Data
	}
	return apiErr
}
