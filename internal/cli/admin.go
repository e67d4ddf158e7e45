package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/vigil-ids/vigil/internal/app"
	"github.com/vigil-ids/vigil/internal/authapi"
)

const adminHelp = "Talks to the node's NATS at VIGIL_NATS_URL; the key is VIGIL_AUTH_KEY or VIGIL_AUTH_KEY_FILE"

// adminCreate is vigil admin create (single: the key defaults to DATA_DIR/auth.key, generated when missing) and
// authapi create-admin.
func adminCreate(name string, single bool) *Command {
	var username, role string
	return &Command{
		Name:     name,
		Summary:  "create an admin account (password from the terminal or stdin)",
		Synopsis: "-username NAME [-role admin|sub-admin|viewer]",
		Required: []string{"username"},
		Help:     keyHelp(single),
		Flags: func(fs *flag.FlagSet, _ func(string) string) {
			fs.StringVar(&username, "username", "", "account name (required)")
			fs.StringVar(&role, "role", authapi.RoleAdmin, "admin, sub-admin or viewer")
		},
		Run: func(ctx context.Context, e Env) error {
			return withAdmin(e, single, func(a *app.Admin) error {
				pw, err := authapi.ReadPassword(e.Stdin, e.Stderr)
				if err != nil {
					return err
				}
				if err := a.CreateAccount(ctx, username, pw, role); err != nil {
					return err
				}
				fmt.Fprintf(e.Stdout, "created %s account %q; log in at POST /v1/auth/login and enroll two-factor authentication\n", role, username)
				return nil
			})
		},
	}
}

// adminRotateKey is vigil admin rotate-key and authapi rotate-key.
func adminRotateKey(name string, single bool) *Command {
	var newKeyFile string
	return &Command{
		Name:     name,
		Summary:  "re-encrypt every stored secret with a new VIGIL_AUTH_KEY",
		Synopsis: "-new-key-file FILE",
		Required: []string{"new-key-file"},
		Help:     keyHelp(single),
		Flags: func(fs *flag.FlagSet, _ func(string) string) {
			fs.StringVar(&newKeyFile, "new-key-file", "", "file with the new key (required)")
		},
		Run: func(ctx context.Context, e Env) error {
			return withAdmin(e, single, func(a *app.Admin) error {
				n, err := a.RotateKey(ctx, newKeyFile)
				if err != nil {
					return err
				}
				accounts := "accounts"
				if n == 1 {
					accounts = "account"
				}
				fmt.Fprintf(e.Stdout, "re-encrypted the secrets of %d %s; restart with VIGIL_AUTH_KEY_FILE=%s\n", n, accounts, newKeyFile)
				return nil
			})
		},
	}
}

func keyHelp(single bool) string {
	if single {
		return adminHelp + " or DATA_DIR/auth.key."
	}
	return adminHelp + "."
}

// withAdmin opens an admin session (with the single node's data directory as the key's home) and calls f.
func withAdmin(e Env, single bool, f func(*app.Admin) error) error {
	cfg, _, err := settings(e)
	if err != nil {
		return err
	}
	keyDir := ""
	if single {
		keyDir = cfg.DataDir
	}
	a, err := app.OpenAdmin(cfg, keyDir)
	if err != nil {
		return err
	}
	defer a.Close()
	return f(a)
}
