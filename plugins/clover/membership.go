package clover

import (
	"database/sql"
	"errors"
	"slices"

	"github.com/pocketbase/dbx"
	validation "github.com/pocketbase/ozzo-validation/v4"
	"github.com/pocketbase/pocketbase/core"
)

// Membership is a user's place in a tenant.
type Membership struct {
	TenantID         string
	Roles            []string // the names of the roles held, sorted
	HighestClearance int      // the highest security_level of those roles, 0 without roles
}

// FindMembership returns userID's membership of tenantID; ok is false when
// the user is not a member (or tenancy is not installed).
func FindMembership(app core.App, tenantID, userID string) (membership Membership, ok bool, err error) {
	if _, err := app.FindCachedCollectionByNameOrId(MembersCollection); err != nil {
		return Membership{}, false, nil
	}

	member, err := app.FindFirstRecordByFilter(MembersCollection, "tenant = {:tenant} && user = {:user}",
		dbx.Params{"tenant": tenantID, "user": userID})
	if errors.Is(err, sql.ErrNoRows) {
		return Membership{}, false, nil
	}
	if err != nil {
		return Membership{}, false, err
	}

	membership = Membership{TenantID: tenantID, Roles: []string{}}
	roleIDs := member.GetStringSlice("roles")
	if len(roleIDs) == 0 {
		return membership, true, nil
	}
	roles, err := app.FindRecordsByIds(RolesCollection, roleIDs)
	if err != nil {
		return Membership{}, false, err
	}
	for _, role := range roles {
		if role.GetString("tenant") != tenantID {
			continue // validateMemberRoles prevents it; a role moved since does not count
		}
		membership.Roles = append(membership.Roles, role.GetString("name"))
		membership.HighestClearance = max(membership.HighestClearance, role.GetInt("security_level"))
	}
	slices.Sort(membership.Roles)
	return membership, true, nil
}

// validateMember refuses a membership holding a role of another tenant and
// keeps its clearance field: the highest security_level of its roles.
func validateMember(e *core.RecordEvent) error {
	clearance := 0
	if roleIDs := e.Record.GetStringSlice("roles"); len(roleIDs) > 0 {
		roles, err := e.App.FindRecordsByIds(RolesCollection, roleIDs)
		if err != nil {
			return err
		}
		tenantID := e.Record.GetString("tenant")
		for _, role := range roles {
			if role.GetString("tenant") != tenantID {
				return validation.Errors{"roles": validation.NewError("validation_role_of_other_tenant",
					"Every role must belong to the membership's tenant.")}
			}
			clearance = max(clearance, role.GetInt("security_level"))
		}
	}
	e.Record.Set("clearance", clearance)
	return e.Next()
}

// refreshClearancesOnUpdate saves again the memberships holding a role
// whose security_level changed, so that their clearance follows.
func refreshClearancesOnUpdate(e *core.RecordEvent) error {
	previousLevel := e.Record.Original().GetInt("security_level")
	if err := e.Next(); err != nil {
		return err
	}
	if previousLevel == e.Record.GetInt("security_level") {
		return nil
	}
	return resaveMembersWithRole(e, e.Record.Id)
}

// refreshClearancesOnDelete recomputes the clearance of the memberships that
// held a deleted role, once PocketBase has removed it from them.
func refreshClearancesOnDelete(e *core.RecordEvent) error {
	members, err := membersWithRole(e.App, e.Record.Id)
	if err != nil {
		return err
	}
	if err := e.Next(); err != nil {
		return err
	}
	for _, member := range members {
		fresh, err := e.App.FindRecordById(MembersCollection, member.Id)
		if err != nil {
			continue // deleted meanwhile
		}
		if err := e.App.Save(fresh); err != nil {
			return err
		}
	}
	return nil
}

func resaveMembersWithRole(e *core.RecordEvent, roleID string) error {
	members, err := membersWithRole(e.App, roleID)
	if err != nil {
		return err
	}
	for _, member := range members {
		if err := e.App.Save(member); err != nil {
			return err
		}
	}
	return nil
}

func membersWithRole(app core.App, roleID string) ([]*core.Record, error) {
	return app.FindAllRecords(MembersCollection,
		dbx.NewExp("EXISTS (SELECT 1 FROM json_each([[roles]]) WHERE value = {:role})", dbx.Params{"role": roleID}))
}
