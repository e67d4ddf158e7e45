package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
)

// testProgram has a default command, a group and a command whose Run rejects a flag value or fails.
func testProgram(ran *[]string) *Program {
	var n int
	var fail bool
	record := func(name string) func(context.Context, Env) error {
		return func(_ context.Context, e Env) error {
			*ran = append(*ran, name+" "+strings.Join(e.Args, ","))
			return nil
		}
	}
	return &Program{Name: "prog", Default: "serve", Help: "closing words", Commands: []*Command{
		{Name: "serve", Summary: "serve things", Synopsis: "[flags]", Flags: func(fs *flag.FlagSet, getenv func(string) string) {
			fs.String("addr", getenv("PROG_ADDR"), "listen address")
		}, Run: record("serve")},
		{Name: "thing add", Summary: "add a thing", Synopsis: "[-kind KIND] NAME", MinArgs: 1, MaxArgs: 1, Required: []string{"kind"},
			Flags: func(fs *flag.FlagSet, _ func(string) string) { fs.String("kind", "", "what kind of thing") }, Run: record("thing add")},
		{Name: "thing list", Summary: "list the things", Run: record("thing list")},
		{Name: "count", Summary: "count files", Synopsis: "[-n N] [-fail] FILE...", MinArgs: 1, MaxArgs: Many,
			Flags: func(fs *flag.FlagSet, _ func(string) string) {
				fs.IntVar(&n, "n", 1, "how many")
				fs.BoolVar(&fail, "fail", false, "fail after parsing")
			},
			Run: func(ctx context.Context, e Env) error {
				if n < 0 {
					return usagef("-n %d: want at least 0", n)
				}
				if fail {
					return errors.New("it broke")
				}
				return record("count")(ctx, e)
			}},
	}}
}

func TestParser(t *testing.T) {
	for _, tt := range []struct {
		args     []string
		code     int
		ran      string // the command and its arguments, "" for none
		wantErr  string
		stdout   []string // what stdout must hold
		stderr   []string // what stderr must hold
		noStdout bool
	}{
		{args: nil, ran: "serve "},
		{args: []string{"-addr", ":1"}, ran: "serve "},
		{args: []string{"serve", "-addr", ":1"}, ran: "serve "},
		{args: []string{"thing", "add", "-kind", "k", "x"}, ran: "thing add x"},
		{args: []string{"count", "-n", "3", "a", "b"}, ran: "count a,b"},
		// help: the list of every command, a command's usage and flags, a group's commands
		{args: []string{"help"}, stdout: []string{"usage: prog [command] [flags]", "serve", "thing add", "thing list", "count", "help [COMMAND]", "closing words"}},
		{args: []string{"-h"}, stdout: []string{"serve", "thing add", "thing list", "count"}},
		{args: []string{"--help"}, stdout: []string{"thing list"}},
		{args: []string{"count", "-h"}, stdout: []string{"usage: prog count [-n N] [-fail] FILE...", "Count files.", "-n int", "how many (default 1)", "-fail"}},
		{args: []string{"count", "--help"}, stdout: []string{"usage: prog count"}},
		{args: []string{"help", "count"}, stdout: []string{"usage: prog count", "-n int"}},
		{args: []string{"help", "thing"}, stdout: []string{"prog thing add [-kind KIND] NAME", "prog thing list"}},
		{args: []string{"thing", "-h"}, stdout: []string{"prog thing add [-kind KIND] NAME", "add a thing", "prog thing list"}},
		{args: []string{"serve", "-h"}, stdout: []string{"-addr string", "listen address"}},
		// usage errors: exit code 2, a precise message, the usage on stderr and nothing on stdout
		{args: []string{"frobnicate"}, code: ExitUsage, wantErr: `prog: unknown command "frobnicate"`, stderr: []string{"thing add"}, noStdout: true},
		{args: []string{"help", "frobnicate"}, code: ExitUsage, wantErr: `prog help: unknown command "frobnicate"`},
		{args: []string{"thing"}, code: ExitUsage, wantErr: "prog thing: missing sub-command (add, list)", stderr: []string{"prog thing add [-kind KIND] NAME"}, noStdout: true},
		{args: []string{"thing", "-x"}, code: ExitUsage, wantErr: "prog thing: missing sub-command (add, list)"},
		{args: []string{"thing", "frob"}, code: ExitUsage, wantErr: `prog thing: unknown sub-command "frob" (want add, list)`, noStdout: true},
		{args: []string{"count", "-x", "a"}, code: ExitUsage, wantErr: "prog count: flag provided but not defined: -x", stderr: []string{"usage: prog count [-n N] [-fail] FILE...", `Run "prog count -h" for help.`}, noStdout: true},
		{args: []string{"-x"}, code: ExitUsage, wantErr: "prog serve: flag provided but not defined: -x"},
		{args: []string{"count", "-n", "many", "a"}, code: ExitUsage, wantErr: `prog count: invalid value "many" for flag -n`},
		{args: []string{"count"}, code: ExitUsage, wantErr: "prog count: missing argument: want at least 1 after the flags, got 0", stderr: []string{"usage: prog count"}},
		{args: []string{"thing", "add"}, code: ExitUsage, wantErr: "prog thing add: missing argument: want 1 after the flags, got 0"},
		{args: []string{"thing", "add", "x"}, code: ExitUsage, wantErr: "prog thing add: -kind is required", stderr: []string{"usage: prog thing add"}, noStdout: true},
		{args: []string{"thing", "add", "-kind=", "x"}, code: ExitUsage, wantErr: "prog thing add: -kind is required"},
		{args: []string{"thing", "add", "x", "y"}, code: ExitUsage, wantErr: `prog thing add: unexpected argument "y": want 1 after the flags, got 2`},
		{args: []string{"thing", "list", "y"}, code: ExitUsage, wantErr: `prog thing list: unexpected argument "y": takes none after the flags`},
		{args: []string{"serve", "y"}, code: ExitUsage, wantErr: `prog serve: unexpected argument "y"`},
		// a flag value the command's Run refuses is a usage error too; a failure while running is not
		{args: []string{"count", "-n", "-1", "a"}, code: ExitUsage, wantErr: "prog count: -n -1: want at least 0", stderr: []string{"usage: prog count"}},
		{args: []string{"count", "-fail", "a"}, code: ExitError, wantErr: "it broke"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var ran []string
			var out, errb bytes.Buffer
			err := testProgram(&ran).Run(context.Background(), tt.args, Env{Getenv: func(string) string { return "" }, Stdout: &out, Stderr: &errb})
			if code := ExitCode(err); code != tt.code {
				t.Errorf("ExitCode(%v) = %d; want %d", err, code, tt.code)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error = %v; want %q", err, tt.wantErr)
			}
			if got := strings.Join(ran, ";"); got != tt.ran {
				t.Errorf("ran %q; want %q", got, tt.ran)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, out.String())
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(errb.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, errb.String())
				}
			}
			if tt.noStdout && out.Len() > 0 {
				t.Errorf("stdout = %q; want nothing on a usage error", out.String())
			}
		})
	}
}

// TestFlagDefaultsFromEnvironment: a command's flags start from the environment, in its -h output too.
func TestFlagDefaultsFromEnvironment(t *testing.T) {
	var out bytes.Buffer
	var ran []string
	env := func(k string) string { return map[string]string{"PROG_ADDR": ":9999"}[k] }
	if err := testProgram(&ran).Run(context.Background(), []string{"serve", "-h"}, Env{Getenv: env, Stdout: &out, Stderr: &out}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `(default ":9999")`) {
		t.Errorf("serve -h = %q; want the environment's default", out.String())
	}
}

// TestProgramsListEveryCommand: each binary's help lists every one of its commands, and every command answers -h
// with its usage and nothing else (no connection: the environment points nowhere).
func TestProgramsListEveryCommand(t *testing.T) {
	env := map[string]string{"VIGIL_NATS_URL": "nats://127.0.0.1:1", "VIGIL_CLICKHOUSE_ADDR": "127.0.0.1:1", "VIGIL_DATA_DIR": t.TempDir()}
	getenv := func(k string) string { return env[k] }
	for _, p := range []*Program{Vigil(), Ingest(), Detector(), AuthAPI()} {
		var out bytes.Buffer
		if err := p.Run(context.Background(), []string{"-h"}, Env{Getenv: getenv, Stdout: &out, Stderr: &out}); err != nil {
			t.Errorf("%s -h = %v", p.Name, err)
		}
		for _, c := range p.Commands {
			if c.Summary == "" || c.Run == nil {
				t.Errorf("%s %q: no summary or no Run", p.Name, c.Name)
			}
			if c.Name != "" && !strings.Contains(out.String(), "  "+c.Name+" ") {
				t.Errorf("%s -h does not list %q:\n%s", p.Name, c.Name, out.String())
			}
			var cout, cerr bytes.Buffer
			args := append(strings.Fields(c.Name), "-h")
			if err := p.Run(context.Background(), args, Env{Getenv: getenv, Stdout: &cout, Stderr: &cerr}); err != nil {
				t.Errorf("%s %s = %v", p.Name, strings.Join(args, " "), err)
			}
			if want := "usage: " + strings.TrimSpace(p.Name+" "+c.Name); !strings.HasPrefix(cout.String(), want) || cerr.Len() > 0 {
				t.Errorf("%s %s printed %q, %q; want %q first on stdout only", p.Name, strings.Join(args, " "), cout.String(), cerr.String(), want)
			}
		}
	}
}

func TestReport(t *testing.T) {
	for _, tt := range []struct {
		err  error
		code int
		said string
	}{
		{nil, ExitOK, ""},
		{&UsageError{Command: "vigil trust", Err: errors.New("missing sub-command")}, ExitUsage, "vigil trust: missing sub-command\n"},
		{errors.New("nats: no servers"), ExitError, "vigil: stopped: nats: no servers\n"},
	} {
		var w bytes.Buffer
		if code := Report(&w, "vigil: stopped:", tt.err); code != tt.code || w.String() != tt.said {
			t.Errorf("Report(%v) = %d, %q; want %d, %q", tt.err, code, w.String(), tt.code, tt.said)
		}
	}
}
