package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/app"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/quarantine"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// TestHeldMailInBrowser: a real Postfix holds three of bob's messages for his incident (the node's policy service
// and hold_mail decision); in chromium the incident page lists them with Release and Delete buttons that have
// names of their own and are reached with Tab. Release on one and Delete on another (after its confirm dialog; a
// dismissed dialog sends nothing) put one command each on the mail host's stream and show release_requested and
// delete_requested; the vigil mailhost agent then carries them out: the page shows released and deleted, Postfix
// delivered the first and removed the second, and the third is still in the hold queue.
func TestHeldMailInBrowser(t *testing.T) {
	const host, user, pw = "mx1.example.net", "bob@example.org", "bob-pw"
	chromium(t) // skip before starting any server
	geoPath := filepath.Join(t.TempDir(), "geo.mmdb")
	if err := testenv.WriteTestDB(geoPath, geoNetworks); err != nil {
		t.Fatal(err)
	}
	pfAddr := freeAddr(t)
	n := startNodeEnv(t, geoPath, map[string]string{"VIGIL_POSTFIX_ADDR": pfAddr, "VIGIL_MAILHOST_NAME": host,
		"VIGIL_AUTH_REQUIRE_2FA": "viewer"}) // the admin signs in with a password alone
	n.bootstrap(adminUser, adminPW, "admin")
	mail := testenv.StartMail(t, testenv.MailOptions{Users: map[string]string{user: pw}, PostfixPolicy: pfAddr})

	// bob's logins from two countries raise an incident.
	at := time.Now().UTC().Add(-time.Hour)
	n.post(login(user, "81.2.69.142", at), login(user, "8.8.8.8", at.Add(time.Minute)))
	b := newBrowser(t, n.console)
	signIn(b, adminUser, adminPW)
	testenv.Eventually(t, 30*time.Second, "bob's incident is listed", func() bool {
		b.open("/console/incidents?user=bob")
		return b.has("#incidents a.user")
	})
	b.submit("#incidents a.user")
	incidentURL := b.location()
	incID := strings.TrimPrefix(incidentURL, "/console/incidents/")

	// The responder's hold_mail decision for it; Postfix holds bob's next messages once the index has it.
	nc, err := natsbus.Connect(n.natsURL, "test-held", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := decision.Open(context.Background(), js, decision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ds.Put(context.Background(), decision.Decision{Kind: decision.User, Subject: user, Action: decision.HoldMail,
		IncidentID: incID, Rule: "multi_country", Reason: "logins from two countries", CreatedBy: decision.System}); err != nil {
		t.Fatal(err)
	}
	var held []string // queue ids, in the order submitted
	deadline := time.Now().Add(20 * time.Second)
	for len(held) < 3 {
		id, err := testenv.Submit(mail.SubmissionAddr, "81.2.69.142", user, pw, []string{"carol@example.org"})
		if err != nil {
			t.Fatal(err)
		}
		if mail.Postfix.QueueOf(t, id) == "hold" {
			held = append(held, id)
		} else if time.Now().After(deadline) {
			t.Fatalf("%d messages held after 20s; want 3", len(held))
		}
	}
	rel, del, kept := held[0], held[1], held[2]
	t.Logf("held: release %s, delete %s, keep %s", rel, del, kept)

	testenv.Eventually(t, 30*time.Second, "the incident page lists the three held messages", func() bool {
		b.open(incidentURL)
		return b.has("#held") && heldStatus(b, rel) == "held" && heldStatus(b, del) == "held" && heldStatus(b, kept) == "held"
	})
	if got := b.text("#held-block h2"); got != "Held mail" {
		t.Errorf("the Held mail block's heading = %q", got)
	}
	if got := heldRow(b, rel); !strings.Contains(got, "|"+host+"|"+rel+"|"+user+"|1|") {
		t.Errorf("the held row of %s = %q; want host, queue id, sender %s and 1 recipient", rel, got, user)
	}

	// Every button has a name of its own that starts with what it shows, and Tab goes from one to the next.
	var names []string
	for _, id := range held {
		for _, a := range []string{"Release", "Delete"} {
			sel := "#" + strings.ToLower(a) + "-" + id
			role, name := axButton(b, sel)
			want := a + " held message " + id + " on " + host
			if role != "button" || name != want {
				t.Errorf("%s: role %q, accessible name %q; want button %q", sel, role, name, want)
			}
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if len(slices.Compact(slices.Clone(names))) != 6 {
		t.Errorf("accessible names %q; want 6 different ones", names)
	}
	b.run(chromedp.Focus(chromedp.CSS("#release-"+rel)), chromedp.KeyEvent(kb.Tab))
	if got := eval[string](b, "document.activeElement.id"); got != "delete-"+rel {
		t.Errorf("Tab from Release of %s focuses %q; want its Delete", rel, got)
	}
	b.run(chromedp.KeyEvent(kb.Tab))
	if got := eval[string](b, "document.activeElement.id"); got != "release-"+del {
		t.Errorf("Tab from Delete of %s focuses %q; want the next row's Release", rel, got)
	}

	// Release: the command is sent, the page says so and shows release_requested.
	b.submit("#release-" + rel)
	if loc := b.location(); loc != incidentURL+"?done=held_release" {
		t.Errorf("after Release the browser is at %s; want %s?done=held_release", loc, incidentURL)
	}
	b.mustSee("The release is sent to the mail host; the status changes when it reports back.")
	if got := heldStatus(b, rel); got != "release_requested" {
		t.Errorf("status of %s after Release = %q; want release_requested", rel, got)
	}
	// Delete asks first; Cancel sends nothing, OK sends the delete.
	wantDialog := "Delete the held message " + del + " on " + host + "? It is not delivered, and this cannot be undone."
	b.dismissNext()
	b.run(chromedp.Click(chromedp.CSS("#delete-" + del)))
	if got := b.lastDialog(); got != wantDialog {
		t.Errorf("Delete's dialog says %q; want %q", got, wantDialog)
	}
	b.submit("#delete-" + del)
	if loc := b.location(); loc != incidentURL+"?done=held_delete" {
		t.Errorf("after Delete the browser is at %s; want %s?done=held_delete", loc, incidentURL)
	}
	b.mustSee("The deletion is sent to the mail host; the status changes when it reports back.")
	if got, want := [3]string{heldStatus(b, rel), heldStatus(b, del), heldStatus(b, kept)}, [3]string{"release_requested", "delete_requested", "held"}; got != want {
		t.Errorf("statuses after Release and Delete = %q; want %q", got, want)
	}
	if got, want := hostCommands(t, js, host), []string{"release " + rel + " by root", "delete " + del + " by root"}; !slices.Equal(got, want) {
		t.Errorf("commands for %s = %q; want %q (none from the dismissed dialog)", host, got, want)
	}

	// The mail host's agent (vigil mailhost) carries them out.
	env := map[string]string{"VIGIL_NATS_URL": n.natsURL, "VIGIL_MAILHOST_NAME": host, "VIGIL_MAILHOST_POSTFIX_CONFIG": mail.Postfix.ConfigDir}
	acfg, err := config.Load("vigil", nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(context.Background())
	adone := make(chan error, 1)
	go func() { adone <- app.RunMailhost(actx, acfg, slog.New(slog.DiscardHandler), io.Discard) }()
	t.Cleanup(func() {
		acancel()
		if err := <-adone; err != nil {
			t.Errorf("RunMailhost = %v; want nil after cancel", err)
		}
	})
	testenv.Eventually(t, 30*time.Second, "the page shows the release and the delete carried out", func() bool {
		b.open(incidentURL)
		return heldStatus(b, rel) == "released" && heldStatus(b, del) == "deleted"
	})
	if got := heldStatus(b, kept); got != "held" {
		t.Errorf("status of the untouched %s = %q; want held", kept, got)
	}
	if b.has("#release-"+rel) || b.has("#delete-"+del) || !b.has("#release-"+kept) || !b.has("#delete-"+kept) {
		t.Error("buttons: want none for the released and the deleted message, both for the held one")
	}
	if got := heldRow(b, rel); !strings.Contains(got, "released by root") {
		t.Errorf("the released row = %q; want who released it", got)
	}
	testenv.Eventually(t, 20*time.Second, "Postfix delivered the released message", func() bool { return mail.Postfix.QueueOf(t, rel) == "" })
	if q := mail.Postfix.QueueOf(t, del); q != "" {
		t.Errorf("the deleted message %s is in Postfix's %s queue", del, q)
	}
	if q := mail.Postfix.QueueOf(t, kept); q != "hold" {
		t.Errorf("the untouched message %s is in queue %q; want hold", kept, q)
	}
	testenv.Eventually(t, 20*time.Second, "Postfix's log shows the released message sent and the deleted one removed", func() bool {
		log, _ := os.ReadFile(mail.PostfixLog)
		return strings.Contains(string(log), rel+": to=<carol@example.org>") && strings.Contains(string(log), del+": removed")
	})
	if log, _ := os.ReadFile(mail.PostfixLog); strings.Contains(string(log), del+": to=<carol@example.org>") {
		t.Errorf("Postfix delivered the deleted message %s", del)
	}
	b.screenshotOf("incident-held", "#held-block")
}

// heldStatus returns the status badge of a queue id's row in the Held mail table ("" when it has no row).
func heldStatus(b *browser, queueID string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`(function(){var r=Array.from(document.querySelectorAll("#held tbody tr")).filter(function(r){
return r.cells[2].textContent==%q})[0];return r?r.querySelector(".badge").textContent:""})()`, queueID))
}

// heldRow returns the cells of a queue id's row in the Held mail table as "|cell|cell|" ("" when it has none).
func heldRow(b *browser, queueID string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`Array.from(document.querySelectorAll("#held tbody tr")).filter(function(r){return r.cells[2].textContent==%q}).map(function(r){
return "|"+Array.from(r.cells).map(function(c){return c.textContent.trim().replace(/\s+/g," ")}).join("|")+"|"}).join("")`, queueID))
}

// axButton returns the role and accessible name chromium computes for the element sel.
func axButton(b *browser, sel string) (role, name string) {
	b.t.Helper()
	nodes := result(b, chromedp.Nodes(chromedp.CSS(sel)))
	tree, err := chromedp.Call(b.ctx, accessibility.GetPartialAXTree, accessibility.GetPartialAXTreeParams{BackendNodeID: nodes[0].BackendNodeID})
	if err != nil || len(tree.Nodes) == 0 {
		b.t.Fatalf("accessibility tree of %s: %v", sel, err)
	}
	n := tree.Nodes[0]
	if n.Role != nil {
		json.Unmarshal(n.Role.Value, &role)
	}
	if n.Name != nil {
		json.Unmarshal(n.Name.Value, &name)
	}
	return role, name
}

// hostCommands returns the commands waiting for the host's agent on the command stream, as "action queue_id by actor".
func hostCommands(t *testing.T, js jetstream.JetStream, host string) []string {
	t.Helper()
	ctx := context.Background()
	stream, err := js.Stream(ctx, quarantine.CommandStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if err != nil || msg.Subject != quarantine.CommandSubject(host) {
			continue
		}
		var c quarantine.Command
		if err := json.Unmarshal(msg.Data, &c); err != nil {
			t.Fatalf("command %d: %v", seq, err)
		}
		got = append(got, c.Action+" "+c.QueueID+" by "+c.By)
	}
	return got
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
