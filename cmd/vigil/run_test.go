package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestSubcommands(t *testing.T) {
	env := func(k string) string {
		return map[string]string{"VIGIL_NATS_URL": "nats://127.0.0.1:1"}[k]
	}
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"config"}, env, nil, strings.NewReader(""), &out, &errb); err != nil || !strings.Contains(out.String(), "`VIGIL_INGEST_ADDR`") {
		t.Errorf("vigil config = %v, %q", err, out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"help"}, env, nil, strings.NewReader(""), &out, &errb); err != nil || !strings.Contains(out.String(), "ingest-log") {
		t.Errorf("vigil help = %v, %q", err, out.String())
	}
	if err := run(context.Background(), []string{"frobnicate"}, env, nil, strings.NewReader(""), &out, &errb); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("unknown command = %v", err)
	}
	if err := run(context.Background(), []string{"trust", "list"}, env, nil, strings.NewReader(""), &out, &errb); err == nil || !strings.Contains(err.Error(), "VIGIL_NATS_URL") {
		t.Errorf("trust without a NATS server = %v; want an error naming VIGIL_NATS_URL", err)
	}
	if err := run(context.Background(), []string{"geoip"}, env, nil, strings.NewReader(""), &out, &errb); err == nil {
		t.Error("geoip without import = nil error")
	}
	if err := run(context.Background(), []string{"run", "-partitions", "many"}, env, nil, strings.NewReader(""), &out, &errb); err == nil {
		t.Error("a bad flag value = nil error")
	}
}
