package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// RequireTestdataEnv, when set to 1 (as .ci/run does), turns a missing
// shared test data directory into a test failure instead of a skip, so CI
// never passes without the tests that read it.
const RequireTestdataEnv = "BINTAP_REQUIRE_TESTDATA"

// TestdataEnv names the shared test data directory when it does not lie at
// ../shared/testdata next to the repository.
const TestdataEnv = "BINTAP_TESTDATA"

// SharedTestdata returns the directory NAME of the shared test data: under
// $BINTAP_TESTDATA, or else ../shared/testdata next to the repository (it
// stays out of the repository). When it is missing the test is skipped with
// the path it looked at, or fails under RequireTestdataEnv.
func SharedTestdata(t testing.TB, name string) string {
	t.Helper()
	root := os.Getenv(TestdataEnv)
	if root == "" {
		root = filepath.Join(moduleRoot(), "..", "shared", "testdata")
	}
	dir, err := filepath.Abs(filepath.Join(root, name))
	if err == nil {
		_, err = os.Stat(dir)
	}
	if err != nil {
		if os.Getenv(RequireTestdataEnv) == "1" {
			t.Fatalf("shared test data not found at %s (%v); %s=1 requires it", dir, err, RequireTestdataEnv)
		}
		t.Skipf("shared test data not found at %s (%v): these tests read it where it lies", dir, err)
	}
	return dir
}

// moduleRoot is the directory holding go.mod, searched upward from the
// test's working directory (its package directory).
func moduleRoot() string {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}
