package hapta

import (
	"io"
	"net"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const configFlag = "hapta-config"

// addConfigFlag adds --hapta-config to rootCmd and returns its value in args.
// The flag is read now because PocketBase bootstraps, and hapta reads its
// configuration, before cobra parses the command line.
func addConfigFlag(rootCmd *cobra.Command, args []string) string {
	rootCmd.PersistentFlags().String(configFlag, "",
		"the hapta configuration file (default $"+configPathEnv+" or ./"+DefaultConfigFile+")")

	early := pflag.NewFlagSet(configFlag, pflag.ContinueOnError)
	early.ParseErrorsAllowlist.UnknownFlags = true
	early.SetOutput(io.Discard)
	path := early.String(configFlag, "", "")
	_ = early.Parse(args) // cobra reports bad command lines itself, later
	return *path
}

// beforeCommand runs fn before any command, keeping rootCmd's own
// persistent pre-run hook.
func beforeCommand(rootCmd *cobra.Command, fn func(cmd *cobra.Command, args []string)) {
	previousE, previous := rootCmd.PersistentPreRunE, rootCmd.PersistentPreRun
	rootCmd.PersistentPreRun = nil
	rootCmd.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		fn(cmd, args)
		switch {
		case previousE != nil:
			return previousE(cmd, args)
		case previous != nil:
			previous(cmd, args)
		}
		return nil
	}
}

// adjustServe makes `port` the default of serve's --http and notes an
// explicit --origins. Domain arguments keep PocketBase's HTTPS defaults.
func (p *plugin) adjustServe(cmd *cobra.Command, args []string) {
	if cmd.Name() != "serve" {
		return
	}
	if httpFlag := cmd.Flags().Lookup("http"); httpFlag != nil && !httpFlag.Changed && len(args) == 0 {
		_ = httpFlag.Value.Set(net.JoinHostPort("127.0.0.1", strconv.Itoa(p.settings.Port)))
	}
	if originsFlag := cmd.Flags().Lookup("origins"); originsFlag != nil && originsFlag.Changed {
		p.originsFromFlag = true
	}
}
