package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestJavaACLCommand: Kafka's own kafka-acls tool (AclCommand) against
// sluiced with the StandardAuthorizer on. --list shows what `sluice acls
// create` made, and `sluice acls list` shows what kafka-acls --add made.
// Every connection is User:ANONYMOUS until SASL, so it is the super user.
func TestJavaACLCommand(t *testing.T) {
	kit := requireJava(t)
	cfg := filepath.Join(t.TempDir(), "server.properties")
	props := "offsets.topic.num.partitions=1\n" +
		"authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n" +
		"super.users=User:ANONYMOUS\n"
	if err := os.WriteFile(cfg, []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	d := start(t, t.TempDir(), "--config", cfg)
	if code, out := runSluice(t, "acls", "create", "--brokers", d.Addr, "--allow-principal", "User:ann",
		"--operation", "Read", "--topic", "orders"); code != 0 {
		t.Fatalf("sluice acls create: exit %d\n%s", code, out)
	}
	const aclCommand = "org.apache.kafka.tools.AclCommand"
	bs := []string{"--bootstrap-server", d.Addr}
	args := func(a ...string) []string { return append(append([]string{}, bs...), a...) }
	res := runToolBatch(t, kit, []toolRun{
		{name: "acls-list", main: aclCommand, args: args("--list")},
		{name: "acls-add", main: aclCommand, args: args("--add", "--deny-principal", "User:eve", "--operation", "Write",
			"--topic", "logs-", "--resource-pattern-type", "prefixed")},
		{name: "acls-remove", main: aclCommand, args: args("--remove", "--force", "--allow-principal", "User:ann",
			"--operation", "Read", "--topic", "orders")},
		{name: "acls-list-after", main: aclCommand, args: args("--list", "--topic", "orders")},
	})
	want := map[string][]string{
		"acls-list": {"ResourcePattern(resourceType=TOPIC, name=orders, patternType=LITERAL)",
			"(principal=User:ann, host=*, operation=READ, permissionType=ALLOW)"},
		"acls-add": {"ResourcePattern(resourceType=TOPIC, name=logs-, patternType=PREFIXED)",
			"(principal=User:eve, host=*, operation=WRITE, permissionType=DENY)"},
	}
	for name, r := range res {
		t.Logf("%s: exit %s\nstdout:\n%s\nstderr:\n%s", name, r.exit, r.stdout, tail(r.stderr, 2048))
		if r.exit != "0" {
			t.Errorf("%s: exit %s", name, r.exit)
		}
		for _, w := range want[name] {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%s: stdout lacks %q", name, w)
			}
		}
	}
	if r := res["acls-list-after"]; r != nil && strings.Contains(r.stdout, "User:ann") {
		t.Errorf("kafka-acls --remove left User:ann's ACL:\n%s", r.stdout)
	}
	code, out := runSluice(t, "acls", "list", "--brokers", d.Addr)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%s  PREFIXED  User:eve", "logs-")) || strings.Contains(out, "User:ann") {
		t.Errorf("sluice acls list after kafka-acls: exit %d\n%s", code, out)
	}
}
