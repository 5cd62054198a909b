package tuning

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable prints SETTING CURRENT RECOMMENDED STATUS EVIDENCE WHY, one
// row per result (WHY holds the error when the setting could not be read;
// the JSON keeps both).
func WriteTable(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tCURRENT\tRECOMMENDED\tSTATUS\tEVIDENCE\tWHY")
	for _, r := range rs {
		why := r.Why
		if r.Err != "" {
			why = r.Err
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Setting, r.Current, r.Recommended, r.Status, r.Evidence, why)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("tuning: cannot write table: %w", err)
	}
	return nil
}

// WriteJSON prints the results as a JSON array.
func WriteJSON(w io.Writer, rs []Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rs); err != nil {
		return fmt.Errorf("tuning: cannot write JSON: %w", err)
	}
	return nil
}
