package clover

import (
	"fmt"

	"github.com/pocketbase/pocketbase/core"
	"github.com/spf13/cobra"

	"github.com/postr-inc/hapta/plugins/clover/internal/signing"
)

// RotateKeys makes a new signing key for app's Clover server and returns
// its id and the number of keys published: the retired keys stay in the
// JWKS as long as a token they signed may live (SignedTokenLifetime). A
// running server signs with the new key from its next token.
func RotateKeys(app core.App) (kid string, published int, err error) {
	keys, err := signing.Open(app, SignedTokenLifetime)
	if err != nil {
		return "", 0, err
	}
	key, err := keys.Rotate()
	if err != nil {
		return "", 0, err
	}
	set, err := keys.Published()
	if err != nil {
		return "", 0, err
	}
	return key.ID, len(set.Keys), nil
}

// addCommands adds `clover tenant create NAME [--first-party]`,
// `clover tenant secret ID` and `clover rotate-keys` to the root command.
func addCommands(app core.App, rootCmd *cobra.Command) {
	cloverCmd := &cobra.Command{Use: "clover", Short: "Manage Clover's tenants"}
	tenantCmd := &cobra.Command{Use: "tenant", Short: "Manage tenants, the OAuth2 clients of a Clover server"}

	var firstParty bool
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a tenant and print its client id and secret (shown once)",
		Args:  cobra.ExactArgs(1),
		RunE: migrated(app, func(cmd *cobra.Command, args []string) error {
			tenants, err := app.FindCollectionByNameOrId(TenantsCollection)
			if err != nil {
				return err
			}
			tenant := core.NewRecord(tenants)
			tenant.Set("name", args[0])
			tenant.Set(FirstPartyField, firstParty)
			if err := app.Save(tenant); err != nil {
				return err
			}
			return printCredentials(cmd, app, tenant)
		}),
	}
	create.Flags().BoolVar(&firstParty, "first-party", false, "allow the tenant the password grant")

	secret := &cobra.Command{
		Use:   "secret ID",
		Short: "Make a new client secret for a tenant (the old one stops working) and print it once",
		Args:  cobra.ExactArgs(1),
		RunE: migrated(app, func(cmd *cobra.Command, args []string) error {
			tenant, err := app.FindRecordById(TenantsCollection, args[0])
			if err != nil {
				return fmt.Errorf("no tenant %q", args[0])
			}
			return printCredentials(cmd, app, tenant)
		}),
	}

	rotate := &cobra.Command{
		Use:   "rotate-keys",
		Short: "Make a new signing key; the old ones stay published until their tokens expire",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			kid, published, err := RotateKeys(app)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "active key %s; %d keys published\n", kid, published)
			return nil
		},
	}

	tenantCmd.AddCommand(create, secret)
	cloverCmd.AddCommand(tenantCmd, rotate)
	rootCmd.AddCommand(cloverCmd)
}

// migrated runs the app's migrations (the tenancy collections) before run:
// commands other than serve do not.
func migrated(app core.App, run func(cmd *cobra.Command, args []string) error) func(cmd *cobra.Command, args []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := app.RunAllMigrations(); err != nil {
			return err
		}
		return run(cmd, args)
	}
}

func printCredentials(cmd *cobra.Command, app core.App, tenant *core.Record) error {
	secret, err := NewClientSecret(app, tenant)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "tenant %q\nclient_id=%s\nclient_secret=%s\n", tenant.GetString("name"), tenant.Id, secret)
	fmt.Fprintln(out, "The secret is shown only now; keep it safe. `clover tenant secret ID` makes a new one.")
	return nil
}
