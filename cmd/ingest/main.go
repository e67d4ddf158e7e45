// Command ingest accepts events over HTTP and stores them in an external NATS JetStream.
package main

import (
	"os"

	"github.com/vigil-ids/vigil/internal/cli"
)

func main() { os.Exit(cli.Main(cli.Ingest(), "ingest:")) }
