package sqlitestore

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"
)

// Checkpoints off the writer. A checkpoint copies the WAL back into the database file and ends in two
// fsyncs (the WAL, then the database). Run by the writer itself (SQLite's autocheckpoint, every 1,000
// pages) it stopped every commit behind those fsyncs: under webhook load a fifth of the writer's wall
// time was spent in them while the rest of the process waited for its group commit. The checkpointer
// runs PASSIVE checkpoints on a connection of its own, beside the writer's commits, at most one per
// checkpointGap and only after commits. The writer keeps an autocheckpoint as a backstop
// (backstopPages): when the WAL reaches it, the writer's checkpoint copies only what arrived since the
// last pass, and SQLite can then restart the WAL from its beginning (it cannot while a checkpoint
// running beside a stream of commits is always a little behind), so the WAL file stays under about
// backstopPages pages (64 MiB). Durability is unchanged: the same checkpoints, on another connection.
// See docs/performance.md, "Checkpoints off the writer".
type checkpointer struct {
	db    *sql.DB
	nudge chan struct{}
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once // close may be called again (Store.Close is)

	passes atomic.Int64 // checkpoints run (tests)
	failed atomic.Int64 // checkpoints that returned an error; the backstop still bounds the WAL
}

// checkpointGap is the least time between two passes: a pass per commit would fsync every few turns.
const checkpointGap = 50 * time.Millisecond

// backstopPages is the writer connection's wal_autocheckpoint (SQLite's default is 1,000).
const backstopPages = 16000

func newCheckpointer(db *sql.DB) *checkpointer {
	c := &checkpointer{db: db, nudge: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c
}

// committed tells the checkpointer the WAL grew. It never blocks the writer: a nudge already pending
// covers this commit too.
func (c *checkpointer) committed() {
	select {
	case c.nudge <- struct{}{}:
	default:
	}
}

func (c *checkpointer) loop() {
	defer close(c.done)
	gap := time.NewTimer(0)
	<-gap.C
	for {
		select {
		case <-c.stop:
			return
		case <-c.nudge:
		}
		var busy, logPages, copied int64
		err := c.db.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logPages, &copied)
		c.passes.Add(1)
		if err != nil {
			c.failed.Add(1)
		}
		gap.Reset(checkpointGap)
		select {
		case <-c.stop:
			gap.Stop()
			return
		case <-gap.C:
		}
	}
}

// close stops the loop (a pass under way finishes first).
func (c *checkpointer) close() {
	c.once.Do(func() { close(c.stop) })
	<-c.done
}
