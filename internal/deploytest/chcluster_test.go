package deploytest

import (
	"regexp"
	"testing"
)

// TestComposeClickHouseCluster keeps docker-compose on the cluster variant of the migrations: the cluster Vigil
// names is defined in the servers' remote_servers, with replication inside the shard, and both replicas get writes.
func TestComposeClickHouseCluster(t *testing.T) {
	c := read(t, "docker-compose.yml")
	m := regexp.MustCompile(`(?m)^\s+VIGIL_CLICKHOUSE_CLUSTER:\s*(\w+)\s*$`).FindStringSubmatch(c)
	if m == nil {
		t.Fatal("docker-compose.yml does not set VIGIL_CLICKHOUSE_CLUSTER")
	}
	if !regexp.MustCompile(`<remote_servers>\s*<` + m[1] + `>\s*<shard>\s*<internal_replication>true</internal_replication>`).MatchString(c) {
		t.Errorf("docker-compose.yml: no remote_servers cluster %q with internal_replication", m[1])
	}
	for _, macro := range []string{"<shard>", `<replica from_env="REPLICA"/>`} {
		if !regexp.MustCompile(`<macros>[^\n]*` + regexp.QuoteMeta(macro)).MatchString(c) {
			t.Errorf("docker-compose.yml: the macros lack %s, which the replicated tables' paths use", macro)
		}
	}
	for _, addr := range []string{"clickhouse1:9000", "clickhouse2:9000"} {
		if !regexp.MustCompile(`VIGIL_CLICKHOUSE_ADDR:\s*` + addr).MatchString(c) {
			t.Errorf("docker-compose.yml: no Vigil service writes through %s", addr)
		}
	}
}
