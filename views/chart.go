package views

import (
	"fmt"
	"strconv"

	"github.com/hookrelay/hookrelay/db"
)

// Chart geometry, in SVG user units: one column per hour.
const (
	chartColumn = 20
	chartBar    = 14
	chartHeight = 100
	chartTop    = 10
	chartBottom = 20 // room for the hour labels
)

// ChartData is a chart of attempts per hour, succeeded and failed.
type ChartData struct {
	ID    string         // element id prefix, unique on the page
	Title string         // what the chart shows, also its accessible name
	Hours []db.HourCount // oldest first, one per column (db.LastHours)
}

// chartBarData is one hour's column: a solid bar for the succeeded attempts with a hatched
// one for the failed on top, so the two read apart without colour.
type chartBarData struct {
	X, W, OkY, OkH, FailY, FailH int
	LabelY                       int
	Label                        string // "13:00"
	Title                        string // the hour and its numbers, shown on hover and read aloud
	ShowLabel                    bool   // every sixth hour is labelled
}

func chartBars(hours []db.HourCount) []chartBarData {
	most := 1
	for _, h := range hours {
		most = max(most, h.Succeeded+h.Failed)
	}
	scale := func(n int) int { return (n*chartHeight + most - 1) / most }
	out := make([]chartBarData, len(hours))
	for i, h := range hours {
		okH, failH := scale(h.Succeeded), scale(h.Failed)
		base := chartTop + chartHeight
		out[i] = chartBarData{
			X: i*chartColumn + (chartColumn-chartBar)/2, W: chartBar, LabelY: base + chartBottom - 2, OkY: base - okH, OkH: okH, FailY: base - okH - failH, FailH: failH,
			Label: h.Hour.UTC().Format("15:04"), ShowLabel: i%6 == 0,
			Title: fmt.Sprintf("%s–%s UTC: %d succeeded, %d failed", h.Hour.UTC().Format("15:04"),
				h.Hour.UTC().Add(59*60e9).Format("15:04"), h.Succeeded, h.Failed),
		}
	}
	return out
}

func chartWidth(hours []db.HourCount) string { return strconv.Itoa(len(hours) * chartColumn) }

func chartViewBox(hours []db.HourCount) string {
	return fmt.Sprintf("0 0 %d %d", len(hours)*chartColumn, chartTop+chartHeight+chartBottom)
}

func chartTotals(hours []db.HourCount) (ok, failed int) {
	for _, h := range hours {
		ok += h.Succeeded
		failed += h.Failed
	}
	return ok, failed
}
