// GET /js/posts: the newest posts; POST /js/posts: a post by the caller.
module.exports = {
  GET: (ctx, db) => db.list("posts", { sort: "-created", perPage: ctx.metadata.query.perPage || 20 }).items,
  POST: (ctx, db) => {
    if (!ctx.principal.isAuthenticated) throw { status: 401, message: "Sign in to post." }
    const post = db.create("posts", { ...ctx.metadata.json, author: ctx.principal.id })
    return ctx.json(post, 201)
  },
}
