package main

import (
	"fmt"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// series is one line of a chart tile: a value per run.
type series struct {
	name  string
	value func(r Run, q *QueryResult) float64
}

// writeChart draws, for every query, the median latency of kubesift and of both baselines
// against N (log-log), and a last tile with the initial sync against the paginated LIST. With a
// single N every line is a single point.
func writeChart(path string, rep Report) error {
	if len(rep.Runs) == 0 {
		return nil
	}
	var names []string
	titles := map[string]string{}
	for _, r := range rep.Runs {
		for _, q := range r.Queries {
			if _, ok := titles[q.Name]; !ok {
				names = append(names, q.Name)
				titles[q.Name] = q.Name
			}
		}
	}
	latencies := []series{
		{"kubesift", func(_ Run, q *QueryResult) float64 { return q.Kubesift.Median }},
		{"API server LIST", func(_ Run, q *QueryResult) float64 { return q.API.Median }},
		{"informer cache", func(_ Run, q *QueryResult) float64 { return q.Informer.Median }},
	}
	const cols = 3
	tiles := len(names) + 1
	rows := (tiles + cols - 1) / cols
	plots := make([][]*plot.Plot, rows)
	for i := range plots {
		plots[i] = make([]*plot.Plot, cols)
	}
	for i, name := range names {
		p, err := tile(rep, "Query: "+name, "median latency (ms)", latencies, func(r Run) *QueryResult {
			for j := range r.Queries {
				if r.Queries[j].Name == name {
					return &r.Queries[j]
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		plots[i/cols][i%cols] = p
	}
	syncSeries := []series{
		{"ResourceIndex Ready", func(r Run, _ *QueryResult) float64 { return r.Sync.ResourceIndexSeconds }},
		{"paginated LIST", func(r Run, _ *QueryResult) float64 { return r.Sync.ListSeconds }},
	}
	p, err := tile(rep, "Initial sync", "seconds", syncSeries, func(Run) *QueryResult { return &QueryResult{} })
	if err != nil {
		return err
	}
	plots[(tiles-1)/cols][(tiles-1)%cols] = p

	img := vgimg.New(vg.Length(cols)*4*vg.Inch, vg.Length(rows)*3.2*vg.Inch)
	dc := draw.New(img)
	t := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(plots, t, dc)
	for i := range plots {
		for j := range plots[i] {
			if plots[i][j] != nil {
				plots[i][j].Draw(canvases[i][j])
			}
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// tile draws one log-log plot of the given series against N.
func tile(rep Report, title, ylabel string, ss []series, pick func(Run) *QueryResult) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "objects (N)"
	p.Y.Label.Text = ylabel
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	ticks := make([]plot.Tick, 0, len(rep.Runs))
	minN, maxN := rep.Runs[0].N, rep.Runs[len(rep.Runs)-1].N
	for _, r := range rep.Runs {
		ticks = append(ticks, plot.Tick{Value: float64(r.N), Label: shortCount(r.N)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = float64(minN)/2, float64(maxN)*2
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Millimeter*2, -vg.Millimeter*2
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	for i, s := range ss {
		var xys plotter.XYs
		for _, r := range rep.Runs {
			q := pick(r)
			if q == nil {
				continue
			}
			if v := s.value(r, q); v > 0 {
				xys = append(xys, plotter.XY{X: float64(r.N), Y: v})
			}
		}
		if len(xys) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, fmt.Errorf("plotting %s: %w", s.name, err)
		}
		line.Color = plotutil.Color(i)
		line.Dashes = plotutil.Dashes(i)
		points.Color = plotutil.Color(i)
		points.Shape = plotutil.Shape(i)
		p.Add(line, points)
		p.Legend.Add(s.name, line, points)
	}
	// Leave room above the highest point for the legend.
	if p.Y.Max > 0 {
		p.Y.Max *= 20
		p.Y.Min /= 2
	}
	return p, nil
}

// shortCount formats 10000 as "10k".
func shortCount(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	default:
		return fmt.Sprint(n)
	}
}
