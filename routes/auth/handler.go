// Package auth is POST /auth: one route for every login strategy, with the
// principal in the answer (its tenant, roles and clearance when the request
// names a tenant with X-Tenant-ID and plugins/clover is registered).
package auth

import (
	"net/http"

	"github.com/pocketbase/pocketbase/core"

	"github.com/postr-inc/hapta/plugins/hapta"
)

func Register(se *core.ServeEvent) {
	hapta.Handle(se, "POST /auth", handle,
		hapta.MaxBodySize(16<<10),
		hapta.Summary("Log in with a password, a one-time password, OAuth2, or a second MFA factor"),
		hapta.Tags("auth"))
}

func handle(ctx *hapta.Context, in Input) error {
	auth := ctx.Services.Authenticate
	switch in.Via {
	case viaClover:
		auth = auth.ViaClover()
	case viaPocketBase:
		auth = auth.Direct()
	}
	caller := hapta.CallerOf(ctx)

	var result *hapta.AuthResult
	var err error
	switch {
	case in.Type == typeLogout:
		if err := auth.Revoke(in.Token); err != nil {
			return err
		}
		return ctx.NoContent(http.StatusNoContent)

	case in.Type == typeRefresh:
		result, err = auth.Refresh(caller, in.RefreshToken)

	case in.Type == typeOTP && in.OTPID == "":
		otpID, err := auth.RequestOTP(caller, in.Collection, in.Email)
		if err != nil {
			return err
		}
		return ctx.JSON(http.StatusOK, map[string]string{"otpId": otpID})

	case in.Type == typeOAuth && in.Code == "":
		start, err := auth.StartOAuth2(caller, in.Collection, in.Provider, in.RedirectURL)
		if err != nil {
			return err
		}
		return ctx.JSON(http.StatusOK, start)

	case in.Type == typeOAuth:
		result, err = auth.OAuth2(caller, hapta.OAuth2Login{
			Collection: in.Collection, Provider: in.Provider, Code: in.Code, State: in.State,
			RedirectURL: in.RedirectURL, MFAID: in.MFAID,
		})

	case in.OTPID != "": // otp, or mfa completed with an OTP
		result, err = auth.OTP(caller, hapta.OTPLogin{
			Collection: in.Collection, OTPID: in.OTPID, Code: in.Code, MFAID: in.MFAID,
		})

	default: // password, or mfa completed with a password
		result, err = auth.Password(caller, hapta.PasswordLogin{
			Collection: in.Collection, Identity: in.EmailOrUsername, Password: in.Password, MFAID: in.MFAID,
		})
	}
	if err != nil {
		return err
	}
	if !result.IsAuthenticated {
		return ctx.JSON(http.StatusUnauthorized, result) // another factor is required: its mfaId
	}
	return ctx.JSON(http.StatusOK, result)
}
