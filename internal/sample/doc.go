// Package sample generates realistic objects of the sample Template kind
// (templates.apps.example.com, config/samples/crds) for the demo and the benchmarks: varied labels,
// specs and status conditions, about 2 KB each, reproducible from a seed.
package sample
