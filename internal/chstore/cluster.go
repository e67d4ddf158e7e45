package chstore

import (
	"fmt"
	"regexp"
	"strings"
)

// The cluster variant of the migrations (Options.Cluster, VIGIL_CLICKHOUSE_CLUSTER). Migrations are written once,
// for a single server; on a cluster every statement is rewritten:
//
//   - CREATE TABLE IF NOT EXISTS {db}.t (...) ENGINE = XMergeTree(args) ... becomes
//     {db}.t_local ON CLUSTER with ENGINE = ReplicatedXMergeTree('/clickhouse/tables/{shard}/<db>/t_local',
//     '{replica}', args), and {db}.t becomes a Distributed table over it, sharded by cityHash64 of the sorting key
//     so every version of one row lands on one shard, where ReplacingMergeTree collapses them. Queries and inserts
//     keep naming {db}.t.
//   - ALTER TABLE {db}.t ADD/DROP/MODIFY COLUMN ... alters {db}.t_local ON CLUSTER, then drops and recreates the
//     Distributed table {db}.t ON CLUSTER, since ClickHouse 18.16 refuses ALTER ... ON CLUSTER of a Distributed table
//     on a replicated shard. (It holds no data: inserts through it are synchronous.)
//   - other ALTERs (DROP PARTITION, ...) apply to {db}.t_local ON CLUSTER.
//   - CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.v TO {db}.t AS SELECT ... FROM {db}.s feeds t_local from the
//     inserts into s_local, ON CLUSTER: a view fires on the replica an insert reaches (never on a replication
//     fetch), and t_local replicates what it writes, so t's rows live on the shard of the s rows they come from.
//   - INSERT INTO {db}.t (...) SELECT ... FROM {db}.s (a one-off fill) copies s_local into t_local on the node that
//     runs the migration; every shard runs it once, as it records its migrations per shard. It has no ON CLUSTER.
//   - anything else is refused with an error naming the statement, so a migration that cannot be replicated fails
//     in the tests rather than in production.
//
// {shard} and {replica} are the servers' macros; the cluster must list every replica of a shard with
// <internal_replication>true</internal_replication>.

// LocalSuffix names the replicated table under each Distributed table.
const LocalSuffix = "_local"

var (
	validCluster  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	reCreateTable = regexp.MustCompile(`(?is)^CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+\{db\}\.(\w+)\s*(\(.*\))\s*ENGINE\s*=\s*(\w*MergeTree)\s*(?:\(([^()]*)\))?(.*)$`)
	reOrderBy     = regexp.MustCompile(`(?is)\bORDER\s+BY\s+(\([^()]*\)|\w+)`)
	reAlterTable  = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+\{db\}\.(\w+)\s+(.*)$`)
	reColumnAlter = regexp.MustCompile(`(?is)^(ADD|DROP|MODIFY|COMMENT|CLEAR)\s+COLUMN\b`)
	reCreateView  = regexp.MustCompile(`(?is)^CREATE\s+MATERIALIZED\s+VIEW\s+IF\s+NOT\s+EXISTS\s+\{db\}\.(\w+)\s+TO\s+\{db\}\.(\w+)\s+AS\s+(SELECT\s.*\sFROM\s+\{db\}\.)(\w+)(\s.*)?$`)
	reInsertFrom  = regexp.MustCompile(`(?is)^INSERT\s+INTO\s+\{db\}\.(\w+)(\s*\([^()]*\)\s*SELECT\s.*\sFROM\s+\{db\}\.)(\w+)(\s.*)?$`)
)

// clusterPlan rewrites migrations for a cluster. It remembers each table's sharding key from its CREATE TABLE, so
// a later migration's ALTER can recreate the Distributed table; every migration file must therefore pass through
// it in order, applied or not.
type clusterPlan struct {
	cluster, db string
	shardKey    map[string]string // table → sharding expression
}

func newClusterPlan(cluster, db string) *clusterPlan {
	return &clusterPlan{cluster: cluster, db: db, shardKey: map[string]string{}}
}

// rewrite returns the cluster statements for one single-server migration statement ({db} still unreplaced).
func (p *clusterPlan) rewrite(stmt string) ([]string, error) {
	code := stripComments(stmt)
	on := " ON CLUSTER " + p.cluster
	if m := reCreateTable.FindStringSubmatch(code); m != nil {
		table, columns, engine, args, rest := m[1], m[2], m[3], strings.TrimSpace(m[4]), m[5]
		if strings.HasPrefix(engine, "Replicated") {
			return nil, fmt.Errorf("table %s: write migrations for one server; the cluster variant adds Replicated", table)
		}
		ob := reOrderBy.FindStringSubmatch(rest)
		if ob == nil {
			return nil, fmt.Errorf("table %s: no ORDER BY to shard by", table)
		}
		key := strings.TrimSpace(ob[1])
		if strings.HasPrefix(key, "(") {
			key = strings.TrimSpace(key[1 : len(key)-1])
		}
		if key == "" {
			return nil, fmt.Errorf("table %s: an empty ORDER BY cannot shard", table)
		}
		p.shardKey[table] = "cityHash64(" + key + ")"
		local := table + LocalSuffix
		repl := "'/clickhouse/tables/{shard}/" + p.db + "/" + local + "', '{replica}'"
		if args != "" {
			repl += ", " + args
		}
		return []string{
			"CREATE TABLE IF NOT EXISTS {db}." + local + on + "\n" + columns + "\nENGINE = Replicated" + engine + "(" + repl + ")" + rest,
			p.distributed(table),
		}, nil
	}
	if m := reAlterTable.FindStringSubmatch(code); m != nil {
		table, rest := m[1], m[2]
		if _, ok := p.shardKey[table]; !ok {
			return nil, fmt.Errorf("ALTER TABLE %s: no earlier migration creates it", table)
		}
		out := []string{"ALTER TABLE {db}." + table + LocalSuffix + on + " " + rest}
		if reColumnAlter.MatchString(rest) {
			out = append(out, "DROP TABLE IF EXISTS {db}."+table+on, p.distributed(table))
		}
		return out, nil
	}
	if m := reCreateView.FindStringSubmatch(code); m != nil {
		view, to, sel, from, rest := m[1], m[2], m[3], m[4], m[5]
		if err := p.known(to, from); err != nil {
			return nil, fmt.Errorf("materialized view %s: %w", view, err)
		}
		return []string{"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}." + view + on + " TO {db}." + to + LocalSuffix + " AS " + sel + from + LocalSuffix + rest}, nil
	}
	if m := reInsertFrom.FindStringSubmatch(code); m != nil {
		to, sel, from, rest := m[1], m[2], m[3], m[4]
		if err := p.known(to, from); err != nil {
			return nil, fmt.Errorf("INSERT INTO %s: %w", to, err)
		}
		return []string{"INSERT INTO {db}." + to + LocalSuffix + sel + from + LocalSuffix + rest}, nil
	}
	first, _, _ := strings.Cut(code, "\n")
	return nil, fmt.Errorf("statement has no cluster variant (only CREATE TABLE IF NOT EXISTS ... MergeTree, ALTER TABLE, CREATE MATERIALIZED VIEW IF NOT EXISTS ... TO and INSERT INTO ... SELECT are rewritten): %.80s", first)
}

// known reports a table no earlier migration creates.
func (p *clusterPlan) known(tables ...string) error {
	for _, t := range tables {
		if _, ok := p.shardKey[t]; !ok {
			return fmt.Errorf("no earlier migration creates table %s", t)
		}
	}
	return nil
}

func (p *clusterPlan) distributed(table string) string {
	return "CREATE TABLE IF NOT EXISTS {db}." + table + " ON CLUSTER " + p.cluster + " AS {db}." + table + LocalSuffix +
		" ENGINE = Distributed(" + p.cluster + ", " + p.db + ", " + table + LocalSuffix + ", " + p.shardKey[table] + ")"
}

// stripComments drops whole-line -- comments and surrounding space.
func stripComments(stmt string) string {
	var b strings.Builder
	for _, l := range strings.Split(stmt, "\n") {
		if t := strings.TrimSpace(l); t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return strings.TrimSpace(b.String())
}

func (p *clusterPlan) rewriteAll(stmts []string) ([]string, error) {
	var out []string
	for _, st := range stmts {
		r, err := p.rewrite(st)
		if err != nil {
			return nil, err
		}
		out = append(out, r...)
	}
	return out, nil
}
