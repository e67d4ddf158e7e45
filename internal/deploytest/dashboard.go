package deploytest

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Dashboard is the part of a Grafana dashboard JSON that CheckDashboard reads.
type Dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []Panel `json:"panels"`
}

// Panel is one dashboard panel.
type Panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *Datasource `json:"datasource"`
	Targets    []Target    `json:"targets"`
}

// Datasource names a provisioned data source.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Target is one query of a panel: PromQL in Expr or SQL in RawSQL.
type Target struct {
	RefID      string      `json:"refId"`
	Datasource *Datasource `json:"datasource"`
	Expr       string      `json:"expr"`
	RawSQL     string      `json:"rawSql"`
}

// CheckDashboard validates a dashboard: a uid and title, unique panel ids, every panel with a data source in uids
// (data source uid to type) and at least one target, Prometheus targets whose metrics are all in metrics, and
// ClickHouse targets with SQL.
func CheckDashboard(data []byte, uids map[string]string, metrics map[string]bool) error {
	var d Dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return fmt.Errorf("parse dashboard: %w", err)
	}
	var errs []error
	if d.UID == "" || d.Title == "" {
		errs = append(errs, errors.New("dashboard needs a uid and a title"))
	}
	if len(d.Panels) == 0 {
		errs = append(errs, errors.New("dashboard has no panels"))
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		at := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if p.ID <= 0 || ids[p.ID] {
			errs = append(errs, fmt.Errorf("%s: id missing or not unique", at))
		}
		ids[p.ID] = true
		if err := checkSource(p.Datasource, uids); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", at, err))
		}
		if len(p.Targets) == 0 {
			errs = append(errs, fmt.Errorf("%s: no targets", at))
		}
		for _, t := range p.Targets {
			ds := t.Datasource
			if ds == nil {
				ds = p.Datasource
			}
			if err := checkSource(ds, uids); err != nil {
				errs = append(errs, fmt.Errorf("%s target %s: %w", at, t.RefID, err))
				continue
			}
			switch ds.Type {
			case "prometheus":
				if t.Expr == "" {
					errs = append(errs, fmt.Errorf("%s target %s: empty expr", at, t.RefID))
				}
				for _, m := range UnknownMetrics(t.Expr, metrics) {
					errs = append(errs, fmt.Errorf("%s target %s: metric %s is not defined in the code", at, t.RefID, m))
				}
			case "grafana-clickhouse-datasource":
				if t.RawSQL == "" {
					errs = append(errs, fmt.Errorf("%s target %s: empty rawSql", at, t.RefID))
				}
			}
		}
	}
	return errors.Join(errs...)
}

func checkSource(ds *Datasource, uids map[string]string) error {
	if ds == nil {
		return errors.New("no datasource")
	}
	typ, ok := uids[ds.UID]
	if !ok {
		return fmt.Errorf("datasource uid %q is not provisioned", ds.UID)
	}
	if typ != ds.Type {
		return fmt.Errorf("datasource %q has type %q; provisioned as %q", ds.UID, ds.Type, typ)
	}
	return nil
}
