package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/heraldpush/herald"
)

// flags is a flag set where every flag also reads HERALD_<NAME> from the
// environment. Precedence: command-line flag, then environment, then default.
type flags struct {
	fs  *flag.FlagSet
	cmd string
	doc string
	set map[string]bool // flags given by the file, the environment or the command line
}

func newFlags(cmd, doc string) *flags {
	f := &flags{fs: flag.NewFlagSet("herald "+cmd, flag.ContinueOnError), cmd: cmd, doc: doc}
	f.fs.Usage = func() { f.usage(f.fs.Output()) }
	f.fs.String("config", "", "YAML file of settings, keyed by flag name (flags and environment override it)")
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
func (f *flags) namespaces(p *herald.Namespaces, name, usage string) {
	f.fs.Var(&namespacesValue{p: p}, name, usage)
}

// parse applies the config file, then the environment, then the arguments:
// precedence flag > environment > file > default.
func (f *flags) parse(args []string) error {
	path := os.Getenv(envName("config"))
	if p, ok := configArg(args); ok {
		path = p
	}
	if path != "" {
		if err := f.applyFile(path); err != nil {
			return err
		}
	}
	var err error
	f.fs.VisitAll(func(fl *flag.Flag) {
		if v, ok := os.LookupEnv(envName(fl.Name)); ok && err == nil {
			if e := fl.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %v", envName(fl.Name), v, e)
			}
			f.mark(fl.Name)
		}
	})
	if err != nil {
		return err
	}
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	f.fs.Visit(func(fl *flag.Flag) { f.mark(fl.Name) })
	if f.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see herald %s --help)", f.fs.Arg(0), f.cmd)
	}
	return nil
}

func (f *flags) mark(name string) {
	if f.set == nil {
		f.set = map[string]bool{}
	}
	f.set[name] = true
}

// given reports whether the flag was set by the config file, the environment
// or the command line, rather than left at its default.
func (f *flags) given(name string) bool { return f.set[name] }

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

// namespacesValue is --namespaces: a JSON object on the command line or in
// the environment, a YAML mapping in a --config file (applyFile turns it
// into the same JSON).
type namespacesValue struct {
	p   *herald.Namespaces
	raw string
}

func (n *namespacesValue) String() string { return n.raw }

func (n *namespacesValue) Set(s string) error {
	ns, err := herald.ParseNamespaces(s)
	if err != nil {
		return err
	}
	*n.p, n.raw = ns, s
	return nil
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

// configArg finds --config (or -config) among the arguments before they are parsed.
func configArg(args []string) (string, bool) {
	for i, a := range args {
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if hasVal {
			return val, true
		}
		if i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// applyFile sets flags from a YAML file of flag-name: value pairs. Lists may
// be YAML sequences or comma-separated strings. An unknown key is an error,
// so a typo does not silently leave a default in place.
func (f *flags) applyFile(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var vals map[string]any
	if err := yaml.Unmarshal(raw, &vals); err != nil {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	for k, v := range vals {
		fl := f.fs.Lookup(k)
		if fl == nil || k == "config" {
			return fmt.Errorf("--config %s: unknown setting %q for herald %s (see herald %s --help)", path, k, f.cmd, f.cmd)
		}
		var s string
		switch v := v.(type) {
		case map[string]any:
			b, err := json.Marshal(v)
			if err != nil {
				return fmt.Errorf("--config %s: %s: %v", path, k, err)
			}
			s = string(b)
		case []any:
			parts := make([]string, len(v))
			for i, p := range v {
				parts[i] = fmt.Sprint(p)
			}
			s = strings.Join(parts, ",")
		default:
			s = fmt.Sprint(v)
		}
		if err := fl.Value.Set(s); err != nil {
			return fmt.Errorf("--config %s: %s: %v", path, k, err)
		}
		f.mark(k)
	}
	return nil
}
