package casesvctest_test

import (
	"context"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/casesvc/casesvctest"
	"claimline/casesvc/postgres"
	"claimline/internal/testservices"
)

// TestPostgres runs the suite against the PostgreSQL store, one database per subtest on one cluster.
func TestPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	server := testservices.StartPostgres(t)
	casesvctest.TestService(t, func(t *testing.T, now func() time.Time) casesvc.Service {
		svc, err := postgres.New(context.Background(), testservices.CreateDatabase(t, server),
			postgres.Config{Location: casesvctest.Location, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Close() })
		return svc
	})
}
