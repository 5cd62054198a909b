package tuning

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// DefaultUnit is where `make install` puts the sluiced unit; `sluice tune
// check` reads LimitNOFILE from it when it exists, and otherwise reports
// its own process's limit (what a sluiced started from the same shell
// would get).
const DefaultUnit = "/etc/systemd/system/sluiced.service"

// ErrNoLimitInUnit: the unit sets no LimitNOFILE, so systemd's
// DefaultLimitNOFILE applies (1024:524288 on most systems).
var ErrNoLimitInUnit = errors.New("tuning: the unit sets no LimitNOFILE")

// UnitNoFile returns the open-file limit that the systemd unit at path
// gives its service: the unit file's [Service] section, then its drop-ins
// (path.d/*.conf in name order), the last assignment winning and an empty
// one resetting it, as systemd reads them. The result is the hard limit
// ("unlimited" for infinity): sluiced, a Go program, raises its soft limit
// to the hard one at start, so "LimitNOFILE=1024:524288" gives it 524288.
func UnitNoFile(path string) (string, error) {
	files := []string{path}
	dropins, _ := filepath.Glob(filepath.Join(path+".d", "*.conf"))
	sort.Strings(dropins)
	files = append(files, dropins...)
	val := ""
	for i, f := range files {
		v, found, err := unitValue(f, "Service", "LimitNOFILE")
		if err != nil && (i == 0 || !errors.Is(err, os.ErrNotExist)) {
			return "", err
		}
		if found {
			val = v
		}
	}
	if val == "" {
		return "", fmt.Errorf("%w (%s): systemd's DefaultLimitNOFILE applies", ErrNoLimitInUnit, path)
	}
	return parseNoFile(val)
}

// unitValue returns the last value of key in section of a unit file.
func unitValue(path, section, key string) (val string, found bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", false, fmt.Errorf("tuning: cannot read unit: %w", err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			in = line == "["+section+"]"
		case in:
			k, v, ok := strings.Cut(line, "=")
			if ok && strings.TrimSpace(k) == key {
				val, found = strings.TrimSpace(v), true
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", false, fmt.Errorf("tuning: cannot read unit %s: %w", path, err)
	}
	return val, found, nil
}

// parseNoFile reads "N", "SOFT:HARD" or "infinity" and returns the hard
// limit.
func parseNoFile(v string) (string, error) {
	hard := v
	if _, h, ok := strings.Cut(v, ":"); ok {
		hard = h
	}
	if hard == "infinity" {
		return "unlimited", nil
	}
	if _, err := strconv.ParseUint(hard, 10, 64); err != nil {
		return "", fmt.Errorf("tuning: LimitNOFILE=%s: not a number, SOFT:HARD or infinity", v)
	}
	return hard, nil
}
