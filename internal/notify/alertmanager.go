package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/natsbus"
)

// AlertmanagerOptions configures the Alertmanager sink.
type AlertmanagerOptions struct {
	URL        string        // Alertmanager's base URL, like http://127.0.0.1:9093; alerts go to URL/api/v2/alerts
	ConsoleURL string        // the console's public base URL for the alerts' links; "" leaves them out
	Resend     time.Duration // how often open incidents are sent again; default 1m (below Alertmanager's resolve_timeout)
}

// DefaultResend is how often firing alerts are re-sent. Each carries endsAt = now + 4 × Resend, as Prometheus does,
// so Alertmanager resolves an alert by itself only when Vigil stopped sending it for that long.
const DefaultResend = time.Minute

// AlertName is the alertname label of every incident alert.
const AlertName = "VigilIncident"

// AlertsBucket keeps one record per alerted incident (its labels, annotations and whether it is resolved), so a
// restarted notifier goes on re-sending the firing ones and never fires a resolved one again.
const AlertsBucket = "vigil_notify_alerts"

// Severities maps a rule to the severity label. An unlisted rule is a warning.
var Severities = map[incident.Rule]string{
	"multi_country":     "critical", // logins from several countries: the account is likely in other hands
	"impossible_travel": "critical",
	"send_volume":       "critical", // an account sending spam
	"brute_force":       "warning",
	"password_spray":    "warning",
	"new_country":       "info",
}

// Severity returns a rule's severity label.
func Severity(r incident.Rule) string {
	if s, ok := Severities[r]; ok {
		return s
	}
	return "warning"
}

func (o *AlertmanagerOptions) validate() error {
	var errs []error
	if err := checkURL(o.URL); err != nil {
		errs = append(errs, fmt.Errorf("alertmanager %w", err))
	}
	if o.ConsoleURL != "" {
		if err := checkURL(o.ConsoleURL); err != nil {
			errs = append(errs, fmt.Errorf("console %w", err))
		}
	}
	if o.Resend < 0 || (o.Resend > 0 && o.Resend < time.Second) || o.Resend > time.Hour {
		errs = append(errs, fmt.Errorf("alertmanager resend %s: 1s-1h", o.Resend))
	}
	return errors.Join(errs...)
}

// alert is one postable alert of Alertmanager's API v2, and the record kept per incident.
type alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// alertRecord is what AlertsBucket stores.
type alertRecord struct {
	Alert    alert     `json:"alert"`
	Resolved bool      `json:"resolved"`
	Updated  time.Time `json:"updated"`
}

type alertmanager struct {
	o      AlertmanagerOptions
	kv     jetstream.KeyValue
	client *http.Client
	now    func() time.Time
	m      *metrics
	logger *slog.Logger
}

func newAlertmanager(ctx context.Context, js jetstream.JetStream, o AlertmanagerOptions, common *Options, m *metrics, logger *slog.Logger) (*alertmanager, error) {
	if o.Resend == 0 {
		o.Resend = DefaultResend
	}
	o.URL = strings.TrimRight(o.URL, "/")
	o.ConsoleURL = strings.TrimRight(o.ConsoleURL, "/")
	kv, err := openBucket(ctx, js, AlertsBucket, "Vigil notifications: incidents alerted to Alertmanager", 0, common.Replicas)
	if err != nil {
		return nil, err
	}
	return &alertmanager{o: o, kv: kv, now: common.Now, m: m, logger: logger,
		client: &http.Client{Timeout: common.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}, nil
}

func (a *alertmanager) Name() string      { return "alertmanager" }
func (a *alertmanager) Sources() []Source { return []Source{Incidents, Reviews} }

// Deliver turns an incident version into a firing alert (unless it was resolved: new evidence never undoes a
// review) and a review into a resolved or again firing one.
func (a *alertmanager) Deliver(ctx context.Context, e *Event) error {
	id := e.IncidentID()
	for range 5 { // the incident and review consumers update one record: compare-and-set, again on a conflict
		rec, rev, err := a.get(ctx, id)
		if err != nil {
			return err
		}
		next := a.apply(rec, e)
		if next == nil {
			return nil
		}
		err = a.store(ctx, id, next, rev)
		if !natsbus.IsKVConflict(err) {
			return err
		}
	}
	return fmt.Errorf("alert %s: changed concurrently five times", id)
}

// apply returns the record after the event; nil when there is nothing to send (a review of an incident this sink
// never alerted).
func (a *alertmanager) apply(rec *alertRecord, e *Event) *alertRecord {
	switch {
	case e.incident != nil:
		al := a.alertOf(e.incident)
		if rec != nil && rec.Alert.Annotations["review"] != "" {
			al.Annotations["review"] = rec.Alert.Annotations["review"] // new evidence keeps the review's status
		}
		if rec != nil && rec.Resolved {
			al.EndsAt, al.Annotations["review"] = rec.Alert.EndsAt, "resolved"
			return &alertRecord{Alert: al, Resolved: true}
		}
		return &alertRecord{Alert: al}
	case e.review != nil && rec != nil:
		rec.Resolved = e.review.Status == "resolved"
		rec.Alert.Annotations["review"] = e.review.Status
		if rec.Resolved {
			rec.Alert.EndsAt = e.review.At.UTC()
			if !rec.Alert.EndsAt.After(rec.Alert.StartsAt) {
				rec.Alert.EndsAt = a.now().UTC()
			}
		}
		return rec
	}
	return nil
}

func (a *alertmanager) alertOf(inc *incident.Incident) alert {
	key := inc.Key()
	labels := map[string]string{"alertname": AlertName, "rule": string(inc.Rule), "domain": inc.Domain,
		"severity": Severity(inc.Rule), "incident_id": inc.ID}
	if inc.User != "" {
		labels["user"] = inc.User
	} else {
		labels["key"] = key
	}
	summary := fmt.Sprintf("%s: %s", inc.Rule, key)
	var desc []string
	if len(inc.Countries) > 0 {
		desc = append(desc, "countries "+strings.Join(inc.Countries, ", "))
	}
	if len(inc.IPs) > 0 {
		ips := inc.IPs
		if len(ips) > 10 {
			ips = ips[:10]
		}
		desc = append(desc, "addresses "+strings.Join(ips, ", "))
	}
	ann := map[string]string{"summary": summary, "description": strings.Join(desc, "; ")}
	al := alert{Labels: labels, Annotations: ann, StartsAt: inc.FirstSeen.UTC()}
	if a.o.ConsoleURL != "" {
		al.GeneratorURL = a.o.ConsoleURL + "/console/incidents/" + url.PathEscape(inc.ID)
		ann["console"] = al.GeneratorURL
	}
	return al
}

func (a *alertmanager) get(ctx context.Context, id string) (*alertRecord, uint64, error) {
	e, err := a.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read alert %s: %w", id, err)
	}
	var rec alertRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return nil, 0, fmt.Errorf("alert record %s: %w", id, err)
	}
	return &rec, e.Revision(), nil
}

// store records the alert over revision rev (0: a new record) and sends it.
func (a *alertmanager) store(ctx context.Context, id string, rec *alertRecord, rev uint64) error {
	now := a.now()
	rec.Updated = now.UTC()
	data, _ := json.Marshal(rec)
	var err error
	if rev == 0 {
		_, err = a.kv.Create(ctx, id, data)
	} else {
		_, err = a.kv.Update(ctx, id, data, rev)
	}
	if natsbus.IsKVConflict(err) {
		return err
	}
	if err != nil {
		return fmt.Errorf("store alert %s: %w", id, err)
	}
	return a.post(ctx, []alertRecord{*rec}, now)
}

// post sends alerts; a firing one ends 4 re-send intervals from now unless re-sent.
func (a *alertmanager) post(ctx context.Context, recs []alertRecord, now time.Time) error {
	alerts := make([]alert, len(recs))
	for i, r := range recs {
		alerts[i] = r.Alert
		if !r.Resolved {
			alerts[i].EndsAt = now.Add(4 * a.o.Resend).UTC()
		}
	}
	body, _ := json.Marshal(alerts)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.o.URL+"/api/v2/alerts", bytes.NewReader(body))
	if err != nil {
		return poison("alertmanager request: %v", errors.Unwrap(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Vigil-Notify/1")
	resp, err := a.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("alertmanager: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("alertmanager answered %d: %q", resp.StatusCode, msg)
	}
	return nil
}

// run re-sends every firing alert each Resend interval, and forgets resolved ones a week after they ended.
func (a *alertmanager) run(ctx context.Context) error {
	t := time.NewTicker(a.o.Resend)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := a.resend(ctx); err != nil && ctx.Err() == nil {
				a.logger.Warn("alertmanager re-send failed; next try in one interval", "err", err)
			}
		}
	}
}

func (a *alertmanager) resend(ctx context.Context) error {
	keys, err := a.kv.ListKeys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list alerts: %w", err)
	}
	now := a.now()
	var firing []alertRecord
	for k := range keys.Keys() {
		rec, _, err := a.get(ctx, k)
		if err != nil || rec == nil {
			continue
		}
		if rec.Resolved {
			if now.Sub(rec.Alert.EndsAt) > 7*24*time.Hour {
				a.kv.Delete(ctx, k)
			}
			continue
		}
		firing = append(firing, *rec)
	}
	a.m.firing.Set(float64(len(firing)))
	for len(firing) > 0 {
		n := min(len(firing), 200)
		pctx, cancel := context.WithTimeout(ctx, a.client.Timeout)
		err := a.post(pctx, firing[:n], now)
		cancel()
		if err != nil {
			return err
		}
		firing = firing[n:]
	}
	return nil
}
