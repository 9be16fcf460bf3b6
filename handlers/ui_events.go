package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/views"
)

// dashboardFailures is how many recent failed deliveries the dashboard lists.
const dashboardFailures = 10

func (s *Server) dashboardPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	counts, err := s.DB.CountDeliveries(ctx, "", s.now().Add(-24*time.Hour))
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	failing, err := s.DB.ListFailingWebhooks(ctx)
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	recent, _, err := s.DB.ListDeliveries(ctx, db.DeliveryFilter{State: db.StateFailed, Limit: dashboardFailures})
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	whs, err := s.DB.ListWebhooks(ctx)
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	unsent, err := s.DB.CountUnsentAlerts(ctx)
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	recentAlerts, err := s.DB.CountAlertsSince(ctx, s.now().Add(-24*time.Hour))
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	chart, err := s.attemptsChart(r, "", "chart-attempts", "Attempts per hour, last 24 hours")
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.page(w, r, http.StatusOK, views.Page{Title: "Dashboard", Nav: "dashboard"}, views.Dashboard(views.DashboardData{
		Counts: counts, Failing: failing, RecentFailed: recent, Webhooks: len(whs),
		UnsentAlerts: unsent, RecentAlerts: recentAlerts, EmailOff: !s.emailStatus(r).On, Chart: chart, Now: s.now(),
	}))
}

// chartHours is how many hours the attempt charts show, the current one included.
const chartHours = 24

// attemptsChart reads the last 24 hours' attempts of one webhook ("": all) for a chart.
func (s *Server) attemptsChart(r *http.Request, webhookID, id, title string) (views.ChartData, error) {
	now := s.now()
	counts, err := s.DB.AttemptsByHour(r.Context(), webhookID, now.Add(-(chartHours-1)*time.Hour))
	if err != nil {
		return views.ChartData{}, err
	}
	return views.ChartData{ID: id, Title: title, Hours: db.LastHours(counts, now, chartHours)}, nil
}

// validTypePrefix accepts the beginning of an event type: the characters event types are
// made of.
func validTypePrefix(p string) bool {
	if len(p) > 128 {
		return false
	}
	for _, c := range p {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (s *Server) eventsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	search := views.EventSearch{Type: strings.TrimSpace(q.Get("type")), WorkflowID: strings.TrimSpace(q.Get("workflow_id")), Errors: map[string]string{}}
	if !validTypePrefix(search.Type) {
		search.Errors["type"] = "An event type has letters, digits, dots, dashes and underscores only."
	}
	if n := s.limits().workflowIDLength; utf8.RuneCountInString(search.WorkflowID) > n {
		search.Errors["workflow_id"] = fmt.Sprintf("A workflow id is at most %d characters.", n)
	}
	data := views.EventListData{Search: search, Now: s.now()}
	p := views.Page{Title: "Events", Nav: "events"}
	if len(search.Errors) > 0 {
		s.page(w, r, http.StatusUnprocessableEntity, p, views.EventList(data))
		return
	}
	rows, next, err := s.DB.ListEvents(r.Context(), db.EventFilter{
		TypePrefix: search.Type, WorkflowID: search.WorkflowID, Cursor: q.Get("cursor"), Limit: uiPageSize,
	})
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	data.Rows = rows
	if next != "" {
		q.Set("cursor", next)
		data.NextURL = "/events?" + q.Encode()
	}
	s.page(w, r, http.StatusOK, p, views.EventList(data))
}

func (s *Server) eventPage(w http.ResponseWriter, r *http.Request) {
	ev, err := s.DB.FindEvent(r.Context(), r.PathValue("id"))
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	ds, _, err := s.DB.ListDeliveries(r.Context(), db.DeliveryFilter{EventID: ev.ID, Limit: 500})
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.page(w, r, http.StatusOK, views.Page{Title: "Event " + ev.ID, Nav: "events"}, views.EventPage(views.EventData{Event: ev, Deliveries: ds, Now: s.now()}))
}

// replayForm is GET /events/{id}/replay: choose where a stored event goes again.
func (s *Server) replayForm(w http.ResponseWriter, r *http.Request) {
	s.renderReplay(w, r, http.StatusOK, views.ReplayData{})
}

func (s *Server) renderReplay(w http.ResponseWriter, r *http.Request, status int, d views.ReplayData) {
	ev, err := s.DB.FindEvent(r.Context(), r.PathValue("id"))
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	hooks, err := s.DB.ListWebhooks(r.Context())
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	d.Event, d.Webhooks = ev, hooks
	s.page(w, r, status, views.Page{Title: "Replay " + ev.ID, Nav: "events"}, views.ReplayForm(d))
}

// replayPost is POST /events/{id}/replay: to=all (the webhooks that match now) or to=some
// with the webhook ids ticked.
func (s *Server) replayPost(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.uiFail(w, r, invalidValue("form", err.Error()))
		return
	}
	id := r.PathValue("id")
	some := r.PostForm.Get("to") == "some"
	var listed []string
	chosen := map[string]bool{}
	if some {
		listed = r.PostForm["webhook"]
		for _, w := range listed {
			chosen[w] = true
		}
		if len(listed) == 0 {
			s.renderReplay(w, r, http.StatusBadRequest, views.ReplayData{Some: true, Chosen: chosen,
				Error: "Tick at least one webhook, or choose every matching webhook."})
			return
		}
	}
	got, err := s.replay(r, id, listed)
	var bad *apiError
	if errors.As(err, &bad) && bad.Status == http.StatusBadRequest {
		s.renderReplay(w, r, http.StatusBadRequest, views.ReplayData{Some: some, Chosen: chosen, Error: bad.Message})
		return
	}
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	msg := fmt.Sprintf("Replayed to %s.", countNoun(len(got), "webhook", "webhooks"))
	if len(got) == 0 {
		msg = "No enabled webhook matches this event now: nothing was sent."
	}
	s.flash(w, r, msg)
	redirect(w, r, "/events/"+id)
}

// idPages maps an id's prefix to the page it has.
var idPages = map[string]string{"evt_": "/events/", "dlv_": "/deliveries/", "whk_": "/webhooks/"}

// goToID is GET /go?id=…: the search box in the header sends a pasted id straight to its
// page. Something that is not an id of these kinds is a 400 page that says what it takes.
func (s *Server) goToID(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimSpace(r.URL.Query().Get("id"))
	if len(id) > 4 && len(id) <= 64 && !strings.ContainsAny(id, "/?#% ") {
		if page, ok := idPages[id[:4]]; ok {
			redirect(w, r, page+id)
			return
		}
	}
	s.uiFail(w, r, &uiError{http.StatusBadRequest, "Not an id", "Paste an event (evt_…), delivery (dlv_…) or webhook (whk_…) id."})
}
