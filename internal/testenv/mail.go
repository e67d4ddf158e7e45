package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// MailOptions configures private Dovecot and Postfix instances for a test.
type MailOptions struct {
	Users         map[string]string // user → password
	PolicyURL     string            // Dovecot auth_policy_server_url; "" disables the policy client
	PolicyHeader  string            // e.g. "X-API-Key: token"
	PostfixPolicy string            // check_policy_service address, like 127.0.0.1:10040; "" disables it
}

// Mail is a running pair: Dovecot (IMAP and SASL for Postfix) and Postfix (submission with XCLIENT).
type Mail struct {
	IMAPAddr, SubmissionAddr string
	DovecotLog, PostfixLog   string
	dir                      string
}

// StartMail starts private Dovecot and Postfix instances on 127.0.0.1 from a temporary directory and stops them,
// by PID, when the test ends. It fails the test (never skips) when the servers are not installed: make test
// installs dovecot-imapd and postfix.
func StartMail(t testing.TB, o MailOptions) *Mail {
	t.Helper()
	for _, bin := range []string{"dovecot", "postfix"} {
		if _, err := exec.LookPath(bin); err != nil {
			if _, err := os.Stat("/usr/sbin/" + bin); err != nil {
				t.Fatalf("%s is not installed (make test installs dovecot-imapd and postfix)", bin)
			}
		}
	}
	dir, err := os.MkdirTemp("", "vigil-mail-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	m := &Mail{dir: dir, DovecotLog: filepath.Join(dir, "dovecot.log"), PostfixLog: filepath.Join(dir, "pf", "maillog")}
	pf := filepath.Join(dir, "pf")
	for _, d := range []string{"run", "state", "mail", "pf/queue/private", "pf/data"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(dir, 0o755)
	chown(t, filepath.Join(dir, "mail"), "nobody")
	chown(t, filepath.Join(pf, "data"), "postfix")
	chown(t, filepath.Join(pf, "queue", "private"), "postfix")
	var passwd strings.Builder
	for u, p := range o.Users {
		fmt.Fprintf(&passwd, "%s:{PLAIN}%s\n", u, p)
	}
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte(passwd.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	imapPort, smtpPort := freePort(t), freePort(t)
	m.IMAPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(imapPort))
	m.SubmissionAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(smtpPort))

	policy := ""
	if o.PolicyURL != "" {
		policy = fmt.Sprintf(`auth_policy_server_url = %s
auth_policy_hash_nonce = vigil-test-nonce
auth_policy_request_attributes = login=%%{requested_username} pwhash=%%{hashed_password} remote=%%{rip} device_id=%%{client_id} protocol=%%s session_id=%%{session}
auth_policy_server_api_header = %s
auth_policy_check_before_auth = yes
auth_policy_check_after_auth = yes
auth_policy_report_after_auth = yes
`, o.PolicyURL, o.PolicyHeader)
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
  unix_listener %[1]s/pf/queue/private/auth {
    mode = 0666
  }
}
%[3]s`, dir, imapPort, policy)
	if err := os.WriteFile(filepath.Join(dir, "dovecot.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	dv := exec.Command("dovecot", "-c", filepath.Join(dir, "dovecot.conf"), "-F")
	dv.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	out, _ := os.Create(filepath.Join(dir, "dovecot.out"))
	dv.Stdout, dv.Stderr = out, out
	if err := dv.Start(); err != nil {
		t.Fatalf("start dovecot: %v", err)
	}
	t.Cleanup(func() {
		syscall.Kill(-dv.Process.Pid, syscall.SIGTERM)
		dv.Wait()
	})
	waitListen(t, m.IMAPAddr, filepath.Join(dir, "dovecot.out"), m.DovecotLog)

	restrictions := "permit_sasl_authenticated, reject"
	eod := ""
	if o.PostfixPolicy != "" { // as in deploy/postfix/main.cf.snippet
		eod = "smtpd_end_of_data_restrictions = check_policy_service { inet:" + o.PostfixPolicy + ", timeout=2s, default_action=DUNNO }"
	}
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
mail_owner = postfix
setgid_group = postdrop
myhostname = vigil-test.localdomain
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
maillog_file = %[1]s/maillog
maillog_file_prefixes = %[1]s
default_transport = discard
local_transport = discard
relay_transport = discard
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_sasl_auth_enable = yes
smtpd_authorized_xclient_hosts = 127.0.0.0/8
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = %[2]s
%[3]s
smtputf8_enable = no
alias_maps =
alias_database =
`, pf, restrictions, eod)
	masterCF := fmt.Sprintf(`127.0.0.1:%d inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
`, smtpPort)
	os.WriteFile(filepath.Join(pf, "main.cf"), []byte(mainCF), 0o644)
	os.WriteFile(filepath.Join(pf, "master.cf"), []byte(masterCF), 0o644)
	if out, err := exec.Command("postfix", "-c", pf, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(m.PostfixLog)
		t.Fatalf("start postfix: %v\n%s\n%s", err, out, log)
	}
	t.Cleanup(func() {
		exec.Command("postfix", "-c", pf, "stop").Run()
		if b, err := os.ReadFile(filepath.Join(pf, "queue", "pid", "master.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	waitListen(t, m.SubmissionAddr, m.PostfixLog)
	return m
}

func chown(t testing.TB, path, name string) {
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitListen(t testing.TB, addr string, logs ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	var b strings.Builder
	for _, l := range logs {
		data, _ := os.ReadFile(l)
		b.Write(data)
	}
	t.Fatalf("nothing listens on %s after 20s:\n%s", addr, b.String())
}
