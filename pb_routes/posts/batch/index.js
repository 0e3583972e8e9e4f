// POST /js/posts/batch: several posts in one unit of work, all or none.
module.exports = {
  POST: (ctx, db) => {
    db.setBatch(true)
    for (const post of ctx.metadata.json.posts) db.create("posts", { ...post, author: ctx.principal.id })
    return ctx.json(db.saveChanges(), 201)
  },
}
