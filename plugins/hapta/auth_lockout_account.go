package hapta

import (
	"errors"
	"slices"
	"strings"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/ozzo-validation/v4/is"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/dbutils"
)

// loginName is what a login attempt names its account by: an identity
// (and optionally its field) for a password, an OTP id for a one-time
// password.
type loginName struct {
	otp           bool
	identity      string
	identityField string
	otpID         string
}

// account is the key of the account a login attempt names in collection,
// found as PocketBase's handler finds it, so that every spelling of one
// account (identity field, letter case, OTP) shares one count. An
// identity or OTP id that finds no account is keyed by itself, normalized,
// so unknown accounts are counted alike and the answers reveal nothing.
func (n loginName) account(app core.App, collection *core.Collection) string {
	if n.otp {
		// the OTP's account, as PocketBase checks it: same collection
		if otp, err := app.FindOTPById(n.otpID); err == nil && otp.CollectionRef() == collection.Id {
			return collection.Id + " record " + otp.RecordRef()
		}
		return collection.Id + " otp " + n.otpID
	}
	if n.identity != "" { // PocketBase refuses an empty identity before looking it up
		for _, field := range identityFields(collection, n.identity, n.identityField) {
			if record, err := findByIdentityField(app, collection, field, n.identity); err == nil {
				return collection.Id + " record " + record.Id
			}
		}
	}
	return collection.Id + " identity " + strings.ToLower(strings.TrimSpace(n.identity))
}

// identityFields are the fields PocketBase's auth-with-password looks the
// identity up in, in its order: the one given, or the collection's with
// email first, email only when the identity looks like one.
func identityFields(collection *core.Collection, identity, given string) []string {
	if given != "" {
		return []string{given}
	}
	fields := slices.Clone(collection.PasswordAuth.IdentityFields)
	slices.SortStableFunc(fields, func(a, b string) int {
		switch {
		case a == core.FieldNameEmail:
			return -1
		case b == core.FieldNameEmail:
			return 1
		}
		return 0
	})
	if is.EmailFormat.Validate(identity) != nil {
		fields = slices.DeleteFunc(fields, func(f string) bool { return f == core.FieldNameEmail })
	}
	return fields
}

// findByIdentityField is PocketBase's lookup of an identity (unexported in
// its apis package): an identity field with a unique index, compared
// without letter case when the index collates NOCASE.
func findByIdentityField(app core.App, collection *core.Collection, field, value string) (*core.Record, error) {
	if !slices.Contains(collection.PasswordAuth.IdentityFields, field) {
		return nil, errNotIdentityField
	}
	index, ok := dbutils.FindSingleColumnUniqueIndex(collection.Indexes, field)
	if !ok {
		return nil, errNotIdentityField
	}
	var match dbx.Expression = dbx.HashExp{field: value}
	if strings.EqualFold(index.Columns[0].Collate, "nocase") {
		match = dbx.NewExp("[["+field+"]] = {:identity} COLLATE NOCASE", dbx.Params{"identity": value})
	}
	record := &core.Record{}
	if err := app.RecordQuery(collection).AndWhere(match).Limit(1).One(record); err != nil {
		return nil, err
	}
	return record, nil
}

// errNotIdentityField: PocketBase does not look identities up in the field.
var errNotIdentityField = errors.New("not an identity field with a unique index")
