package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// webhook posts each event, signed, to one endpoint.
type webhook struct {
	ep     Endpoint
	client *http.Client
	now    func() time.Time
}

func newWebhook(ep Endpoint, now func() time.Time) *webhook {
	return &webhook{ep: ep, now: now, client: &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, // a redirect is a failure
	}}
}

func (w *webhook) Name() string      { return "webhook-" + w.ep.Name }
func (w *webhook) Sources() []Source { return []Source{Incidents, Reviews, Decisions} }

// Deliver posts the event; any answer but 2xx, a transport error or the timeout (ctx) is a failure to retry.
func (w *webhook) Deliver(ctx context.Context, e *Event) error {
	body := e.body()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.ep.URL, bytes.NewReader(body))
	if err != nil {
		return poison("webhook %s: request: %v", w.ep.Name, errors.Unwrap(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Vigil-Notify/1")
	req.Header.Set(DeliveryHeader, e.ID)
	req.Header.Set(EventHeader, string(e.Type))
	req.Header.Set(SignatureHeader, Sign(w.ep.Secret, w.now(), body))
	resp, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // without the URL, which may carry a token
			err = ue.Err
		}
		return fmt.Errorf("webhook %s: %w", w.ep.Name, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook %s: answered %d", w.ep.Name, resp.StatusCode)
	}
	return nil
}
