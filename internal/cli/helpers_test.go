package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// vigil runs the vigil program with the environment env and returns what it printed on stdout and stderr.
func vigil(ctx context.Context, env map[string]string, args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	err = Vigil().Run(ctx, args, Env{Getenv: func(k string) string { return env[k] }, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
	return out.String(), errb.String(), err
}

// natsEnv starts a private NATS server and returns it with the environment that points the commands at it.
func natsEnv(t *testing.T) (*server.Server, map[string]string) {
	t.Helper()
	s := testenv.NATS(t)
	return s, map[string]string{"VIGIL_NATS_URL": s.ClientURL(), "VIGIL_DATA_DIR": t.TempDir()}
}

// eventsStream creates the events stream on s (as ingest-log does) and returns it.
func eventsStream(t *testing.T, s *server.Server) jetstream.Stream {
	t.Helper()
	js, err := natsbus.NewJetStream(testenv.Connect(t, s))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := natsbus.EnsureStream(context.Background(), js, natsbus.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return stream
}
