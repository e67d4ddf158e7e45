package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/testenv"
)

// sampleLog holds ten log lines: Dovecot and Postfix logins, a failed Dovecot session, a submission, a failed SMTP
// AUTH, and lines without an event (the same as internal/maillog's sample).
const sampleLog = "testdata/mail.log"

// ingestLogSetup starts a NATS server with the events stream and returns the environment pointing at it, the
// stream and the sample log.
func ingestLogSetup(t *testing.T) (map[string]string, jetstream.Stream, string) {
	t.Helper()
	s, env := natsEnv(t)
	sample, err := os.ReadFile(sampleLog)
	if err != nil {
		t.Fatal(err)
	}
	return env, eventsStream(t, s), string(sample)
}

func TestIngestLog(t *testing.T) {
	env, stream, sample := ingestLogSetup(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "mail.log")
	testenv.WriteFile(t, path, sample)
	for _, tt := range []struct {
		args           []string
		dovecotReports bool
		wantErr        string
		wantOut        string
	}{
		{[]string{"-tz", "UTC", path}, false, "", "10 lines read, 6 events sent, lines skipped: invalid 1, irrelevant 3, no_timestamp 1"},
		{[]string{"-tz", "UTC", "-smtp-auth=false", "-format", "postfix", path}, false, "", "10 lines read, 1 events sent"},
		{[]string{"-tz", "UTC", "-smtp-auth", "no", "-format", "postfix", path}, false, "", "10 lines read, 1 events sent"},
		// auto: Dovecot's policy endpoint is on, so Postfix's failed SMTP AUTH line is Dovecot's to report.
		{[]string{"-tz", "UTC", "-format", "postfix", path}, true, "", "10 lines read, 1 events sent"},
		{[]string{"-tz", "UTC", "-smtp-auth", "yes", "-format", "postfix", path}, true, "", "10 lines read, 2 events sent"},
		{[]string{"-smtp-auth", "maybe", path}, false, `-smtp-auth "maybe"`, ""},
		{[]string{}, false, "no log file given", ""},
		{[]string{"-format", "exim", path}, false, `-format "exim"`, ""},
		{[]string{"-tz", "Mars/Olympus", path}, false, "-tz", ""},
		{[]string{"-from-start", path}, false, "-from-start needs -follow", ""},
		{[]string{filepath.Join(dir, "missing.log")}, false, "no such file", ""},
	} {
		t.Run(strings.ReplaceAll(strings.Join(tt.args, " "), dir+string(filepath.Separator), ""), func(t *testing.T) {
			e := map[string]string{}
			for k, v := range env {
				e[k] = v
			}
			if tt.dovecotReports {
				e["VIGIL_DOVECOT_TOKENS"] = "dovecot-token"
			}
			out, _, err := vigil(context.Background(), e, append([]string{"ingest-log"}, tt.args...)...)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("ingest-log %q = %v; want error containing %q", tt.args, err, tt.wantErr)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("ingest-log %q printed %q; want %q", tt.args, out, tt.wantOut)
			}
		})
	}
	testenv.StoredIDs(t, stream, 6)
}

// TestIngestLogFollow follows two files until cancelled and prints the summary of both.
func TestIngestLogFollow(t *testing.T) {
	env, stream, sample := ingestLogSetup(t)
	lines := strings.Split(sample, "\n")
	dir := t.TempDir()
	a, b := filepath.Join(dir, "dovecot.log"), filepath.Join(dir, "mail.log")
	testenv.WriteFile(t, a, "Nov 23 19:26:30 imap-login: Info: Login: user=<bob>, method=PLAIN, rip=1.2.3.4, lip=::1, mpid=1, session=<a1>\n")
	testenv.WriteFile(t, b, lines[3]+"\n")
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, _, err := vigil(ctx, env, "ingest-log", "-follow", "-from-start", "-tz", "UTC", a, b)
		done <- result{out, err}
	}()
	testenv.StoredIDs(t, stream, 1)
	testenv.AppendFile(t, b, lines[4]+"\n")
	testenv.StoredIDs(t, stream, 2)
	cancel()
	r := <-done
	if r.err != nil {
		t.Fatalf("ingest-log -follow = %v", r.err)
	}
	if !strings.Contains(r.out, "3 lines read, 2 events sent") {
		t.Errorf("summary = %q; want 3 lines read, 2 events sent", r.out)
	}
}
