package auth

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"unicode"
)

// plainLoginModule is the JAAS login module of Kafka's PLAIN users.
const plainLoginModule = "org.apache.kafka.common.security.plain.PlainLoginModule"

// ParsePlainJAAS reads the PLAIN users of a JAAS configuration entry in
// Kafka's syntax (listener.name.<listener>.plain.sasl.jaas.config):
//
//	org.apache.kafka.common.security.plain.PlainLoginModule required
//	    username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";
//
// Each user_<name>="<password>" option is a user; username and password
// (the broker's own, for inter-broker connections) are kept out.
func ParsePlainJAAS(s string) (map[string]string, error) {
	module, opts, err := ParseJAAS(s)
	if err != nil {
		return nil, err
	}
	if module != plainLoginModule {
		return nil, fmt.Errorf("auth: JAAS login module %q: want %s", module, plainLoginModule)
	}
	users := map[string]string{}
	for key, val := range opts {
		if name, ok := strings.CutPrefix(key, "user_"); ok && name != "" {
			users[name] = val
		}
	}
	return users, nil
}

// ParseJAAS reads one JAAS login module entry in Kafka's sasl.jaas.config
// syntax: the module's class name, a control flag (required, requisite,
// sufficient or optional), key=value options, and ';'. Values are quoted
// (with \" and \\ escapes) or bare words.
func ParseJAAS(s string) (module string, options map[string]string, err error) {
	p := &jaasParser{s: strings.TrimSpace(s)}
	module = p.word()
	if module == "" {
		return "", nil, fmt.Errorf("auth: JAAS configuration: no login module")
	}
	switch flag := p.word(); flag {
	case "required", "requisite", "sufficient", "optional":
	default:
		return "", nil, fmt.Errorf("auth: JAAS control flag %q: want required, requisite, sufficient or optional", flag)
	}
	options = map[string]string{}
	for {
		p.skipSpace()
		if p.peek() == ';' {
			p.i++
			break
		}
		if p.i >= len(p.s) {
			return "", nil, fmt.Errorf("auth: JAAS configuration does not end with ';'")
		}
		key, val, err := p.option()
		if err != nil {
			return "", nil, err
		}
		options[key] = val
	}
	if rest := strings.TrimSpace(p.s[p.i:]); rest != "" {
		return "", nil, fmt.Errorf("auth: JAAS configuration: unexpected %q after ';' (one login module only)", rest)
	}
	return module, options, nil
}

type jaasParser struct {
	s string
	i int
}

func (p *jaasParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *jaasParser) skipSpace() {
	for p.i < len(p.s) && unicode.IsSpace(rune(p.s[p.i])) {
		p.i++
	}
}

// word reads up to a space, '=' or ';'.
func (p *jaasParser) word() string {
	p.skipSpace()
	start := p.i
	for p.i < len(p.s) && !unicode.IsSpace(rune(p.s[p.i])) && p.s[p.i] != '=' && p.s[p.i] != ';' {
		p.i++
	}
	return p.s[start:p.i]
}

func (p *jaasParser) option() (string, string, error) {
	key := p.word()
	p.skipSpace()
	if key == "" || p.peek() != '=' {
		return "", "", fmt.Errorf("auth: JAAS configuration: want key=value at %q", p.s[p.i:])
	}
	p.i++
	p.skipSpace()
	if p.peek() != '"' {
		v := p.word()
		if v == "" {
			return "", "", fmt.Errorf("auth: JAAS configuration: no value for %s", key)
		}
		return key, v, nil
	}
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '\\' && p.i < len(p.s):
			b.WriteByte(p.s[p.i])
			p.i++
		case c == '"':
			return key, b.String(), nil
		default:
			b.WriteByte(c)
		}
	}
	return "", "", fmt.Errorf("auth: JAAS configuration: unterminated quote in %s", key)
}

// ParsePlainUsersFile reads a PLAIN users file (sasl.plain.users.file):
// one user=password per line; blank lines and lines starting with # are
// skipped. The password is the rest of the line after the first '=' and any
// blanks after it (as in a properties file).
func ParsePlainUsersFile(data []byte) (map[string]string, error) {
	users := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		user, pass, ok := strings.Cut(line, "=")
		user = strings.TrimSpace(user)
		if !ok || user == "" || pass == "" {
			return nil, fmt.Errorf("auth: users file line %d: want user=password", n)
		}
		users[user] = strings.TrimLeft(pass, " \t")
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("auth: reading users file: %w", err)
	}
	return users, nil
}
