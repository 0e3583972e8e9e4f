package events

import (
	validation "github.com/pocketbase/ozzo-validation/v4"
)

// The ways POST /api/events?mode= writes its events.
const (
	modeDefer  = "defer"  // Database.Defer: accepted once journaled, applied soon after
	modeUnit   = "unit"   // one unit of work: all or none, applied when answered
	modeDirect = "direct" // one ctx.DB().Create per event
)

// Input is a list of events, 1 to 1,000.
type Input struct {
	Mode   string  `query:"mode"`
	Events []Event `json:"events"`
}

// Event is what happened, with its details.
type Event struct {
	Name    string         `json:"name"`
	Payload map[string]any `json:"payload"`
}

func (in Input) Validate() error {
	return validation.ValidateStruct(&in,
		validation.Field(&in.Mode, validation.In(modeDefer, modeUnit, modeDirect)),
		validation.Field(&in.Events, validation.Required, validation.Length(1, 1000)),
	)
}
