package handoff

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
)

// movedTables are every table of migrations, in the order they were created.
var movedTables = []string{"handoffs", "handoff_tasks", "handoff_ratings", "handoff_assignments",
	"handoff_conversations", "quality_reviews"}

// moveFrom moves the handoff tables of an older file (old) into d's: the rows are copied, then the
// tables dropped from old. SQLite makes a transaction spanning two files atomic in each file, not
// across them, so the move is two transactions, each one file's, in an order that is safe to stop
// anywhere: (1) copy every row into d, keeping its primary key and skipping one d has already;
// (2) drop the tables from old. Stopped before (1) commits, nothing moved and old is whole; between
// (1) and (2), the next open copies again and skips every row it has (no duplicate, and nothing d
// changed since is overwritten), then drops; after (2), there is nothing left to move.
func (d *db) moveFrom(ctx context.Context, old string) (moved int64, err error) {
	if _, err := os.Stat(old); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	// Bring the old tables to the current migrations first, so both sides have the same columns.
	src, err := openDBIfHandoff(old)
	if err != nil || src == nil {
		return 0, err
	}
	src.close()

	conn, err := d.w.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("handoff: move: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `ATTACH DATABASE ? AS old`, old); err != nil {
		return 0, fmt.Errorf("handoff: move: attach %s: %w", old, err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `DETACH DATABASE old`)
	if moved, err = copyTables(ctx, conn); err != nil {
		return 0, fmt.Errorf("handoff: move rows from %s: %w", old, err)
	}
	if d.afterCopy != nil {
		if err := d.afterCopy(); err != nil {
			return 0, err
		}
	}
	if err := dropTables(ctx, conn); err != nil {
		return 0, fmt.Errorf("handoff: drop the moved tables from %s: %w", old, err)
	}
	return moved, nil
}

// copyTables is step (1): one transaction of d's file.
func copyTables(ctx context.Context, conn *sql.Conn) (int64, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var moved int64
	for _, t := range movedTables {
		res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO main.`+t+` SELECT * FROM old.`+t)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", t, err)
		}
		n, _ := res.RowsAffected()
		moved += n
	}
	return moved, tx.Commit()
}

// dropTables is step (2): one transaction of the old file.
func dropTables(ctx context.Context, conn *sql.Conn) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, t := range append(movedTables, "handoff_migrations") {
		if _, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS old.`+t); err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
	}
	return tx.Commit()
}

// openDBIfHandoff opens (and migrates) the handoff tables of path when it has them; nil when it does not.
func openDBIfHandoff(path string) (*db, error) {
	probe, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, fmt.Errorf("handoff: move: %w", err)
	}
	var n int
	err = probe.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'handoff_migrations'`).Scan(&n)
	probe.Close()
	if err != nil {
		return nil, fmt.Errorf("handoff: move: read %s: %w", path, err)
	}
	if n == 0 {
		return nil, nil
	}
	return openDB(path)
}
