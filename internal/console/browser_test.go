package console_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// geoNetworks is the GeoIP database of the browser tests.
var geoNetworks = map[string]string{"81.2.64.0/18": "GB", "8.8.8.0/24": "US", "5.45.80.0/20": "DE"}

const (
	adminUser = "root"
	adminPW   = "correct horse battery staple"
	viewerPW  = "viewer horse battery staple"
)

// TestConsoleInBrowser drives the console in headless chromium against the single node through the flows of
// issue 9, one step after the other (each needs the state the previous left).
func TestConsoleInBrowser(t *testing.T) {
	n := startNode(t)
	n.bootstrap(adminUser, adminPW, "admin")
	b := newBrowser(t, n.console)

	// Sign-in page; a wrong password is refused with one message for every failure.
	b.open("/")
	if loc := b.location(); loc != "/login" {
		t.Fatalf("/ without a session went to %s; want /login", loc)
	}
	b.screenshot("login")
	b.submit("form.card button", "input[name=username]", adminUser, "input[name=password]", "wrong password")
	b.mustSee("Invalid credentials.")

	// Password, then forced enrollment: nothing but the 2FA page is reachable.
	b.submit("form.card button", "input[name=username]", adminUser, "input[name=password]", adminPW)
	if loc := b.location(); loc != "/console/2fa" {
		t.Fatalf("after the password step an admin without 2FA is at %s; want /console/2fa", loc)
	}
	b.mustSee("Your role requires two-factor authentication")
	b.screenshot("2fa-prerequisites")
	b.open("/console/allowlist")
	if loc := b.location(); loc != "/console/2fa" {
		t.Errorf("an admin who has not enrolled reached %s; want a redirect to /console/2fa", loc)
	}
	b.submit("form[action='/console/2fa/enroll'] button")
	if !b.has("img.qr[src^='data:image/png;base64,']") {
		t.Error("the enrollment page shows no QR code image")
	}
	auth := newAuthenticator(t, b.text("#totp-secret"))
	b.screenshot("2fa-enroll")
	b.submit("form[action='/console/2fa/confirm'] button", "input[name=code]", auth.code(t))
	b.mustSee("Backup codes")
	codes := shownCodes(b)
	if len(codes) != 10 {
		t.Fatalf("backup codes shown = %q; want 10", codes)
	}
	if !b.has("a[download][href^='data:text/plain']") || !b.has("button[data-print]") {
		t.Error("the backup codes page offers no download link or print button")
	}
	b.screenshot("2fa-backup-codes")
	b.open("/")
	b.screenshot("home")

	// Sign out; sign in again with a code, then with a backup code (which works once).
	signOut(b)
	signIn(b, adminUser, adminPW)
	b.screenshot("second-factor")
	b.submit("form.card button", "input[name=code]", auth.code(t))
	if loc := b.location(); loc != "/" {
		t.Fatalf("after a valid code the admin is at %s; want /", loc)
	}
	signOut(b)
	signIn(b, adminUser, adminPW)
	b.submit("form.card button", "input[name=recovery_code]", codes[3])
	if loc := b.location(); loc != "/" {
		t.Fatalf("after a backup code the admin is at %s; want /", loc)
	}
	signOut(b)
	signIn(b, adminUser, adminPW)
	b.submit("form.card button", "input[name=recovery_code]", codes[3])
	b.mustSee("Invalid credentials.")
	signIn(b, adminUser, adminPW)
	b.submit("form.card button", "input[name=recovery_code]", codes[4])

	// A form without its CSRF token is refused.
	b.open("/console/allowlist")
	eval[any](b, `document.querySelector("form[action='/console/allowlist/add'] input[name=csrf]").remove()`)
	b.submit("form[action='/console/allowlist/add'] button", "input[name=prefix]", "192.0.2.0/24", "input[name=description]", "forged")
	b.mustSee("did not come from this console")
	b.open("/console/allowlist")
	if strings.Contains(b.text("table"), "192.0.2.0/24") {
		t.Error("a post without the CSRF token changed the allow list")
	}

	// Allow list: restricting from an address the list does not cover is refused with the warning; from a
	// listed one it works; unrestricted again.
	b.mustSee("Admin access is unrestricted")
	b.submit("form[action='/console/allowlist/add'] button", "input[name=prefix]", "198.51.100.0/24", "input[name=description]", "office")
	b.mustSee("198.51.100.0/24")
	b.mustSee("the list does not cover it")
	b.submit("form[action='/console/allowlist/restrict'] button")
	b.mustSee("Admin access is unrestricted")
	if got := b.text("p.error"); got == "" {
		t.Error("restricting without covering the own address showed no refusal")
	}
	b.mustSee("127.0.0.1")
	b.screenshot("allowlist-refused")
	b.open("/console/allowlist")
	b.submit("form[action='/console/allowlist/add'] button", "input[name=prefix]", "127.0.0.1", "input[name=description]", "this laptop")
	b.submit("form[action='/console/allowlist/restrict'] button")
	b.mustSee("Admin access is restricted to the IPs in the list.")
	b.screenshot("allowlist-restricted")
	b.submit("form[action='/console/allowlist/restrict'] button")
	b.mustSee("Admin access is unrestricted")

	// API keys: shown once.
	b.open("/console/apikeys")
	b.submit("form[action='/console/apikeys/create'] button", "input[name=name]", "grafana")
	key := b.text("#new-key")
	if !strings.HasPrefix(key, "vk_") {
		t.Errorf("new API key shown = %q; want vk_…", key)
	}
	b.screenshot("apikeys")
	if code := n.apiStatus("/v1/me", key); code != 200 {
		t.Fatalf("GET /v1/me with the new key = %d; want 200", code)
	}
	// Revoking it (after the confirm dialog) removes it from the list, and the API refuses it from then on.
	b.open("/console/apikeys")
	b.submit("form[action='/console/apikeys/revoke'] button")
	b.mustSee("The key is revoked.")
	b.mustSee("No API keys.")
	if strings.Contains(b.text("main table"), "grafana") {
		t.Error("the revoked key is still listed")
	}
	if code := n.apiStatus("/v1/me", key); code != 401 {
		t.Errorf("GET /v1/me with the revoked key = %d; want 401", code)
	}

	// Accounts: the admin creates a viewer.
	b.open("/console/accounts")
	b.submit("form[action='/console/accounts/create'] button", "input[name=username]", "watcher", "input[name=password]", viewerPW,
		"select[name=role]", "viewer")
	b.mustSee("The account is created.")
	b.screenshot("accounts")

	// A compromised user's logins from two countries raise an incident; the home page shows the banner.
	b.open("/")
	b.mustSee("No unreviewed security incidents.")
	at := time.Now().UTC().Add(-time.Hour)
	n.post(login("alice@example.org", "81.2.69.142", at), login("alice@example.org", "8.8.8.8", at.Add(time.Minute)))
	testenv.Eventually(t, 30*time.Second, "the home page shows the incident banner", func() bool {
		b.open("/")
		return b.has("#incident-banner")
	})
	b.mustSee("New security incidents detected. Click here to check the Security page.")
	b.screenshot("home-banner")
	b.submit("#incident-banner")
	if !strings.HasPrefix(b.location(), "/console/incidents") || !strings.Contains(b.text("#incidents"), "alice@example.org") {
		t.Fatalf("the banner led to %s without alice's incident", b.location())
	}
	b.screenshot("incidents")
	b.submit("#incidents a.user")
	b.mustSee("multi_country")
	if got := b.text("#logins"); !strings.Contains(got, "8.8.8.8") || !strings.Contains(got, "81.2.69.142") || !strings.Contains(got, "imap1.example.org") {
		t.Errorf("the incident's Last Logins = %q; want both addresses and the reporting server", got)
	}
	if !b.has("table.evidence") && !strings.Contains(b.text("main"), "GB") {
		t.Error("the incident page shows no evidence")
	}
	b.screenshot("incident")
	incidentURL := b.location()

	// Decisions on the incident page: the policy's observe-mode record shows as "would hold_mail" and is lifted there.
	ds := decisionStore(t, n.natsURL)
	incID := strings.TrimPrefix(incidentURL, "/console/incidents/")
	if _, _, err := ds.Put(context.Background(), decision.Decision{Kind: decision.User, Subject: "alice@example.org", Action: decision.HoldMail,
		Observe: true, IncidentID: incID, Rule: "multi_country", Reason: "logins from two countries", CreatedBy: decision.System}); err != nil {
		t.Fatal(err)
	}
	b.open(incidentURL)
	if got := b.text("#incident-decisions"); !strings.Contains(got, "would hold_mail") || !strings.Contains(got, "observed") {
		t.Errorf("the incident's decisions = %q; want the observe-mode \"would hold_mail\"", got)
	}
	b.screenshot("incident-decisions")
	b.submit("#incident-decisions form.lift button", "#incident-decisions form.lift input[name=reason]", "reviewed: travelling")
	b.mustSee("The decision is lifted.")
	if loc := b.location(); !strings.HasPrefix(loc, incidentURL) {
		t.Errorf("after lifting on the incident page the browser is at %s; want %s", loc, incidentURL)
	}
	if got := b.text("#incident-decisions"); !strings.Contains(got, "lifted") || !strings.Contains(got, "reviewed: travelling") || b.has("#incident-decisions form.lift") {
		t.Errorf("the incident's decisions after the lift = %q; want it lifted with the reason and no Lift button", got)
	}

	// The Decisions page: add one by hand, see it listed (in force), lift it with a reason.
	b.open("/console/decisions")
	b.mustSee("No decisions match.")
	// A refused decision says which field is wrong and keeps what was typed.
	b.submit("#decision-form button", "#decision-form select[name=kind]", "network", "#decision-form input[name=subject]", "10.0.0.0/8",
		"#decision-form select[name=action]", "block_login", "#decision-form input[name=reason]", "everyone")
	b.mustSee("subject: 10.0.0.0/8 is wider than /16")
	if got := eval[string](b, `document.querySelector("#decision-form input[name=subject]").value`); got != "10.0.0.0/8" {
		t.Errorf("after a refused add the subject field holds %q; want what was typed", got)
	}
	b.submit("#decision-form button", "#decision-form select[name=kind]", "user", "#decision-form input[name=subject]", "Dave@example.org",
		"#decision-form select[name=action]", "block_login", "#decision-form input[name=reason]", "password leaked", "#decision-form select[name=duration]", "4h")
	b.mustSee("The decision is in force.")
	if got := b.text("#decisions"); !strings.Contains(got, "dave@example.org") || !strings.Contains(got, "block_login") || !strings.Contains(got, "active") || !strings.Contains(got, adminUser) {
		t.Fatalf("the decisions list = %q; want dave's block_login in force, by %s", got, adminUser)
	}
	if all, err := ds.List(context.Background()); err != nil || len(all) != 2 || !slices.ContainsFunc(all, func(d decision.Decision) bool {
		return d.CreatedBy == adminUser && d.Subject == "dave@example.org" && d.Active(time.Now()) && d.ExpiresAt.Sub(d.CreatedAt) == 4*time.Hour
	}) {
		t.Errorf("the bucket holds %+v, %v; want the admin's 4-hour decision in force", all, err)
	}
	b.open("/console/decisions?state=all")
	b.screenshot("decisions")
	b.open("/console/decisions")
	// A lift without the form's CSRF token is refused.
	eval[any](b, `document.querySelector("#decisions form.lift input[name=csrf]").remove()`)
	b.submit("#decisions form.lift button", "#decisions form.lift input[name=reason]", "forged")
	b.mustSee("did not come from this console")
	b.open("/console/decisions")
	b.submit("#decisions form.lift button", "#decisions form.lift input[name=reason]", "false alarm")
	b.mustSee("The decision is lifted.")
	b.mustSee("No decisions match.")
	b.open("/console/decisions?state=lifted")
	if got := b.text("#decisions"); !strings.Contains(got, "dave@example.org") || !strings.Contains(got, "false alarm") || !strings.Contains(got, "would hold_mail") {
		t.Errorf("lifted decisions = %q; want dave's (false alarm) and the observe-mode one", got)
	}
	b.open(incidentURL)

	// Mark the US login's /24 as safe for the domain; it shows under the domain's trusted IPs.
	b.submit(`#logins tr:has(code) a.safe[href*="8.8.8.8"]`)
	b.screenshot("mark-safe")
	b.run(chromedp.Click(chromedp.CSS("#safe-form input[value=domain]")))
	b.submit("#safe-form button", "select[name=prefix]", "8.8.8.0/24", "input[name=description]", "hotel wifi in Boston")
	b.mustSee("Marked as safe")
	b.open("/console/trusted?domain=example.org")
	if got := b.text("#trusted"); !strings.Contains(got, "8.8.8.0/24") || !strings.Contains(got, "hotel wifi in Boston") || !strings.Contains(got, "(all of example.org)") {
		t.Fatalf("trusted IPs of example.org = %q; want 8.8.8.0/24 for the domain", got)
	}
	b.screenshot("trusted")

	// A login from that range counts for nothing: no incident for dave.
	n.post(login("dave@example.org", "81.2.70.1", at), login("dave@example.org", "8.8.8.77", at.Add(time.Minute)))
	testenv.Eventually(t, 30*time.Second, "dave's two logins are stored, the trusted one marked", func() bool {
		b.open("/console/users/dave@example.org")
		got := b.text("#logins")
		return strings.Contains(got, "8.8.8.77") && strings.Contains(got, "81.2.70.1")
	})
	if rows := eval[int](b, `Array.from(document.querySelectorAll("#logins tbody tr")).filter(function(r){return r.textContent.indexOf("8.8.8.77")>=0 && r.cells[5].textContent=="yes"}).length`); rows != 1 {
		t.Errorf("dave's login from 8.8.8.77 is not shown as trusted")
	}
	b.open("/console/incidents?user=dave")
	b.mustSee("No incidents match.")

	// Deleting the range (after the confirm dialog) takes it off the domain's trusted IPs.
	b.open("/console/trusted?domain=example.org")
	b.submit("#trusted form[action='/console/trusted/delete'] button")
	b.mustSee("The trusted range is removed.")
	if got := b.text("#trusted"); strings.Contains(got, "8.8.8.0/24") || !strings.Contains(got, "No trusted ranges for example.org.") {
		t.Errorf("trusted IPs of example.org after the delete = %q; want none", got)
	}

	// Resolve alice's incident with a reason and a note; who, when and why are shown; the banner goes.
	b.open(incidentURL)
	b.submit("#resolve", "select[name=reason]", "user_travelling", "form:has(#resolve) textarea[name=note]", "called her: conference in Boston")
	b.mustSee("The review is saved.")
	if got := b.text("#reviews"); !strings.Contains(got, adminUser) || !strings.Contains(got, "user_travelling") || !strings.Contains(got, "conference in Boston") {
		t.Errorf("review history = %q; want who, the reason and the note", got)
	}
	if got := b.text("#incident-status"); got != "resolved" {
		t.Errorf("status after resolving = %q; want resolved", got)
	}
	// A review from a stale page (someone reviewed meanwhile) is a conflict, not an overwrite.
	eval[any](b, `document.querySelector("form:has(#reopen) input[name=revision]").value = "0"`)
	b.submit("#reopen")
	b.mustSee("Someone else reviewed this incident meanwhile")
	if got := b.text("#incident-status"); got != "resolved" {
		t.Errorf("status after a stale reopen = %q; want still resolved", got)
	}
	testenv.Eventually(t, 30*time.Second, "the banner goes once the incident is reviewed", func() bool {
		b.open("/")
		return !b.has("#incident-banner")
	})
	testenv.Eventually(t, 30*time.Second, "the audit log shows the review and the decisions", func() bool { // written in batches
		b.open("/console/audit")
		got := b.text("#audit")
		return strings.Contains(got, "incident_review") && strings.Contains(got, "decision_add") && strings.Contains(got, "decision_lift")
	})
	b.screenshot("audit")

	// A phone's width: no page scrolls sideways.
	b.run(chromedp.EmulateViewport(390, 844))
	for _, path := range []string{"/", "/console/incidents", incidentURL, "/console/trusted?domain=example.org", "/console/allowlist", "/console/decisions?state=all"} {
		b.open(path)
		if w := eval[int](b, "document.documentElement.scrollWidth - window.innerWidth"); w > 0 {
			t.Errorf("%s at 390 px is %d px too wide", path, w)
		}
	}
	b.open(incidentURL)
	b.screenshot("incident-phone")
	b.run(chromedp.EmulateReset())

	// A viewer sees no action buttons, and its posts are refused by the API.
	if _, _, err := ds.Put(context.Background(), decision.Decision{Kind: decision.User, Subject: "alice@example.org", Action: decision.Kick,
		IncidentID: incID, Rule: "multi_country", Reason: "end her sessions", CreatedBy: decision.System}); err != nil {
		t.Fatal(err)
	}
	v := newBrowser(t, n.console)
	signIn(v, "watcher", viewerPW)
	if loc := v.location(); loc != "/" {
		t.Fatalf("viewer after sign-in is at %s; want /", loc)
	}
	for _, path := range []string{"/console/allowlist", "/console/apikeys", "/console/accounts", incidentURL, "/console/trusted?domain=example.org", "/console/users/alice@example.org",
		"/console/decisions?state=all"} {
		v.open(path)
		if forms := eval[int](v, `document.querySelectorAll("main form[method=post], main a.safe, main button:not(form[method=get] button)").length`); forms != 0 {
			t.Errorf("viewer sees %d forms or buttons on %s; want none", forms, path)
		}
	}
	v.open(incidentURL)
	if got := v.text("#incident-decisions"); !strings.Contains(got, "kick") || !strings.Contains(got, "active") {
		t.Errorf("the viewer's view of the incident's decisions = %q; want the kick in force (without a Lift button)", got)
	}
	v.open("/console/allowlist")
	v.postForm(`(function(){var f=document.createElement("form");f.method="post";f.action="/console/allowlist/add";
[["csrf",document.querySelector("header input[name=csrf]").value],["prefix","192.0.2.7"],["description","viewer"]].forEach(function(p){
var i=document.createElement("input");i.name=p[0];i.value=p[1];f.appendChild(i)});document.body.appendChild(f);f.submit();return true})()`)
	v.mustSee("your role may not do this")

	// Regenerating backup codes needs a current code; the old codes stop working.
	b.open("/console/2fa")
	b.screenshot("2fa-manage")
	b.submit("form[action='/console/2fa/regenerate'] button", "input[name=code]", auth.code(t))
	b.mustSee("New backup codes")
	fresh := shownCodes(b)
	if len(fresh) != 10 || fresh[0] == codes[0] {
		t.Errorf("regenerated codes = %q; want 10 new ones", fresh)
	}
	// Disabling is refused for a role that requires 2FA.
	b.open("/console/2fa")
	b.mustSee("cannot be turned off")

	// A sub-admin limited to example.org, created with that limit in the console.
	b.open("/console/accounts")
	b.submit("form[action='/console/accounts/create'] button", "input[name=username]", "ann", "input[name=password]", subPW,
		"select[name=role]", "sub-admin", "input[name=domains]", "example.org")
	b.mustSee("The account is created.")
	if got := rowText(b, "main table", "ann"); !strings.Contains(got, "|sub-admin|example.org|off|") {
		t.Fatalf("the accounts list shows ann as %q; want sub-admin of example.org", got)
	}
	// An incident of another domain: the admin sees it next to alice's.
	erinAt := time.Now().UTC().Add(-30 * time.Minute)
	n.post(login("erin@other.net", "81.2.69.150", erinAt), login("erin@other.net", "5.45.80.9", erinAt.Add(time.Minute)))
	testenv.Eventually(t, 30*time.Second, "the admin sees erin's incident", func() bool {
		b.open("/console/incidents")
		return strings.Contains(b.text("#incidents"), "erin@other.net")
	})
	b.open("/console/incidents")
	b.mustSee("2 incidents, newest first.")
	erinURL := eval[string](b, `Array.from(document.querySelectorAll("#incidents a.user")).filter(function(a){return a.textContent=="erin@other.net"})[0].getAttribute("href")`)

	// The sub-admin enrolls 2FA at the first sign-in, then sees example.org's incident, users and nothing of other.net.
	s := newBrowser(t, n.console)
	signIn(s, "ann", subPW)
	if loc := s.location(); loc != "/console/2fa" {
		t.Fatalf("a new sub-admin after the password step is at %s; want /console/2fa", loc)
	}
	s.submit("form[action='/console/2fa/enroll'] button")
	annAuth := newAuthenticator(t, s.text("#totp-secret"))
	s.submit("form[action='/console/2fa/confirm'] button", "input[name=code]", annAuth.code(t))
	s.mustSee("Backup codes")
	s.open("/")
	s.mustSee("No unreviewed security incidents.") // erin's is unreviewed, but not hers to see
	s.open("/console/incidents")
	if got := s.text("#incidents"); !strings.Contains(got, "alice@example.org") || strings.Contains(got, "erin@other.net") {
		t.Errorf("the sub-admin's incident list = %q; want alice's incident and not erin's", got)
	}
	s.mustSee("1 incident, newest first.")
	s.screenshot("incidents-sub-admin")
	s.open(erinURL)
	s.mustSee("no such incident")
	if strings.Contains(s.text("body"), "5.45.80.9") {
		t.Error("the sub-admin sees erin's evidence")
	}
	s.open("/console/users/erin@other.net")
	if got := s.text("body"); strings.Contains(got, "5.45.80.9") || strings.Contains(got, "81.2.69.150") {
		t.Errorf("the sub-admin sees erin's logins: %.500s", got)
	}
	s.open("/console/users/alice@example.org")
	if got := s.text("#logins"); !strings.Contains(got, "81.2.69.142") {
		t.Errorf("the sub-admin's view of alice's logins = %q; want her login from 81.2.69.142", got)
	}
	s.open("/console/accounts")
	s.mustSee("your role may not do this")

	// The admin resets the sub-admin's 2FA: the list shows it off, and her next sign-in enrolls again.
	b.open("/console/accounts")
	if got := rowText(b, "main table", "ann"); !strings.Contains(got, "|on|") {
		t.Fatalf("ann's row before the reset = %q; want 2FA on", got)
	}
	b.submit("form[action='/console/accounts/reset-2fa']:has(input[name=username][value=ann]) button")
	b.mustSee("Two-factor authentication is reset")
	if got := rowText(b, "main table", "ann"); !strings.Contains(got, "|off|") || b.has("form[action='/console/accounts/reset-2fa']:has(input[value=ann])") {
		t.Errorf("ann's row after the reset = %q; want 2FA off and no reset button", got)
	}
	signIn(s, "ann", subPW)
	if loc := s.location(); loc != "/console/2fa" {
		t.Errorf("after the reset the sub-admin signs in to %s; want the enrollment page /console/2fa", loc)
	}
	s.mustSee("Your role requires two-factor authentication")
}

const subPW = "sub-admin horse battery staple"

// rowText returns the cells of the row of table whose first cell is first, as "|cell|cell|" ("" when none).
func rowText(b *browser, table, first string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`Array.from(document.querySelectorAll(%q+" tbody tr")).filter(function(r){return r.cells[0].textContent==%q}).map(function(r){return "|"+Array.from(r.cells).map(function(c){return c.textContent.trim()}).join("|")+"|"}).join("")`, table, first))
}

// apiStatus answers the status of a GET on the auth API with a bearer token.
func (n *node) apiStatus(path, token string) int {
	n.t.Helper()
	req, _ := http.NewRequest("GET", n.console+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func shownCodes(b *browser) []string {
	b.t.Helper()
	return eval[[]string](b, `Array.from(document.querySelectorAll("#backup-codes code")).map(function(e){return e.textContent})`)
}

// postForm runs a script that submits a form and waits for the answer page.
func (b *browser) postForm(script string) {
	b.t.Helper()
	before := eval[float64](b, "performance.timeOrigin")
	eval[bool](b, script)
	testenv.Eventually(b.t, 20*time.Second, "the answer to a scripted post loads", func() bool {
		v, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]any](`[performance.timeOrigin, document.readyState]`))
		return err == nil && len(v) == 2 && v[0] != before && v[1] == "complete"
	})
}

// login is a successful IMAP login event.
func login(user, ip string, at time.Time) string {
	return fmt.Sprintf(`{"kind":"login","time":%q,"user":%q,"ip":%q,"service":"imap","success":true,"source":"imap1.example.org"}`,
		at.Format(time.RFC3339), user, ip)
}

func signIn(b *browser, user, pw string) {
	b.t.Helper()
	b.open("/login")
	b.submit("form.card button", "input[name=username]", user, "input[name=password]", pw)
}

func signOut(b *browser) {
	b.t.Helper()
	b.submit("header form.who button")
	if loc := b.location(); loc != "/login" {
		b.t.Fatalf("after sign-out the browser is at %s; want /login", loc)
	}
}

// decisionStore opens the node's decisions bucket, as the responder writes it.
func decisionStore(t *testing.T, natsURL string) *decision.Store {
	t.Helper()
	nc, err := natsbus.Connect(natsURL, "test-decisions", slog.New(slog.DiscardHandler))
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
	return ds
}
