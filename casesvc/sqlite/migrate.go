package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations is the schema history. Append only: a released migration is never edited, because
// installs record by number which ones they have applied.
var migrations = []string{
	// 1: policies, cases and their documents, requests, timeline; the audit trail.
	`
CREATE TABLE policies (
	number     TEXT PRIMARY KEY,
	status     TEXT NOT NULL,
	doc        TEXT NOT NULL, -- JSON casesvc.Policy
	updated_at INTEGER NOT NULL
);

-- One row per day in the configured zone; the counter behind CLM-YYYYMMDD-NNNNNN.
CREATE TABLE case_counters (
	day  TEXT PRIMARY KEY,
	last INTEGER NOT NULL
);

CREATE TABLE cases (
	id                 TEXT PRIMARY KEY,
	status             TEXT NOT NULL,
	claim_type         TEXT NOT NULL,
	policy_number      TEXT NOT NULL REFERENCES policies(number),
	channel            TEXT NOT NULL,
	conversation       TEXT NOT NULL DEFAULT '',
	claimant           TEXT NOT NULL, -- JSON casesvc.Person
	incident           TEXT NOT NULL, -- JSON casesvc.Incident
	required_documents TEXT NOT NULL, -- JSON array of kind ids, in notice order
	priority           TEXT NOT NULL DEFAULT 'normal',
	fast_track         INTEGER NOT NULL DEFAULT 0,
	decision           TEXT,          -- JSON casesvc.Decision or NULL
	payment            TEXT,          -- JSON casesvc.Payment or NULL
	deadlines          TEXT NOT NULL, -- JSON casesvc.Deadlines
	reported_late_days INTEGER NOT NULL DEFAULT 0,
	idempotency_key    TEXT UNIQUE,   -- NULL when the caller gave none
	search             TEXT NOT NULL, -- lower-cased id, claimant name, place, cause, description
	created_at         INTEGER NOT NULL, -- unix nanoseconds
	updated_at         INTEGER NOT NULL
);
CREATE INDEX cases_created ON cases(created_at);
CREATE INDEX cases_status ON cases(status, created_at);
CREATE INDEX cases_policy ON cases(policy_number, created_at);
CREATE INDEX cases_claim_type ON cases(claim_type, created_at);

CREATE TABLE documents (
	id            TEXT PRIMARY KEY,
	case_id       TEXT NOT NULL REFERENCES cases(id),
	kind          TEXT NOT NULL,
	status        TEXT NOT NULL CHECK (status IN ('received', 'accepted', 'rejected')),
	filename      TEXT NOT NULL,
	content_type  TEXT NOT NULL DEFAULT '',
	size          INTEGER NOT NULL DEFAULT 0,
	sha256        TEXT NOT NULL DEFAULT '',
	received_at   INTEGER NOT NULL,
	reject_reason TEXT NOT NULL DEFAULT '',
	rejected_at   INTEGER
);
CREATE INDEX documents_case ON documents(case_id, received_at);

CREATE TABLE document_requests (
	id      INTEGER PRIMARY KEY,
	case_id TEXT NOT NULL REFERENCES cases(id),
	at      INTEGER NOT NULL,
	kinds   TEXT NOT NULL, -- JSON array
	reason  TEXT NOT NULL CHECK (reason IN ('initial', 'rejected')),
	channel TEXT NOT NULL
);
CREATE INDEX document_requests_case ON document_requests(case_id, id);
-- The one-time notice rule, enforced by the database: a case has at most one initial request.
CREATE UNIQUE INDEX document_requests_one_initial ON document_requests(case_id) WHERE reason = 'initial';

CREATE TABLE timeline (
	id      INTEGER PRIMARY KEY,
	case_id TEXT NOT NULL REFERENCES cases(id),
	at      INTEGER NOT NULL,
	event   TEXT NOT NULL,
	actor   TEXT NOT NULL,
	note    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX timeline_case ON timeline(case_id, id);

-- The audit trail references cases, complaints and policies loosely: it must outlive and precede them.
CREATE TABLE audit (
	id        INTEGER PRIMARY KEY,
	at        INTEGER NOT NULL,
	actor     TEXT NOT NULL,
	action    TEXT NOT NULL,
	case_id   TEXT NOT NULL DEFAULT '',
	complaint TEXT NOT NULL DEFAULT '',
	policy    TEXT NOT NULL DEFAULT '',
	detail    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_case ON audit(case_id) WHERE case_id != '';
CREATE INDEX audit_complaint ON audit(complaint) WHERE complaint != '';
CREATE INDEX audit_actor ON audit(actor);
`,
	// 2: documents' bytes and channel, the one-time notice as database rules, the lifecycle's
	// assessed amount, the green channel, the notices outbox and the emergency history.
	`
ALTER TABLE cases ADD COLUMN assessed_amount REAL;
ALTER TABLE cases ADD COLUMN emergency TEXT NOT NULL DEFAULT '';

ALTER TABLE documents ADD COLUMN blob_ref TEXT NOT NULL DEFAULT '';
ALTER TABLE documents ADD COLUMN channel TEXT NOT NULL DEFAULT '';
ALTER TABLE documents ADD COLUMN actor TEXT NOT NULL DEFAULT '';
ALTER TABLE documents ADD COLUMN rejected_by TEXT NOT NULL DEFAULT '';

-- A rejection is final: a rejected document never becomes usable again (the customer sends a new one).
CREATE TRIGGER documents_rejection_final BEFORE UPDATE OF status ON documents
WHEN OLD.status = 'rejected' AND NEW.status != 'rejected'
BEGIN SELECT RAISE(ABORT, 'a rejected document stays rejected'); END;

ALTER TABLE document_requests ADD COLUMN document_id TEXT REFERENCES documents(id);
ALTER TABLE document_requests ADD COLUMN note TEXT NOT NULL DEFAULT '';

-- The one-time notice (domain.md), kept by the database whatever the code above it does:
-- the initial request is the case's first, lists only documents on its checklist and names no
-- document; every later request names one document a staff member rejected with a reason, asks
-- for exactly that kind, carries the reason, and is made once per rejected document.
-- Requests are append-only: they are the record of what the customer was told.
CREATE UNIQUE INDEX document_requests_one_per_rejection ON document_requests(document_id) WHERE reason = 'rejected';

CREATE TRIGGER document_requests_initial_rule BEFORE INSERT ON document_requests
WHEN NEW.reason = 'initial' AND (
	NEW.document_id IS NOT NULL
	OR json_array_length(NEW.kinds) = 0
	OR EXISTS (SELECT 1 FROM document_requests r WHERE r.case_id = NEW.case_id)
	OR EXISTS (SELECT 1 FROM json_each(NEW.kinds) k WHERE k.value NOT IN
		(SELECT value FROM json_each((SELECT required_documents FROM cases WHERE id = NEW.case_id)))))
BEGIN SELECT RAISE(ABORT, 'one-time notice: one initial request per case, first, listing only its checklist'); END;

CREATE TRIGGER document_requests_rejected_rule BEFORE INSERT ON document_requests
WHEN NEW.reason = 'rejected' AND (
	trim(NEW.note) = ''
	OR NOT EXISTS (SELECT 1 FROM documents d WHERE d.id = NEW.document_id AND d.case_id = NEW.case_id
		AND d.status = 'rejected' AND trim(d.reject_reason) != '' AND NEW.kinds = json_array(d.kind)))
BEGIN SELECT RAISE(ABORT, 'one-time notice: a later request must ask again for one document a staff member rejected, with the reason'); END;

CREATE TRIGGER document_requests_no_update BEFORE UPDATE ON document_requests
BEGIN SELECT RAISE(ABORT, 'document requests are append-only'); END;
CREATE TRIGGER document_requests_no_delete BEFORE DELETE ON document_requests
BEGIN SELECT RAISE(ABORT, 'document requests are append-only'); END;

-- The outbox of customer notices. AUTOINCREMENT: ids are never reused, because the gateway
-- deduplicates sends by "notice:<id>".
CREATE TABLE notices (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	case_id      TEXT NOT NULL REFERENCES cases(id),
	conversation TEXT NOT NULL,
	channel      TEXT NOT NULL,
	kind         TEXT NOT NULL,
	data         TEXT NOT NULL, -- JSON object
	created_at   INTEGER NOT NULL,
	delivered_at INTEGER
);
CREATE INDEX notices_pending ON notices(id) WHERE delivered_at IS NULL;
CREATE INDEX notices_case ON notices(case_id, id);

-- Every declaration and end of an emergency; the newest row is the current state.
CREATE TABLE emergencies (
	id     INTEGER PRIMARY KEY,
	active INTEGER NOT NULL,
	doc    TEXT NOT NULL, -- JSON casesvc.Emergency
	at     INTEGER NOT NULL
);
`,
	// 3: complaints (their counter, responses, timeline and mass-complaint topics), the alerts of
	// mass-complaint events, and notices that belong to a complaint instead of a case.
	`
-- One row per day in the configured zone; the counter behind CMP-YYYYMMDD-NNNNNN.
CREATE TABLE complaint_counters (
	day  TEXT PRIMARY KEY,
	last INTEGER NOT NULL
);

CREATE TABLE complaints (
	id                 TEXT PRIMARY KEY,
	status             TEXT NOT NULL CHECK (status IN ('acknowledged', 'investigating', 'responded', 'resolved', 'escalated')),
	category           TEXT NOT NULL CHECK (category IN ('service_attitude', 'delay', 'decision_dispute',
	                                                     'amount_dispute', 'communication', 'other')),
	description        TEXT NOT NULL,
	case_id            TEXT REFERENCES cases(id), -- NULL when none
	policy_number      TEXT NOT NULL REFERENCES policies(number),
	complainant        TEXT NOT NULL, -- JSON casesvc.Person
	channel            TEXT NOT NULL,
	conversation       TEXT NOT NULL DEFAULT '',
	contact            TEXT NOT NULL, -- JSON casesvc.ContactPreference
	owner              TEXT NOT NULL DEFAULT '',
	owner_role         TEXT NOT NULL DEFAULT 'supervisor' CHECK (owner_role IN ('supervisor', 'manager')),
	first_response_due INTEGER NOT NULL, -- unix nanoseconds
	resolution_due     INTEGER NOT NULL,
	ombudsman_notice   TEXT NOT NULL DEFAULT '',
	idempotency_key    TEXT UNIQUE,       -- NULL when the caller gave none
	created_at         INTEGER NOT NULL,
	updated_at         INTEGER NOT NULL,
	escalated_at       INTEGER,
	resolved_at        INTEGER
);
CREATE INDEX complaints_created ON complaints(created_at);
CREATE INDEX complaints_status ON complaints(status, created_at);
CREATE INDEX complaints_policy ON complaints(policy_number, created_at);

-- A linked case is the complainant's own: on the complaint's policy. Neither ever changes.
CREATE TRIGGER complaints_case_on_policy BEFORE INSERT ON complaints
WHEN NEW.case_id IS NOT NULL AND NOT EXISTS
	(SELECT 1 FROM cases c WHERE c.id = NEW.case_id AND c.policy_number = NEW.policy_number)
BEGIN SELECT RAISE(ABORT, 'a complaint may only link a case on its own policy'); END;
CREATE TRIGGER complaints_case_fixed BEFORE UPDATE OF case_id, policy_number ON complaints
WHEN NEW.case_id IS NOT OLD.case_id OR NEW.policy_number IS NOT OLD.policy_number
BEGIN SELECT RAISE(ABORT, 'a complaint''s case and policy never change'); END;

-- Replies sent to the complainant: append-only, and each carries the ombudsman route (FCPA art. 13).
CREATE TABLE complaint_responses (
	id               INTEGER PRIMARY KEY,
	complaint_id     TEXT NOT NULL REFERENCES complaints(id),
	at               INTEGER NOT NULL,
	by               TEXT NOT NULL,
	text             TEXT NOT NULL CHECK (trim(text) != ''),
	ombudsman_notice TEXT NOT NULL CHECK (instr(ombudsman_notice, '0800-789-885') > 0 AND instr(ombudsman_notice, '60') > 0)
);
CREATE INDEX complaint_responses_complaint ON complaint_responses(complaint_id, id);
CREATE TRIGGER complaint_responses_no_update BEFORE UPDATE ON complaint_responses
BEGIN SELECT RAISE(ABORT, 'complaint responses are append-only'); END;
CREATE TRIGGER complaint_responses_no_delete BEFORE DELETE ON complaint_responses
BEGIN SELECT RAISE(ABORT, 'complaint responses are append-only'); END;

CREATE TABLE complaint_timeline (
	id           INTEGER PRIMARY KEY,
	complaint_id TEXT NOT NULL REFERENCES complaints(id),
	at           INTEGER NOT NULL,
	event        TEXT NOT NULL,
	actor        TEXT NOT NULL,
	note         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX complaint_timeline_complaint ON complaint_timeline(complaint_id, id);

-- The topics a complaint counts for in mass-complaint detection ("category:delay", ...).
CREATE TABLE complaint_topics (
	complaint_id TEXT NOT NULL REFERENCES complaints(id),
	topic        TEXT NOT NULL,
	at           INTEGER NOT NULL,
	PRIMARY KEY (complaint_id, topic)
);
CREATE INDEX complaint_topics_topic ON complaint_topics(topic, at);

-- Mass-complaint events, one row each. AUTOINCREMENT: the console deduplicates by "alert:<id>".
CREATE TABLE alerts (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	kind           TEXT NOT NULL,
	threshold      INTEGER NOT NULL,
	window_seconds INTEGER NOT NULL,
	first_at       INTEGER NOT NULL,
	last_at        INTEGER NOT NULL,
	raised_at      INTEGER NOT NULL,
	delivered_at   INTEGER
);
CREATE INDEX alerts_last ON alerts(last_at);
CREATE INDEX alerts_pending ON alerts(id) WHERE delivered_at IS NULL;
CREATE TABLE alert_topics (
	alert_id INTEGER NOT NULL REFERENCES alerts(id),
	topic    TEXT NOT NULL,
	PRIMARY KEY (alert_id, topic)
);
CREATE INDEX alert_topics_topic ON alert_topics(topic, alert_id);
CREATE TABLE alert_complaints (
	alert_id     INTEGER NOT NULL REFERENCES alerts(id),
	complaint_id TEXT NOT NULL REFERENCES complaints(id),
	PRIMARY KEY (alert_id, complaint_id)
);

-- Notices now belong to a case or to a complaint: rebuild the table (SQLite cannot drop a NOT NULL),
-- keeping every row, its id and the AUTOINCREMENT sequence, so "notice:<id>" is never reused.
CREATE TABLE notices_v3 (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	case_id      TEXT REFERENCES cases(id),
	complaint_id TEXT REFERENCES complaints(id),
	conversation TEXT NOT NULL,
	channel      TEXT NOT NULL,
	kind         TEXT NOT NULL,
	data         TEXT NOT NULL, -- JSON object
	created_at   INTEGER NOT NULL,
	delivered_at INTEGER,
	CHECK (case_id IS NOT NULL OR complaint_id IS NOT NULL),
	-- A complaint reply always tells the customer the ombudsman route.
	CHECK (kind != 'complaint_responded' OR (complaint_id IS NOT NULL AND instr(data, '0800-789-885') > 0))
);
INSERT INTO notices_v3 (id, case_id, conversation, channel, kind, data, created_at, delivered_at)
	SELECT id, case_id, conversation, channel, kind, data, created_at, delivered_at FROM notices ORDER BY id;
INSERT INTO sqlite_sequence (name, seq)
	SELECT 'notices_v3', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'notices_v3');
UPDATE sqlite_sequence SET seq = max(seq, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'notices'), 0))
	WHERE name = 'notices_v3';
DROP TABLE notices;
ALTER TABLE notices_v3 RENAME TO notices;
CREATE INDEX notices_pending ON notices(id) WHERE delivered_at IS NULL;
CREATE INDEX notices_case ON notices(case_id, id);
CREATE INDEX notices_complaint ON notices(complaint_id, id);
`,
}

// migrate applies the migrations not yet recorded in schema_migrations, each in its own
// transaction together with its record, so a failed migration leaves no half-applied schema.
func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for i, stmt := range migrations {
		version := i + 1
		if err := applyMigration(ctx, db, version, stmt); err != nil {
			return fmt.Errorf("migration %d: %w", version, err)
		}
	}
	return nil
}

func applyMigration(ctx context.Context, db *sql.DB, version int, stmt string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, stmt); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, version); err != nil {
		return err
	}
	return tx.Commit()
}

// SchemaVersion returns the highest applied migration.
func (s *Service) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}
