package sqlitewal_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	_ "modernc.org/sqlite"

	"claimline/internal/sqlitewal"
)

// A writer that never checkpoints itself (its backstop is far away) still sees its WAL copied into
// the database file while it commits: the file grows, and only the checkpointer writes it.
func TestCheckpointerCopiesTheWALBesideTheWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	w, err := sql.Open("sqlite", "file:"+path+fmt.Sprintf("?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=wal_autocheckpoint(%d)", sqlitewal.BackstopPages))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.SetMaxOpenConns(1)
	if _, err := w.Exec(`CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	cdb, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	c := sqlitewal.Start(cdb, 10*time.Millisecond)
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	body := strings.Repeat("理賠文件已收到。", 40)
	for i := range 300 {
		if _, err := w.Exec(`INSERT INTO notes (body) VALUES (?)`, body); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			c.Committed()
		}
	}
	c.Committed()
	deadline := time.Now().Add(5 * time.Second)
	for size() <= before+200<<10 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if after := size(); after <= before+200<<10 {
		t.Fatalf("database file %d bytes before 300 inserts of 960 bytes and %d after: the WAL was not copied", before, after)
	}
	if passes, failed := c.Passes(); passes == 0 || failed != 0 {
		t.Fatalf("passes %d, failed %d", passes, failed)
	}
	// What /metrics shows: the same counts, and a WAL that holds the inserts' frames.
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.Collectors("notes")...)
	odb, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	other := sqlitewal.Start(odb, time.Hour)
	defer other.Close()
	reg.MustRegister(other.Collectors("other")...) // two stores' figures side by side
	got := map[string]float64{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if m.GetLabel()[0].GetValue() == "notes" {
				got[f.GetName()] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	passes, _ := c.Passes()
	if got["claimline_sqlite_checkpoints_total"] != float64(passes) || got["claimline_sqlite_checkpoint_failures_total"] != 0 {
		t.Errorf("metrics %v, passes %d", got, passes)
	}
	if frames, behind := got["claimline_sqlite_wal_frames"], got["claimline_sqlite_wal_frames_behind"]; frames < 50 || behind < 0 || behind > frames {
		t.Errorf("WAL %v frames, %v behind, after 300 inserts of 960 bytes", frames, behind)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Read after Close: a nudge still pending before it may have run its pass, none may after.
	passes, _ = c.Passes()
	c.Close()     // a second Close returns at once
	c.Committed() // and a late commit neither blocks nor runs a pass
	time.Sleep(30 * time.Millisecond)
	if p, _ := c.Passes(); p != passes {
		t.Fatalf("a pass ran after Close: %d then %d", passes, p)
	}
	var none *sqlitewal.Checkpointer
	none.Committed() // an in-memory database's stores have none
	if cols := none.Collectors("memory"); cols != nil {
		t.Errorf("a nil checkpointer has collectors: %v", cols)
	}
}
