package casesvctest_test

import (
	"path/filepath"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/casesvc/casesvctest"
	"claimline/casesvc/sqlite"
)

func openSQLite(t *testing.T, now func() time.Time) *sqlite.Service {
	t.Helper()
	svc, err := sqlite.New(filepath.Join(t.TempDir(), "cases.db"), sqlite.Config{Location: casesvctest.Location, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return svc
}

func TestSQLite(t *testing.T) {
	casesvctest.TestService(t, func(t *testing.T, now func() time.Time) casesvc.Service {
		return openSQLite(t, now)
	})
}
