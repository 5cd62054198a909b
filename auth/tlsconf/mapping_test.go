package tlsconf

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"testing"
)

// The cases of Kafka's SslPrincipalMapperTest.
func TestMappingRules(t *testing.T) {
	rules := "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, " +
		"RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L, " +
		"RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U, " +
		"RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U, DEFAULT"
	m, err := ParseRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	f := func(dn, want string) {
		t.Helper()
		if got, err := m.Map(dn); err != nil || got != want {
			t.Fatalf("Map(%q) = %q, %v; want %q", dn, got, err, want)
		}
	}
	f("CN=Duke,OU=ServiceUsers,O=Org,C=US", "duke")
	f("CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US", "duke@sme")
	f("cn=duke,ou=sme,dc=mycp,dc=com", "DUKE@SME")
	f("cN=duke,OU=JavaSoft,O=Sun Microsystems", "DUKE")
	f("OU=JavaSoft,O=Sun Microsystems,C=US", "OU=JavaSoft,O=Sun Microsystems,C=US")

	// Replacements: literal text, a $n naming no group, escapes.
	g := func(rules, dn, want string) {
		t.Helper()
		m, err := ParseRules(rules)
		if err != nil {
			t.Fatalf("ParseRules(%q): %v", rules, err)
		}
		if got, err := m.Map(dn); err != nil || got != want {
			t.Fatalf("%q: Map(%q) = %q, %v; want %q", rules, dn, got, err, want)
		}
	}
	g("RULE:^CN=(.*?),OU=(.*?)$/$1@$2x/", "CN=a,OU=b", "a@bx")
	g("RULE:^CN=(.*?),OU=(.*?)$/$1@$4/", "CN=a,OU=b", "a@$4")
	g(`RULE:^CN=(.*?)$/\$1-$1/`, "CN=a", "$1-a")
	g(`RULE:^CN=([^\/]*)\/x$/$1/`, "CN=a/x", "a")
	g("", "CN=a,O=b", "CN=a,O=b")
	g(" DEFAULT ", "CN=a", "CN=a")
	g("RULE:^CN=(.*?),O=Sluice$/$1/,DEFAULT", "CN=bob,O=Other", "CN=bob,O=Other")

	if _, err := mustParse(t, "RULE:^CN=(.*)$/$1/").Map("O=x"); !errors.Is(err, ErrNoMatchingRule) {
		t.Fatalf("no matching rule: %v", err)
	}
}

func mustParse(t *testing.T, rules string) *Mapper {
	t.Helper()
	m, err := ParseRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The invalid rules of Kafka's SslPrincipalMapperTest.
func TestInvalidMappingRules(t *testing.T) {
	for _, r := range []string{
		"default", "DEFAUL", "DEFAULT/L", "DEFAULT/U",
		"RULE:CN=(.*?),OU=ServiceUsers.*/$1",
		"rule:^CN=(.*?),OU=ServiceUsers.*$/$1/",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/L",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/U",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/LU",
	} {
		if _, err := ParseRules(r); err == nil {
			t.Errorf("ParseRules(%q) accepted an invalid rule", r)
		}
	}
}

// DistinguishedName prints what Java's X500Principal.getName() prints.
func TestDistinguishedName(t *testing.T) {
	f := func(name pkix.Name, want string) {
		t.Helper()
		raw, err := asn1.Marshal(name.ToRDNSequence())
		if err != nil {
			t.Fatal(err)
		}
		if got, err := DistinguishedName(raw); err != nil || got != want {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
	}
	f(pkix.Name{CommonName: "alice", Organization: []string{"Sluice"}, Country: []string{"US"}}, "CN=alice,O=Sluice,C=US")
	f(pkix.Name{CommonName: "a,b+c", OrganizationalUnit: []string{" lead"}}, `CN=a\,b\+c,OU=\ lead`)
	f(pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
		{Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}, Value: "com"},
		{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "bob"},
	}}, "CN=bob,DC=com")
	// emailAddress has no keyword: its IA5String DER in hex, as Java.
	f(pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
		{Type: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, Value: asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte("a@b")}},
		{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "bob"},
	}}, "CN=bob,1.2.840.113549.1.9.1=#1603614062")
	if _, err := DistinguishedName([]byte{0x30, 0x03}); err == nil {
		t.Fatal("a truncated subject parsed")
	}
}
