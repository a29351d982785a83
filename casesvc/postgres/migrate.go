package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// migrations is the schema history, with the intent of casesvc/sqlite's: the same tables, and the
// same invariants kept by the database whatever the code above it does (unique idempotency keys,
// the one-time notice, append-only requests and replies, a complaint's case on its policy, the
// ombudsman route on every reply). Append only: a released migration is never edited.
var migrations = []string{
	// 1: policies, the daily counters, cases and their documents, requests, timeline; the audit trail.
	`
CREATE TABLE policies (
	number     text PRIMARY KEY,
	status     text NOT NULL,
	doc        jsonb NOT NULL, -- casesvc.Policy
	updated_at timestamptz NOT NULL
);

-- The counters behind CLM-YYYYMMDD-NNNNNN (kind 'case') and CMP-YYYYMMDD-NNNNNN (kind 'complaint'),
-- one row per kind and day in the configured zone, allocated by INSERT ... ON CONFLICT DO UPDATE
-- ... RETURNING in the transaction that files the record: atomic, and given back on rollback.
CREATE TABLE counters (
	kind text NOT NULL CHECK (kind IN ('case', 'complaint')),
	day  text NOT NULL,
	last integer NOT NULL,
	PRIMARY KEY (kind, day)
);

CREATE TABLE cases (
	id                 text PRIMARY KEY,
	status             text NOT NULL,
	claim_type         text NOT NULL,
	policy_number      text NOT NULL REFERENCES policies(number),
	channel            text NOT NULL,
	conversation       text NOT NULL DEFAULT '',
	claimant           jsonb NOT NULL, -- casesvc.Person
	incident           jsonb NOT NULL, -- casesvc.Incident
	required_documents jsonb NOT NULL CHECK (jsonb_typeof(required_documents) = 'array'),
	priority           text NOT NULL DEFAULT 'normal',
	fast_track         boolean NOT NULL DEFAULT false,
	decision           jsonb,          -- casesvc.Decision or NULL
	payment            jsonb,          -- casesvc.Payment or NULL
	deadlines          jsonb NOT NULL, -- the stored casesvc.Deadlines
	reported_late_days integer NOT NULL DEFAULT 0,
	assessed_amount    double precision,
	emergency          text NOT NULL DEFAULT '',
	idempotency_key    text UNIQUE,    -- NULL when the caller gave none
	search             text NOT NULL,  -- lower-cased id, claimant name, place, cause, description
	created_at         timestamptz NOT NULL,
	updated_at         timestamptz NOT NULL
);
CREATE INDEX cases_created ON cases(created_at);
CREATE INDEX cases_status ON cases(status, created_at);
CREATE INDEX cases_policy ON cases(policy_number, created_at);
CREATE INDEX cases_claim_type ON cases(claim_type, created_at);

CREATE TABLE documents (
	id            text PRIMARY KEY,
	case_id       text NOT NULL REFERENCES cases(id),
	kind          text NOT NULL,
	status        text NOT NULL CHECK (status IN ('received', 'accepted', 'rejected')),
	filename      text NOT NULL,
	content_type  text NOT NULL DEFAULT '',
	size          bigint NOT NULL DEFAULT 0,
	sha256        text NOT NULL DEFAULT '',
	received_at   timestamptz NOT NULL,
	reject_reason text NOT NULL DEFAULT '',
	rejected_at   timestamptz,
	rejected_by   text NOT NULL DEFAULT '',
	blob_ref      text NOT NULL DEFAULT '',
	channel       text NOT NULL DEFAULT '',
	actor         text NOT NULL DEFAULT '',
	-- A rejection is made by somebody, with a reason.
	CHECK (status <> 'rejected' OR (btrim(reject_reason) <> '' AND rejected_at IS NOT NULL))
);
CREATE INDEX documents_case ON documents(case_id, received_at);

-- A rejection is final: a rejected document never becomes usable again (the customer sends a new one).
CREATE FUNCTION documents_rejection_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'a rejected document stays rejected' USING ERRCODE = 'check_violation';
END $$;
CREATE TRIGGER documents_rejection_final BEFORE UPDATE OF status ON documents
	FOR EACH ROW WHEN (OLD.status = 'rejected' AND NEW.status <> 'rejected')
	EXECUTE FUNCTION documents_rejection_final();

CREATE TABLE document_requests (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	case_id     text NOT NULL REFERENCES cases(id),
	at          timestamptz NOT NULL,
	kinds       jsonb NOT NULL CHECK (jsonb_typeof(kinds) = 'array'),
	reason      text NOT NULL CHECK (reason IN ('initial', 'rejected')),
	channel     text NOT NULL,
	document_id text REFERENCES documents(id),
	note        text NOT NULL DEFAULT ''
);
CREATE INDEX document_requests_case ON document_requests(case_id, id);
-- The one-time notice (domain.md): at most one initial request per case; one request per rejection.
CREATE UNIQUE INDEX document_requests_one_initial ON document_requests(case_id) WHERE reason = 'initial';
CREATE UNIQUE INDEX document_requests_one_per_rejection ON document_requests(document_id) WHERE reason = 'rejected';

-- The initial request is the case's first, lists only documents on its checklist and names no
-- document; every later request names one document a staff member rejected with a reason, asks
-- for exactly that kind and carries the reason.
CREATE FUNCTION document_requests_rule() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.reason = 'initial' THEN
		IF NEW.document_id IS NOT NULL
			OR jsonb_array_length(NEW.kinds) = 0
			OR EXISTS (SELECT 1 FROM document_requests r WHERE r.case_id = NEW.case_id)
			OR NOT (NEW.kinds <@ (SELECT c.required_documents FROM cases c WHERE c.id = NEW.case_id)) THEN
			RAISE EXCEPTION 'one-time notice: one initial request per case, first, listing only its checklist'
				USING ERRCODE = 'check_violation';
		END IF;
	ELSIF btrim(NEW.note) = '' OR NOT EXISTS (SELECT 1 FROM documents d WHERE d.id = NEW.document_id
			AND d.case_id = NEW.case_id AND d.status = 'rejected' AND btrim(d.reject_reason) <> ''
			AND NEW.kinds = jsonb_build_array(d.kind)) THEN
		RAISE EXCEPTION 'one-time notice: a later request must ask again for one document a staff member rejected, with the reason'
			USING ERRCODE = 'check_violation';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER document_requests_rule BEFORE INSERT ON document_requests
	FOR EACH ROW EXECUTE FUNCTION document_requests_rule();

-- Append-only tables: they are the record of what the customer was told.
CREATE FUNCTION append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'check_violation';
END $$;
CREATE TRIGGER document_requests_append_only BEFORE UPDATE OR DELETE ON document_requests
	FOR EACH ROW EXECUTE FUNCTION append_only();

CREATE TABLE timeline (
	id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	case_id text NOT NULL REFERENCES cases(id),
	at      timestamptz NOT NULL,
	event   text NOT NULL,
	actor   text NOT NULL,
	note    text NOT NULL DEFAULT ''
);
CREATE INDEX timeline_case ON timeline(case_id, id);

-- The audit trail references cases, complaints and policies loosely: it must outlive and precede them.
CREATE TABLE audit (
	id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at        timestamptz NOT NULL,
	actor     text NOT NULL,
	action    text NOT NULL,
	case_id   text NOT NULL DEFAULT '',
	complaint text NOT NULL DEFAULT '',
	policy    text NOT NULL DEFAULT '',
	detail    text NOT NULL DEFAULT ''
);
CREATE INDEX audit_case ON audit(case_id) WHERE case_id <> '';
CREATE INDEX audit_complaint ON audit(complaint) WHERE complaint <> '';
CREATE INDEX audit_actor ON audit(actor);
`,
	// 2: the notices outbox and the emergency history.
	`
-- Identity ids are never reused: the gateway deduplicates sends by "notice:<id>".
CREATE TABLE notices (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	case_id      text REFERENCES cases(id),
	conversation text NOT NULL,
	channel      text NOT NULL,
	kind         text NOT NULL,
	data         jsonb NOT NULL CHECK (jsonb_typeof(data) = 'object'),
	created_at   timestamptz NOT NULL,
	delivered_at timestamptz
);
CREATE INDEX notices_pending ON notices(id) WHERE delivered_at IS NULL;
CREATE INDEX notices_case ON notices(case_id, id);

-- Every declaration and end of an emergency; the newest row is the current state.
CREATE TABLE emergencies (
	id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	active boolean NOT NULL,
	doc    jsonb NOT NULL, -- casesvc.Emergency
	at     timestamptz NOT NULL
);
`,
	// 3: complaints, their replies, timeline and mass-complaint topics; alerts; complaint notices.
	`
CREATE TABLE complaints (
	id                 text PRIMARY KEY,
	status             text NOT NULL CHECK (status IN ('acknowledged', 'investigating', 'responded', 'resolved', 'escalated')),
	category           text NOT NULL CHECK (category IN ('service_attitude', 'delay', 'decision_dispute',
	                                                     'amount_dispute', 'communication', 'other')),
	description        text NOT NULL,
	case_id            text REFERENCES cases(id), -- NULL when none
	policy_number      text NOT NULL REFERENCES policies(number),
	complainant        jsonb NOT NULL, -- casesvc.Person
	channel            text NOT NULL,
	conversation       text NOT NULL DEFAULT '',
	contact            jsonb NOT NULL, -- casesvc.ContactPreference
	owner              text NOT NULL DEFAULT '',
	owner_role         text NOT NULL DEFAULT 'supervisor' CHECK (owner_role IN ('supervisor', 'manager')),
	first_response_due timestamptz NOT NULL,
	resolution_due     timestamptz NOT NULL,
	ombudsman_notice   text NOT NULL DEFAULT '',
	idempotency_key    text UNIQUE,
	created_at         timestamptz NOT NULL,
	updated_at         timestamptz NOT NULL,
	escalated_at       timestamptz,
	resolved_at        timestamptz
);
CREATE INDEX complaints_created ON complaints(created_at);
CREATE INDEX complaints_status ON complaints(status, created_at);
CREATE INDEX complaints_policy ON complaints(policy_number, created_at);

-- A linked case is the complainant's own: on the complaint's policy. Neither ever changes.
CREATE FUNCTION complaints_case_rule() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'UPDATE' AND (NEW.case_id IS DISTINCT FROM OLD.case_id OR NEW.policy_number IS DISTINCT FROM OLD.policy_number) THEN
		RAISE EXCEPTION 'a complaint''s case and policy never change' USING ERRCODE = 'check_violation';
	END IF;
	IF TG_OP = 'INSERT' AND NEW.case_id IS NOT NULL AND NOT EXISTS
		(SELECT 1 FROM cases c WHERE c.id = NEW.case_id AND c.policy_number = NEW.policy_number) THEN
		RAISE EXCEPTION 'a complaint may only link a case on its own policy' USING ERRCODE = 'check_violation';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER complaints_case_rule BEFORE INSERT OR UPDATE ON complaints
	FOR EACH ROW EXECUTE FUNCTION complaints_case_rule();

-- Replies sent to the complainant: append-only, and each carries the ombudsman route (FCPA art. 13).
CREATE TABLE complaint_responses (
	id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	complaint_id     text NOT NULL REFERENCES complaints(id),
	at               timestamptz NOT NULL,
	by               text NOT NULL,
	text             text NOT NULL CHECK (btrim(text) <> ''),
	ombudsman_notice text NOT NULL CHECK (strpos(ombudsman_notice, '0800-789-885') > 0 AND strpos(ombudsman_notice, '60') > 0)
);
CREATE INDEX complaint_responses_complaint ON complaint_responses(complaint_id, id);
CREATE TRIGGER complaint_responses_append_only BEFORE UPDATE OR DELETE ON complaint_responses
	FOR EACH ROW EXECUTE FUNCTION append_only();

CREATE TABLE complaint_timeline (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	complaint_id text NOT NULL REFERENCES complaints(id),
	at           timestamptz NOT NULL,
	event        text NOT NULL,
	actor        text NOT NULL,
	note         text NOT NULL DEFAULT ''
);
CREATE INDEX complaint_timeline_complaint ON complaint_timeline(complaint_id, id);

CREATE TABLE complaint_topics (
	complaint_id text NOT NULL REFERENCES complaints(id),
	topic        text NOT NULL,
	at           timestamptz NOT NULL,
	PRIMARY KEY (complaint_id, topic)
);
CREATE INDEX complaint_topics_topic ON complaint_topics(topic, at);

-- Identity ids are never reused: the console deduplicates by "alert:<id>".
CREATE TABLE alerts (
	id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind           text NOT NULL,
	threshold      integer NOT NULL,
	window_seconds bigint NOT NULL,
	first_at       timestamptz NOT NULL,
	last_at        timestamptz NOT NULL,
	raised_at      timestamptz NOT NULL,
	delivered_at   timestamptz
);
CREATE INDEX alerts_last ON alerts(last_at);
CREATE INDEX alerts_pending ON alerts(id) WHERE delivered_at IS NULL;
CREATE TABLE alert_topics (
	alert_id bigint NOT NULL REFERENCES alerts(id),
	topic    text NOT NULL,
	PRIMARY KEY (alert_id, topic)
);
CREATE INDEX alert_topics_topic ON alert_topics(topic, alert_id);
CREATE TABLE alert_complaints (
	alert_id     bigint NOT NULL REFERENCES alerts(id),
	complaint_id text NOT NULL REFERENCES complaints(id),
	PRIMARY KEY (alert_id, complaint_id)
);

-- Notices now belong to a case or to a complaint; a complaint reply always tells the ombudsman route.
ALTER TABLE notices ADD COLUMN complaint_id text REFERENCES complaints(id);
ALTER TABLE notices ADD CONSTRAINT notices_owner CHECK (case_id IS NOT NULL OR complaint_id IS NOT NULL);
ALTER TABLE notices ADD CONSTRAINT notices_ombudsman CHECK (kind <> 'complaint_responded'
	OR (complaint_id IS NOT NULL AND strpos(data::text, '0800-789-885') > 0));
CREATE INDEX notices_complaint ON notices(complaint_id, id);
`,
}

// migrationLock is the advisory lock key that serialises migrations of several processes starting at once.
const migrationLock = 0x636c6d6c // "clml"

// migrate applies the migrations not yet recorded in schema_migrations, each in its own
// transaction together with its record, under an advisory lock.
func migrate(ctx context.Context, pool *pool) error {
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for i, stmt := range migrations {
		version := i + 1
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, version)
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %d: %w", version, err)
		}
	}
	return nil
}

// SchemaVersion returns the highest applied migration.
func (s *Service) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(max(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}
