// POST /js/auth?type=password|otp|oauth|mfa: the seed's /auth, in
// JavaScript, beside the Go one at /auth.
module.exports = {
  POST: (ctx) => {
    const auth = ctx.services.authenticate
    const { type, collection } = ctx.metadata.query
    const body = ctx.metadata.json || {}
    let result
    if (type === "otp" && !body.otpId) {
      return auth.requestOTP({ collection, email: body.email })
    } else if (type === "oauth" && !body.code) {
      return auth.startOAuth2({ collection, provider: body.provider, redirectUrl: body.redirectUrl })
    } else if (type === "oauth") {
      result = auth.oauth2({ collection, ...body })
    } else if (body.otpId) {
      result = auth.otp({ collection, otpId: body.otpId, code: body.code, mfaId: body.mfaId })
    } else {
      result = auth.password({ collection, identity: body.emailOrUsername, password: body.password, mfaId: body.mfaId })
    }
    // another factor is required: its mfaId
    return ctx.json(result, result.isAuthenticated ? 200 : 401)
  },
}
