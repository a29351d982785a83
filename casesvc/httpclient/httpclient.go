// Package httpclient is casesvc.Service over HTTP: the gateway's view of a case service running as
// its own process (`claimline casesvc`), through the internal API of casesvc/httpapi (internal.go).
//
//   - Every call has a deadline: Config.Timeout per attempt (a context deadline and the HTTP
//     client's own timeout), within the caller's context.
//   - Only idempotent calls are retried, with exponential backoff and jitter, and only when the
//     service could not be reached or answered 5xx: reads, MarkNoticeDelivered/MarkAlertDelivered
//     (idempotent by contract), and CreateCase/CreateComplaint, which always send an
//     Idempotency-Key — the caller's, or one the client makes up for the call when the caller gave
//     none — so a retry after a lost answer returns the record the first attempt created.
//   - Errors come back as casesvc errors with the server's code and message. A service that cannot
//     be reached, times out or answers 5xx is EUNAVAILABLE, which the dialog's outage handling
//     understands.
//   - The service token travels as "Authorization: Bearer <token>" and is never logged.
//   - Documents' bytes (blobs.go) go to the case service's blob store: PutBlob spools what it is given
//     to a local file first, so its upload is retried safely and at network speed, not the customer's.
package httpclient

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"claimline/casesvc"
	"claimline/casesvc/httpapi"
)

// Config configures the client. Zero values get defaults.
type Config struct {
	URL   string // the case service's base URL, e.g. http://127.0.0.1:8090 (CLAIMLINE_CASESVC_URL)
	Token string // the service token (CLAIMLINE_CASESVC_TOKEN); a secret
	// Timeout bounds one attempt of one call. Default 5s.
	Timeout time.Duration
	// Attempts is how many times an idempotent call is tried in all. Default 4; 1 disables retries.
	Attempts int
	// Backoff is the first retry's wait, doubled each time (with jitter), at most MaxBackoff.
	Backoff    time.Duration // default 100ms
	MaxBackoff time.Duration // default 2s
	// HTTPClient is the transport; default a client with Timeout.
	HTTPClient *http.Client
	// Catalog is returned by Catalog() while the service's catalog has not been fetched yet (the
	// service is down at start); default casesvc.DefaultCatalog().
	Catalog *casesvc.Catalog
	// BlobTimeout bounds one attempt of a blob upload or download (PutBlob, OpenBlob). Default 2m.
	BlobTimeout time.Duration
	// SpoolDir is where PutBlob and OpenBlob keep a document's bytes while they travel (created 0700;
	// files are 0600 and removed afterwards). Default os.TempDir(); the gateway passes one in its data
	// directory, since documents are personal data.
	SpoolDir string
}

// Client implements casesvc.Service against a remote case service.
type Client struct {
	base *url.URL
	cfg  Config
	hc   *http.Client
	bc   *http.Client // for blobs: hc without its overall timeout (BlobTimeout bounds an attempt)

	mu      sync.Mutex
	catalog *casesvc.Catalog // fetched from the service; nil until then
}

// New returns a client for the service at cfg.URL. It does not contact the service: a gateway may
// start before its case service.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(cfg.URL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("httpclient: case service URL %q: want http(s)://host[:port]", cfg.URL)
	}
	if cfg.Token == "" {
		return nil, errors.New("httpclient: the service token is required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 4
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 2 * time.Second
	}
	if cfg.Catalog == nil {
		cfg.Catalog = casesvc.DefaultCatalog()
	}
	if cfg.BlobTimeout <= 0 {
		cfg.BlobTimeout = 2 * time.Minute
	}
	if cfg.SpoolDir == "" {
		cfg.SpoolDir = os.TempDir()
	} else if err := os.MkdirAll(cfg.SpoolDir, 0o700); err != nil {
		return nil, fmt.Errorf("httpclient: spool directory: %w", err)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: cfg.Timeout}
	}
	bc := *hc
	bc.Timeout = 0
	return &Client{base: u, cfg: cfg, hc: hc, bc: &bc}, nil
}

// Ping checks the service answers, for readiness probes. EUNAVAILABLE.
func (c *Client) Ping(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/internal/v1/catalog", nil, nil, nil, true)
}

// Close releases idle connections.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

// ---- transport ----

var errUnavailable = casesvc.Errorf(casesvc.EUNAVAILABLE, "The case service is not available.")

// do sends one call: body (JSON) in, out (JSON) decoded, retried when retry is set.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any, retry bool, headers ...string) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("httpclient: encode: %w", err)
		}
	}
	attempts := 1
	if retry {
		attempts = c.cfg.Attempts
	}
	return c.retry(ctx, attempts, func() (bool, error) {
		return c.attempt(ctx, method, path, query, payload, out, headers)
	})
}

// retry runs try up to attempts times, with exponential backoff and jitter between tries, while it
// answers again.
func (c *Client) retry(ctx context.Context, attempts int, try func() (again bool, err error)) error {
	backoff := c.cfg.Backoff
	var err error
	for i := range attempts {
		if i > 0 {
			wait := backoff/2 + rand.N(backoff/2+1) // jitter: [backoff/2, backoff]
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return errUnavailable
			case <-t.C:
			}
			backoff = min(2*backoff, c.cfg.MaxBackoff)
		}
		var again bool
		again, err = try()
		if !again || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// attempt makes one request; again reports whether the failure is worth retrying.
func (c *Client) attempt(ctx context.Context, method, path string, query url.Values, payload []byte, out any, headers []string) (again bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return false, fmt.Errorf("httpclient: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return true, errUnavailable // refused, reset, timed out: the dialog's outage path
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return true, errUnavailable
	}
	if resp.StatusCode >= 500 {
		return true, errUnavailable
	}
	if resp.StatusCode >= 400 {
		return false, apiError(method, path, resp.StatusCode, data)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return false, nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return false, fmt.Errorf("httpclient: %s %s: decode: %w", method, path, err)
	}
	return false, nil
}

// apiError turns a 4xx answer's {"error":{"code","message"}} into a casesvc error.
func apiError(method, path string, status int, data []byte) error {
	var eb struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &eb) != nil || eb.Error.Code == "" {
		return fmt.Errorf("httpclient: %s %s: status %d", method, path, status)
	}
	switch eb.Error.Code {
	case casesvc.EUNAUTHORIZED:
		// A wrong service token is a deployment error, not the customer's: say so plainly.
		return casesvc.Errorf(casesvc.EUNAUTHORIZED, "The case service refused the service token.")
	}
	return casesvc.Errorf(eb.Error.Code, "%s", eb.Error.Message)
}

func esc(s string) string { return url.PathEscape(s) }

func staff(s casesvc.Staff) httpapi.WireStaff { return httpapi.WireStaff{Name: s.Name, Role: s.Role} }

// key returns the caller's idempotency key, or a fresh one so the client's own retries are safe.
func key(k string) string {
	if k != "" {
		return k
	}
	return "httpclient:" + crand.Text()
}

// ---- casesvc.Service ----

// Policy returns one policy, unmasked. ENOTFOUND.
func (c *Client) Policy(ctx context.Context, number string) (*casesvc.Policy, error) {
	var p casesvc.Policy
	if err := c.do(ctx, http.MethodGet, "/internal/v1/policies/"+esc(number), nil, nil, &p, true); err != nil {
		return nil, err
	}
	return &p, nil
}

// PutPolicy creates or replaces a policy. Not retried: each call is audited.
func (c *Client) PutPolicy(ctx context.Context, p *casesvc.Policy, actor string) error {
	if p == nil {
		return casesvc.Errorf(casesvc.EINVALID, "Policy is required.")
	}
	if strings.TrimSpace(p.Number) == "" {
		return casesvc.Errorf(casesvc.EINVALID, "Policy number is required.")
	}
	return c.do(ctx, http.MethodPut, "/internal/v1/policies/"+esc(p.Number), nil,
		httpapi.WirePutPolicy{Policy: *p, Actor: actor}, nil, false)
}

// CreateCase files a claim, retried safely under an idempotency key.
func (c *Client) CreateCase(ctx context.Context, nc casesvc.NewCase) (*casesvc.Case, error) {
	var out httpapi.WireCase
	err := c.do(ctx, http.MethodPost, "/internal/v1/cases", nil, httpapi.WireNewCase{ClaimType: nc.ClaimType,
		PolicyNumber: nc.PolicyNumber, Channel: nc.Channel, Conversation: nc.Conversation, Claimant: nc.Claimant,
		Incident: nc.Incident, Actor: nc.Actor}, &out, true, httpapi.IdempotencyKeyHeader, key(nc.IdempotencyKey))
	if err != nil {
		return nil, err
	}
	return out.Unwrap(), nil
}

// Case returns one case. ENOTFOUND.
func (c *Client) Case(ctx context.Context, id string) (*casesvc.Case, error) {
	var out httpapi.WireCase
	if err := c.do(ctx, http.MethodGet, "/internal/v1/cases/"+esc(id), nil, nil, &out, true); err != nil {
		return nil, err
	}
	return out.Unwrap(), nil
}

// Cases lists cases newest first with the total before paging.
func (c *Client) Cases(ctx context.Context, f casesvc.CaseFilter) ([]*casesvc.Case, int, error) {
	q := url.Values{}
	for k, v := range map[string]string{"status": f.Status, "policy_number": f.PolicyNumber, "claim_type": f.ClaimType, "q": f.Query} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Page > 0 {
		q.Set("page", strconv.Itoa(f.Page))
	}
	if f.PerPage > 0 {
		q.Set("per_page", strconv.Itoa(f.PerPage))
	}
	var out httpapi.WireCaseList
	if err := c.do(ctx, http.MethodGet, "/internal/v1/cases", q, nil, &out, true); err != nil {
		return nil, 0, err
	}
	return unwrapCases(out.Cases), out.Total, nil
}

// CasesByPolicy returns every case on one policy, newest first.
func (c *Client) CasesByPolicy(ctx context.Context, number string) ([]*casesvc.Case, error) {
	var out []httpapi.WireCase
	if err := c.do(ctx, http.MethodGet, "/internal/v1/policies/"+esc(number)+"/cases", nil, nil, &out, true); err != nil {
		return nil, err
	}
	return unwrapCases(out), nil
}

func unwrapCases(ws []httpapi.WireCase) []*casesvc.Case {
	out := make([]*casesvc.Case, 0, len(ws))
	for _, w := range ws {
		out = append(out, w.Unwrap())
	}
	return out
}

// RecordAudit appends to the audit trail. Not retried: a repeat would be a second row.
func (c *Client) RecordAudit(ctx context.Context, e casesvc.AuditEntry) error {
	return c.do(ctx, http.MethodPost, "/internal/v1/audit", nil, e, nil, false)
}

// Audit lists the audit trail, oldest first.
func (c *Client) Audit(ctx context.Context, f casesvc.AuditFilter) ([]casesvc.AuditEntry, error) {
	q := url.Values{}
	for k, v := range map[string]string{"case": f.CaseID, "complaint": f.Complaint, "actor": f.Actor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	out := []casesvc.AuditEntry{}
	if err := c.do(ctx, http.MethodGet, "/internal/v1/audit", q, nil, &out, true); err != nil {
		return nil, err
	}
	return out, nil
}

// Catalog returns the service's catalog, fetched once; until the service has answered, the
// configured fallback (see Config.Catalog).
func (c *Client) Catalog() *casesvc.Catalog {
	c.mu.Lock()
	cat := c.catalog
	c.mu.Unlock()
	if cat != nil {
		return cat
	}
	var fetched casesvc.Catalog
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	if err := c.do(ctx, http.MethodGet, "/internal/v1/catalog", nil, nil, &fetched, false); err != nil {
		return c.cfg.Catalog
	}
	if fetched.Validate() != nil {
		return c.cfg.Catalog
	}
	c.mu.Lock()
	c.catalog = &fetched
	c.mu.Unlock()
	return &fetched
}

// AddDocument records a received document. Not retried: a repeat would answer Duplicate instead of
// what the first attempt did (Completed).
func (c *Client) AddDocument(ctx context.Context, caseID string, nd casesvc.NewDocument) (*casesvc.DocumentResult, error) {
	var out httpapi.WireDocumentResult
	err := c.do(ctx, http.MethodPost, "/internal/v1/cases/"+esc(caseID)+"/documents", nil, httpapi.WireNewDocument{
		Kind: nd.Kind, Filename: nd.Filename, ContentType: nd.ContentType, Size: nd.Size, SHA256: nd.SHA256,
		BlobRef: nd.BlobRef, Channel: nd.Channel, Conversation: nd.Conversation, Actor: nd.Actor}, &out, false)
	if err != nil {
		return nil, err
	}
	d := out.Document
	d.BlobRef = out.BlobRef
	return &casesvc.DocumentResult{Case: out.Case.Unwrap(), Document: d, Completed: out.Completed, Duplicate: out.Duplicate}, nil
}

// RejectDocument marks a document unusable and asks for it again. Not retried.
func (c *Client) RejectDocument(ctx context.Context, caseID, docID, reason string, actor casesvc.Staff) (*casesvc.Case, error) {
	var out httpapi.WireCase
	err := c.do(ctx, http.MethodPost, "/internal/v1/cases/"+esc(caseID)+"/documents/"+esc(docID)+"/reject", nil,
		httpapi.WireReject{Reason: reason, Actor: staff(actor)}, &out, false)
	if err != nil {
		return nil, err
	}
	return out.Unwrap(), nil
}

// Transition applies a lifecycle action. Not retried.
func (c *Client) Transition(ctx context.Context, caseID string, req casesvc.TransitionRequest, actor casesvc.Staff) (*casesvc.Case, error) {
	var out httpapi.WireCase
	err := c.do(ctx, http.MethodPost, "/internal/v1/cases/"+esc(caseID)+"/transitions", nil,
		httpapi.WireTransition{Request: req, Actor: staff(actor)}, &out, false)
	if err != nil {
		return nil, err
	}
	return out.Unwrap(), nil
}

// Overdue lists deadlines past or within soon of now, earliest first.
func (c *Client) Overdue(ctx context.Context, now time.Time, soon time.Duration) ([]casesvc.DeadlineItem, error) {
	q := url.Values{"now": {now.Format(time.RFC3339Nano)}, "soon": {soon.String()}}
	out := []casesvc.DeadlineItem{}
	if err := c.do(ctx, http.MethodGet, "/internal/v1/deadlines", q, nil, &out, true); err != nil {
		return nil, err
	}
	return out, nil
}

// CurrentEmergency returns the active emergency, or nil.
func (c *Client) CurrentEmergency(ctx context.Context) (*casesvc.Emergency, error) {
	var out httpapi.WireEmergency
	if err := c.do(ctx, http.MethodGet, "/internal/v1/emergency", nil, nil, &out, true); err != nil {
		return nil, err
	}
	return out.Emergency, nil
}

// SetEmergency declares or ends the emergency. Not retried.
func (c *Client) SetEmergency(ctx context.Context, e casesvc.Emergency, actor casesvc.Staff) (*casesvc.Emergency, error) {
	var out httpapi.WireEmergency
	if err := c.do(ctx, http.MethodPut, "/internal/v1/emergency", nil,
		httpapi.WireSetEmergency{Emergency: e, Actor: staff(actor)}, &out, false); err != nil {
		return nil, err
	}
	return out.Emergency, nil
}

// PendingNotices returns up to limit undelivered notices, oldest first.
func (c *Client) PendingNotices(ctx context.Context, limit int) ([]casesvc.Notice, error) {
	out := []casesvc.Notice{}
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if err := c.do(ctx, http.MethodGet, "/internal/v1/notices/pending", q, nil, &out, true); err != nil {
		return nil, err
	}
	return out, nil
}

// MarkNoticeDelivered records that a notice was sent. Idempotent, so retried.
func (c *Client) MarkNoticeDelivered(ctx context.Context, id int64) error {
	return c.do(ctx, http.MethodPost, "/internal/v1/notices/"+strconv.FormatInt(id, 10)+"/delivered", nil, nil, nil, true)
}

// ---- casesvc.ComplaintService ----

// CreateComplaint files a complaint, retried safely under an idempotency key.
func (c *Client) CreateComplaint(ctx context.Context, nc casesvc.NewComplaint) (*casesvc.Complaint, error) {
	var out casesvc.Complaint
	err := c.do(ctx, http.MethodPost, "/internal/v1/complaints", nil, httpapi.WireNewComplaint{Category: nc.Category,
		Description: nc.Description, CaseID: nc.CaseID, PolicyNumber: nc.PolicyNumber, Complainant: nc.Complainant,
		Channel: nc.Channel, Conversation: nc.Conversation, Contact: nc.Contact, Actor: nc.Actor},
		&out, true, httpapi.IdempotencyKeyHeader, key(nc.IdempotencyKey))
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Complaint returns one complaint, unmasked. ENOTFOUND.
func (c *Client) Complaint(ctx context.Context, id string) (*casesvc.Complaint, error) {
	var out casesvc.Complaint
	if err := c.do(ctx, http.MethodGet, "/internal/v1/complaints/"+esc(id), nil, nil, &out, true); err != nil {
		return nil, err
	}
	return &out, nil
}

// Complaints lists complaints newest first with the total before paging.
func (c *Client) Complaints(ctx context.Context, f casesvc.ComplaintFilter) ([]*casesvc.Complaint, int, error) {
	q := url.Values{}
	if f.Status != "" {
		q.Set("status", f.Status)
	}
	if f.PolicyNumber != "" {
		q.Set("policy_number", f.PolicyNumber)
	}
	if f.Page > 0 {
		q.Set("page", strconv.Itoa(f.Page))
	}
	if f.PerPage > 0 {
		q.Set("per_page", strconv.Itoa(f.PerPage))
	}
	var out httpapi.WireComplaintList
	if err := c.do(ctx, http.MethodGet, "/internal/v1/complaints", q, nil, &out, true); err != nil {
		return nil, 0, err
	}
	if out.Complaints == nil {
		out.Complaints = []*casesvc.Complaint{}
	}
	return out.Complaints, out.Total, nil
}

// ComplaintTransition applies a complaint action. Not retried.
func (c *Client) ComplaintTransition(ctx context.Context, id string, req casesvc.ComplaintTransitionRequest, actor casesvc.Staff) (*casesvc.Complaint, error) {
	var out casesvc.Complaint
	if err := c.do(ctx, http.MethodPost, "/internal/v1/complaints/"+esc(id)+"/transitions", nil,
		httpapi.WireComplaintTransition{Request: req, Actor: staff(actor)}, &out, false); err != nil {
		return nil, err
	}
	return &out, nil
}

// EscalateOverdue escalates overdue complaints. Retried: a repeat escalates nothing twice.
func (c *Client) EscalateOverdue(ctx context.Context, now time.Time) ([]*casesvc.Complaint, error) {
	out := []*casesvc.Complaint{}
	if err := c.do(ctx, http.MethodPost, "/internal/v1/complaints/escalate-overdue", nil,
		httpapi.WireEscalate{Now: now}, &out, true); err != nil {
		return nil, err
	}
	return out, nil
}

// Alerts lists mass-complaint alerts active at or after since, newest first.
func (c *Client) Alerts(ctx context.Context, since time.Time) ([]casesvc.Alert, error) {
	out := []casesvc.Alert{}
	q := url.Values{"since": {since.Format(time.RFC3339Nano)}}
	if err := c.do(ctx, http.MethodGet, "/internal/v1/alerts", q, nil, &out, true); err != nil {
		return nil, err
	}
	return out, nil
}

// PendingAlerts returns up to limit undelivered alerts, oldest first.
func (c *Client) PendingAlerts(ctx context.Context, limit int) ([]casesvc.Alert, error) {
	out := []casesvc.Alert{}
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if err := c.do(ctx, http.MethodGet, "/internal/v1/alerts/pending", q, nil, &out, true); err != nil {
		return nil, err
	}
	return out, nil
}

// MarkAlertDelivered records that the console showed an alert. Idempotent, so retried.
func (c *Client) MarkAlertDelivered(ctx context.Context, id int64) error {
	return c.do(ctx, http.MethodPost, "/internal/v1/alerts/"+strconv.FormatInt(id, 10)+"/delivered", nil, nil, nil, true)
}

// Interface guards
var _ casesvc.Service = (*Client)(nil)
