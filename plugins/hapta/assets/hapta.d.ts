// Hapta's JavaScript API: the handlers of pb_routes/ and $hapta in pb_hooks.
// Written into pb_data by the hapta plugin at each start, beside PocketBase's
// types.d.ts; reference it from a route or hook file:
//
//   /// <reference path="../pb_data/hapta.d.ts" />

/** A record as PocketBase's API answers it. */
type HaptaRecord = { id: string; collectionId: string; collectionName: string; [field: string]: any }

/** One page of a list. */
interface HaptaList {
  page: number
  perPage: number
  totalItems: number
  totalPages: number
  items: HaptaRecord[]
}

/** Hapta's database service: PocketBase's record API (rules, hooks, validation) with the record cache. */
interface HaptaDatabase {
  get(collection: string, id: string, options?: { expand?: string; fields?: string }): HaptaRecord
  list(
    collection: string,
    options?: { page?: number; perPage?: number; filter?: string; sort?: string; expand?: string; fields?: string; skipTotal?: boolean },
  ): HaptaList
  create(collection: string, data: { [field: string]: any }): HaptaRecord
  update(collection: string, id: string, data: { [field: string]: any }): HaptaRecord
  delete(collection: string, id: string): void
  /** Queue the writes that follow until saveChanges (one unit of work). */
  setBatch(on: boolean): void
  /** Apply the queued writes in one transaction: all or none. */
  saveChanges(): HaptaRecord[]
  /** Drop the queued writes; returns how many there were. */
  discard(): number
}

/** Who makes the request. */
interface HaptaPrincipal {
  isAuthenticated: boolean
  id?: string
  collection?: string
  username?: string
  email?: string
  strategy?: string
  expiresAt?: string
  tenantId?: string
  roles?: string[]
  highestClearance: number
}

/** A route handler's ctx. */
interface HaptaContext {
  method: string
  path: string
  principal: HaptaPrincipal
  metadata: {
    query: { [name: string]: any }
    params: { [name: string]: any }
    json: any
    /** lower-case names; Authorization and Cookie are left out */
    headers: { [name: string]: string }
  }
  /** Answer JSON (status 200 by default). */
  json(body: any, status?: number): void
  text(body: string, status?: number): void
  html(body: string, status?: number): void
  [key: string]: any
}

type HaptaHandler = (ctx: HaptaContext, db: HaptaDatabase) => any

/** module.exports of pb_routes/<path>/index.js. */
interface HaptaRouteModule {
  GET?: HaptaHandler
  HEAD?: HaptaHandler
  POST?: HaptaHandler
  PUT?: HaptaHandler
  PATCH?: HaptaHandler
  DELETE?: HaptaHandler
  OPTIONS?: HaptaHandler
}

/** module.exports of _middleware.js: call next() to run the rest. */
type HaptaMiddleware = (ctx: HaptaContext, db: HaptaDatabase, next: () => any) => any

/** A JSON Schema (draft 2020-12). */
type HaptaJSONSchema = { [keyword: string]: any }

/** The parts of a request a schema describes. */
interface HaptaRequestSchemas {
  body?: HaptaJSONSchema
  query?: HaptaJSONSchema
  params?: HaptaJSONSchema
  headers?: HaptaJSONSchema
}

/** module.exports of schema.js (or the content of schema.json): for every method, or by method. */
type HaptaRouteSchema = HaptaRequestSchemas | { [method: string]: HaptaRequestSchemas }

/** An error a handler throws to answer it, as a Go route's ApiError. */
interface HaptaThrownError {
  status: number
  message?: string
  data?: { [field: string]: { code: string; message: string } }
}

/** $hapta in pb_hooks. */
declare const $hapta: {
  /** The database as an anonymous caller, or as an auth record (e.auth). */
  db(auth?: any): HaptaDatabase
  /** The database with no API rules, as a superuser. */
  systemDb(): HaptaDatabase
}
