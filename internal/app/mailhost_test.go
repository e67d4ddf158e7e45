package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/quarantine"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// TestRunMailhost: vigil mailhost's settings reach the agent (host, tool paths, Postfix config dir): a command sent
// to the host is carried out with them and its result reported; a missing host name is refused at start.
func TestRunMailhost(t *testing.T) {
	ns := testenv.NATS(t)
	dir := t.TempDir()
	mark := filepath.Join(dir, "ran")
	tool := func(name, out string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\necho \""+name+" $*\" >> "+mark+"\n"+out), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	env := map[string]string{"VIGIL_NATS_URL": ns.ClientURL(), "VIGIL_MAILHOST_NAME": "mx9.example.net",
		"VIGIL_MAILHOST_POSTSUPER": tool("postsuper", ""), "VIGIL_MAILHOST_POSTFIX_CONFIG": "/etc/postfix-b",
		// held before the first listing, gone after postsuper
		"VIGIL_MAILHOST_POSTQUEUE": tool("postqueue", `[ -f `+mark+`.listed ] || { touch `+mark+`.listed; echo '{"queue_name":"hold","queue_id":"E3F44D031A"}'; }`+"\n")}
	cfg, err := config.Load("vigil", nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunMailhost(ctx, cfg, slog.New(slog.DiscardHandler), io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunMailhost = %v", err)
		}
	})
	js, err := natsbus.NewJetStream(testenv.Connect(t, ns))
	if err != nil {
		t.Fatal(err)
	}
	if err := quarantine.EnsureStreams(ctx, js, 1); err != nil {
		t.Fatal(err)
	}
	sub, err := js.Conn().SubscribeSync(quarantine.ResultSubject("mx9.example.net"))
	if err != nil {
		t.Fatal(err)
	}
	cmd, _ := json.Marshal(quarantine.Command{ID: "c1", Action: quarantine.ActionDelete, Host: "mx9.example.net", QueueID: "E3F44D031A", By: "root", At: time.Now()})
	if _, err := js.Publish(ctx, quarantine.CommandSubject("mx9.example.net"), cmd); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.NextMsg(20 * time.Second)
	if err != nil {
		t.Fatalf("no result: %v", err)
	}
	res, err := quarantine.DecodeResult(msg.Data)
	if err != nil || res.Outcome != quarantine.OutcomeDeleted || res.CommandID != "c1" {
		t.Errorf("result = %+v, %v; want c1 deleted", res, err)
	}
	b, _ := os.ReadFile(mark)
	if want := "postqueue -c /etc/postfix-b -j\npostsuper -c /etc/postfix-b -d E3F44D031A hold\npostqueue -c /etc/postfix-b -j\n"; string(b) != want {
		t.Errorf("tools ran:\n%s\nwant:\n%s", b, want)
	}

	delete(env, "VIGIL_MAILHOST_NAME")
	cfg2, _ := config.Load("vigil", nil, func(k string) string { return env[k] }, io.Discard)
	var out bytes.Buffer
	if err := RunMailhost(ctx, cfg2, slog.New(slog.DiscardHandler), &out); err == nil || !strings.Contains(err.Error(), "VIGIL_MAILHOST_NAME") {
		t.Errorf("RunMailhost without a host name = %v; want an error naming VIGIL_MAILHOST_NAME", err)
	}
}
