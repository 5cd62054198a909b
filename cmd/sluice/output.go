package main

// The output layer: every command prints its result through printOut, as
// a table for people (the default), or as JSON or YAML for programs. JSON
// and YAML carry the same fields, named as the table's columns in
// snake_case (CURRENT-OFFSET is current_offset). Nothing but the result
// goes to stdout; messages and errors go to stderr.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Output formats of --output.
const (
	outTable = "table"
	outJSON  = "json"
	outYAML  = "yaml"
)

// outputFlag is --output: table (alias text), json or yaml.
type outputFlag string

func (o *outputFlag) String() string { return string(*o) }

func (o *outputFlag) Set(s string) error {
	switch s {
	case outTable, "text":
		*o = outTable
	case outJSON, outYAML:
		*o = outputFlag(s)
	default:
		return fmt.Errorf("want table, json or yaml")
	}
	return nil
}

// structured reports whether the output is for programs (JSON or YAML).
func (o outputFlag) structured() bool { return o == outJSON || o == outYAML }

// printOut writes v as JSON or YAML, or calls tableFn for a table.
func printOut(w io.Writer, o outputFlag, v any, tableFn func(io.Writer) error) error {
	switch o {
	case outJSON:
		return writeJSON(w, v)
	case outYAML:
		return writeYAML(w, v)
	}
	return tableFn(w)
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // "->" stays "->", not "-\u003e"
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("cannot encode JSON: %w", err)
	}
	return nil
}

// writeYAML writes v as YAML (block style), keeping the field order of
// its JSON form. v is first encoded as JSON, so JSON tags name the keys.
func writeYAML(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("cannot encode YAML: %w", err)
	}
	dec := json.NewDecoder(&b)
	dec.UseNumber()
	node, err := readNode(dec)
	if err != nil {
		return fmt.Errorf("cannot encode YAML: %w", err)
	}
	var buf bytes.Buffer
	emitYAML(&buf, node, 0, false)
	_, err = w.Write(buf.Bytes())
	return err
}

// yamlMap is a JSON object with its keys in order.
type yamlMap struct {
	keys []string
	vals []any
}

// readNode reads one JSON value, objects as *yamlMap and arrays as []any.
func readNode(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			arr := []any{}
			for dec.More() {
				v, err := readNode(dec)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			_, err := dec.Token()
			return arr, err
		}
		m := &yamlMap{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := readNode(dec)
			if err != nil {
				return nil, err
			}
			m.keys, m.vals = append(m.keys, k.(string)), append(m.vals, v)
		}
		_, err := dec.Token()
		return m, err
	}
	return tok, nil
}

// emitYAML writes node at indent; inline means the first line's indent is
// already written (after "- ").
func emitYAML(b *bytes.Buffer, node any, indent int, inline bool) {
	pad := strings.Repeat("  ", indent)
	first := func() string {
		if inline {
			inline = false
			return ""
		}
		return pad
	}
	switch n := node.(type) {
	case *yamlMap:
		if len(n.keys) == 0 {
			b.WriteString(first() + "{}\n")
			return
		}
		for i, k := range n.keys {
			b.WriteString(first() + yamlScalar(k) + ":")
			emitChild(b, n.vals[i], indent+1)
		}
	case []any:
		if len(n) == 0 {
			b.WriteString(first() + "[]\n")
			return
		}
		for _, v := range n {
			b.WriteString(first() + "- ")
			if isCollection(v) {
				emitYAML(b, v, indent+1, true)
			} else {
				b.WriteString(yamlValue(v) + "\n")
			}
		}
	default:
		b.WriteString(first() + yamlValue(n) + "\n")
	}
}

// emitChild writes a map value after "key:".
func emitChild(b *bytes.Buffer, v any, indent int) {
	switch n := v.(type) {
	case *yamlMap:
		if len(n.keys) == 0 {
			b.WriteString(" {}\n")
			return
		}
		b.WriteString("\n")
		emitYAML(b, v, indent, false)
	case []any:
		if len(n) == 0 {
			b.WriteString(" []\n")
			return
		}
		b.WriteString("\n")
		emitYAML(b, v, indent, false)
	default:
		b.WriteString(" " + yamlValue(v) + "\n")
	}
}

func isCollection(v any) bool {
	switch n := v.(type) {
	case *yamlMap:
		return len(n.keys) > 0
	case []any:
		return len(n) > 0
	}
	return false
}

func yamlValue(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(t)
	case json.Number:
		return t.String()
	case string:
		return yamlScalar(t)
	case *yamlMap:
		return "{}"
	case []any:
		return "[]"
	}
	return fmt.Sprint(v)
}

// yamlScalar quotes s when YAML would read it as something else.
func yamlScalar(s string) string {
	if s == "" || needsQuote(s) {
		b, _ := json.Marshal(s) // a JSON string is a valid YAML double-quoted scalar
		return string(b)
	}
	return s
}

func needsQuote(s string) bool {
	switch strings.ToLower(s) {
	case "null", "~", "true", "false", "yes", "no", "on", "off", "y", "n":
		return true
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return true
	}
	if strings.ContainsAny(s[:1], "-?:,[]{}#&*!|>'\"%@` ") || strings.HasSuffix(s, " ") {
		return true
	}
	if strings.Contains(s, ": ") || strings.Contains(s, " #") {
		return true
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfeff {
			return true
		}
	}
	return false
}
