package buildinfo

import (
	"runtime"
	"testing"
)

func TestRead(t *testing.T) {
	in := Read()
	if in.GoVersion != runtime.Version() || in.Version == "" {
		t.Fatalf("%+v", in)
	}
	// The Makefile's -ldflags stamps, used when the go command stamped none.
	defer func(v, r, m string) { version, revision, modified = v, r, m }(version, revision, modified)
	version, revision, modified = "v1.2.3", "0123456789abcdef0123", "true"
	in = Read()
	if in.Revision == "0123456789abcdef0123" && in.ShortRevision() != "0123456789ab+dirty" {
		t.Fatalf("short revision %q", in.ShortRevision())
	}
	f := func(in Info, want string) {
		t.Helper()
		if got := in.String(); got != want {
			t.Errorf("%+v: %q, want %q", in, got, want)
		}
	}
	f(Info{Version: "v1.2.3", Revision: "0123456789abcdef", GoVersion: "go1.26.0"}, "v1.2.3 (revision 0123456789ab, go1.26.0)")
	f(Info{Version: "(devel)", GoVersion: "go1.26.0"}, "(devel) (revision unknown, go1.26.0)")
}
