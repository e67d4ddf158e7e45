package console

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// evidence is a rule's evidence JSON laid out for a page: scalar fields as rows of one table, each list of objects
// (per country, per address, targeted users...) as a table of its own. Any rule's evidence renders this way.
type evidence struct {
	Fields [][2]string
	Tables []evTable
}

type evTable struct {
	Title string
	Cols  []string
	Rows  [][]string
}

func layoutEvidence(raw json.RawMessage) evidence {
	var ev evidence
	if len(raw) == 0 {
		return ev
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return ev
	}
	obj, ok := v.(map[string]any)
	if !ok {
		if list, ok := v.([]any); ok {
			ev.Tables = append(ev.Tables, listTable("evidence", list))
		} else {
			ev.Fields = append(ev.Fields, [2]string{"evidence", cell(v)})
		}
		return ev
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if list, ok := obj[k].([]any); ok && len(list) > 0 && isObject(list[0]) {
			ev.Tables = append(ev.Tables, listTable(k, list))
			continue
		}
		ev.Fields = append(ev.Fields, [2]string{label(k), cell(obj[k])})
	}
	return ev
}

func isObject(v any) bool { _, ok := v.(map[string]any); return ok }

func listTable(title string, list []any) evTable {
	t := evTable{Title: label(title)}
	seen := map[string]bool{}
	var cols []string
	for _, it := range list {
		if o, ok := it.(map[string]any); ok {
			for k := range o {
				if !seen[k] {
					seen[k] = true
					cols = append(cols, k)
				}
			}
		}
	}
	sort.SliceStable(cols, func(i, j int) bool {
		return colRank(cols[i]) < colRank(cols[j]) || colRank(cols[i]) == colRank(cols[j]) && cols[i] < cols[j]
	})
	for _, c := range cols {
		t.Cols = append(t.Cols, label(c))
	}
	for _, it := range list {
		o, _ := it.(map[string]any)
		row := make([]string, len(cols))
		for i, c := range cols {
			if o == nil {
				if i == 0 {
					row[0] = cell(it)
				}
				continue
			}
			if x, ok := o[c]; ok {
				row[i] = cell(x)
			}
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// colRank puts identifying columns first.
func colRank(c string) int {
	switch c {
	case "country", "user", "ip", "address":
		return 0
	case "ips", "addresses", "users":
		return 1
	}
	return 2
}

func label(k string) string { return strings.ReplaceAll(k, "_", " ") }

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprintf("%d", int64(x))
		}
		return fmt.Sprintf("%g", x)
	case bool:
		if x {
			return "yes"
		}
		return "no"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = cell(e)
		}
		return strings.Join(parts, ", ")
	}
	b, _ := json.Marshal(v)
	return string(b)
}
