package deploytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func read(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(), rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func codeMetrics(t *testing.T) map[string]bool {
	t.Helper()
	m, err := Metrics(filepath.Join(root(), "internal"), filepath.Join(root(), "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) == 0 {
		t.Fatal("no vigil_ metric definitions found in the Go sources")
	}
	return m
}

func TestComposeFile(t *testing.T) {
	vars, err := ConfigVars(filepath.Join(root(), "internal", "config"))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckCompose(read(t, "docker-compose.yml"), "vigil:dev", vars); err != nil {
		t.Errorf("docker-compose.yml:\n%v", err)
	}
}

func TestComposeCluster(t *testing.T) {
	c := read(t, "docker-compose.yml")
	for _, svc := range []string{"nats1", "nats2", "nats3", "keeper", "clickhouse1", "clickhouse2", "prometheus", "grafana"} {
		if !regexp.MustCompile(`(?m)^  ` + svc + `:\s*$`).MatchString(c) {
			t.Errorf("docker-compose.yml has no service %s", svc)
		}
	}
	if n := strings.Count(c, `"-js"`); n != 3 {
		t.Errorf("docker-compose.yml: %d NATS nodes with JetStream; want 3", n)
	}
	if n := strings.Count(c, `"--routes"`); n != 3 {
		t.Errorf("docker-compose.yml: %d NATS nodes with routes; want 3", n)
	}
}

func TestCheckComposeRejects(t *testing.T) {
	vars := map[string]bool{"VIGIL_NATS_URL": true}
	for _, tc := range []struct{ name, text, want string }{
		{"latest", "services:\n  a:\n    image: nats:latest\n", `image "nats:latest" is not pinned`},
		{"untagged", "services:\n  a:\n    image: nats\n", `image "nats" is not pinned`},
		{"minor only", "services:\n  a:\n    image: nats:2.12-alpine\n", `image "nats:2.12-alpine" is not pinned`},
		{"depends", "services:\n  a:\n    image: nats:2.11.6\n    depends_on: [b]\n", `depends_on "b" is not a service`},
		{"env", "services:\n  a:\n    image: nats:2.11.6\n    environment:\n      VIGIL_CLICKHOUSE_CLUSTER: x\n", "VIGIL_CLICKHOUSE_CLUSTER is not a variable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckCompose(tc.text, "vigil:dev", vars)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckCompose(%q) = %v; want an error containing %q", tc.text, err, tc.want)
			}
		})
	}
	ok := "services:\n  a:\n    image: nats:2.11.6-alpine\n    environment:\n      VIGIL_NATS_URL: x\n  b:\n    image: vigil:dev\n    depends_on: [a]\n"
	if err := CheckCompose(ok, "vigil:dev", vars); err != nil {
		t.Errorf("CheckCompose(%q) = %v; want nil", ok, err)
	}
}

func TestAlertMetricsExist(t *testing.T) {
	if bad := UnknownMetrics(read(t, "deploy/prometheus/alerts.yml"), codeMetrics(t)); len(bad) > 0 {
		t.Errorf("deploy/prometheus/alerts.yml uses metrics the code does not define: %v", bad)
	}
}

func TestAlertsPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("VIGIL_TEST_REQUIRE_DATA") != "" {
			t.Fatal("promtool not found (Debian package prometheus; make setup installs it)")
		}
		t.Skip("promtool not found; make setup installs it")
	}
	dir := filepath.Join(root(), "deploy", "prometheus")
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// provisioned reads the data source uids and types from the Grafana provisioning file.
func provisioned(t *testing.T) map[string]string {
	t.Helper()
	text := read(t, "deploy/grafana/provisioning/datasources/vigil.yml")
	m := map[string]string{}
	re := regexp.MustCompile(`(?m)^\s+uid:\s*(\S+)\s*\n\s+type:\s*(\S+)`)
	for _, g := range re.FindAllStringSubmatch(text, -1) {
		m[g[1]] = g[2]
	}
	if len(m) != 2 {
		t.Fatalf("provisioning file has data sources %v; want the Prometheus and ClickHouse ones", m)
	}
	return m
}

func TestDashboard(t *testing.T) {
	data := read(t, "deploy/grafana/dashboards/vigil.json")
	if err := CheckDashboard([]byte(data), provisioned(t), codeMetrics(t)); err != nil {
		t.Errorf("deploy/grafana/dashboards/vigil.json:\n%v", err)
	}
	for _, want := range []string{"vigil_detector_consumer_pending", "vigil_detector_incidents_total", "FROM vigil.logins", "GROUP BY country", "GROUP BY ip"} {
		if !strings.Contains(data, want) {
			t.Errorf("dashboard does not contain %q", want)
		}
	}
	prov := read(t, "deploy/grafana/provisioning/dashboards/vigil.yml")
	if !strings.Contains(prov, "path: /var/lib/grafana/dashboards") || !strings.Contains(read(t, "docker-compose.yml"), "./deploy/grafana/dashboards:/var/lib/grafana/dashboards") {
		t.Error("dashboard provisioning path and the compose mount disagree")
	}
}

func TestCheckDashboardRejects(t *testing.T) {
	uids := map[string]string{"p": "prometheus"}
	metrics := map[string]bool{"vigil_a_total": true}
	for _, tc := range []struct{ name, json, want string }{
		{"dup id", `{"uid":"u","title":"t","panels":[{"id":1,"datasource":{"type":"prometheus","uid":"p"},"targets":[{"refId":"A","expr":"vigil_a_total"}]},{"id":1,"datasource":{"type":"prometheus","uid":"p"},"targets":[{"refId":"A","expr":"vigil_a_total"}]}]}`, "not unique"},
		{"no datasource", `{"uid":"u","title":"t","panels":[{"id":1,"targets":[{"refId":"A","expr":"vigil_a_total"}]}]}`, "no datasource"},
		{"no targets", `{"uid":"u","title":"t","panels":[{"id":1,"datasource":{"type":"prometheus","uid":"p"}}]}`, "no targets"},
		{"unknown metric", `{"uid":"u","title":"t","panels":[{"id":1,"datasource":{"type":"prometheus","uid":"p"},"targets":[{"refId":"A","expr":"rate(vigil_b_total[5m])"}]}]}`, "metric vigil_b_total is not defined"},
		{"unprovisioned", `{"uid":"u","title":"t","panels":[{"id":1,"datasource":{"type":"prometheus","uid":"x"},"targets":[{"refId":"A","expr":"vigil_a_total"}]}]}`, `uid "x" is not provisioned`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckDashboard([]byte(tc.json), uids, metrics)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckDashboard(%s) = %v; want an error containing %q", tc.name, err, tc.want)
			}
		})
	}
}

func TestDockerfileBuildsEntrypoints(t *testing.T) {
	df := read(t, "deploy/Dockerfile")
	if !strings.Contains(df, "go build") || !strings.Contains(df, "./cmd/...") || !strings.Contains(df, "/usr/local/bin/") {
		t.Fatal("deploy/Dockerfile does not build ./cmd/... into /usr/local/bin")
	}
	re := regexp.MustCompile(`entrypoint:\s*\["/usr/local/bin/([a-z]+)"\]`)
	got := re.FindAllStringSubmatch(read(t, "docker-compose.yml"), -1)
	if len(got) == 0 {
		t.Fatal("docker-compose.yml has no Vigil entrypoints")
	}
	for _, g := range got {
		if _, err := os.Stat(filepath.Join(root(), "cmd", g[1], "main.go")); err != nil {
			t.Errorf("compose entrypoint /usr/local/bin/%s has no cmd/%s: %v", g[1], g[1], err)
		}
	}
}

func TestAlertsCoverScaleOut(t *testing.T) {
	rules := read(t, "deploy/prometheus/alerts.yml")
	tests := read(t, "deploy/prometheus/alerts_test.yml")
	for _, name := range []string{"VigilDetectorLagging", "VigilDeadLetters", "VigilClickHouseWritesFailing",
		"VigilPolicyFailingOpen", "VigilPartitionsUnowned", "VigilIncidentRateHigh", "VigilIncidentOpened"} {
		if !strings.Contains(rules, "alert: "+name+"\n") {
			t.Errorf("alerts.yml has no alert %s", name)
		}
		if !strings.Contains(tests, "alertname: "+name+"\n") {
			t.Errorf("alerts_test.yml does not test %s", name)
		}
	}
}
