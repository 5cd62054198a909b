package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice/sluice/listener"
)

// Level is where a setting came from; a higher level wins.
type Level int

const (
	Default Level = iota
	File
	Env
	Flag
)

// Source names where one setting came from, for messages.
type Source struct {
	Level Level
	Name  string // file path, variable name or flag
	Line  int    // for File
}

func (s Source) String() string {
	switch s.Level {
	case File:
		return fmt.Sprintf("%s:%d", s.Name, s.Line)
	case Env:
		return "environment " + s.Name
	case Flag:
		return "flag --" + s.Name
	}
	return "default"
}

// Error is a bad value. Errors from Load wrap it.
type Error struct {
	Key, Value string
	Source     Source
	Reason     string
}

func (e *Error) Error() string {
	return fmt.Sprintf("config: %s=%q (%s): %s", e.Key, e.Value, e.Source, e.Reason)
}

// setting is one key's value at one level.
type setting struct {
	value string
	src   Source
}

// Settings holds every level's settings for every key.
type Settings struct {
	levels  map[string][]setting // key → settings, ascending level
	unknown []string
	ignored []string
}

func newSettings() *Settings { return &Settings{levels: map[string][]setting{}} }

func (s *Settings) add(key, value string, src Source) error {
	o := lookup(key)
	if ov, k := listenerOverride(key); o == nil && ov != nil {
		o, key = ov, k
	}
	if o == nil {
		switch {
		case src.Level != File:
			return fmt.Errorf("config: BUG: no option %q", key)
		case isIgnored(key):
			s.ignored = appendOnce(s.ignored, key)
		default:
			s.unknown = appendOnce(s.unknown, key)
		}
		return nil
	}
	if _, err := parseValue(o, value); err != nil {
		return &Error{Key: key, Value: value, Source: src, Reason: err.Error()}
	}
	s.levels[key] = append(s.levels[key], setting{value, src})
	return nil
}

func appendOnce(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// top returns the highest-level setting of key and whether key was set
// above the defaults.
func (s *Settings) top(key string) (setting, bool) {
	l := s.levels[key]
	if len(l) == 0 {
		return setting{lookup(key).Default, Source{}}, false
	}
	return l[len(l)-1], true
}

// pick returns, among keys, the one set at the highest level; at the same
// level, the earlier key in keys wins (Kafka's ms > minutes > hours).
// ok is false when none is set.
func (s *Settings) pick(keys ...string) (string, bool) {
	best, bestLevel := "", Default
	for _, k := range keys {
		if st, ok := s.top(k); ok && (best == "" || st.src.Level > bestLevel) {
			best, bestLevel = k, st.src.Level
		}
	}
	return best, best != ""
}

// Unknown lists keys of the file that no option or Ignored entry knows.
func (s *Settings) Unknown() []string { return s.unknown }

// IgnoredKeys lists Kafka keys of the file that mean nothing here.
func (s *Settings) IgnoredKeys() []string { return s.ignored }

// Value is one option's effective value.
type Value struct {
	Option *Option
	Value  string
	Source Source // Level Default when not set
}

// Effective lists every option's effective raw value and source, in table
// order.
func (s *Settings) Effective() []Value {
	out := make([]Value, 0, len(Options))
	for i := range Options {
		if Options[i].Pattern {
			continue
		}
		st, _ := s.top(Options[i].Key)
		out = append(out, Value{&Options[i], st.value, st.src})
	}
	return out
}

// FlagSet binds every option that has a flag to fs. After fs.Parse, pass
// it to Load.
type FlagSet struct{ vals []*flagValue }

type flagValue struct {
	opt *Option
	raw string
	set bool
}

func (f *flagValue) String() string {
	if f == nil || f.opt == nil {
		return ""
	}
	return f.raw
}

func (f *flagValue) Set(v string) error {
	if _, err := parseValue(f.opt, v); err != nil {
		return err
	}
	f.raw, f.set = v, true
	return nil
}

func (f *flagValue) IsBoolFlag() bool { return f != nil && f.opt != nil && f.opt.Kind == Bool }

// BindFlags registers the options' flags on fs.
func BindFlags(fs *flag.FlagSet) *FlagSet {
	b := &FlagSet{}
	for i := range Options {
		o := &Options[i]
		if o.Flag == "" {
			continue
		}
		v := &flagValue{opt: o, raw: o.Default}
		fs.Var(v, o.Flag, o.Doc)
		b.vals = append(b.vals, v)
	}
	return b
}

// Load layers defaults, the file at path (if not ""), the SLUICE_*
// variables in environ (os.Environ's form) and the flags set in flags (may
// be nil), and resolves them. It returns the Settings too, for warnings
// and --print-config.
func Load(path string, environ []string, flags *FlagSet) (*Config, *Settings, error) {
	s := newSettings()
	if path != "" {
		if err := s.addFile(path); err != nil {
			return nil, s, err
		}
	}
	if err := s.addEnv(environ); err != nil {
		return nil, s, err
	}
	if flags != nil {
		for _, v := range flags.vals {
			if v.set {
				if err := s.add(v.opt.Key, v.raw, Source{Level: Flag, Name: v.opt.Flag}); err != nil {
					return nil, s, err
				}
			}
		}
	}
	c, err := resolve(s)
	return c, s, err
}

func (s *Settings) addFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: cannot read config file: %w", err)
	}
	props, err := ParseProperties(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	for _, p := range props {
		if err := s.add(p.Key, p.Value, Source{Level: File, Name: path, Line: p.Line}); err != nil {
			return err
		}
	}
	return nil
}

func (s *Settings) addEnv(environ []string) error {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	for i := range Options {
		if Options[i].Pattern {
			continue // file only
		}
		name := Options[i].Env()
		if v, ok := env[name]; ok {
			if err := s.add(Options[i].Key, v, Source{Level: Env, Name: name}); err != nil {
				return err
			}
		}
	}
	return nil
}

// parseValue checks v against o's kind and returns it typed: int64 for
// Int and Millis, float64 for Ratio, bool, or string.
func parseValue(o *Option, v string) (any, error) {
	switch o.Kind {
	case Int:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return nil, errors.New("want an integer")
		}
		return n, checkRange(o, n)
	case Millis:
		n, err := parseMillis(v)
		if err != nil {
			return nil, err
		}
		return n, checkRange(o, n)
	case Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return nil, errors.New("want true or false")
		}
		return b, nil
	case Enum:
		return parseEnum(o, v)
	case Ratio:
		return parseRatio(v)
	case Listeners:
		_, err := listener.ParseEndpoints(v)
		return v, err
	}
	return v, nil
}

// parseEnum matches v against o's choices, ignoring case and blanks (so
// "compact, delete" is the choice "compact,delete").
func parseEnum(o *Option, v string) (string, error) {
	v = strings.Join(strings.Fields(v), "")
	for _, c := range o.Choices {
		if strings.EqualFold(v, c) {
			return c, nil
		}
	}
	return "", fmt.Errorf("want one of %s", strings.Join(o.Choices, ", "))
}

func parseRatio(v string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || !(f >= 0 && f <= 1) {
		return 0, errors.New("want a number from 0 to 1")
	}
	return f, nil
}

func parseMillis(v string) (int64, error) {
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return n, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errors.New("want milliseconds or a duration such as 30s")
	}
	return d.Milliseconds(), nil
}

func checkRange(o *Option, n int64) error {
	if (o.Min != 0 || o.Max != 0) && (n < o.Min || n > o.Max) {
		return fmt.Errorf("want %d..%d", o.Min, o.Max)
	}
	return nil
}

func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port")
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return errors.New("want a port 0..65535")
	}
	return nil
}
