package tlsconf

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ErrNoMatchingRule is returned by Mapper.Map when no rule matches a DN
// (Kafka's NoMatchingRule: the client's authentication fails).
var ErrNoMatchingRule = errors.New("tlsconf: no ssl.principal.mapping.rules rule matches")

// Mapper applies ssl.principal.mapping.rules to a certificate's
// distinguished name, as Kafka's SslPrincipalMapper:
//
//	RULE:pattern/replacement/[L|U],RULE:…,DEFAULT
//
// Rules are tried in order; the first whose pattern matches the whole DN
// gives the name: the DN with the pattern replaced by replacement ($1 is
// a group), lower- (L) or upper-cased (U). DEFAULT is the DN itself.
// Patterns are Go regular expressions (RE2), which accept the
// expressions such rules use (no back-references or look-arounds).
type Mapper struct{ rules []rule }

type rule struct {
	isDefault  bool
	re         *regexp.Regexp // anchored: the whole DN must match
	replace    *regexp.Regexp // the pattern as written, for the replacement
	repl       string         // in Go's Expand syntax
	lower, upr bool
}

// rulePattern is Kafka's RULE_PATTERN (SslPrincipalMapper): DEFAULT
// (group 1), RULE:pattern/replacement/flags (groups 2-4; / and \ are
// escaped with \ inside), or anything else (group 5, an invalid rule
// unless empty). ruleSplitter finds the comma-separated rules; each must
// then match rulePattern whole. Go's lazy quantifiers behave as Java's
// here.
const rulePattern = `(DEFAULT)|RULE:((?:\\.|[^\\/])*)/((?:\\.|[^\\/])*)/([LU]?).*?|(.*?)`

var (
	ruleSplitter = regexp.MustCompile(`\s*(` + rulePattern + `)\s*(?:,\s*|$)`)
	ruleParser   = regexp.MustCompile(`^(?:` + rulePattern + `)`)
)

// ParseRules parses an ssl.principal.mapping.rules value; "" is DEFAULT.
func ParseRules(v string) (*Mapper, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		v = "DEFAULT"
	}
	m := &Mapper{}
	for _, g := range ruleSplitter.FindAllStringSubmatch(v, -1) {
		r, ok, err := parseRule(g[1])
		if err != nil {
			return nil, err
		}
		if ok {
			m.rules = append(m.rules, r)
		}
	}
	if len(m.rules) == 0 {
		return nil, fmt.Errorf("tlsconf: no rule in ssl.principal.mapping.rules %q", v)
	}
	return m, nil
}

// parseRule parses one rule; ok is false for an empty one (ignored).
func parseRule(s string) (r rule, ok bool, err error) {
	g := ruleParser.FindStringSubmatchIndex(s)
	if g == nil || g[1] != len(s) {
		return rule{}, false, fmt.Errorf("tlsconf: invalid rule %q in ssl.principal.mapping.rules", s)
	}
	switch {
	case g[2] >= 0:
		return rule{isDefault: true}, true, nil
	case g[4] >= 0:
		r, err := newRule(s[g[4]:g[5]], s[g[6]:g[7]], s[g[8]:g[9]])
		return r, err == nil, err
	}
	return rule{}, false, nil
}

func newRule(pattern, replacement, flags string) (rule, error) {
	re, err := regexp.Compile(`^(?:` + pattern + `)$`)
	if err != nil {
		return rule{}, fmt.Errorf("tlsconf: ssl.principal.mapping.rules pattern %q: %w", pattern, err)
	}
	rep := regexp.MustCompile(pattern)
	return rule{re: re, replace: rep, repl: javaReplacement(replacement, rep.NumSubexp()),
		lower: flags == "L", upr: flags == "U"}, nil
}

// javaReplacement turns a java.util.regex replacement into Go's Expand
// syntax: \x is a literal x, $n a group (digits taken while the number
// stays a group, as Java does), and, as Kafka escapes them, $n naming no
// group is literal text.
func javaReplacement(s string, groups int) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteString(strings.ReplaceAll(string(s[i]), "$", "$$"))
		case c == '$' && i+1 < len(s) && isDigit(s[i+1]) && int(s[i+1]-'0') <= groups:
			n, j := int(s[i+1]-'0'), i+2
			for j < len(s) && isDigit(s[j]) && n*10+int(s[j]-'0') <= groups {
				n, j = n*10+int(s[j]-'0'), j+1
			}
			fmt.Fprintf(&b, "${%d}", n)
			i = j - 1
		case c == '$':
			b.WriteString("$$")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Map maps dn (as DistinguishedName formats it) to a principal name.
func (m *Mapper) Map(dn string) (string, error) {
	for _, r := range m.rules {
		if r.isDefault {
			return dn, nil
		}
		if !r.re.MatchString(dn) {
			continue
		}
		out := r.replace.ReplaceAllString(dn, r.repl)
		switch {
		case r.lower:
			out = strings.ToLower(out)
		case r.upr:
			out = strings.ToUpper(out)
		}
		return out, nil
	}
	return "", fmt.Errorf("%w %q", ErrNoMatchingRule, dn)
}

// Principal is the principal Kafka's DefaultKafkaPrincipalBuilder gives
// a TLS client: User:<mapped DN> of its verified certificate, or
// User:ANONYMOUS without one.
func (m *Mapper) Principal(chains [][]*x509.Certificate) (string, error) {
	if len(chains) == 0 || len(chains[0]) == 0 {
		return "User:ANONYMOUS", nil
	}
	dn, err := DistinguishedName(chains[0][0].RawSubject)
	if err != nil {
		return "", err
	}
	name, err := m.Map(dn)
	if err != nil {
		return "", err
	}
	return "User:" + name, nil
}

// javaKeywords are the attribute keywords of RFC 2253 that Java's
// X500Principal.getName() prints (others are printed as dotted OIDs).
var javaKeywords = map[string]string{
	"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
	"2.5.4.11": "OU", "2.5.4.9": "STREET", "0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1": "UID",
}

// rawATV is an attribute with its value's DER kept.
type rawATV struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// rawRDNSET is one RDN (encoding/asn1 takes a type named …SET as a SET).
type rawRDNSET []rawATV

// DistinguishedName formats a certificate's subject (its RawSubject) as
// Java's X500Principal.getName() does (RFC 2253: the last RDN first, so
// "CN=alice,OU=dev,O=Acme"), the string Kafka's mapping rules are written
// against. An attribute without a keyword, or whose value is not a
// string, is its dotted OID and the value's DER in hex (#…).
func DistinguishedName(rawSubject []byte) (string, error) {
	var rdns []rawRDNSET
	if rest, err := asn1.Unmarshal(rawSubject, &rdns); err != nil || len(rest) > 0 {
		return "", fmt.Errorf("tlsconf: cannot parse the certificate's subject: %v", err)
	}
	var b strings.Builder
	for i := len(rdns) - 1; i >= 0; i-- {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		for j, atv := range rdns[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			oid := atv.Type.String()
			var s string
			kw, ok := javaKeywords[oid]
			if ok {
				_, err := asn1.Unmarshal(atv.Value.FullBytes, &s)
				ok = err == nil
			}
			if !ok {
				b.WriteString(oid + "=#" + hex.EncodeToString(atv.Value.FullBytes))
				continue
			}
			b.WriteString(kw + "=" + escapeDN(s))
		}
	}
	return b.String(), nil
}

// escapeDN escapes an attribute value as RFC 2253 §2.4 says.
func escapeDN(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case strings.ContainsRune(`,+"\<>;`, r),
			i == 0 && (r == ' ' || r == '#'),
			i == len(s)-1 && r == ' ':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
