// Command detector consumes events from an external NATS JetStream and writes rows and incidents to ClickHouse.
package main

import (
	"os"

	"github.com/vigil-ids/vigil/internal/cli"
)

func main() { os.Exit(cli.Main(cli.Detector(), "detector:")) }
