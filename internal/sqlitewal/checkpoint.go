// Package sqlitewal keeps SQLite's WAL checkpoints off a store's writer connection.
//
// A checkpoint copies the WAL back into the database file and ends in two fsyncs (the WAL, then the
// database). SQLite's autocheckpoint runs it on the connection that commits, every 1,000 pages, so
// a store with one writer stopped every commit behind those fsyncs: under webhook load a fifth of the
// conversation store's writer time went to them while the rest of the process waited for its group
// commit. A Checkpointer runs PASSIVE checkpoints on a connection of its own, beside the writer's
// commits (a PASSIVE checkpoint never takes the write lock), at most one per gap and only after
// commits. The writer keeps an autocheckpoint as a backstop (BackstopPages): a checkpoint running
// beside a stream of commits is always a little behind, and SQLite restarts the WAL from its beginning
// only after one that caught up, so at the backstop the writer's checkpoint copies what arrived since
// the last pass and the WAL restarts; the WAL file stays under about BackstopPages pages (64 MiB).
// Durability is unchanged: the same checkpoints, with their fsyncs, on another connection.
// See docs/performance.md, "Checkpoints off the writer".
package sqlitewal

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BackstopPages is the wal_autocheckpoint a writer connection keeps beside a Checkpointer (SQLite's
// default is 1,000).
const BackstopPages = 16000

// Gap is the least time between two passes. A pass copies each page changed since the last one once,
// however often it changed, and ends in two fsyncs: passes far apart copy the same hot pages (a
// conversation's index leaf, the tail of the messages) fewer times. 250 ms against the first 50 ms:
// claim turns +11% of echo (8 alternating runs), webhook intake +7% (4); 1 s gave no more
// (docs/performance.md, 2026-12-03). The WAL stays bounded by BackstopPages either way.
const Gap = 250 * time.Millisecond

// Checkpointer runs the checkpoints of one database file.
type Checkpointer struct {
	db    *sql.DB
	gap   time.Duration
	nudge chan struct{}
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once // Close may be called again

	passes atomic.Int64
	failed atomic.Int64 // passes that returned an error; the backstop still bounds the WAL
	// walFrames and behind are the WAL's length and its frames not yet in the database file, as the
	// last pass that succeeded saw them.
	walFrames atomic.Int64
	behind    atomic.Int64
}

// Start runs checkpoints on db (its own pool, one connection, never used for anything else) at most
// once per gap after Committed.
func Start(db *sql.DB, gap time.Duration) *Checkpointer {
	db.SetMaxOpenConns(1)
	c := &Checkpointer{db: db, gap: gap, nudge: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c
}

// Committed tells the checkpointer the WAL grew. It never blocks: a nudge already pending covers
// this commit too. A nil Checkpointer (a database without a WAL file, in memory) ignores it.
func (c *Checkpointer) Committed() {
	if c == nil {
		return
	}
	select {
	case c.nudge <- struct{}{}:
	default:
	}
}

// Passes reports the checkpoints run and those that failed.
func (c *Checkpointer) Passes() (passes, failed int64) { return c.passes.Load(), c.failed.Load() }

// Collectors are c's figures for /metrics, labelled db=name: the passes, the failed ones (a pass
// fails on a disk error; while they fail, only the writer's backstop keeps the WAL bounded), and the
// WAL's length and backlog at the last pass (the file on disk keeps its largest size, so its size
// says nothing). None for a nil Checkpointer.
func (c *Checkpointer) Collectors(name string) []prometheus.Collector {
	if c == nil {
		return nil
	}
	l := prometheus.Labels{"db": name}
	load := func(v *atomic.Int64) func() float64 { return func() float64 { return float64(v.Load()) } }
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "claimline_sqlite_checkpoints_total",
			Help: "WAL checkpoint passes run beside the writer.", ConstLabels: l}, load(&c.passes)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "claimline_sqlite_checkpoint_failures_total",
			Help: "WAL checkpoint passes that failed (disk errors); the writer's backstop still bounds the WAL.", ConstLabels: l}, load(&c.failed)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "claimline_sqlite_wal_frames",
			Help: "Frames (pages) in the WAL at the last checkpoint pass.", ConstLabels: l}, load(&c.walFrames)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "claimline_sqlite_wal_frames_behind",
			Help: "Frames of the WAL not yet copied into the database file at the last checkpoint pass.", ConstLabels: l}, load(&c.behind)),
	}
}

func (c *Checkpointer) loop() {
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
		} else if logPages >= 0 { // -1: not in WAL mode
			c.walFrames.Store(logPages)
			c.behind.Store(logPages - copied)
		}
		gap.Reset(c.gap)
		select {
		case <-c.stop:
			gap.Stop()
			return
		case <-gap.C:
		}
	}
}

// Close stops the checkpoints (a pass under way finishes first) and closes db.
func (c *Checkpointer) Close() error {
	c.once.Do(func() { close(c.stop) })
	<-c.done
	return c.db.Close()
}
