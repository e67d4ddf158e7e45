package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// DovecotOptions configures a private Dovecot for a test.
type DovecotOptions struct {
	Users        map[string]string // user → password, stored as {PLAIN} in a passwd-file
	PolicyURL    string            // auth_policy_server_url; "" leaves the policy client off
	PolicyHeader string            // auth_policy_server_api_header, like "X-API-Key: token"
	PolicyNonce  string            // auth_policy_hash_nonce; default DovecotNonce
	// Enforce adds the enforcement snippet (deploy/dovecot/96-vigil-enforce.conf): the before-auth check with
	// its short timeout, failing open.
	Enforce bool
	// DoveadmAPIKey, when set, turns on the doveadm HTTP API on a free loopback port (Dovecot.DoveadmURL) with this
	// doveadm_api_key.
	DoveadmAPIKey string
}

// DovecotNonce is the default auth_policy_hash_nonce of test instances.
const DovecotNonce = "vigil-test-nonce"

// Dovecot is a running private Dovecot: IMAP on 127.0.0.1 and an auth socket for Postfix SASL.
type Dovecot struct {
	IMAPAddr   string // host:port of IMAP
	LogPath    string // log_path: "Login:" and "auth failed" lines
	AuthSocket string // auth unix_listener for smtpd_sasl_path
	ConfigPath string // dovecot.conf, for dovecot-lda (Postfix delivery)
	DoveadmURL string // http://127.0.0.1:port of the doveadm HTTP API; "" unless DoveadmAPIKey was set
	PID        int
	Dir        string
}

// StartDovecot starts a private Dovecot (dovecot -F) from a temporary directory: IMAP on a free loopback port,
// plaintext logins, login_trusted_networks = 127.0.0.0/8 (so IMAP ID x-originating-ip sets the client address),
// users from a passwd-file, and the auth policy client when PolicyURL is set. It is stopped by PID when the test
// ends. It fails the test (never skips) when Dovecot is not installed: make test installs dovecot-imapd.
func StartDovecot(t testing.TB, o DovecotOptions) *Dovecot {
	t.Helper()
	bin := lookBin(t, "dovecot", "dovecot-imapd")
	dir := serverDir(t, "vigil-dovecot-")
	for _, d := range []string{"run", "state", "mail"} {
		mkdir(t, filepath.Join(dir, d))
	}
	chown(t, filepath.Join(dir, "mail"), "nobody")
	var passwd strings.Builder
	for u, p := range o.Users {
		fmt.Fprintf(&passwd, "%s:{PLAIN}%s\n", u, p)
	}
	writeFile(t, filepath.Join(dir, "passwd"), passwd.String())
	d := &Dovecot{Dir: dir, LogPath: filepath.Join(dir, "dovecot.log"), AuthSocket: filepath.Join(dir, "run", "auth-postfix")}
	port := freePort(t)
	d.IMAPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	policy := ""
	if o.PolicyURL != "" {
		if o.PolicyNonce == "" {
			o.PolicyNonce = DovecotNonce
		}
		// The operator's snippet itself, with this test's values.
		policy = deployFile(t, "deploy/dovecot/95-vigil-policy.conf",
			"http://127.0.0.1:8080/v1/dovecot/policy", o.PolicyURL,
			"X-API-Key: CHANGE-ME-dovecot-token", o.PolicyHeader,
			"CHANGE-ME-random-nonce", o.PolicyNonce)
		if o.Enforce {
			policy += "\n" + deployFile(t, "deploy/dovecot/96-vigil-enforce.conf")
		}
	}
	conf := fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
first_valid_uid = 1
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=%[1]s/mail/%%u
}
mail_location = maildir:%[1]s/mail/%%u
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[2]d
  }
}
service auth {
  unix_listener %[3]s {
    mode = 0666
  }
  unix_listener auth-userdb {
    mode = 0666
  }
}
postmaster_address = postmaster@vigil-test.localdomain
protocol lda {
  log_path = %[1]s/lda.log
  info_log_path = %[1]s/lda.log
}
%[4]s`, dir, port, d.AuthSocket, policy)
	if o.DoveadmAPIKey != "" {
		hp := freePort(t)
		d.DoveadmURL = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(hp))
		conf += fmt.Sprintf(`
doveadm_api_key = %s
service doveadm {
  inet_listener http {
    address = 127.0.0.1
    port = %d
  }
}
`, o.DoveadmAPIKey, hp)
	}
	writeFile(t, filepath.Join(dir, "dovecot.conf"), conf)
	d.ConfigPath = filepath.Join(dir, "dovecot.conf")
	writeFile(t, filepath.Join(dir, "lda.log"), "")
	os.Chmod(filepath.Join(dir, "lda.log"), 0o666) // dovecot-lda runs as nobody
	cmd := exec.Command(bin, "-c", filepath.Join(dir, "dovecot.conf"), "-F")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	out, err := os.Create(filepath.Join(dir, "dovecot.out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dovecot: %v", err)
	}
	d.PID = cmd.Process.Pid
	t.Cleanup(func() {
		syscall.Kill(-d.PID, syscall.SIGTERM) // the master and its children (process group)
		cmd.Wait()
		out.Close()
	})
	waitListen(t, d.IMAPAddr, filepath.Join(dir, "dovecot.out"), d.LogPath)
	waitFile(t, d.AuthSocket, d.LogPath)
	if d.DoveadmURL != "" {
		waitListen(t, strings.TrimPrefix(d.DoveadmURL, "http://"), filepath.Join(dir, "dovecot.out"), d.LogPath)
	}
	return d
}
