package testenv

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Alertmanager is a running private Prometheus Alertmanager (Debian's prometheus-alertmanager).
type Alertmanager struct {
	URL     string // http://127.0.0.1:<port>
	LogPath string
}

// StartAlertmanager runs Debian's prometheus-alertmanager on a free loopback port with a private configuration
// (one receiver that sends nowhere), data directory and clustering off, and stops it when the test ends. It fails
// the test (never skips) when the package is not installed: make test installs it.
func StartAlertmanager(t testing.TB) *Alertmanager {
	t.Helper()
	bin := lookBin(t, "prometheus-alertmanager", "prometheus-alertmanager")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	writeFile(t, cfg, `route:
  receiver: blackhole
  group_wait: 1s
  group_interval: 1s
receivers:
  - name: blackhole
`)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	a := &Alertmanager{URL: "http://" + addr, LogPath: filepath.Join(dir, "alertmanager.log")}
	logf, err := os.Create(a.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=info")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start alertmanager: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	waitFor(t, "Alertmanager ready on "+addr, func() bool {
		c := http.Client{Timeout: time.Second}
		resp, err := c.Get(a.URL + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, a.LogPath)
	return a
}
