package metadata

import (
	"errors"
	"reflect"
	"testing"
)

func TestApplySecurityRecords(t *testing.T) {
	a := AccessControlEntry{ID: UUID{1}, ResourceType: 2, ResourceName: "t", PatternType: 3,
		Principal: "User:alice", Host: "*", Operation: 3, Permission: 3}
	c := UserScramCredential{Name: "alice", Mechanism: 2, Salt: []byte("s"), StoredKey: []byte("k"),
		ServerKey: []byte("v"), Iterations: 4096}
	im1, err := Empty.Apply([]Record{a, c})
	if err != nil {
		t.Fatal(err)
	}
	if got := im1.ACLs(); !reflect.DeepEqual(got, []AccessControlEntry{a}) {
		t.Fatalf("acls %+v", got)
	}
	if got := im1.ScramCredentials(); !reflect.DeepEqual(got, []UserScramCredential{c}) {
		t.Fatalf("scram %+v", got)
	}
	if len(Empty.ACLs()) != 0 || len(Empty.ScramCredentials()) != 0 {
		t.Fatal("Apply changed the empty image")
	}
	for _, bad := range [][]Record{
		{a},                                     // duplicate id
		{RemoveAccessControlEntry{ID: UUID{7}}}, // unknown id
		{RemoveUserScramCredential{Name: "bob", Mechanism: 2}},
		{UserScramCredential{Name: "x", Mechanism: 1}}, // no iterations
		{AccessControlEntry{}},                         // zero id
	} {
		if _, err := im1.Apply(bad); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%+v: %v", bad, err)
		}
	}
	c2 := c
	c2.Iterations = 8192
	im2, err := im1.Apply([]Record{RemoveAccessControlEntry{ID: a.ID}, c2})
	if err != nil {
		t.Fatal(err)
	}
	if len(im2.ACLs()) != 0 || im2.ScramCredentials()[0].Iterations != 8192 {
		t.Fatalf("after remove/replace: %+v %+v", im2.ACLs(), im2.ScramCredentials())
	}
	if len(im1.ACLs()) != 1 || im1.ScramCredentials()[0].Iterations != 4096 {
		t.Fatal("Apply changed the previous image")
	}
	snap, err := DecodeSnapshot(im1.AppendSnapshot(nil))
	if err != nil || !reflect.DeepEqual(snap, im1) {
		t.Fatalf("snapshot after apply differs: %v", err)
	}
}

// SameSecurity is true across records that leave ACLs and credentials
// alone and false after one that changes either.
func TestSameSecurity(t *testing.T) {
	a := AccessControlEntry{ID: UUID{1}, ResourceType: 2, ResourceName: "t", PatternType: 3,
		Principal: "User:alice", Host: "*", Operation: 3, Permission: 3}
	c := UserScramCredential{Name: "alice", Mechanism: 2, Salt: []byte("s"), StoredKey: []byte("k"),
		ServerKey: []byte("v"), Iterations: 4096}
	im1, err := Empty.Apply([]Record{a})
	if err != nil {
		t.Fatal(err)
	}
	im2, err := im1.Apply([]Record{Topic{Name: "t", ID: UUID{9}}})
	if err != nil {
		t.Fatal(err)
	}
	im3, err := im2.Apply([]Record{c})
	if err != nil {
		t.Fatal(err)
	}
	im4, err := im3.Apply([]Record{RemoveAccessControlEntry{ID: a.ID}})
	if err != nil {
		t.Fatal(err)
	}
	f := func(x, y *Image, want bool) {
		t.Helper()
		if got := x.SameSecurity(y); got != want {
			t.Fatalf("SameSecurity = %v, want %v", got, want)
		}
	}
	f(Empty, Empty, true)
	f(Empty, nil, false)
	f(Empty, im1, false)
	f(im1, im2, true)
	f(im2, im3, false)
	f(im3, im4, false)
}
