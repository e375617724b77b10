package compliance_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestRules runs the scenario scripts of testdata/rules: per rule, the
// passing case, the failing case and the edge at the boundary, with the
// clock moved by `now` lines (no sleeping), and at the end of each file a
// rebuild from scratch compared with the store fed entry by entry.
func TestRules(t *testing.T) {
	files, err := filepath.Glob("testdata/rules/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			runScript(t, f)
		})
	}
}
