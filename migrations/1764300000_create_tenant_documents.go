package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
	"github.com/pocketbase/pocketbase/tools/types"
)

// tenant_documents is the worked example of tenant isolation in
// PocketBase's own API rules: only members of a document's tenant list,
// view or create its documents; a document's classification is the
// clearance needed to see it and to create it; deleting needs clearance 50.
func init() {
	m.Register(func(app core.App) error {
		tenants, err := app.FindCollectionByNameOrId("tenants")
		if err != nil {
			return err
		}

		// one joined membership row: of the record's tenant, of the caller
		const member = `@request.auth.id != "" && @collection.tenant_members:m.tenant ?= tenant && @collection.tenant_members:m.user ?= @request.auth.id`

		documents := core.NewBaseCollection("tenant_documents")
		documents.Fields.Add(
			&core.RelationField{Name: "tenant", Required: true, CollectionId: tenants.Id, MaxSelect: 1, CascadeDelete: true},
			&core.TextField{Name: "title", Required: true, Max: 200},
			&core.TextField{Name: "body", Max: 20000},
			&core.NumberField{Name: "classification", Min: types.Pointer(0.0), OnlyInt: true},
			&core.AutodateField{Name: "created", OnCreate: true},
			&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
		)
		const cleared = member + ` && @collection.tenant_members:m.clearance ?>= classification`
		documents.ListRule = types.Pointer(cleared)
		documents.ViewRule = types.Pointer(cleared)
		documents.CreateRule = types.Pointer(cleared)
		documents.UpdateRule = types.Pointer(cleared + ` && (@request.body.tenant:isset = false || @request.body.tenant = tenant)` +
			` && (@request.body.classification:isset = false || @collection.tenant_members:m.clearance ?>= @request.body.classification)`)
		documents.DeleteRule = types.Pointer(member + ` && @collection.tenant_members:m.clearance ?>= 50`)
		return app.Save(documents)
	}, func(app core.App) error {
		documents, err := app.FindCollectionByNameOrId("tenant_documents")
		if err != nil {
			return err
		}
		return app.Delete(documents)
	})
}
