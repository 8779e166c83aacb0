package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// flags is a flag set where every flag also reads HERALD_<NAME> from the
// environment. Precedence: command-line flag, then environment, then default.
type flags struct {
	fs  *flag.FlagSet
	cmd string
	doc string
}

func newFlags(cmd, doc string) *flags {
	f := &flags{fs: flag.NewFlagSet("herald "+cmd, flag.ContinueOnError), cmd: cmd, doc: doc}
	f.fs.Usage = func() { f.usage(f.fs.Output()) }
	return f
}

// envName is the environment variable of a flag: --redis-addrs is HERALD_REDIS_ADDRS.
func envName(flagName string) string {
	return "HERALD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (f *flags) str(p *string, name, usage string)        { f.fs.StringVar(p, name, *p, usage) }
func (f *flags) int(p *int, name, usage string)           { f.fs.IntVar(p, name, *p, usage) }
func (f *flags) int64(p *int64, name, usage string)       { f.fs.Int64Var(p, name, *p, usage) }
func (f *flags) bool(p *bool, name, usage string)         { f.fs.BoolVar(p, name, *p, usage) }
func (f *flags) dur(p *time.Duration, name, usage string) { f.fs.DurationVar(p, name, *p, usage) }
func (f *flags) list(p *[]string, name, usage string)     { f.fs.Var((*listValue)(p), name, usage) }

// parse applies the environment, then the arguments.
func (f *flags) parse(args []string) error {
	var err error
	f.fs.VisitAll(func(fl *flag.Flag) {
		if v, ok := os.LookupEnv(envName(fl.Name)); ok && err == nil {
			if e := fl.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %v", envName(fl.Name), v, e)
			}
		}
	})
	if err != nil {
		return err
	}
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	if f.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see herald %s --help)", f.fs.Arg(0), f.cmd)
	}
	return nil
}

func (f *flags) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: herald %s [flags]\n\n%s\n\nFlags (each also read from the environment variable shown):\n", f.cmd, f.doc)
	f.fs.VisitAll(func(fl *flag.Flag) {
		def := fl.DefValue
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  --%s  (%s, default %s)\n      %s\n", fl.Name, envName(fl.Name), def, fl.Usage)
	})
}

// listValue is a comma-separated list flag.
type listValue []string

func (l *listValue) String() string { return strings.Join(*l, ",") }

func (l *listValue) Set(s string) error {
	*l = nil
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}
