package main

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"claimline/internal/testservices"
)

// TestScaledOut runs the scaled-out deployment as separate processes: a case service on its own, and
// three gateway nodes sharing a redis-server (started by the test on a free port). A customer starts a
// claim in the web chat on node A; node A is killed (SIGKILL); the customer reconnects to node B (as
// behind a load balancer) and the form goes on where it stopped, nothing lost or repeated; the claim
// and its document are in the case service, readable through every node.
// A document uploaded through node B is kept by the case service: a supervisor downloads the same
// bytes from the case service's back office and from node A's.
func TestScaledOut(t *testing.T) {
	redisURL := testservices.StartRedis(t)
	const token = "casesvc-service-token-0123456789"
	cs := startCommand(t, []string{"casesvc", "--addr", "127.0.0.1:0", "--data", t.TempDir()},
		"CLAIMLINE_CASESVC_TOKEN="+token)
	gateway := func() *proc {
		return startProcess(t, t.TempDir(), "CLAIMLINE_REDIS_URL="+redisURL,
			"CLAIMLINE_CASESVC_URL="+cs.URL, "CLAIMLINE_CASESVC_TOKEN="+token)
	}
	a, b, third := gateway(), gateway(), gateway()

	c := &wsClient{t: t}
	c.connect(a.URL)
	c.untilBot("需要什麼協助")
	c.press("file_claim")
	c.untilBot("保單號碼")
	c.say("HL20240017")
	c.untilBot("身分證字號")
	seen := c.lastSeq
	// Node A dies (SIGKILL: no shutdown hooks) in the middle of the conversation.
	a.kill()
	c.conn.Close()

	// Node B resumes the same conversation from Redis with nothing lost and nothing repeated (the
	// client's seq check fails on any repeat), and the dialog continues at the same question.
	if w := c.connect(b.URL); w.Seq != seen {
		t.Fatalf("node B resumes at seq %d, the customer had seen %d", w.Seq, seen)
	}
	c.say("A123456789")
	c.untilBot("出生日期")
	c.say("74/3/2")
	cust := zhMedicalCustomer(t)
	last := c.botUntilQuiet(20e9)
	var caseID string
	for caseID == "" {
		text, pressed := cust.reply(last[len(last)-1].Text, lastButtons(last))
		last = c.exchange(text, pressed)
		caseID = caseIDPattern.FindString(joinTexts(last))
	}

	// The case lives in the case service, readable through its back office and through either node.
	var got caseJSON
	if code := doJSON(t, "GET", cs.URL+"/api/v1/cases/"+caseID, testSupervisorToken, nil, &got); code != 200 {
		t.Fatalf("case %s in the case service: %d", caseID, code)
	}
	if got.PolicyNumber != "HL20240017" || got.Channel != "webchat" || got.Claimant.Name != "王小明" {
		t.Errorf("case = %+v", got)
	}
	if code := doJSON(t, "GET", third.URL+"/api/v1/cases/"+caseID, testSupervisorToken, nil, &got); code != 200 {
		t.Errorf("case through the third node: %d", code)
	}
	// A document uploaded through node B's web chat goes to the case service's blob store, not node B's.
	doc := pdf("scale-out diagnosis")
	upload(t, b.URL, c.session, "diagnosis.pdf", doc)
	if bs := lastButtons(c.botUntilQuiet(20 * time.Second)); len(bs) > 0 {
		for _, btn := range bs {
			if btn.Value == "kind:diagnosis_certificate" {
				c.exchange("", btn.Value)
			}
		}
	}
	var withDoc struct {
		Documents []struct{ ID, Kind string } `json:"documents"`
	}
	if code := doJSON(t, "GET", cs.URL+"/api/v1/cases/"+caseID, testSupervisorToken, nil, &withDoc); code != 200 || len(withDoc.Documents) != 1 {
		t.Fatalf("the case after the upload: %d %+v", code, withDoc)
	}
	for _, node := range []struct{ name, url string }{{"the case service", cs.URL}, {"node B", b.URL}, {"the third node", third.URL}} {
		got := download(t, node.url+"/api/v1/cases/"+caseID+"/documents/"+withDoc.Documents[0].ID+"/content", testSupervisorToken)
		if !bytes.Equal(got, doc) {
			t.Errorf("the document from %s: %d bytes, want the %d uploaded", node.name, len(got), len(doc))
		}
	}

	// A second client on the third node replays the conversation that A began and B carried on:
	// one transcript, in order, without gaps or repeats.
	c2 := &wsClient{t: t, session: c.session}
	c2.connect(third.URL)
	for c2.lastSeq < c.lastSeq {
		c2.read()
	}
	if !strings.Contains(joinTexts(c2.bot), caseID) {
		t.Errorf("the third node's replay lacks the case id %s", caseID)
	}
}

// download GETs url with a staff token and returns the body of a 200.
func download(t *testing.T, url, token string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	return body
}
