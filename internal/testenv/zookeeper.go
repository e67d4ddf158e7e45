package testenv

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// zkJar is Debian's ZooKeeper server; its manifest names the rest of the class path.
const (
	zkJar       = "/usr/share/java/zookeeper.jar"
	slf4jSimple = "/usr/share/java/slf4j-simple.jar"
)

var (
	zkOnce sync.Once
	zkAddr string
	zkErr  error
)

// ZooKeeper returns the address of a standalone ZooKeeper on 127.0.0.1 started once per test binary from Debian's
// zookeeper package (stopped by Main), with a private configuration, port and data directory. It fails the test
// when ZooKeeper cannot be started: make test installs the package.
func ZooKeeper(t testing.TB) string {
	t.Helper()
	zkOnce.Do(func() { zkAddr, zkErr = startZooKeeper() })
	if zkErr != nil {
		t.Fatalf("ZooKeeper for tests: %v (make setup installs Debian's zookeeper and a Java runtime)", zkErr)
	}
	return zkAddr
}

func startZooKeeper() (string, error) {
	java, err := exec.LookPath("java")
	if err != nil {
		return "", fmt.Errorf("java is not installed: %w", err)
	}
	if _, err := os.Stat(zkJar); err != nil {
		return "", fmt.Errorf("zookeeper is not installed: %w", err)
	}
	dir, err := os.MkdirTemp("", "vigil-test-zookeeper-")
	if err != nil {
		return "", err
	}
	addMainCleanup(func() { os.RemoveAll(dir) })
	port, err := pickPort()
	if err != nil {
		return "", err
	}
	cfg := fmt.Sprintf("tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir=%s/data\nclientPort=%d\nclientPortAddress=127.0.0.1\n"+
		"admin.enableServer=false\n4lw.commands.whitelist=srvr\nmaxClientCnxns=0\n", dir, port)
	if err := os.WriteFile(filepath.Join(dir, "zoo.cfg"), []byte(cfg), 0o640); err != nil {
		return "", err
	}
	cp := zkJar
	if _, err := os.Stat(slf4jSimple); err == nil {
		cp += ":" + slf4jSimple // its log, for failure messages
	}
	cmd := exec.Command(java, "-Xmx256m", "-XX:+UseSerialGC", "-cp", cp,
		"org.apache.zookeeper.server.ZooKeeperServerMain", filepath.Join(dir, "zoo.cfg"))
	logPath := filepath.Join(dir, "zookeeper.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start zookeeper: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	addMainCleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if zkOK(addr) {
			return addr, nil
		}
		select {
		case <-done:
			return "", fmt.Errorf("zookeeper exited during start-up: %s", tailOf(logPath))
		case <-time.After(50 * time.Millisecond):
		}
	}
	return "", fmt.Errorf("zookeeper did not serve requests on %s within 60s: %s", addr, tailOf(logPath))
}

// zkOK sends ZooKeeper's srvr four-letter command and reports whether the server is serving requests (ruok answers
// imok before it is, and ClickHouse 18.16 crashes when its first ZooKeeper session fails).
func zkOK(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("srvr")); err != nil {
		return false
	}
	b, _ := io.ReadAll(io.LimitReader(c, 4096))
	return bytes.Contains(b, []byte("Mode: standalone"))
}

func pickPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func tailOf(path string) string {
	b, _ := os.ReadFile(path)
	return tail(string(b))
}

func tail(s string) string {
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	return s
}

var (
	mainMu       sync.Mutex
	mainCleanups []func()
)

// addMainCleanup registers f to run when Main ends the test binary, newest first.
func addMainCleanup(f func()) {
	mainMu.Lock()
	defer mainMu.Unlock()
	mainCleanups = append(mainCleanups, f)
}

func runMainCleanups() {
	mainMu.Lock()
	fs := mainCleanups
	mainCleanups = nil
	mainMu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}
