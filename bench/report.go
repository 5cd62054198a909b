package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// WriteReport writes dir/results.json (the Result, as --output json
// prints it) and dir/chart.svg (WriteSVG).
func WriteReport(dir string, res *Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: cannot create report directory: %w", err)
	}
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: cannot encode results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: cannot write results: %w", err)
	}
	var svg strings.Builder
	WriteSVG(&svg, res)
	if err := os.WriteFile(filepath.Join(dir, "chart.svg"), []byte(svg.String()), 0o644); err != nil {
		return fmt.Errorf("bench: cannot write chart: %w", err)
	}
	return nil
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
