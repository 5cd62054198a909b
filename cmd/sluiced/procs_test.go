package main

import (
	"os"
	"testing"
)

// sluice.gomaxprocs: unset, sluiced runs the Go runtime's default number
// of processors, and one more under fsync=always unless GOMAXPROCS is in
// the environment; set, exactly that many. The check is the runtime's own
// count, as the broker logs it once set.
func TestGoMaxProcs(t *testing.T) {
	_, envSet := os.LookupEnv("GOMAXPROCS")
	f := func(env []string, args []string, want func(def int) int) {
		t.Helper()
		p := start(t, env, append([]string{"--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--log-level", "debug"}, args...)...)
		rec := p.waitLog("go processors")
		got, _ := rec["gomaxprocs"].(float64)
		def, _ := rec["default"].(float64)
		if def < 1 {
			t.Fatalf("%q %q: logged %v", env, args, rec)
		}
		if w := want(int(def)); int(got) != w {
			t.Errorf("%q %q: GOMAXPROCS %v, want %d (the runtime's default %v)", env, args, got, w, def)
		}
		p.stop()
	}
	same := func(def int) int { return def }
	f(nil, nil, same)
	spare := func(def int) int { return def + 1 }
	if envSet {
		spare = same // the test's own GOMAXPROCS is passed on: left as it is
		t.Log("GOMAXPROCS is set for the test: the spare processor is not checked")
	}
	f(nil, []string{"--fsync", "always"}, spare)
	f([]string{"GOMAXPROCS=1"}, []string{"--fsync", "always"}, func(int) int { return 1 })
	f(nil, []string{"--fsync", "always", "--gomaxprocs", "3"}, func(int) int { return 3 })
	f([]string{"GOMAXPROCS=1", "SLUICE_GOMAXPROCS=5"}, nil, func(int) int { return 5 })
}
