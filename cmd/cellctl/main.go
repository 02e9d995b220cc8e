package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

// Exit statuses.
const (
	exitOK      = 0 // success
	exitRefused = 1 // the input was refused: the error names what and why
	exitMisuse  = 2 // bad command line
)

// A command is one subcommand: its synopsis, its help and what it does.
type command struct {
	name     string
	args     string // the synopsis after the name
	summary  string // one line for the command list
	help     string // what it does, its flags' meaning beyond their own help
	examples string // shown under "Examples:" by -h
	setup    func(fs *flag.FlagSet) func(e *env, args []string) error
}

// commands lists the subcommands in the order of the help.
func commands() []*command {
	return []*command{
		validateCmd, schemaCmd, explainCmd, diffCmd, newCmd, editCmd, drainCmd,
		keygenCmd, signCmd, publishCmd, getCmd, simulateCmd, serveCmd,
	}
}

// env is what a command runs with: its streams and its context, done when
// the process is asked to stop.
type env struct {
	ctx            context.Context
	stdout, stderr io.Writer
	cmd            *command
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args (without the program name) and returns the
// exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitMisuse
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 {
			if c := lookup(args[1]); c != nil {
				fs := flag.NewFlagSet("cellctl "+c.name, flag.ContinueOnError)
				c.setup(fs)
				printHelp(stdout, c, fs)
				return exitOK
			}
		}
		usage(stdout)
		return exitOK
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(stderr, "cellctl: unknown command %q\n", name)
		usage(stderr)
		return exitMisuse
	}
	fs := flag.NewFlagSet("cellctl "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	do := c.setup(fs)
	pos, err := parseInterleaved(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdout, c, fs)
		return exitOK
	}
	if err != nil {
		return misuse(stderr, c, err.Error())
	}
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr, cmd: c}
	err = do(e, pos)
	var u usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &u):
		return misuse(stderr, c, u.msg)
	default:
		printError(stderr, "cellctl "+c.name, err)
		return exitRefused
	}
}

func lookup(name string) *command {
	i := slices.IndexFunc(commands(), func(c *command) bool { return c.name == name })
	if i < 0 {
		return nil
	}
	return commands()[i]
}

func misuse(w io.Writer, c *command, msg string) int {
	fmt.Fprintf(w, "cellctl %s: %s\nusage: cellctl %s %s\nrun 'cellctl %s -h' for help\n", c.name, msg, c.name, c.args, c.name)
	return exitMisuse
}

// A usageError is a bad command line: exit status 2.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func usage(w io.Writer) {
	fmt.Fprint(w, `cellctl is the operator's command line for cellkit placement maps.

usage: cellctl COMMAND [ARGS]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run 'cellctl COMMAND -h' for a command's flags and examples.
Exit status: 0 success, 1 refused input (the error names the field and the
value), 2 misuse of the command line.
`)
}

func printHelp(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: cellctl %s %s\n\n%s\n", c.name, c.args, strings.TrimSpace(c.help))
	if flags := flagHelp(c, fs); flags != "" {
		fmt.Fprintf(w, "\nFlags:\n%s", flags)
	}
	fmt.Fprintf(w, "\nExamples:\n%s\n", indent(strings.TrimSpace(c.examples), "  "))
}

// flagHelp returns the flags' help. The limits of the parse (--max-…) are
// spelled out for validate only; other commands name them in a line.
func flagHelp(c *command, fs *flag.FlagSet) string {
	var b strings.Builder
	limits := false
	short := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	fs.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, "max-") && c.name != "validate" {
			limits = true
			return
		}
		short.Var(f.Value, f.Name, f.Usage)
	})
	short.SetOutput(&b)
	short.PrintDefaults()
	if limits {
		b.WriteString("  -max-bytes, -max-cells, -max-overrides, -max-migrations, -max-key-bytes,\n" +
			"  -max-endpoints, -max-label-bytes, -max-table-work N\n" +
			"    \tthe limits of the parse, as for validate (0: placement's defaults)\n")
	}
	return b.String()
}

func indent(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n")
}

// parseInterleaved parses flags placed before, between and after the
// positional arguments, which it returns in order; "--" ends the flags.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}
