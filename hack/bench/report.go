package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// renderMarkdown writes benchmarks.md from the report.
func renderMarkdown(rep Report) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	p("# Benchmarks")
	p("")
	p("kubesift against the Kubernetes API server on the same data, measured in one run on a real control")
	p("plane (etcd and kube-apiserver) by [`hack/bench`](../hack/bench). Reproduce with `make bench`")
	p("(10,000 objects) or `make bench BENCH_N=100000`; a run keeps the results at other N already in")
	p("[benchmarks.json](benchmarks.json), so runs at 10k and 100k combine (or pass `-n 10000,100000`).")
	p("Nothing here is a pass/fail test, but the run fails if kubesift and a baseline answer a query")
	p("differently: every figure below comes with identical answers (the page's objects in order and the")
	p("total).")
	p("")
	p("The multi-cluster scenario (§5) runs only when asked, for one N per run:")
	p("`make bench BENCH_N=100000 BENCH_ARGS=-clusters=3` also spreads the same objects over three")
	p("clusters and compares queries and the initial sync with the single-cluster figures. It runs")
	p("three control planes at once, after the single-cluster one has stopped.")
	p("")
	p("![Query latency and sync time against N](benchmarks.png)")
	p("")

	p("## Setup")
	p("")
	header := "| |"
	sep := "|---|"
	for _, r := range rep.Runs {
		header += fmt.Sprintf(" N = %s |", count(r.N))
		sep += "---|"
	}
	p("%s", header)
	p("%s", sep)
	row := func(name string, f func(r Run) string) {
		line := "| " + name + " |"
		for _, r := range rep.Runs {
			line += " " + f(r) + " |"
		}
		p("%s", line)
	}
	row("Date", func(r Run) string { return r.Date })
	row("Machine", func(r Run) string {
		m := r.Host.Machine
		return fmt.Sprintf("%d CPUs, %s memory, %s, %s", m.CPUs, bytesIEC(float64(m.MemoryBytes)), m.CPUModel, m.OS)
	})
	row("Versions", func(r Run) string {
		v := r.Host.Versions
		return fmt.Sprintf("Go %s, Kubernetes %s, etcd %s, SQLite %s", v.Go, v.Kubernetes, v.Etcd, v.SQLite)
	})
	row("kubesift", func(r Run) string { return "`" + r.Host.Versions.Kubesift + "`" })
	row("Objects", func(r Run) string {
		return fmt.Sprintf("%s Templates (apps.example.com/v1alpha1, %s of JSON each on average) in %d namespaces",
			count(r.N), bytesIEC(float64(r.ObjectBytes)), r.Namespaces)
	})
	row("CRDs installed", func(r Run) string { return "`" + strings.Join(r.CRDs, "`, `") + "`" })
	row("Loading through the API", func(r Run) string {
		return fmt.Sprintf("%s objects in %.0f s: %.0f creates/s, each followed by a status write, from %d goroutines",
			count(r.Load.Objects), r.Load.Seconds, r.Load.CreatesPerSec, r.Load.ClientRoutines)
	})
	row("Machine load (1-min average at each scenario)", func(r Run) string {
		parts := make([]string, len(r.LoadAverages))
		for i, l := range r.LoadAverages {
			parts[i] = fmt.Sprintf("%.1f", l)
		}
		return strings.Join(parts, ", ")
	})
	row("Manager `--requery-interval`", func(r Run) string { return r.RequeryInterval })
	p("")
	for _, r := range rep.Runs {
		if slices.Max(append([]float64{0}, r.LoadAverages...)) > float64(r.Host.Machine.CPUs) {
			p("The load average exceeded the machine's %d CPUs during the run at N = %s. The control plane, the",
				r.Host.Machine.CPUs, count(r.N))
			p("manager and the benchmark itself share those CPUs, so the load counts them; it cannot tell them from")
			p("other work on the machine. The methods of one scenario were measured one after another within a")
			p("minute or so, so their ratios suffer less than their absolute figures from any other work.")
			p("")
		}
	}

	p("## 1. Initial sync")
	p("")
	p("Time from creating a ResourceIndex over N existing objects to its `Ready=True`, against a plain")
	p("client-go LIST of the same objects in pages of 500 (resourceVersion unset: a consistent read), the")
	p("floor set by the API server. The LIST is the median of 3; the ResourceIndex is measured once.")
	p("kube-apiserver's CPU time during each shows how hard the API server worked for it; on two cores,")
	p("a LIST or a sync that meets the API server busy with other work (such as building its watch cache")
	p("after a start) takes longer (— where not measured).")
	p("")
	p("| N | ResourceIndex Ready | Paginated LIST | Ratio | Manager CPU during the sync | kube-apiserver CPU: LIST / sync |")
	p("|---|---|---|---|---|---|")
	for _, r := range rep.Runs {
		s := r.Sync
		apiCPU := "—"
		if s.ListAPIServerCPUSeconds > 0 && s.SyncAPIServerCPUSeconds > 0 {
			apiCPU = fmt.Sprintf("%.2f s / %.2f s", s.ListAPIServerCPUSeconds, s.SyncAPIServerCPUSeconds)
		}
		p("| %s | %.2f s | %.2f s | %.2f× the LIST | %.2f s | %s |", count(r.N), s.ResourceIndexSeconds, s.ListSeconds,
			s.ResourceIndexSeconds/s.ListSeconds, s.CPUSeconds, apiCPU)
	}
	p("")

	p("## 2. Query latency")
	p("")
	p("Each query is answered three ways; the answer is a page of object references plus the exact total.")
	p("")
	p("- **kubesift**: the query path the controller runs, in process: the same objects in an in-memory")
	p("  `index.Store` registered with the ResourceIndex's fields (`%s`), then `query.Compile` and", strings.Join(indexedFields, "`, `"))
	p("  `Store.Search` (for a deep page, with the continue token of the page before it).")
	p("- **API server LIST**: a LIST with the equivalent label selector and `resourceVersion=<the")
	p("  loaded data's>`, `resourceVersionMatch=NotOlderThan`, so that the watch cache serves it (no etcd")
	p("  read), decoded by client-go's dynamic client; the client filters what the API cannot, sorts,")
	p("  cuts the page and counts. The sample CRD declares no selectable fields, so field comparisons")
	p("  and name searches list every object.")
	p("- **Informer cache**: a controller-runtime cache for the kind in the same process, `List` with the")
	p("  label selector and `UnsafeDisableDeepCopy` (no copies), then the same client-side work in Go.")
	p("")
	p("Speed-up is the baseline's median over kubesift's; below 1× kubesift is slower.")
	for _, r := range rep.Runs {
		p("")
		p("### N = %s", count(r.N))
		p("")
		p("| Query | Matches | kubesift median / p99 | API server LIST median / p99 | Speed-up vs LIST | " +
			"Informer cache median / p99 | Speed-up vs informer |")
		p("|---|---|---|---|---|---|---|")
		for _, q := range r.Queries {
			p("| %s | %s | %s | %s | %s | %s | %s |", q.Title, count(int(q.Total)), latency(q.Kubesift), latency(q.API),
				ratio(q.API.Median, q.Kubesift.Median), latency(q.Informer), ratio(q.Informer.Median, q.Kubesift.Median))
		}
		if hasReadAPI(r) {
			p("")
			p("The same queries through the read API: a client-go GET of the Template list under")
			p("`%s`, sent to the API server, which proxies it to the manager's", readAPIPrefix)
			p("read API (the aggregated endpoint); the manager answers from its own index (the ResourceIndex")
			p("of §1) with the page's **full objects**, which the client decodes as it decodes the LIST's.")
			p("Selective queries target ≥ 100× the API server LIST.")
			p("")
			p("| Query | Read API median / p99 | API server LIST median / p99 | Speed-up vs LIST | Target ≥ 100× |")
			p("|---|---|---|---|---|")
			for _, q := range r.Queries {
				if q.ReadAPI == nil {
					continue
				}
				target := "—"
				if selective(q) {
					target = metOrMissed(q.API.Median >= 100*q.ReadAPI.Median)
				}
				p("| %s | %s | %s | %s | %s |", q.Name, latency(*q.ReadAPI), latency(q.API), ratio(q.API.Median, q.ReadAPI.Median), target)
			}
		}
		p("")
		p("What the API server was asked:")
		p("")
		for _, q := range r.Queries {
			p("- %s: %s", q.Name, q.APIRequest)
			if q.ReadAPIRequest != "" {
				p("  - through the read API: `%s`", q.ReadAPIRequest)
			}
		}
		p("")
		p("Samples per figure: kubesift %s; API server %s; informer %s (each after one warm-up call).",
			sampleCounts(r, func(q QueryResult) Latency { return q.Kubesift }),
			sampleCounts(r, func(q QueryResult) Latency { return q.API }),
			sampleCounts(r, func(q QueryResult) Latency { return q.Informer }))
	}
	p("")

	p("## 3. Freshness")
	p("")
	p("Time from an update of an object shown in a SearchQuery's page (an annotation change, so the")
	p("object's resourceVersion in the page changes), timed when the API server acknowledges the write,")
	p("to the SearchQuery status showing the new resourceVersion, seen through a watch on SearchQuery")
	p("objects. The live queries select `env=prod` in one namespace each, 50 per page;")
	p("updates go round robin over them, one at a time at a fixed pace. One query is evaluated again at")
	p("most once per requery interval or ten times its last search's duration, whichever is longer; with")
	p("one query, updates that arrive closer together than that are batched into one evaluation (and one")
	p("status write), so fewer status writes than updates mean that the query's own cost spaced them.")
	p("With many queries each one sees an update rarely, and the latency is the event path's: informer,")
	p("index write, evaluation, status patch, watch.")
	p("")
	p("| N | Live queries | Updates | Median | p99 | Max | SearchQuery status writes |")
	p("|---|---|---|---|---|---|---|")
	for _, r := range rep.Runs {
		for _, f := range r.Freshness {
			p("| %s | %d | %d | %.0f ms | %.0f ms | %.0f ms | %d |", count(r.N), f.LiveQueries, f.Updates,
				f.Latency.Median, f.Latency.P99, f.MaxMs, f.StatusWrites)
		}
	}
	p("")

	p("## 4. Cost")
	p("")
	p("The manager's footprint from its own `/metrics` (`process_resident_memory_bytes`,")
	p("`go_memstats_heap_inuse_bytes`, `process_cpu_seconds_total`): idle before the ResourceIndex")
	p("exists, then a few seconds after its sync; per object is the growth divided by N. The index is")
	p("in memory (`--index-path` unset), so RSS includes SQLite's pages; the mirror keeps no other copy.")
	p("The burst updates objects that no live query can match (`env=dev`) while all live queries")
	p("are running; every SearchQuery modification seen by a watch from the burst's start until the")
	p("manager has applied every update (its `kubesift_index_events_total`) and a few requery intervals")
	p("more counts as a status write (target: zero).")
	p("")
	p("| N | RSS idle → synced | RSS per object | Go heap idle → synced | Heap per object | " +
		"Unrelated updates | Live queries | Status writes | Manager CPU during the burst |")
	p("|---|---|---|---|---|---|---|---|---|")
	for _, r := range rep.Runs {
		c := r.Cost
		applied := fmt.Sprintf("applied by the manager %.1f s after the last", c.Burst.CatchUpSeconds)
		if c.Burst.CatchUpSeconds == 0 {
			applied = "not checked that the manager applied them"
		}
		p("| %s | %s → %s | %s | %s → %s | %s | %s in %.1f s, %s | %d | %d | %.2f s |", count(r.N),
			bytesIEC(c.IdleRSSBytes), bytesIEC(c.RSSBytes), bytesIEC(c.RSSPerObject(r.N)),
			bytesIEC(c.IdleHeapBytes), bytesIEC(c.HeapBytes), bytesIEC(c.HeapPerObject(r.N)),
			count(c.Burst.Updates), c.Burst.Seconds, applied, c.Burst.LiveQueries, c.Burst.StatusWrites, c.Burst.CPUSeconds)
	}
	p("")
	for _, r := range rep.Runs {
		if b := r.Cost.Burst; b.CatchUpSeconds == 0 && b.CPUSeconds < 0.1 {
			p("At N = %s the manager used %.2f s of CPU during the burst, too little to have applied %s updates:",
				count(r.N), b.CPUSeconds, count(b.Updates))
			p("it was probably still behind when counting stopped, so that run's zero is not conclusive.")
			p("")
		}
	}

	p("### Memory against the objects' JSON")
	p("")
	p("JSON is the mean size of one object as the API server returns it, managedFields excluded, times N.")
	p("Steady is a few seconds after the sync; peak is the highest value sampled every 250 ms while the")
	p("initial sync ran. Targets: steady RSS ≤ 2× the JSON, peak RSS ≤ 3× the JSON.")
	p("")
	p("| N | Index | JSON per object | RSS per object (steady) | Go heap per object (steady) | " +
		"RSS per object (peak) | Go heap per object (peak) | Database | **RSS / JSON** | Peak RSS / JSON | RSS growth / JSON | Sync / LIST |")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rep.Runs {
		rows := []struct {
			name string
			c    *CostResult
			s    *SyncResult
		}{{"memory", &r.Cost, &r.Sync}, {"file", r.FileCost, r.FileSync}}
		for _, row := range rows {
			if row.c == nil || row.c.PeakRSSBytes == 0 || r.ObjectBytes == 0 {
				continue
			}
			c, n := row.c, float64(r.N)
			p("| %s | %s | %s | %s | %s | %s | %s | %s | **%.2f×** (%s) | %.2f× (%s) | %.2f× | %.2f× |", count(r.N), row.name,
				bytesIEC(float64(r.ObjectBytes)), bytesIEC(c.RSSBytes/n), bytesIEC(c.HeapBytes/n),
				bytesIEC(c.PeakRSSBytes/n), bytesIEC(c.PeakHeapBytes/n), bytesIEC(c.IndexBytes),
				c.RSSOverJSON(r.N, r.ObjectBytes), metOrMissed(c.RSSOverJSON(r.N, r.ObjectBytes) <= 2),
				c.PeakRSSOverJSON(r.N, r.ObjectBytes), metOrMissed(c.PeakRSSOverJSON(r.N, r.ObjectBytes) <= 3),
				c.RSSPerObject(r.N)/float64(r.ObjectBytes), row.s.ResourceIndexSeconds/row.s.ListSeconds)
		}
	}
	p("")
	p("RSS includes the manager's fixed cost (Go runtime, clients, SQLite's WebAssembly runtime, about")
	p("40 MiB idle), which dominates at small N; the headline ratio is meant for large N, and the growth")
	p("from idle over the JSON shows the cost per object alone.")
	p("")

	renderClusters(&b, rep)

	p("## Against the targets")
	p("")
	for _, line := range targetLines(rep) {
		p("- %s", line)
	}
	p("")
	slower := slowerLines(rep)
	if len(slower) > 0 {
		p("## Where kubesift is slower than a baseline")
		p("")
		for _, line := range slower {
			p("- %s", line)
		}
		p("")
	}
	return b.String()
}

// slowerReasons explain, per query, why a baseline can beat kubesift.
var slowerReasons = map[string]string{
	"field-unindexed": "`spec.image` is not among the ResourceIndex's fields, so SQLite reads every object's JSON " +
		"(`json_extract` over all rows) where the informer cache compares Go values already decoded in memory; adding " +
		"the path to `spec.fields` turns the scan into an index lookup.",
	queryLabelConjunction: "The conjunction is driven from its most selective label and the others are probed per " +
		"candidate; what remains is reading the candidates' rows.",
	"name-substring": "The trigram index finds the candidate names; each is then confirmed on its row.",
	"field-unindexed-equals": "`status.phase` is not among the ResourceIndex's fields, so SQLite reads every object's " +
		"JSON where the informer cache compares Go values already decoded in memory; adding the path to `spec.fields` " +
		"turns the scan into an index lookup.",
	"value-from": "No index relates two fields of one object, so the comparison reads both values of every " +
		"candidate's row, where the informer cache compares Go values already decoded in memory.",
	querySortedDeepPage: "The total counts every match; the count after the cursor and the page walk the " +
		"`spec.replicas` index, and the rows that tie with the cursor's value are read.",
}

// selectiveMissReason explains why a selective query can miss 100× the API server LIST.
const selectiveMissReason = "The API server answers a label selector from its watch cache, in memory and without " +
	"reading etcd, so its LIST of a few selective matches is already fast; kubesift reads the candidates of the " +
	"query's most selective label from SQLite's label index and probes each for the other labels, once for the page " +
	"and once for the exact total."

// scanMissReason explains a selective query on a path that is not declared missing 100×.
const scanMissReason = "The API server cannot filter on the path, so its LIST returns every object and the client " +
	"filters; kubesift reads every object's JSON in SQLite (the path is not among the ResourceIndex's fields), and at " +
	"this N that scan costs more than a hundredth of the LIST. Declaring the path in `spec.fields` turns the scan " +
	"into an index lookup."

// selectiveMissReasons replace selectiveMissReason for the queries it does not describe.
var selectiveMissReasons = map[string]string{
	"field-unindexed":        scanMissReason,
	"field-unindexed-equals": scanMissReason,
	"value-from": "The API server cannot compare two fields, so its LIST returns every object and the client " +
		"compares; no index relates two fields of one object, so kubesift reads both values from the JSON of every " +
		"object that matches the label selector, and at this N that costs more than a hundredth of the LIST.",
	"any-of": "The API server answers the groups' common label selector (`shard in (s7,s11)`) from its watch " +
		"cache, in memory; kubesift answers each group from its most selective label, probing the group's other " +
		"label per candidate, and reads the union's rows to sort the page, then counts the union's distinct ids " +
		"for the exact total.",
}

// readAPIMissReason explains what the read API adds to the in-process figure. The parts are
// BenchmarkList's (internal/readapi), measured on the machine of the 2026-12-03 runs.
const readAPIMissReason = "The read API's answer also crosses the API server's aggregation layer and carries the " +
	"page's full objects, which the manager reads and encodes and the client decodes. `BenchmarkList` " +
	"(internal/readapi) splits a page of 50 objects of about 2 KB: the read API server adds about 2.5 ms to the " +
	"search, the aggregation layer's hop about 4 ms and the client's decoding about 3.5 ms, about 10 ms in all, " +
	"so a query whose LIST takes less than a second cannot reach 100× through the read API. Where the figure " +
	"below adds more than that, the rest is not explained yet."

// deepPageMissReason explains why the sorted deep page misses its bound. The figures are
// docs/design/index.md's, measured in process at 100,000 objects.
const deepPageMissReason = "Every page of this query pays for three things, measured in process at N = 100,000 " +
	"(docs/design/index.md, \"Sorted pages\"): the exact total counts the ~33,000 env=prod entries of the label " +
	"index (about 6 ms); the `spec.replicas` index that the page walks does not hold the second sort key " +
	"(`metadata.name`), so SQLite reads and sorts by name all rows of each `spec.replicas` value it reaches (~8,300 " +
	"per value, about 12 ms); and it checks env=prod against a list of the 33,000 label entries that it builds for " +
	"every query (about 20 ms). A page after the first also counts the matches before its cursor, which grows with " +
	"its depth. An index on (`spec.replicas` descending, `metadata.name`) with a per-row label check read the first " +
	"page in 0.94 ms instead of 31 ms; it is not built, since every declared field would need one per pair of sort " +
	"directions, and each slows every write."

// freshnessMissReason explains a missed freshness p99.
const freshnessMissReason = "One query is re-evaluated at most once per `--requery-interval` or ten times its last " +
	"search's duration, whichever is longer, so that its re-evaluations take at most about a tenth of a core; " +
	"updates that arrive faster are batched into one evaluation (fewer status writes than updates in §3), and a " +
	"change waits for the next one."

// missedBy says by how much a measured value misses a bound: by what it exceeds, as a ratio.
func missedBy(got, bound float64) string {
	f := "Missed by %.1f×: %s against at most %s."
	if got/bound < 1.1 {
		f = "Missed by %.2f×: %s against at most %s."
	}
	return fmt.Sprintf(f, got/bound, millis(got), millis(bound))
}

// pageSeriesMissReason explains why a deep page can cost more than the first.
const pageSeriesMissReason = "A page after the first also counts the matches after its cursor (for the remaining " +
	"count) and reads the rows that tie with the cursor's first sort key (`spec.replicas` takes few values, so many " +
	"matches tie), which the first page does not."

// targetLines marks each of the project's targets met or missed in every run, largest N
// first (the targets are set at N = 100,000); each missed target says by how much and why.
func targetLines(rep Report) []string {
	var out []string
	for i := len(rep.Runs) - 1; i >= 0; i-- {
		out = append(out, runTargetLines(rep.Runs[i])...)
	}
	return out
}

// runTargetLines marks the targets of one run.
func runTargetLines(r Run) []string {
	mark := func(met bool) string {
		if met {
			return "**met**"
		}
		return "**missed**"
	}
	var out []string
	// why appends to a missed target's line by how much and why.
	why := func(line string, met bool, by, reason string) string {
		if met {
			return line
		}
		parts := []string{line}
		for _, p := range []string{by, reason} {
			if p != "" {
				parts = append(parts, p)
			}
		}
		return strings.Join(parts, " ")
	}
	for _, q := range r.Queries {
		met := q.Kubesift.Median <= q.Informer.Median
		out = append(out, why(fmt.Sprintf("%s `%s` at N = %s: kubesift %s against the informer cache's %s (median; target: "+
			"no query slower than the informer cache).",
			mark(met), q.Name, count(r.N), millis(q.Kubesift.Median), millis(q.Informer.Median)),
			met, missedBy(q.Kubesift.Median, q.Informer.Median), slowerReasons[q.Name]))
		if q.Name == querySortedDeepPage {
			met := q.Kubesift.Median <= 20
			out = append(out, why(fmt.Sprintf("%s `%s` at N = %s: %s (median; target ≤ 20 ms).",
				mark(met), q.Name, count(r.N), millis(q.Kubesift.Median)), met, missedBy(q.Kubesift.Median, 20), deepPageMissReason))
		}
		if slices.Contains(sortedPageSeries, q.Name) {
			continue
		}
		if q.Name == queryFacetLabel || q.Name == queryFacetField {
			met := q.API.Median >= 100*q.Kubesift.Median
			out = append(out, why(fmt.Sprintf("%s counts by value `%s` (page + total + counts over every match) at N = %s: "+
				"%s faster than a LIST of every object counted in the client (median; target ≥ 100×).",
				mark(met), q.Name, count(r.N), ratio(q.API.Median, q.Kubesift.Median)),
				met, missedBy(q.Kubesift.Median, q.API.Median/100), "Counting by value reads an index entry of every match."))
			continue
		}
		met = q.API.Median >= 100*q.Kubesift.Median
		reason := selectiveMissReason
		if r, ok := selectiveMissReasons[q.Name]; ok {
			reason = r
		}
		out = append(out, why(fmt.Sprintf("%s selective query `%s` (page + exact total) at N = %s: %s faster than the API server LIST "+
			"(median; target ≥ 100×).",
			mark(met), q.Name, count(r.N), ratio(q.API.Median, q.Kubesift.Median)),
			met, missedBy(q.Kubesift.Median, q.API.Median/100), reason))
		if q.ReadAPI != nil {
			met := q.API.Median >= 100*q.ReadAPI.Median
			reason := fmt.Sprintf("%s Here it added %s to kubesift's %s.", readAPIMissReason,
				millis(q.ReadAPI.Median-q.Kubesift.Median), millis(q.Kubesift.Median))
			out = append(out, why(fmt.Sprintf("%s selective query `%s` through the read API (page of full objects + total) at N = %s: "+
				"%s faster than the API server LIST (median; target ≥ 100×).",
				mark(met), q.Name, count(r.N), ratio(q.API.Median, q.ReadAPI.Median)),
				met, missedBy(q.ReadAPI.Median, q.API.Median/100), reason))
		}
	}
	if line, met, ok := pageSeriesLine(r); ok {
		out = append(out, why(mark(met)+" "+line, met, "", pageSeriesMissReason))
	}
	if line, met, worst, ok := clusterQueriesLine(r); ok {
		out = append(out, why(mark(met)+" "+line, met, "", clusterMissReasons[worst]))
	}
	for _, f := range r.Freshness {
		met := f.Latency.P99 <= 250
		reason := fmt.Sprintf("%s Here %d updates gave %d status writes.", freshnessMissReason, f.Updates, f.StatusWrites)
		out = append(out, why(fmt.Sprintf("%s freshness p99 with %s at N = %s: %.0f ms with a %s requery interval (target ≤ 250 ms).",
			mark(met), liveQueries(f.LiveQueries), count(r.N), f.Latency.P99, r.RequeryInterval),
			met, missedBy(f.Latency.P99, 250), reason))
		if f.Seconds > 0 {
			share := 100 * f.CPUSeconds / f.Seconds / float64(f.LiveQueries)
			met := share <= cpuShareTarget
			out = append(out, why(fmt.Sprintf("%s manager CPU with %s at N = %s: %.2f s in %.1f s, %.1f%% of one core per live query "+
				"(target ≤ %.0f%%). It also counts the mirror's writes of the %d updates and the status writes, so the "+
				"re-evaluations alone cost less.", mark(met), liveQueries(f.LiveQueries), count(r.N),
				f.CPUSeconds, f.Seconds, share, cpuShareTarget, f.Updates),
				met, fmt.Sprintf("Missed by %.2f×.", share/cpuShareTarget), ""))
		}
	}
	out = append(out, footprintLines(r, mark, why)...)
	burst := fmt.Sprintf("%s status writes for %s unrelated updates at N = %s: %d (target 0).", mark(r.Cost.Burst.StatusWrites == 0),
		count(r.Cost.Burst.Updates), count(r.N), r.Cost.Burst.StatusWrites)
	if b := r.Cost.Burst; b.CatchUpSeconds == 0 && b.CPUSeconds < 0.1 {
		burst += " Not conclusive at this N: see Cost."
	}
	out = append(out, burst)
	return out
}

// cpuShareTarget bounds the manager's CPU per live query while updates stream, in percent of
// one core: a query is re-evaluated as often as its measured cost allows, not on a fixed timer.
const cpuShareTarget = 10.0

// syncTarget bounds the initial sync against the paginated LIST: the in-memory index's ratio at
// N = 100,000 before the mirror stopped keeping a decoded copy of each object.
const syncTarget = 0.69

// footprintLines marks the mirror's targets for each index that the run measured: steady RSS
// ≤ 2× the objects' JSON, peak RSS during the initial sync ≤ 3×, and the initial sync ≤
// syncTarget × the paginated LIST.
func footprintLines(r Run, mark func(bool) string, why func(line string, met bool, by, reason string) string) []string {
	var out []string
	for _, ix := range []struct {
		where   string
		c       *CostResult
		s       *SyncResult
		other   string
		otherIx *SyncResult
	}{
		{"in memory (the manager's flag default)", &r.Cost, &r.Sync, "in a file", r.FileSync},
		{"in a file (`--index-path`, as config/manager deploys it)", r.FileCost, r.FileSync, "in memory", &r.Sync},
	} {
		if ix.s != nil && ix.s.ListSeconds > 0 {
			ratio := ix.s.ResourceIndexSeconds / ix.s.ListSeconds
			met := ratio <= syncTarget
			out = append(out, why(fmt.Sprintf("%s initial sync with the index %s at N = %s: %.2f s, %.2f× the paginated LIST's %.2f s "+
				"(target ≤ %.2f×).%s", mark(met), ix.where, count(r.N), ix.s.ResourceIndexSeconds, ratio, ix.s.ListSeconds, syncTarget,
				apiServerLoad(ix.s)),
				met, fmt.Sprintf("Missed by %.2f×.", ratio/syncTarget), syncMissReason+otherSync(ix.other, ix.otherIx)))
		}
		if ix.c == nil || ix.c.PeakRSSBytes == 0 || r.ObjectBytes == 0 {
			continue
		}
		json := float64(r.N) * float64(r.ObjectBytes)
		idle := fmt.Sprintf("The manager's RSS before it mirrors anything (%s: the Go runtime, the clients and SQLite's "+
			"WebAssembly runtime) is already %.2f× the objects' JSON at this N; the growth from idle is %.2f× the JSON.",
			bytesIEC(ix.c.IdleRSSBytes), ix.c.IdleRSSBytes/json, (ix.c.RSSBytes-ix.c.IdleRSSBytes)/json)
		steady := ix.c.RSSOverJSON(r.N, r.ObjectBytes)
		out = append(out, why(fmt.Sprintf("%s steady RSS with the index %s at N = %s: %s, %.2f× the objects' JSON (%s; target ≤ 2×).",
			mark(steady <= 2), ix.where, count(r.N), bytesIEC(ix.c.RSSBytes), steady, bytesIEC(json)),
			steady <= 2, fmt.Sprintf("Missed by %.2f×.", steady/2), idle))
		peak := ix.c.PeakRSSOverJSON(r.N, r.ObjectBytes)
		out = append(out, why(fmt.Sprintf("%s peak RSS during the initial sync with the index %s at N = %s: %s, %.2f× the objects' JSON "+
			"(target ≤ 3×).", mark(peak <= 3), ix.where, count(r.N), bytesIEC(ix.c.PeakRSSBytes), peak),
			peak <= 3, fmt.Sprintf("Missed by %.2f×.", peak/3), idle))
	}
	return out
}

// apiServerLoad says how much CPU kube-apiserver used during the sync and during its LIST, if
// measured.
func apiServerLoad(s *SyncResult) string {
	if s.ListAPIServerCPUSeconds <= 0 || s.SyncAPIServerCPUSeconds <= 0 {
		return ""
	}
	return fmt.Sprintf(" kube-apiserver used %.2f s of CPU during the sync and %.2f s during the LIST.",
		s.SyncAPIServerCPUSeconds, s.ListAPIServerCPUSeconds)
}

// otherSync names the run's other initial sync (where the index was, and its result), if
// measured: each has its own LIST baseline, measured just before it, and the two LISTs can differ
// a lot on a busy machine.
func otherSync(where string, other *SyncResult) string {
	if other == nil || other.ListSeconds == 0 {
		return ""
	}
	return fmt.Sprintf(" In the same run, the sync with the index %s took %.2f s, against a LIST of %.2f s measured just before it.",
		where, other.ResourceIndexSeconds, other.ListSeconds)
}

// syncMissReason explains an initial sync slower than its target.
const syncMissReason = "The LIST only reads and decodes; the sync also encodes every object and writes it, its labels " +
	"and its declared fields into SQLite's indexes, on the same two cores as the API server and etcd that serve the LIST."

// renderClusters writes the multi-cluster section for the runs that measured it; nothing when
// none did.
func renderClusters(b *strings.Builder, rep Report) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	var runs []Run
	for _, r := range rep.Runs {
		if r.Clusters != nil {
			runs = append(runs, r)
		}
	}
	if len(runs) == 0 {
		return
	}
	p("## 5. Many clusters")
	p("")
	p("The same N objects spread over K clusters, against the N in one cluster of the same run: object")
	p("i of the generator is in cluster i mod K, the hub (the local cluster) first, then `member-1`,")
	p("`member-2`, …, so that each holds N/K objects of every namespace.")
	p("")
	p("**Queries.** The LIST of §2 loaded into one in-process index, each object written for its")
	p("cluster (one replace per cluster, as each cluster's mirror loads its initial list), then every")
	p("§2 query over every cluster (`spec.clusters` unset), measured as kubesift is in §2 but in turn")
	p("with the same query over §2's single-cluster index, call by call, so that both figures see the")
	p("same machine (runs before 2026-12-03 compare with §2's figure, measured minutes earlier). Each")
	p("answer (the page in order, the total, the counts by value) is the single-cluster index's: the")
	p("run fails otherwise. Target: within 1.5× of the single-cluster median at N = 100,000.")
	for _, r := range runs {
		p("")
		p("### N = %s, %d clusters (%s objects)", count(r.N), r.Clusters.Clusters, countList(r.Clusters.Objects))
		p("")
		p("| Query | Matches | One cluster median / p99 | %d clusters median / p99 | Ratio |", r.Clusters.Clusters)
		p("|---|---|---|---|---|")
		for _, cq := range r.Clusters.Queries {
			one, ok := cq.one(r)
			if !ok {
				continue
			}
			p("| %s | %s | %s | %s | %.2f× |", cq.Name, count(int(cq.Total)), latency(one), latency(cq.Kubesift),
				cq.Kubesift.Median/one.Median)
		}
	}
	p("")
	p("**Initial sync.** K control planes, each its own etcd and kube-apiserver: the hub, where the")
	p("manager runs, and K − 1 members, N/K objects each; each member's admin kubeconfig is in a Secret")
	p("on the hub that a MemberCluster names. From creating a ResourceIndex whose")
	p("`spec.clusters.selector` matches the MemberClusters (the manager connected to them before) until")
	p("it is Ready with every member's `status.clusters` entry `Synced` with its own count and")
	p("`status.objectCount` = N, against §1's ResourceIndex over the N objects of one cluster. The LIST")
	p("floor is every cluster's paginated LIST at the same time (median of 3).")
	p("")
	p("| N | Clusters | Synced, K clusters | One cluster (§1) | Ratio | Paginated LISTs at once | One LIST (§1) | " +
		"Manager CPU, K clusters / one | Peak RSS, K clusters / one |")
	p("|---|---|---|---|---|---|---|---|---|")
	for _, r := range runs {
		s := r.Clusters.Sync
		if s == nil {
			p("| %s | %d | not measured | | | | | | |", count(r.N), r.Clusters.Clusters)
			continue
		}
		p("| %s | %d | %.2f s | %.2f s | %.2f× | %.2f s | %.2f s | %.2f s / %.2f s | %s / %s |", count(r.N), r.Clusters.Clusters,
			s.ResourceIndexSeconds, r.Sync.ResourceIndexSeconds, s.ResourceIndexSeconds/r.Sync.ResourceIndexSeconds,
			s.ListSeconds, r.Sync.ListSeconds, s.CPUSeconds, r.Sync.CPUSeconds,
			bytesIEC(s.PeakRSSBytes), bytesIEC(r.Cost.PeakRSSBytes))
	}
	p("")
}

// clusterMissReasons explain, per query, why it can be slower over several clusters than over one.
var clusterMissReasons = map[string]string{
	"name-substring": "The trigram index finds the names; its lookups read more of the index when the rows they " +
		"find are spread over the clusters' row ranges than when they lie next to each other, as the sample's " +
		"names do in one cluster (docs/multicluster.md). Runs before 2026-12-03 also compared with a single-cluster " +
		"figure measured minutes earlier, and kept one trigram segment per cluster. Runs before 2026-12-06 matched " +
		"every trigram of the substring, whose cost depends most on that order; later runs match one rare trigram " +
		"first (docs/design/index.md).",
}

// clusterQueriesLine compares the queries over several clusters with the same queries over one
// (target: within 1.5×); ok is false when the run did not measure them.
func clusterQueriesLine(r Run) (line string, met bool, worstQuery string, ok bool) {
	if r.Clusters == nil {
		return "", false, "", false
	}
	worst, name := 0.0, ""
	for _, cq := range r.Clusters.Queries {
		one, ok := cq.one(r)
		if !ok || one.Median <= 0 {
			continue
		}
		if x := cq.Kubesift.Median / one.Median; x > worst {
			worst, name = x, cq.Name
		}
	}
	if name == "" {
		return "", false, "", false
	}
	return fmt.Sprintf("queries over %d clusters at N = %s: the slowest against one cluster is `%s`, %.2f× (medians; "+
		"target ≤ 1.5× at N = 100,000).", r.Clusters.Clusters, count(r.N), name, worst), worst <= 1.5, name, true
}

// hasReadAPI reports whether the run measured queries through the read API.
func hasReadAPI(r Run) bool {
	return slices.ContainsFunc(r.Queries, func(q QueryResult) bool { return q.ReadAPI != nil })
}

// selective reports whether q is one of the selective queries (a small page of a selective
// match), not a page of the sorted series.
func selective(q QueryResult) bool { return !slices.Contains(sortedPageSeries, q.Name) }

// pageSeriesLine compares the pages of the sorted series (target: within 2× of each other); ok is
// false when the run lacks them.
func pageSeriesLine(r Run) (line string, met, ok bool) {
	var pages []string
	lo, hi := math.Inf(1), 0.0
	for _, name := range sortedPageSeries {
		i := slices.IndexFunc(r.Queries, func(q QueryResult) bool { return q.Name == name })
		if i < 0 {
			return "", false, false
		}
		q := r.Queries[i]
		pages = append(pages, fmt.Sprintf("page %d %s", q.Page, millis(q.Kubesift.Median)))
		lo, hi = min(lo, q.Kubesift.Median), max(hi, q.Kubesift.Median)
	}
	met = hi <= 2*lo
	return fmt.Sprintf("sorted pages at N = %s: %s, the slowest %.1f× the fastest (medians; target: within 2× of each other).",
		count(r.N), strings.Join(pages, ", "), hi/lo), met, true
}

// slowerLines lists the figures where a baseline's median beats kubesift's.
func slowerLines(rep Report) []string {
	var out []string
	for _, r := range rep.Runs {
		for _, q := range r.Queries {
			for _, b := range []struct {
				name string
				lat  Latency
			}{{"the API server LIST", q.API}, {"the informer cache", q.Informer}} {
				if b.lat.Median < q.Kubesift.Median {
					out = append(out, fmt.Sprintf("N = %s, %s: kubesift %s, %s %s (medians). %s", count(r.N), q.Name,
						millis(q.Kubesift.Median), b.name, millis(b.lat.Median), slowerReasons[q.Name]))
				}
			}
		}
		if r.Sync.ResourceIndexSeconds > r.Sync.ListSeconds {
			out = append(out, fmt.Sprintf("N = %s, initial sync: %.2f s against %.2f s for the paginated LIST, which only reads; "+
				"the ResourceIndex also decodes, caches and writes every object to SQLite with its indexes.",
				count(r.N), r.Sync.ResourceIndexSeconds, r.Sync.ListSeconds))
		}
	}
	return out
}

// liveQueries says "1 live query" or "n live queries".
func liveQueries(n int) string {
	if n == 1 {
		return "1 live query"
	}
	return fmt.Sprintf("%d live queries", n)
}

func latency(l Latency) string {
	return fmt.Sprintf("%s / %s", millis(l.Median), millis(l.P99))
}

// millis formats milliseconds with three significant digits or so.
func millis(ms float64) string {
	switch {
	case ms >= 100:
		return fmt.Sprintf("%.0f ms", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1f ms", ms)
	case ms >= 1:
		return fmt.Sprintf("%.2f ms", ms)
	default:
		return fmt.Sprintf("%.3f ms", ms)
	}
}

// ratio formats baseline/kubesift.
func ratio(baseline, kubesift float64) string {
	if kubesift <= 0 {
		return "n/a"
	}
	x := baseline / kubesift
	switch {
	case x >= 10:
		return fmt.Sprintf("%.0f×", x)
	case x >= 1:
		return fmt.Sprintf("%.1f×", x)
	default:
		return fmt.Sprintf("%.2f× (slower)", x)
	}
}

func sampleCounts(r Run, f func(QueryResult) Latency) string {
	lo, hi := -1, 0
	for _, q := range r.Queries {
		n := f(q).Samples
		if lo < 0 || n < lo {
			lo = n
		}
		hi = max(hi, n)
	}
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d to %d", lo, hi)
}

// count formats an integer with thousands separators.
func count(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + count(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// bytesIEC formats a byte count.
func bytesIEC(b float64) string {
	neg := b < 0
	if neg {
		b = -b
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	s := fmt.Sprintf("%.0f %s", b, units[i])
	if i > 0 && b < 10 {
		s = fmt.Sprintf("%.1f %s", b, units[i])
	}
	if neg {
		return "-" + s
	}
	return s
}

// metOrMissed words a target check.
func metOrMissed(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}
