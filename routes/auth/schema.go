package auth

import (
	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/ozzo-validation/v4/is"
)

// The login types of POST /auth?type=...
const (
	typePassword = "password"
	typeOTP      = "otp"
	typeOAuth    = "oauth"
	typeMFA      = "mfa"
	typeRefresh  = "refresh" // Clover only
	typeLogout   = "logout"  // Clover only
)

// Where POST /auth?via=... logs in: by default through Clover when it is
// configured, else with this application's PocketBase.
const (
	viaClover     = "clover"
	viaPocketBase = "pocketbase"
)

// Input is POST /auth?type=password|otp|oauth|mfa[&collection=users] with
// a JSON or form body whose fields depend on the type:
//
//	password: emailOrUsername, password
//	otp:      email (mails a code and answers its otpId), then otpId, code
//	oauth:    provider, redirectUrl (answers authUrl and state), then
//	          provider, redirectUrl, code, state (from the provider's redirect)
//	mfa:      mfaId and a second factor: emailOrUsername, password or otpId, code
//	refresh:  refreshToken (Clover): new tokens, with the roles as they are now
//	logout:   token, an access or refresh token (Clover) to revoke
//
// and ?via=clover or ?via=pocketbase to choose where (default: Clover when
// it is configured).
type Input struct {
	Type       string `query:"type"`
	Collection string `query:"collection"`
	Via        string `query:"via"`

	EmailOrUsername string `json:"emailOrUsername"`
	Password        string `json:"password"`
	Email           string `json:"email"`
	OTPID           string `json:"otpId"`
	Code            string `json:"code"`
	Provider        string `json:"provider"`
	RedirectURL     string `json:"redirectUrl"`
	State           string `json:"state"`
	MFAID           string `json:"mfaId"`
	RefreshToken    string `json:"refreshToken"`
	Token           string `json:"token"`
}

func (in Input) Validate() error {
	passwordFactor := in.Type == typePassword || (in.Type == typeMFA && in.OTPID == "")
	otpLogin := (in.Type == typeOTP || in.Type == typeMFA) && in.OTPID != ""
	return validation.ValidateStruct(&in,
		validation.Field(&in.Type, validation.Required, validation.In(typePassword, typeOTP, typeOAuth, typeMFA, typeRefresh, typeLogout)),
		validation.Field(&in.Via, validation.In(viaClover, viaPocketBase)),
		validation.Field(&in.RefreshToken, validation.When(in.Type == typeRefresh, validation.Required, validation.Length(1, 1000))),
		validation.Field(&in.Token, validation.When(in.Type == typeLogout, validation.Required, validation.Length(1, 8000))),
		validation.Field(&in.Collection, validation.Length(1, 100)),
		validation.Field(&in.EmailOrUsername, validation.When(passwordFactor, validation.Required, validation.Length(3, 255))),
		validation.Field(&in.Password, validation.When(passwordFactor, validation.Required, validation.Length(6, 255))),
		validation.Field(&in.Email, validation.When(in.Type == typeOTP && in.OTPID == "", validation.Required, is.EmailFormat)),
		validation.Field(&in.Code, validation.When(otpLogin, validation.Required, validation.Length(1, 100))),
		validation.Field(&in.Provider, validation.When(in.Type == typeOAuth, validation.Required, validation.Length(1, 100))),
		validation.Field(&in.RedirectURL, validation.When(in.Type == typeOAuth, validation.Required, is.URL)),
		validation.Field(&in.State, validation.When(in.Type == typeOAuth && in.Code != "", validation.Required)),
		validation.Field(&in.MFAID, validation.When(in.Type == typeMFA, validation.Required)),
	)
}
