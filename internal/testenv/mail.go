package testenv

import (
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// MailOptions configures private Dovecot and Postfix instances for a test.
type MailOptions struct {
	Users         map[string]string // user → password
	PolicyURL     string            // Dovecot auth_policy_server_url; "" disables the policy client
	PolicyHeader  string            // e.g. "X-API-Key: token"
	Enforce       bool              // Dovecot also gets the enforcement snippet (before-auth check, fail-open)
	PostfixPolicy string            // check_policy_service address, like 127.0.0.1:10040; "" disables it
	Deliver       bool              // Postfix delivers into the Dovecot mailboxes (users named user@domain) instead of discarding
	PostfixMainCF string            // more main.cf lines (PostfixOptions.MainCF)
}

// Mail is a running pair: Dovecot (IMAP and SASL for Postfix) and Postfix (submission with XCLIENT).
type Mail struct {
	IMAPAddr, SubmissionAddr string
	RelayAddr                string // with Deliver: unauthenticated SMTP relay for 127.0.0.0/8
	DovecotLog, PostfixLog   string
	Dovecot                  *Dovecot
	Postfix                  *Postfix
}

// StartMail starts private Dovecot and Postfix instances (StartDovecot, StartPostfix) wired together: Postfix
// authenticates submissions through Dovecot SASL. Both are stopped by PID when the test ends.
func StartMail(t testing.TB, o MailOptions) *Mail {
	t.Helper()
	d := StartDovecot(t, DovecotOptions{Users: o.Users, PolicyURL: o.PolicyURL, PolicyHeader: o.PolicyHeader, Enforce: o.Enforce})
	po := PostfixOptions{SASLPath: d.AuthSocket, PolicyAddr: o.PostfixPolicy, MainCF: o.PostfixMainCF}
	if o.Deliver {
		po.DeliverTo = d.ConfigPath
	}
	p := StartPostfix(t, po)
	return &Mail{IMAPAddr: d.IMAPAddr, SubmissionAddr: p.SubmissionAddr, RelayAddr: p.RelayAddr, DovecotLog: d.LogPath, PostfixLog: p.LogPath, Dovecot: d, Postfix: p}
}

// deployFile returns a file under deploy/ with each old text replaced by its new one (pairs), failing the test
// when an old text is missing, so that tests run the configuration the documentation gives operators.
func deployFile(t testing.TB, rel string, oldNew ...string) string {
	t.Helper()
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testenv: cannot locate the repository")
	}
	data, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "..", rel))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	s := string(data)
	for i := 0; i+1 < len(oldNew); i += 2 {
		if !strings.Contains(s, oldNew[i]) {
			t.Fatalf("testenv: %s no longer contains %q", rel, oldNew[i])
		}
		s = strings.ReplaceAll(s, oldNew[i], oldNew[i+1])
	}
	return s
}

// lookBin finds a server binary in PATH or /usr/sbin, or fails the test naming the package to install.
func lookBin(t testing.TB, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/" + name); err == nil {
		return "/usr/sbin/" + name
	}
	t.Fatalf("%s is not installed (make test installs the %s package)", name, pkg)
	return ""
}

// serverDir returns a temporary directory the servers' unprivileged users can traverse (t.TempDir's parents are
// private to root), removed when the test ends.
func serverDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func mkdir(t testing.TB, path string) {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func chown(t testing.TB, path, name string) {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("user %s: %v", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitListen waits up to startTimeout for a listener on addr, then fails the test with the servers' logs.
func waitListen(t testing.TB, addr string, logs ...string) {
	t.Helper()
	waitFor(t, "a listener on "+addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, logs...)
}

// waitFile waits up to startTimeout for a file to exist, then fails the test with the servers' logs.
func waitFile(t testing.TB, path string, logs ...string) {
	t.Helper()
	waitFor(t, path, func() bool { _, err := os.Stat(path); return err == nil }, logs...)
}

// startTimeout bounds the wait for a mail server to come up. It only ends a failing run: a loaded 2-core CI machine
// running several packages' servers at once has been seen to need more than 20 s for Postfix's first greeting.
const startTimeout = 60 * time.Second

func waitFor(t testing.TB, what string, ok func() bool, logs ...string) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(startTimeout)
	for !ok() {
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, l := range logs {
				data, _ := os.ReadFile(l)
				b.Write(data)
			}
			t.Fatalf("no %s after %s:\n%s", what, startTimeout, b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Logf("waited %s for %s", d.Round(time.Millisecond), what)
	}
}
