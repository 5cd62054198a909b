package controller

import (
	"testing"

	"github.com/sluice/sluice/metadata"
)

func TestSecurityDecisions(t *testing.T) {
	ctl, _ := openSingle(t, 0)
	a := metadata.AccessControlEntry{ResourceType: 2, ResourceName: "t", PatternType: 3,
		Principal: "User:alice", Host: "*", Operation: 3, Permission: 3}
	b := a
	b.Principal = "User:bob"
	made, err := ctl.CreateAcls([]metadata.AccessControlEntry{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if len(made) != 2 || made[0].ID.IsZero() || made[0].ID == made[1].ID || len(ctl.Image().ACLs()) != 2 {
		t.Fatalf("created %+v, image %+v", made, ctl.Image().ACLs())
	}
	// The same binding again (a retry, a repeated takeover) is not stored twice.
	again, err := ctl.CreateAcls([]metadata.AccessControlEntry{b, b})
	if err != nil || again[0] != made[1] || again[1] != made[1] || len(ctl.Image().ACLs()) != 2 {
		t.Fatalf("created again %+v (%v), image %+v", again, err, ctl.Image().ACLs())
	}
	isBob := func(e metadata.AccessControlEntry) bool { return e.Principal == "User:bob" }
	gone, err := ctl.DeleteAcls([]func(metadata.AccessControlEntry) bool{isBob, isBob})
	if err != nil {
		t.Fatal(err)
	}
	if len(gone[0]) != 1 || len(gone[1]) != 1 || gone[0][0].ID != made[1].ID {
		t.Fatalf("deleted %+v", gone)
	}
	if acls := ctl.Image().ACLs(); len(acls) != 1 || acls[0].Principal != "User:alice" {
		t.Fatalf("left %+v", acls)
	}
	cred := metadata.UserScramCredential{Name: "alice", Mechanism: 2, Salt: []byte("s"),
		StoredKey: []byte("k"), ServerKey: []byte("v"), Iterations: 4096}
	missing, err := ctl.AlterScramCredentials([]ScramAlteration{{Upserts: []metadata.UserScramCredential{cred}},
		{Deletions: []metadata.RemoveUserScramCredential{{Name: "nobody", Mechanism: 1}}}})
	if err != nil || len(missing) != 2 || missing[0] || !missing[1] {
		t.Fatalf("alter: missing %v, %v", missing, err)
	}
	if creds := ctl.Image().ScramCredentials(); len(creds) != 1 || creds[0].Name != "alice" {
		t.Fatalf("credentials %+v", creds)
	}
	// A user whose deletion names a missing credential changes nothing.
	cred256 := cred
	cred256.Mechanism = 1
	missing, err = ctl.AlterScramCredentials([]ScramAlteration{{Upserts: []metadata.UserScramCredential{cred256},
		Deletions: []metadata.RemoveUserScramCredential{{Name: "alice", Mechanism: 1}}}})
	if err != nil || !missing[0] || len(ctl.Image().ScramCredentials()) != 1 {
		t.Fatalf("alter with a missing deletion: missing %v, %v, credentials %+v", missing, err, ctl.Image().ScramCredentials())
	}
	if _, err := ctl.AlterScramCredentials([]ScramAlteration{{Deletions: []metadata.RemoveUserScramCredential{{Name: "alice", Mechanism: 2}}}}); err != nil {
		t.Fatal(err)
	}
	if n := len(ctl.Image().ScramCredentials()); n != 0 {
		t.Fatalf("%d credentials left", n)
	}
}
