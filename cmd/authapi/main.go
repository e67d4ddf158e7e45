// Command authapi protects the admin panel: admin accounts, password + TOTP login, recovery codes, API keys and
// the admin IP access list, against an external NATS and ClickHouse.
package main

import (
	"os"

	"github.com/vigil-ids/vigil/internal/cli"
)

func main() { os.Exit(cli.Main(cli.AuthAPI(), "authapi:")) }
