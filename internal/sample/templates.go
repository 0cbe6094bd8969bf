package sample

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TemplateGVK is the kind of the sample CRD.
var TemplateGVK = schema.GroupVersionKind{Group: "apps.example.com", Version: "v1alpha1", Kind: "Template"}

// Vocabularies the generated objects draw from. They are exported so that callers can build
// selective queries whose answers they know.
var (
	Teams   = []string{"payments", "search", "checkout", "identity", "platform", "data", "mobile", "growth"}
	Tiers   = []string{"frontend", "backend", "batch", "data"}
	Envs    = []string{"prod", "staging", "dev"}
	Regions = []string{"eu-west-1", "us-east-1", "ap-south-1"}
	Apps    = []string{"web", "api", "worker", "cron", "gateway", "auth", "ledger", "indexer", "mailer", "resizer"}
	Images  = []string{"nginx", "envoy", "redis", "postgres-exporter", "busybox", "node", "python", "golang"}
)

// Namespace returns the name of the i-th sample namespace.
func Namespace(i int) string { return fmt.Sprintf("team-%03d", i) }

// Generator makes Template objects. The same seed gives the same objects.
type Generator struct {
	// Namespaces is how many namespaces objects are spread over (round robin).
	Namespaces int
	// Seed makes the output reproducible.
	Seed uint64
	// Created is the creation time that objects' status timestamps start from.
	Created time.Time
}

// Template returns the i-th object. Its name is "<app>-<i>" and it lives in Namespace(i % Namespaces).
// The status (conditions, phase) is part of the object; with a status subresource it must be
// written separately through UpdateStatus.
func (g Generator) Template(i int) *unstructured.Unstructured {
	r := rand.New(rand.NewPCG(g.Seed, uint64(i)))
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	nsCount := max(g.Namespaces, 1)
	app, team, tier, env := pick(Apps), pick(Teams), pick(Tiers), pick(Envs)
	name := fmt.Sprintf("%s-%d", app, i)
	image := fmt.Sprintf("registry.example.com/%s/%s:%d.%d.%d", team, pick(Images), 1+r.IntN(3), r.IntN(20), r.IntN(10))

	containers := []any{}
	for c := range 1 + r.IntN(3) {
		containers = append(containers, map[string]any{
			"name":  fmt.Sprintf("%s-%d", app, c),
			"image": image,
			"resources": map[string]any{
				"cpu":    fmt.Sprintf("%dm", 100*(1+r.IntN(10))),
				"memory": fmt.Sprintf("%dMi", 128*(1+r.IntN(8))),
			},
		})
	}
	ready := "True"
	reason := "MinimumReplicasAvailable"
	if r.IntN(10) == 0 {
		ready, reason = "False", "ProgressDeadlineExceeded"
	}
	at := g.created().Add(time.Duration(i) * time.Second).UTC().Format(time.RFC3339)

	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": TemplateGVK.GroupVersion().String(),
		"kind":       TemplateGVK.Kind,
		"metadata": map[string]any{
			"name":      name,
			"namespace": Namespace(i % nsCount),
			"labels": map[string]any{
				"app.kubernetes.io/name":    app,
				"app.kubernetes.io/part-of": team,
				"tier":                      tier,
				"env":                       env,
				"region":                    pick(Regions),
				"shard":                     fmt.Sprintf("s%d", i%97),
			},
			"annotations": map[string]any{
				"example.com/team":        team,
				"example.com/owner":       fmt.Sprintf("%s-oncall@example.com", team),
				"example.com/runbook":     fmt.Sprintf("https://runbooks.example.com/%s/%s", team, app),
				"example.com/git-commit":  fmt.Sprintf("%040x", r.Uint64()),
				"example.com/description": description(r, app, team),
			},
		},
		"spec": map[string]any{
			"replicas":   int64(1 + r.IntN(12)),
			"image":      image,
			"team":       team,
			"tier":       tier,
			"paused":     r.IntN(5) == 0,
			"containers": containers,
		},
		"status": map[string]any{
			"phase":              map[bool]string{true: "Running", false: "Degraded"}[ready == "True"],
			"observedGeneration": int64(1),
			"conditions": []any{
				map[string]any{
					"type": "Ready", "status": ready, "reason": reason,
					"message":            fmt.Sprintf("%s: %s", name, strings.ToLower(reason)),
					"lastTransitionTime": at,
				},
				map[string]any{
					"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
					"message":            "rollout complete",
					"lastTransitionTime": at,
				},
			},
		},
	}}
	// Ready objects have every replica ready, the others half of them (no random draw, so
	// that the other values stay those of earlier versions).
	replicas, _, _ := unstructured.NestedInt64(obj.Object, "spec", "replicas")
	readyReplicas := replicas
	if ready == "False" {
		readyReplicas = replicas / 2
	}
	_ = unstructured.SetNestedField(obj.Object, readyReplicas, "status", "readyReplicas") // status is a map
	return obj
}

func (g Generator) created() time.Time {
	if g.Created.IsZero() {
		return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return g.Created
}

// description returns a few hundred bytes of text, so that an object weighs about 2 KB as JSON,
// as real platform resources with their annotations do.
func description(r *rand.Rand, app, team string) string {
	words := []string{"serves", "traffic", "for", "the", "internal", "customer", "facing", "platform",
		"with", "autoscaling", "and", "canary", "rollouts", "owned", "by", "on-call", "rotation", "latency",
		"budget", "depends", "on", "upstream", "queue", "storage", "cluster"}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): ", app, team)
	for b.Len() < 700 {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteByte(' ')
	}
	return strings.TrimSpace(b.String())
}
