package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Report is the content of benchmarks.json: one Run per object count, each from the run that
// last measured that count.
type Report struct {
	Runs []Run `json:"runs"`
}

// Run holds every figure measured at one object count.
type Run struct {
	N           int    `json:"n"`
	Namespaces  int    `json:"namespaces"`
	ObjectBytes int    `json:"objectBytes"` // mean JSON size of one object as listed
	Date        string `json:"date"`
	Host        Host   `json:"host"`
	// LoadAverages are the machine's 1-minute load averages at the start of each scenario: other
	// work on the machine inflates every figure.
	LoadAverages []float64 `json:"loadAverages,omitempty"`
	// CRDs are the CRD files or directories installed.
	CRDs []string `json:"crds"`
	// RequeryInterval is the manager's --requery-interval.
	RequeryInterval string        `json:"requeryInterval"`
	Load            LoadResult    `json:"load"`
	Sync            SyncResult    `json:"sync"`
	Queries         []QueryResult `json:"queries"`
	Freshness       []FreshResult `json:"freshness"`
	Cost            CostResult    `json:"cost"`
	// FileSync and FileCost are the initial sync and the footprint of a second manager that keeps
	// the index in a file (--index-path). Absent in results that predate them.
	FileSync *SyncResult `json:"fileSync,omitempty"`
	FileCost *CostResult `json:"fileCost,omitempty"`
	// Clusters is the multi-cluster scenario (-clusters); nil when the run did not measure it.
	Clusters *ClustersResult `json:"clusters,omitempty"`
}

// Host describes the machine and the versions of a run.
type Host struct {
	Machine  Machine  `json:"machine"`
	Versions Versions `json:"versions"`
}

// Machine is the hardware of a run.
type Machine struct {
	CPUs        int    `json:"cpus"`
	MemoryBytes uint64 `json:"memoryBytes"`
	CPUModel    string `json:"cpuModel"`
	OS          string `json:"os"`
}

// Versions are the versions of the components of a run.
type Versions struct {
	Go         string `json:"go"`
	Kubernetes string `json:"kubernetes"`
	Etcd       string `json:"etcd"`
	SQLite     string `json:"sqlite"`
	Kubesift   string `json:"kubesift,omitempty"`
}

// LoadResult describes how the objects were created through the API.
type LoadResult struct {
	Objects        int     `json:"objects"` // created by this run (a larger N tops up a smaller one)
	Seconds        float64 `json:"seconds"`
	CreatesPerSec  float64 `json:"createsPerSecond"`
	StatusPerSec   float64 `json:"statusWritesPerSecond"`
	ClientRoutines int     `json:"clientGoroutines"`
}

// SyncResult compares the initial sync of a ResourceIndex with a paginated LIST.
type SyncResult struct {
	ResourceIndexSeconds float64   `json:"resourceIndexSeconds"`
	ListSeconds          float64   `json:"listSeconds"` // median of ListSamples
	ListSamples          []float64 `json:"listSamples"`
	ListPageSize         int       `json:"listPageSize"`
	// CPUSeconds is the manager's CPU time from the ResourceIndex's creation until Ready.
	CPUSeconds float64 `json:"cpuSeconds"`
	// ListAPIServerCPUSeconds is kube-apiserver's CPU time during a LIST (the median of the
	// samples), and SyncAPIServerCPUSeconds during the sync; 0 where not measured.
	ListAPIServerCPUSeconds float64 `json:"listAPIServerCPUSeconds,omitempty"`
	SyncAPIServerCPUSeconds float64 `json:"syncAPIServerCPUSeconds,omitempty"`
}

// Latency summarises timing samples, in milliseconds.
type Latency struct {
	Median  float64 `json:"medianMs"`
	P99     float64 `json:"p99Ms"`
	Samples int     `json:"samples"`
}

// QueryResult is one query measured three ways, all giving the same answer.
type QueryResult struct {
	Name     string  `json:"name"`
	Title    string  `json:"title"`
	Total    int64   `json:"total"`
	Limit    int     `json:"limit"`
	Page     int     `json:"page"`
	Kubesift Latency `json:"kubesift"`
	API      Latency `json:"apiServer"`
	Informer Latency `json:"informerCache"`
	// APIRequest says what the API server was asked and what the client did itself.
	APIRequest string `json:"apiRequest"`
	// ReadAPI is the same query through the API server's aggregated endpoint to the manager's
	// read API, with the page's full objects in the response; nil in runs that did not measure it.
	ReadAPI *Latency `json:"readAPI,omitempty"`
	// ReadAPIRequest is the request the read API was sent.
	ReadAPIRequest string `json:"readAPIRequest,omitempty"`

	// want is kubesift's in-process answer, which the other ways must give too.
	want answer
}

// ClustersResult compares the run's N objects spread over several clusters with the same N in
// one cluster: object i belongs to cluster i mod Clusters, the local cluster first (see
// clusterOf and clusterName).
type ClustersResult struct {
	Clusters int `json:"clusters"`
	// Objects is the number of objects in each cluster, the local cluster first.
	Objects []int `json:"objectsPerCluster"`
	// Queries are the §2 queries over one in-process index holding every cluster's objects,
	// asked with no cluster restriction; each answered as the single-cluster index did.
	Queries []ClusterQueryResult `json:"queries"`
	// Sync is the initial sync of a ResourceIndex that selects every member; nil when the run
	// stopped before measuring it.
	Sync *ClusterSyncResult `json:"sync,omitempty"`
}

// ClusterQueryResult is one query over the objects of several clusters.
type ClusterQueryResult struct {
	Name  string `json:"name"`
	Total int64  `json:"total"`
	Page  int    `json:"page"`
	// Kubesift is the in-process latency, measured as Run.Queries' Kubesift.
	Kubesift Latency `json:"kubesift"`
	// OneCluster is the same query over the single-cluster index, measured in turn with
	// Kubesift, call by call. Runs before it was measured compare with Run.Queries instead.
	OneCluster *Latency `json:"oneCluster,omitempty"`
}

// one returns the single-cluster latency that cq compares with: the one measured in turn with
// it, else the query's in r.Queries; ok is false when there is neither.
func (cq ClusterQueryResult) one(r Run) (Latency, bool) {
	if cq.OneCluster != nil {
		return *cq.OneCluster, true
	}
	i := slices.IndexFunc(r.Queries, func(q QueryResult) bool { return q.Name == cq.Name })
	if i < 0 {
		return Latency{}, false
	}
	return r.Queries[i].Kubesift, true
}

// ClusterSyncResult is the initial sync of one ResourceIndex over a hub and its members.
type ClusterSyncResult struct {
	// ResourceIndexSeconds is the time from creating the ResourceIndex until it is Ready with
	// every member Synced and every cluster's objects counted.
	ResourceIndexSeconds float64 `json:"resourceIndexSeconds"`
	// ListSeconds is the median of ListSamples, each the time of every cluster's paginated LIST
	// run at the same time.
	ListSeconds float64   `json:"listSeconds"`
	ListSamples []float64 `json:"listSamples"`
	// CPUSeconds is the manager's CPU time from the ResourceIndex's creation until synced.
	CPUSeconds    float64 `json:"cpuSeconds"`
	PeakRSSBytes  float64 `json:"peakRssBytes"`
	PeakHeapBytes float64 `json:"peakHeapBytes"`
	// Load describes how the clusters' objects were created.
	Load LoadResult `json:"load"`
}

// FreshResult is the delay from an acknowledged update to the SearchQuery status showing it.
type FreshResult struct {
	LiveQueries int     `json:"liveQueries"`
	Updates     int     `json:"updates"`
	Latency     Latency `json:"latency"`
	MaxMs       float64 `json:"maxMs"`
	// StatusWrites is the number of SearchQuery status changes seen during the measurement.
	StatusWrites int `json:"statusWrites"`
	// CPUSeconds is the manager's CPU time over the measurement's Seconds, from its first update
	// until every update showed in a status. Zero in results that predate it.
	CPUSeconds float64 `json:"managerCpuSeconds,omitempty"`
	Seconds    float64 `json:"seconds,omitempty"`
}

// CostResult is what the manager spends.
type CostResult struct {
	IdleRSSBytes  float64 `json:"idleRssBytes"`
	IdleHeapBytes float64 `json:"idleHeapBytes"`
	RSSBytes      float64 `json:"rssBytes"`
	HeapBytes     float64 `json:"heapBytes"`
	IndexObjects  float64 `json:"indexObjects"`
	// PeakRSSBytes and PeakHeapBytes are the highest values seen while the initial sync ran,
	// sampled every 250 ms. Zero in results that predate them.
	PeakRSSBytes  float64 `json:"peakRssBytes,omitempty"`
	PeakHeapBytes float64 `json:"peakHeapBytes,omitempty"`
	// IndexBytes is the size of the index database after the sync.
	IndexBytes float64     `json:"indexBytes,omitempty"`
	Burst      BurstResult `json:"burst"`
}

// RSSPerObject is the growth of the manager's RSS from idle to synced, per object.
func (c CostResult) RSSPerObject(n int) float64 { return (c.RSSBytes - c.IdleRSSBytes) / float64(n) }

// RSSOverJSON is the manager's RSS after the sync divided by the JSON of the mirrored objects.
func (c CostResult) RSSOverJSON(n, objectBytes int) float64 {
	return c.RSSBytes / (float64(n) * float64(objectBytes))
}

// PeakRSSOverJSON is the manager's highest RSS during the sync divided by the objects' JSON.
func (c CostResult) PeakRSSOverJSON(n, objectBytes int) float64 {
	return c.PeakRSSBytes / (float64(n) * float64(objectBytes))
}

// HeapPerObject is the growth of the manager's Go heap from idle to synced, per object.
func (c CostResult) HeapPerObject(n int) float64 {
	return (c.HeapBytes - c.IdleHeapBytes) / float64(n)
}

// BurstResult counts SearchQuery status writes caused by updates no query can see.
type BurstResult struct {
	Updates     int     `json:"updates"`
	LiveQueries int     `json:"liveQueries"`
	Seconds     float64 `json:"seconds"`
	// CatchUpSeconds is the time from the last update's acknowledgement until the manager's
	// kubesift_index_events_total counted every update. Zero in results that predate it.
	CatchUpSeconds float64 `json:"catchUpSeconds,omitempty"`
	StatusWrites   int     `json:"statusWrites"`
	CPUSeconds     float64 `json:"managerCpuSeconds"`
}

// summarize returns the median and p99 of samples (nearest rank).
func summarize(samples []time.Duration) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Latency{Median: ms(med), P99: ms(rank(0.99)), Samples: len(s)}
}

// mergeReport adds runs to the report already in dir, replacing runs at the same N.
func mergeReport(dir string, runs []Run) (Report, error) {
	var rep Report
	b, err := os.ReadFile(filepath.Join(dir, "benchmarks.json"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return rep, fmt.Errorf("reading the previous results: %w", err)
	default:
		if err := json.Unmarshal(b, &rep); err != nil {
			return rep, fmt.Errorf("reading the previous results: %w", err)
		}
	}
	for _, r := range runs {
		rep.Runs = slices.DeleteFunc(rep.Runs, func(old Run) bool { return old.N == r.N })
		rep.Runs = append(rep.Runs, r)
	}
	slices.SortFunc(rep.Runs, func(a, b Run) int { return a.N - b.N })
	return rep, nil
}

// writeReport writes benchmarks.json, benchmarks.md and benchmarks.png into dir.
func writeReport(dir string, rep Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "benchmarks.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "benchmarks.md"), []byte(renderMarkdown(rep)), 0o644); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	if err := writeChart(filepath.Join(dir, "benchmarks.png"), rep); err != nil {
		return fmt.Errorf("drawing the chart: %w", err)
	}
	return nil
}
