//go:build race

package sendfile

const raceEnabled = true
