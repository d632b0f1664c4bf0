package testenv

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// DumpData writes ConfigMap data as "== key" lines each followed by its value, in key order:
// readable in review, and exact (values are written byte for byte).
func DumpData(data map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(data)) {
		b.WriteString("== " + k + "\n" + data[k] + "\n")
	}
	return b.String()
}

// ExpectGolden compares got with testdata/<name>.golden, first rewriting the file when update is
// set (each package passes its own -update flag, named in the message).
func ExpectGolden(t *testing.T, name, got string, update bool, flagName string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -%s creates it)", err, flagName)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test -%s rewrites it):\n--- got\n%s\n--- want\n%s", path, flagName, got, want)
	}
}
