package main

import (
	"log/slog"
	"runtime"
)

// applyProcs sets GOMAXPROCS from sluice.gomaxprocs: procs when it is
// positive, else one more than the runtime's default when spare (the
// default under sluice.fsync=always) and the environment does not set
// GOMAXPROCS itself. Under fsync=always a thread waiting in fdatasync
// keeps its processor (P) until the runtime's monitor hands it on; with a
// spare P the broker's other goroutines run meanwhile (see the option's
// doc). It changes the whole process, so only the sluiced binary does it
// (selfExec), never a broker a test runs in its own process.
func applyProcs(procs int, spare bool, environ []string, log *slog.Logger) {
	if !selfExec {
		return
	}
	def := runtime.GOMAXPROCS(0)
	switch {
	case procs > 0:
		runtime.GOMAXPROCS(procs)
	case spare && !inEnv(environ, "GOMAXPROCS"):
		runtime.GOMAXPROCS(def + 1)
	}
	log.Debug("go processors", "gomaxprocs", runtime.GOMAXPROCS(0), "default", def, "cpus", runtime.NumCPU())
}
