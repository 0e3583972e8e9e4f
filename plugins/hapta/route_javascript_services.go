package hapta

import (
	"encoding/json"
	"errors"
	"sync/atomic"

	"github.com/dop251/goja"
	"github.com/pocketbase/pocketbase/tools/router"
	"github.com/spf13/cast"
)

// jsServices is a handler's ctx.services: authenticate, the Authenticator
// of Go routes (PocketBase's own auth endpoints with the lockout, or Clover
// when configured), for the request's client. A refused login throws its
// ApiError, as db's calls do.
func jsServices(vm *goja.Runtime, auth *Authenticator, caller Caller, logError func(error), closed *atomic.Bool) *goja.Object {
	services := vm.NewObject()
	authenticate := vm.NewObject()
	fail := func(err error) {
		var apiError *router.ApiError
		if !errors.As(err, &apiError) {
			logError(err)
			apiError = router.NewInternalServerError("", nil)
		}
		panic(vm.ToValue(apiError))
	}
	// answer is a Go result as plain JavaScript data (its JSON form)
	answer := func(result any, err error) goja.Value {
		if err != nil {
			fail(err)
		}
		encoded, err := json.Marshal(result)
		if err != nil {
			fail(err)
		}
		var data any
		_ = json.Unmarshal(encoded, &data)
		return vm.ToValue(data)
	}
	input := func(call goja.FunctionCall) map[string]any {
		exported, _ := call.Argument(0).Export().(map[string]any)
		if exported == nil {
			fail(router.NewBadRequestError("Send the login's fields as an object.", nil))
		}
		return exported
	}
	text := func(in map[string]any, name string) string { return cast.ToString(in[name]) }
	set := func(name string, f func(goja.FunctionCall) goja.Value) {
		_ = authenticate.Set(name, func(call goja.FunctionCall) goja.Value {
			if closed.Load() {
				panic(vm.ToValue(errAfterRequest))
			}
			return f(call)
		})
	}

	set("password", func(call goja.FunctionCall) goja.Value {
		in := input(call)
		return answer(auth.Password(caller, PasswordLogin{Collection: text(in, "collection"), Identity: text(in, "identity"),
			Password: text(in, "password"), MFAID: text(in, "mfaId")}))
	})
	set("requestOTP", func(call goja.FunctionCall) goja.Value {
		in := input(call)
		otpID, err := auth.RequestOTP(caller, text(in, "collection"), text(in, "email"))
		return answer(map[string]string{"otpId": otpID}, err)
	})
	set("otp", func(call goja.FunctionCall) goja.Value {
		in := input(call)
		return answer(auth.OTP(caller, OTPLogin{Collection: text(in, "collection"), OTPID: text(in, "otpId"), Code: text(in, "code"), MFAID: text(in, "mfaId")}))
	})
	set("startOAuth2", func(call goja.FunctionCall) goja.Value {
		in := input(call)
		return answer(auth.StartOAuth2(caller, text(in, "collection"), text(in, "provider"), text(in, "redirectUrl")))
	})
	set("oauth2", func(call goja.FunctionCall) goja.Value {
		in := input(call)
		return answer(auth.OAuth2(caller, OAuth2Login{Collection: text(in, "collection"), Provider: text(in, "provider"), Code: text(in, "code"),
			State: text(in, "state"), RedirectURL: text(in, "redirectUrl"), MFAID: text(in, "mfaId")}))
	})
	_ = services.Set("authenticate", authenticate)
	return services
}
