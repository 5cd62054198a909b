// Package buildinfo reports what binary this is: the main module's version
// and the git revision it was built from, as `go build` stamps them into
// the binary (runtime/debug.ReadBuildInfo). sluice version, sluiced
// --version and the sluice_build_info metric all read it from here.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by the Makefile with -ldflags -X for builds where the go command
// stamps no VCS information (-buildvcs=false, or a tree it does not
// recognise): used only when ReadBuildInfo has none.
var (
	version  string // git describe --tags --dirty, when there is a tag
	revision string // git rev-parse HEAD
	modified string // "true" when git status showed changes
)

// Info is the build's identity.
type Info struct {
	Version   string `json:"version"`       // module version, "(devel)" for a plain work-tree build
	Revision  string `json:"revision"`      // git commit, "" when not built from git
	Time      string `json:"revision_time"` // the commit's time (RFC 3339), "" when unknown
	Modified  bool   `json:"modified"`      // the work tree had uncommitted changes
	GoVersion string `json:"go_version"`
}

// Read returns this binary's build info.
func Read() Info {
	in := Info{Version: "(devel)", GoVersion: runtime.Version()}
	in.Revision, in.Modified = revision, modified == "true"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		if version != "" {
			in.Version = version
		}
		return in
	}
	if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		in.Version = bi.Main.Version
	} else if version != "" {
		in.Version = version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.time":
			in.Time = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in
}

// ShortRevision is the revision's first 12 characters, with "+dirty"
// when the tree was modified ("unknown" without one).
func (in Info) ShortRevision() string {
	if in.Revision == "" {
		return "unknown"
	}
	r := in.Revision
	if len(r) > 12 {
		r = r[:12]
	}
	if in.Modified {
		r += "+dirty"
	}
	return r
}

// String is one line: "v1.2.3 (revision 0123456789ab, go1.26.0)".
func (in Info) String() string {
	return fmt.Sprintf("%s (revision %s, %s)", in.Version, in.ShortRevision(), in.GoVersion)
}
