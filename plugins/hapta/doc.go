// Package hapta is the hapta plugin of the Hapta PocketBase distribution:
// validated routes with a request Context, one Authenticate service over
// PocketBase's auth methods, and a cached database service.
//
// A route is a handler of a typed input, added with Handle in OnServe:
//
//	type NewPost struct {
//		Title string `json:"title"`
//	}
//
//	func (in NewPost) Validate() error {
//		return validation.ValidateStruct(&in, validation.Field(&in.Title, validation.Required))
//	}
//
//	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
//		hapta.Handle(se, "POST /api/posts", func(ctx *hapta.Context, in NewPost) error {
//			post, err := ctx.DB().Create("posts", map[string]any{"title": in.Title, "author": ctx.Principal.ID})
//			if err != nil {
//				return err
//			}
//			return ctx.JSON(http.StatusOK, post)
//		}, hapta.RequireAuth())
//		return se.Next()
//	})
//
// The input is bound from the body, query, path and headers and validated
// before the handler runs; bad input answers 400 in PocketBase's ApiError
// shape. The Context carries the Principal (who calls), the request's
// Metadata and the Services (Authenticate, Tokens, the database); ctx.DB()
// reads and writes records as the principal, through the record cache.
//
// The plugin is registered like PocketBase's own, with the root command
// for its --hapta-config flag:
//
//	app := pocketbase.New()
//	hapta.MustRegister(app, app.RootCmd, hapta.Config{})
//	if err := app.Start(); err != nil {
//		log.Fatal(err)
//	}
//
// It reads hapta-config.json (and HAPTA_<KEY> environment variables) when
// the app bootstraps: the serve port, PocketBase's log level and Application
// URL, CORS on every response, the configured superuser, the secret for
// hapta's own tokens and the record cache.
package hapta
