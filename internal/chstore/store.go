// Package chstore writes Vigil's rows to ClickHouse and applies its migrations.
package chstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configures the connection.
type Options struct {
	Addr         string // host:port of the native protocol; default 127.0.0.1:9000
	Database     string // default vigil
	Username     string // default "default"
	Password     string
	DialTimeout  time.Duration // default 5s
	WriteTimeout time.Duration // longest insert of one batch; default 60s
	// Cluster names the ClickHouse cluster (remote_servers) to migrate with ON CLUSTER DDL into replicated tables
	// under Distributed ones; empty for one server. See cluster.go.
	Cluster string
}

// ClusterSettings are the settings of every connection to a cluster (Options.Cluster). insert_distributed_sync: an
// insert into a Distributed table returns once the shards stored it, not when it is queued locally, so
// acknowledging JetStream after a write still means committed.
var ClusterSettings = clickhouse.Settings{"insert_distributed_sync": 1}

var validDatabase = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

func (o *Options) setDefaults() {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:9000"
	}
	if o.Database == "" {
		o.Database = "vigil"
	}
	if o.Username == "" {
		o.Username = "default"
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 60 * time.Second
	}
}

// Validate reports every problem with the options.
func (o Options) Validate() error {
	o.setDefaults()
	var errs []error
	if !validDatabase.MatchString(o.Database) {
		errs = append(errs, fmt.Errorf("clickhouse database %q: letters, digits and _ only", o.Database))
	}
	if o.Cluster != "" && !validCluster.MatchString(o.Cluster) {
		errs = append(errs, fmt.Errorf("clickhouse cluster %q: letters, digits and _ only", o.Cluster))
	}
	if o.DialTimeout < 0 || o.WriteTimeout < 0 {
		errs = append(errs, errors.New("clickhouse timeouts must be positive"))
	}
	return errors.Join(errs...)
}

// Store writes to and reads from one ClickHouse database.
type Store struct {
	conn   driver.Conn
	opts   Options
	logger *slog.Logger
	m      *metrics
}

// Open connects to ClickHouse and creates the database when it does not exist. reg may be nil.
func Open(ctx context.Context, o Options, logger *slog.Logger, reg prometheus.Registerer) (*Store, error) {
	o.setDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	// Create the database through a connection to "default", then connect to it so queries may omit it.
	boot, err := connect(ctx, o, "default")
	if err != nil {
		return nil, err
	}
	err = boot.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+o.Database+o.onCluster())
	boot.Close()
	if err != nil {
		return nil, fmt.Errorf("create database %s: %w", o.Database, err)
	}
	conn, err := connect(ctx, o, o.Database)
	if err != nil {
		return nil, err
	}
	s := &Store{conn: conn, opts: o, logger: logger, m: newMetrics(reg)}
	return s, nil
}

func connect(ctx context.Context, o Options, database string) (driver.Conn, error) {
	var settings clickhouse.Settings
	if o.Cluster != "" {
		settings = ClusterSettings
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{o.Addr},
		Auth:        clickhouse.Auth{Database: database, Username: o.Username, Password: o.Password},
		DialTimeout: o.DialTimeout,
		Settings:    settings,
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse %s: %w", o.Addr, err)
	}
	pctx, cancel := context.WithTimeout(ctx, o.DialTimeout+5*time.Second)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("clickhouse %s: %w", o.Addr, err)
	}
	return conn, nil
}

// onCluster is the ON CLUSTER clause of DDL, empty for one server.
func (o Options) onCluster() string {
	if o.Cluster == "" {
		return ""
	}
	return " ON CLUSTER " + o.Cluster
}

// Ping checks the server answers.
func (s *Store) Ping(ctx context.Context) error { return s.conn.Ping(ctx) }

// Conn returns the connection, for queries.
func (s *Store) Conn() driver.Conn { return s.conn }

// Database returns the database name.
func (s *Store) Database() string { return s.opts.Database }

// Close closes the connection.
func (s *Store) Close() error { return s.conn.Close() }
