// Package console is the admin console: server-rendered pages on the auth API's listener that are a client of the
// auth API, nothing more (every page calls the API in-process as the browser's request).
package console

import (
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Console serves the admin pages.
type Console struct {
	api    http.Handler
	logger *slog.Logger
	pages  map[string]*template.Template
	mux    *http.ServeMux
}

// New returns the console over api, the auth API's handler (authapi.Server.Handler()).
func New(api http.Handler, logger *slog.Logger) (*Console, error) {
	c := &Console{api: api, logger: logger, pages: map[string]*template.Template{}}
	if err := c.parse(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

func (c *Console) parse() error {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return err
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return err
		}
		c.pages[name] = t
	}
	return nil
}

// ServeHTTP serves a console page with the security headers every page carries.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin") // not no-referrer: with it, browsers send "Origin: null" on form posts
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	c.mux.ServeHTTP(w, r)
}

func (c *Console) routes() {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/console/static/", http.FileServerFS(static))
	mux.Handle("GET /console/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		files.ServeHTTP(w, r)
	}))
	mux.Handle("GET /{$}", c.page(true, c.home))
	mux.Handle("GET /login", c.page(false, c.loginForm))
	mux.Handle("POST /login", c.page(false, c.loginPost))
	mux.Handle("GET /login/code", c.page(false, c.codeForm))
	mux.Handle("POST /login/code", c.page(false, c.codePost))
	mux.Handle("POST /logout", c.page(true, c.logout))
	mux.Handle("GET /console/2fa", c.page(true, c.twofa))
	mux.Handle("POST /console/2fa/enroll", c.page(true, c.enroll))
	mux.Handle("POST /console/2fa/confirm", c.page(true, c.confirm))
	mux.Handle("POST /console/2fa/regenerate", c.page(true, c.regenerate))
	mux.Handle("POST /console/2fa/disable", c.page(true, c.disable))
	mux.Handle("GET /console/allowlist", c.page(true, c.allowlist))
	mux.Handle("POST /console/allowlist/add", c.page(true, c.allowAdd))
	mux.Handle("POST /console/allowlist/delete", c.page(true, c.allowDelete))
	mux.Handle("POST /console/allowlist/restrict", c.page(true, c.allowRestrict))
	mux.Handle("GET /console/apikeys", c.page(true, c.apikeys))
	mux.Handle("POST /console/apikeys/create", c.page(true, c.apikeyCreate))
	mux.Handle("POST /console/apikeys/revoke", c.page(true, c.apikeyRevoke))
	mux.Handle("GET /console/accounts", c.page(true, c.accounts))
	mux.Handle("POST /console/accounts/create", c.page(true, c.accountCreate))
	mux.Handle("POST /console/accounts/reset-2fa", c.page(true, c.accountReset))
	c.incidentRoutes(mux)
	c.decisionRoutes(mux)
	mux.Handle("/", c.page(false, func(w http.ResponseWriter, r *http.Request, p *page) error {
		return &pageError{Status: http.StatusNotFound, Message: "There is no such page."}
	}))
	c.mux = mux
}

// pageError is a failed page: its status and the message shown.
type pageError struct {
	Status  int
	Message string
}

func (e *pageError) Error() string { return e.Message }

// apiError turns a failed API answer into a page error with the API's message.
func apiError(a *apiResult) error {
	return &pageError{Status: a.Status, Message: a.Problem()}
}

var errBadForm = &pageError{Status: http.StatusForbidden, Message: "The form has expired or did not come from this console. Reload the page and try again."}

// page wraps a page handler: CSRF check on POST, the signed-in account (when auth is set; otherwise the sign-in
// page), the forced 2FA enrollment, and the error page.
func (c *Console) page(auth bool, h func(w http.ResponseWriter, r *http.Request, p *page) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := &page{Path: r.URL.Path}
		secret := c.csrfSecret(w, r)
		p.CSRF = csrfToken(secret, sessionToken(r))
		err := func() error {
			if r.Method == http.MethodPost {
				r.Body = http.MaxBytesReader(w, r.Body, maxForm)
				if err := r.ParseForm(); err != nil {
					return &pageError{Status: http.StatusRequestEntityTooLarge, Message: "The form is too large."}
				}
				if !checkCSRF(r) {
					return errBadForm
				}
			}
			if auth || sessionToken(r) != "" {
				m, err := c.me(r)
				if err != nil && auth {
					return err
				}
				p.Me = m
			}
			if auth && p.Me == nil {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return nil
			}
			if p.Me != nil && p.Me.EnrollmentRequired && !strings.HasPrefix(r.URL.Path, "/console/2fa") && r.URL.Path != "/logout" {
				http.Redirect(w, r, "/console/2fa", http.StatusSeeOther)
				return nil
			}
			return h(w, r, p)
		}()
		if err != nil {
			c.renderError(w, r, p, err)
		}
	})
}

// maxForm bounds a form post.
const maxForm = 64 << 10

func (c *Console) renderError(w http.ResponseWriter, r *http.Request, p *page, err error) {
	var pe *pageError
	if !errors.As(err, &pe) {
		c.logger.Error("console page", "path", r.URL.Path, "err", err)
		pe = &pageError{Status: http.StatusInternalServerError, Message: "Something went wrong; the server log has the detail."}
	}
	p.Title = http.StatusText(pe.Status)
	p.Error = pe.Message
	c.render(w, pe.Status, "error", p)
}

// see redirects after a successful post (303, so a reload does not post again).
func see(w http.ResponseWriter, r *http.Request, to string) error {
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}
