package handlers

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hookrelay/hookrelay/db"
)

// Days a daily-attempts request may cover: the default, and the most (ten years, so that a
// long-lived installation's history can be read in one request).
const (
	defaultDailyDays = 30
	maxDailyDays     = 3660
)

type dailyAttempts struct {
	Day       string `json:"day"` // 2006-01-02, UTC
	Succeeded int    `json:"succeeded"`
	Failed    int    `json:"failed"`
}

// getDailyAttempts answers a webhook's attempts per UTC day, succeeded and failed, for the
// last `days` days up to today, oldest first, days without attempts included as zeros. The
// counts outlive retention: the pruner rolls old hours up into days rather than deleting
// them.
func (s *Server) getDailyAttempts(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	days := defaultDailyDays
	if v := r.URL.Query().Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxDailyDays {
			s.fail(w, r, invalidValue("days", fmt.Sprintf("must be an integer from 1 to %d", maxDailyDays)))
			return
		}
		days = n
	}
	if _, err := s.DB.FindWebhook(r.Context(), id); err != nil {
		s.fail(w, r, notFoundAs(err, "webhook", id))
		return
	}
	first := db.DayStart(s.now()).AddDate(0, 0, -(days - 1))
	counts, err := s.DB.AttemptsByDay(r.Context(), id, first)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	by := make(map[time.Time]db.DayCount, len(counts))
	for _, c := range counts {
		by[c.Day] = c
	}
	out := make([]dailyAttempts, days)
	for i := range out {
		day := first.AddDate(0, 0, i)
		c := by[day]
		out[i] = dailyAttempts{Day: day.Format(time.DateOnly), Succeeded: c.Succeeded, Failed: c.Failed}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}
