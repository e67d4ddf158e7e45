package sqlcheck

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Insert is one INSERT the store sends: a table and its column list.
type Insert struct {
	Table   string
	Columns []string
}

// SQL returns the statement as the store prepares it for database db.
func (i Insert) SQL(db string) string {
	return "INSERT INTO " + db + "." + i.Table + " (" + strings.Join(i.Columns, ", ") + ")"
}

// StoreInserts reads the store's code in dir (internal/chstore) and returns the table and columns of every
// s.insert(ctx, "table", "columns", ...) call, so columns a later change adds are checked without a list to keep.
func StoreInserts(dir string) ([]Insert, error) {
	var out []Insert
	err := storeCalls(dir, func(fset *token.FileSet, call *ast.CallExpr) error {
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != "insert" || len(call.Args) < 3 {
			return nil
		}
		table, err1 := stringLit(call.Args[1])
		cols, err2 := stringLit(call.Args[2])
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("%s: insert with non-literal table or columns: %w", fset.Position(call.Pos()), err)
		}
		var columns []string
		for _, c := range strings.Split(cols, ",") {
			columns = append(columns, strings.TrimSpace(c))
		}
		out = append(out, Insert{Table: table, Columns: columns})
		return nil
	})
	return out, err
}

// connMethods are the driver.Conn methods that send SQL.
var connMethods = map[string]bool{"Query": true, "QueryRow": true, "Select": true, "Exec": true, "PrepareBatch": true, "AsyncInsert": true}

// UnregisteredQueries returns the position of every call in dir's non-test code that sends SQL through the
// connection (s.conn.Query, ...) with anything but a registered query (s.sql(q)) — except in the files that build
// their statements from other checked sources: migrate.go and alter.go (the migrations) and the insert helper in write.go.
func UnregisteredQueries(dir string) ([]string, error) {
	var out []string
	err := storeCalls(dir, func(fset *token.FileSet, call *ast.CallExpr) error {
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || !connMethods[sel.Sel.Name] || len(call.Args) < 2 {
			return nil
		}
		recv, ok := sel.X.(*ast.SelectorExpr)
		if !ok || recv.Sel.Name != "conn" {
			return nil
		}
		pos := fset.Position(call.Pos())
		if base := filepath.Base(pos.Filename); base == "migrate.go" || base == "alter.go" || (base == "write.go" && sel.Sel.Name == "PrepareBatch") {
			return nil
		}
		if c, ok := call.Args[1].(*ast.CallExpr); ok {
			if f, ok := c.Fun.(*ast.SelectorExpr); ok && f.Sel.Name == "sql" {
				return nil
			}
		}
		out = append(out, fmt.Sprintf("%s:%d: %s.%s without a registered query (use register and s.sql)", filepath.Base(pos.Filename), pos.Line, "s.conn", sel.Sel.Name))
		return nil
	})
	return out, err
}

func storeCalls(dir string, visit func(*token.FileSet, *ast.CallExpr) error) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return err
	}
	fset := token.NewFileSet()
	var errs []error
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		file, err := parser.ParseFile(fset, f, src, 0)
		if err != nil {
			return err
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok {
				if err := visit(fset, call); err != nil {
					errs = append(errs, err)
				}
			}
			return true
		})
	}
	return errors.Join(errs...)
}

func stringLit(e ast.Expr) (string, error) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", errors.New("not a string literal")
	}
	return strconv.Unquote(lit.Value)
}

// ReadmeQueries returns the ```sql blocks of the README at path.
func ReadmeQueries(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, blk := range strings.Split(string(b), "```sql\n")[1:] {
		end := strings.Index(blk, "```")
		if end < 0 {
			return nil, errors.New("README: unterminated sql block")
		}
		out = append(out, strings.TrimSpace(blk[:end]))
	}
	return out, nil
}
