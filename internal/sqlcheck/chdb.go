package sqlcheck

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrNoChDB means chDB is not fetched: run scripts/fetch-chdb.sh (make test does).
var ErrNoChDB = errors.New("chDB is not installed (scripts/fetch-chdb.sh)")

// maxStatement bounds one statement sent to chDB and one answer read back.
const maxStatement = 16 << 20

// ChDB is one chDB session in a child process (scripts/chdb-query.c, built by scripts/fetch-chdb.sh), so the
// 560 MB library never loads into a Go process and Vigil needs no cgo.
type ChDB struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// FindChDB returns the runner and library under cache (normally .cache/chdb of the repository).
func FindChDB(cache string) (runner, lib string, err error) {
	runner = filepath.Join(cache, "chdb-query")
	libs, _ := filepath.Glob(filepath.Join(cache, "*", "package", "libchdb.so"))
	if _, err := os.Stat(runner); err != nil || len(libs) == 0 {
		return "", "", fmt.Errorf("%w: no %s or libchdb.so under %s", ErrNoChDB, runner, cache)
	}
	return runner, libs[len(libs)-1], nil
}

// StartChDB starts a session whose data lives in dir.
func StartChDB(runner, lib, dir string) (*ChDB, error) {
	cmd := exec.Command(runner, lib, dir)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", runner, err)
	}
	return &ChDB{cmd: cmd, in: in, out: bufio.NewReader(out)}, nil
}

// Exec runs one statement and returns its result in TabSeparated, or chDB's error.
func (c *ChDB) Exec(sql string) (string, error) {
	if strings.IndexByte(sql, 0) >= 0 || len(sql) > maxStatement {
		return "", errors.New("statement holds a NUL byte or is longer than 16 MiB")
	}
	if _, err := io.WriteString(c.in, sql+"\x00"); err != nil {
		return "", fmt.Errorf("chdb session: %w", err)
	}
	head, err := c.out.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("chdb session ended: %w", err)
	}
	kind, size, _ := strings.Cut(strings.TrimSuffix(head, "\n"), " ")
	n, err := strconv.Atoi(size)
	if err != nil || n < 0 || n > maxStatement || (kind != "OK" && kind != "ERR") {
		return "", fmt.Errorf("chdb session: bad frame %q", head)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.out, body); err != nil {
		return "", fmt.Errorf("chdb session: %w", err)
	}
	if kind == "ERR" {
		return "", errors.New(strings.TrimSpace(string(body)))
	}
	return string(body), nil
}

// Version returns the ClickHouse version chDB embeds.
func (c *ChDB) Version() (string, error) {
	v, err := c.Exec("SELECT version()")
	return strings.TrimSpace(v), err
}

// Close ends the session.
func (c *ChDB) Close() error {
	c.in.Close()
	return c.cmd.Wait()
}
