package testenv

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PostfixOptions configures a private Postfix for a test.
type PostfixOptions struct {
	SASLPath   string // Dovecot's auth socket (Dovecot.AuthSocket); required: submission needs SMTP AUTH
	PolicyAddr string // check_policy_service inet:<PolicyAddr> at end of data; "" leaves it off
	DeliverTo  string // a Dovecot's dovecot.conf: every message is delivered there with dovecot-lda, not discarded
	MainCF     string // more main.cf lines, appended last (they override the settings above)
}

// Postfix is a running private Postfix instance (postfix -c DIR) accepting submissions on 127.0.0.1.
type Postfix struct {
	SubmissionAddr string // host:port of the submission service (SMTP AUTH, XCLIENT from 127.0.0.0/8)
	RelayAddr      string // with DeliverTo: host:port of an unauthenticated relay for 127.0.0.0/8 (like port 25)
	LogPath        string // maillog_file: client=, qmgr and SASL failure lines
	ConfigDir      string
	PID            int // the master process
}

// StartPostfix starts a private Postfix instance from a temporary directory: one submission service on a free
// loopback port (syslog_name postfix/submission, policy context "submission"), SASL through Dovecot, XCLIENT for
// 127.0.0.0/8 so a test can set the client address, every message discarded, logs in maillog_file, and the policy
// service at end of data when PolicyAddr is set (deploy/postfix/main.cf.snippet). It is stopped by its master's
// PID when the test ends. It fails the test (never skips) when Postfix is not installed: make test installs it.
func StartPostfix(t testing.TB, o PostfixOptions) *Postfix {
	t.Helper()
	bin := lookBin(t, "postfix", "postfix")
	if o.SASLPath == "" {
		t.Fatal("testenv.StartPostfix: SASLPath (a Dovecot auth socket) is required")
	}
	// A started master whose smtpd never greets (no log line either) has been seen a few times on the loaded CI
	// machine; a fresh instance on new ports then comes up, so such an attempt is stopped and made again.
	const attempts = 3
	var failures []string
	for i := 1; i <= attempts; i++ {
		p, err := startPostfix(t, bin, o)
		if err == nil {
			return p
		}
		failures = append(failures, fmt.Sprintf("attempt %d: %v", i, err))
		t.Logf("postfix attempt %d did not come up; starting another instance: %.200s", i, err)
	}
	t.Fatalf("postfix did not come up in %d attempts:\n%s", attempts, strings.Join(failures, "\n"))
	return nil
}

// postfixStartTimeout bounds one attempt of StartPostfix.
const postfixStartTimeout = 20 * time.Second

// startPostfix starts one instance and waits for its services to greet; a failure to come up in time is returned
// (with the log and the master's children), after stopping what was started.
func startPostfix(t testing.TB, bin string, o PostfixOptions) (*Postfix, error) {
	t.Helper()
	dir := serverDir(t, "vigil-postfix-")
	for _, d := range []string{"queue", "data"} {
		mkdir(t, filepath.Join(dir, d))
	}
	chown(t, filepath.Join(dir, "data"), "postfix")
	port := freePort(t)
	p := &Postfix{ConfigDir: dir, LogPath: filepath.Join(dir, "maillog"), SubmissionAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	eod := ""
	if o.PolicyAddr != "" { // the operator's snippet itself, with this test's address
		eod = deployFile(t, "deploy/postfix/main.cf.snippet", "inet:127.0.0.1:10040", "inet:"+o.PolicyAddr)
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
smtpd_sasl_path = %[2]s
smtpd_sasl_auth_enable = yes
smtpd_authorized_xclient_hosts = 127.0.0.0/8
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = permit_sasl_authenticated, reject
%[3]s
smtputf8_enable = no
alias_maps =
alias_database =
`, dir, o.SASLPath, eod)
	masterCF := fmt.Sprintf(`127.0.0.1:%d inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_policy_service_policy_context=submission
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
`, port)
	if o.DeliverTo != "" { // later settings override the discard transport above
		relayPort := freePort(t)
		p.RelayAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(relayPort))
		mainCF += "mynetworks = 127.0.0.0/8\ndefault_transport = dovecot\nrelay_transport = dovecot\ndovecot_destination_recipient_limit = 1\n"
		masterCF += fmt.Sprintf(`127.0.0.1:%d inet n - n - - smtpd
  -o syslog_name=postfix/relay
  -o smtpd_sasl_auth_enable=no
  -o smtpd_relay_restrictions=permit_mynetworks,reject
  -o smtpd_recipient_restrictions=permit_mynetworks,reject
dovecot   unix  - n n - - pipe
  flags=DRhu user=nobody:nogroup argv=/usr/lib/dovecot/dovecot-lda -c %s -f ${sender} -d ${recipient}
`, relayPort, o.DeliverTo)
	}
	mainCF += o.MainCF
	writeFile(t, filepath.Join(dir, "main.cf"), mainCF)
	writeFile(t, filepath.Join(dir, "master.cf"), masterCF)
	if out, err := exec.Command(bin, "-c", dir, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(p.LogPath)
		return nil, fmt.Errorf("start postfix: %v\n%s\n%s", err, out, log)
	}
	pidFile := filepath.Join(dir, "queue", "pid", "master.pid")
	deadline := time.Now().Add(postfixStartTimeout)
	fail := func(what string) (*Postfix, error) {
		log, _ := os.ReadFile(p.LogPath)
		procs := ""
		if p.PID > 0 {
			pid := strconv.Itoa(p.PID)
			out, _ := exec.Command("ps", "-o", "pid,ppid,stat,wchan:24,etime,args", "-p", pid, "--ppid", pid).CombinedOutput()
			procs = string(out)
		}
		// Not "postfix stop": with the master in this state it waited for minutes (seen in CI). stopPID sends
		// SIGTERM, then SIGKILL after 10 s.
		stopPID(p.PID)
		return nil, fmt.Errorf("no %s after %s\nthe master and its children:\n%s\nlog:\n%s", what, postfixStartTimeout, procs, log)
	}
	if !pollUntil(deadline, func() bool { _, err := os.Stat(pidFile); return err == nil }) {
		return fail(pidFile)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if p.PID, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
		t.Fatalf("postfix master.pid: %v", err)
	}
	t.Cleanup(func() { stopPID(p.PID) })
	// A connection alone is not enough: wait until each smtpd greets.
	for _, addr := range []string{p.SubmissionAddr, p.RelayAddr} {
		if addr != "" && !pollUntil(deadline, func() bool { return greets(addr) }) {
			return fail("SMTP greeting on " + addr)
		}
	}
	return p, nil
}

// greets reports whether an SMTP server on addr answers a connection with 220.
func greets(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 4)
	_, err = io.ReadFull(c, b)
	return err == nil && string(b[:3]) == "220"
}

// pollUntil polls ok every 20 ms until it holds (true) or the deadline passes (false).
func pollUntil(deadline time.Time, ok func() bool) bool {
	for !ok() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// stopPID ends a daemon that is not our child: SIGTERM (Postfix's master stops its children), then SIGKILL if it
// is still there after 10 seconds.
func stopPID(pid int) {
	if pid <= 1 {
		return
	}
	syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
