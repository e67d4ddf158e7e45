// Package cli declares the sub-commands of Vigil's binaries by one convention and parses their flags in one place.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Env is what a command reads and writes besides its flags.
type Env struct {
	Args           []string // the positional arguments after the flags, already counted against MinArgs/MaxArgs
	Getenv         func(string) string
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Reload subscribes to the operator's reload requests (SIGHUP). Only the commands that act on them call it, so
	// for the others SIGHUP keeps its default (the end of the process). Nil: no reload requests.
	Reload func() <-chan struct{}
}

// Many as a MaxArgs takes any number of positional arguments.
const Many = -1

// Command is one sub-command. The shared parser registers its flags, answers -h, rejects unknown flags and a wrong
// number of positional arguments (exit code 2), and only then calls Run.
type Command struct {
	Name     string   // the words after the program's name, like "trust add"; "" is the program itself (cmd/ingest)
	Summary  string   // one line for the command list
	Synopsis string   // what follows the name in the usage line, like "[-json]" or "[flags] FILE..."
	Help     string   // more text for -h, optional
	MinArgs  int      // fewest positional arguments
	MaxArgs  int      // most positional arguments, or Many
	Required []string // flags that must be given a value (not empty)
	// Flags registers the command's flags on fs; getenv gives the environment's values, which flags with a VIGIL_*
	// variable start from. Nil: the command takes no flags.
	Flags func(fs *flag.FlagSet, getenv func(string) string)
	// Run does the work once the flags are parsed.
	Run func(ctx context.Context, e Env) error
}

// Program is a binary's set of commands.
type Program struct {
	Name     string // "vigil"
	Default  string // the command run when the first argument is a flag or there is none
	Help     string // a closing paragraph of the program's help
	Commands []*Command
}

// Exit codes: ExitUsage for a command line the program cannot run (unknown command or flag, wrong arguments).
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// UsageError is a command line the program cannot run; its usage was printed to stderr.
type UsageError struct {
	Command string // "vigil trust add"
	Err     error
}

func (e *UsageError) Error() string { return e.Command + ": " + e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// ExitCode is the process's exit code for what Run returned.
func ExitCode(err error) int {
	var u *UsageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &u):
		return ExitUsage
	}
	return ExitError
}

// Report prints what a program's Run returned on w (a usage error as it is, other errors after prefix, like
// "vigil: stopped:") and returns the exit code.
func Report(w io.Writer, prefix string, err error) int {
	code := ExitCode(err)
	switch code {
	case ExitUsage:
		fmt.Fprintln(w, err)
	case ExitError:
		fmt.Fprintln(w, prefix, err)
	}
	return code
}

// badUsage marks an error of a command's Run as a usage error: a flag value it cannot accept.
type badUsage struct{ error }

func (b badUsage) Unwrap() error { return b.error }

// usagef returns a usage error for Run to return.
func usagef(format string, a ...any) error { return badUsage{fmt.Errorf(format, a...)} }

// Run finds the command args name, parses its flags and runs it. "help", -h, -help and --help as the first argument
// print the command list (or, followed by a command's name, that command's usage) to stdout.
func (p *Program) Run(ctx context.Context, args []string, e Env) error {
	if e.Getenv == nil {
		e.Getenv = func(string) string { return "" }
	}
	if len(args) > 0 && isHelp(args[0]) {
		return p.help(args[1:], e)
	}
	if len(args) > 0 && p.lookup(args[0]) == nil && len(p.group(args[0])) > 0 { // a group like "trust"
		var err error
		switch subs := strings.Join(p.group(args[0]), ", "); {
		case len(args) > 1 && isHelp(args[1]):
			return p.help(args[:1], e)
		case len(args) == 1 || strings.HasPrefix(args[1], "-"):
			err = fmt.Errorf("missing sub-command (%s)", subs)
		case p.lookup(args[0]+" "+args[1]) == nil:
			err = fmt.Errorf("unknown sub-command %q (want %s)", args[1], subs)
		}
		if err != nil {
			p.groupUsage(e.Stderr, args[0])
			return &UsageError{Command: p.Name + " " + args[0], Err: err}
		}
	}
	c, rest := p.find(args)
	if c == nil {
		p.list(e.Stderr)
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return &UsageError{Command: p.Name, Err: errors.New("missing command")}
		}
		return &UsageError{Command: p.Name, Err: fmt.Errorf("unknown command %q", args[0])}
	}
	full := p.fullName(c)
	fs := flag.NewFlagSet(full, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the parser prints usage itself, once
	fs.Usage = func() {}
	if c.Flags != nil {
		c.Flags(fs, e.Getenv)
	}
	fail := func(err error) error {
		fmt.Fprintf(e.Stderr, "usage: %s\nRun \"%s -h\" for help.\n", usageLine(full, c), full)
		return &UsageError{Command: full, Err: err}
	}
	if err := fs.Parse(rest); errors.Is(err, flag.ErrHelp) {
		p.usage(e.Stdout, c, e.Getenv)
		return nil
	} else if err != nil {
		return fail(err)
	}
	if err := countArgs(c, fs.Args()); err != nil {
		return fail(err)
	}
	for _, name := range c.Required {
		if f := fs.Lookup(name); f == nil || f.Value.String() == "" {
			return fail(fmt.Errorf("-%s is required", name))
		}
	}
	e.Args = fs.Args()
	err := c.Run(ctx, e)
	var b badUsage
	if errors.As(err, &b) {
		return fail(b.error)
	}
	return err
}

func isHelp(a string) bool { return a == "help" || a == "-h" || a == "-help" || a == "--help" }

// find returns the command that the first words of args name (the default when they start with a flag) and the
// arguments after its name, or nil.
func (p *Program) find(args []string) (*Command, []string) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return p.lookup(p.Default), args
	}
	if len(args) > 1 {
		if c := p.lookup(args[0] + " " + args[1]); c != nil {
			return c, args[2:]
		}
	}
	if c := p.lookup(args[0]); c != nil {
		return c, args[1:]
	}
	if len(p.Commands) == 1 && p.Commands[0].Name == "" { // cmd/detector: the arguments are the program's
		return p.Commands[0], args
	}
	return nil, nil
}

func (p *Program) lookup(name string) *Command {
	for _, c := range p.Commands {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// group returns the sub-commands of a group word like "trust": add, list, remove.
func (p *Program) group(word string) []string {
	var subs []string
	for _, c := range p.Commands {
		if sub, ok := strings.CutPrefix(c.Name, word+" "); ok {
			subs = append(subs, sub)
		}
	}
	return subs
}

func countArgs(c *Command, args []string) error {
	n := len(args)
	switch {
	case n < c.MinArgs && c.MinArgs == c.MaxArgs:
		return fmt.Errorf("missing argument: want %d after the flags, got %d", c.MinArgs, n)
	case n < c.MinArgs:
		return fmt.Errorf("missing argument: want at least %d after the flags, got %d", c.MinArgs, n)
	case c.MaxArgs != Many && n > c.MaxArgs && c.MaxArgs == 0:
		return fmt.Errorf("unexpected argument %q: takes none after the flags", args[0])
	case c.MaxArgs != Many && n > c.MaxArgs:
		return fmt.Errorf("unexpected argument %q: want %d after the flags, got %d", args[c.MaxArgs], c.MaxArgs, n)
	}
	return nil
}

func (p *Program) fullName(c *Command) string {
	if c.Name == "" {
		return p.Name
	}
	return p.Name + " " + c.Name
}

func usageLine(full string, c *Command) string {
	if c.Synopsis == "" {
		return full
	}
	return full + " " + c.Synopsis
}

// help prints the command list, or the usage of the command (or group) that words name.
func (p *Program) help(words []string, e Env) error {
	w := e.Stdout
	if len(words) == 0 {
		if c := p.lookup(""); c != nil {
			p.usage(w, c, e.Getenv)
			fmt.Fprintln(w)
		}
		p.list(w)
		return nil
	}
	name := strings.Join(words, " ")
	if c := p.lookup(name); c != nil {
		p.usage(w, c, e.Getenv)
		return nil
	}
	if len(p.group(name)) > 0 {
		p.groupUsage(w, name)
		return nil
	}
	return &UsageError{Command: p.Name + " help", Err: fmt.Errorf("unknown command %q", name)}
}

// groupUsage prints the usage lines and summaries of a group's sub-commands.
func (p *Program) groupUsage(w io.Writer, group string) {
	fmt.Fprintln(w, "usage:")
	for _, c := range p.Commands {
		if strings.HasPrefix(c.Name, group+" ") {
			fmt.Fprintf(w, "  %s\n      %s\n", usageLine(p.fullName(c), c), c.Summary)
		}
	}
	fmt.Fprintf(w, "\nRun \"%s %s COMMAND -h\" for a command's flags.\n", p.Name, group)
}

// list prints every named command with its summary.
func (p *Program) list(w io.Writer) {
	fmt.Fprintf(w, "usage: %s [command] [flags]\n\nCommands:\n", p.Name)
	for _, c := range p.Commands {
		if c.Name != "" {
			fmt.Fprintf(w, "  %-18s %s\n", c.Name, c.Summary)
		}
	}
	fmt.Fprintf(w, "  %-18s %s\n", "help [COMMAND]", "print the command list, or a command's usage and flags")
	if p.Help != "" {
		fmt.Fprintf(w, "\n%s\n", p.Help)
	}
}

// usage prints c's usage line, summary, help and flags (their defaults read from getenv).
func (p *Program) usage(w io.Writer, c *Command, getenv func(string) string) {
	full := p.fullName(c)
	fs := flag.NewFlagSet(full, flag.ContinueOnError)
	if c.Flags != nil {
		c.Flags(fs, getenv)
	}
	fmt.Fprintf(w, "usage: %s\n\n%s\n", usageLine(full, c), capitalise(c.Summary)+".")
	if c.Help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.Help, "\n"))
	}
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
