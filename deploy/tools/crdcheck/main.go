// Command crdcheck decodes the Prometheus Operator's custom resources in a stream of
// Kubernetes manifests strictly into the operator's own Go types
// (github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1): a field
// the operator does not know, or a value of the wrong type, is an error, as
// `kubectl apply` against the CRDs would report it. Other kinds are counted and skipped
// (kubeconform validates the built-in ones).
//
// Usage: kubectl kustomize DIR | crdcheck
// Prints one line per custom resource ("ok Kind/name" or "error Kind/name: ...") and a
// summary; exits 1 when any resource fails.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

func target(h header) any {
	if h.APIVersion != monitoringv1.SchemeGroupVersion.String() {
		return nil
	}
	switch h.Kind {
	case monitoringv1.PodMonitorsKind:
		return &monitoringv1.PodMonitor{}
	case monitoringv1.ServiceMonitorsKind:
		return &monitoringv1.ServiceMonitor{}
	case monitoringv1.PrometheusRuleKind:
		return &monitoringv1.PrometheusRule{}
	}
	return nil
}

func main() {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(os.Stdin))
	checked, failed, skipped := 0, 0, 0
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Println("error reading the manifests:", err)
			os.Exit(1)
		}
		var h header
		if err := yaml.Unmarshal(doc, &h); err != nil || h.Kind == "" {
			continue // an empty document or a comment
		}
		object := target(h)
		if object == nil {
			skipped++
			continue
		}
		checked++
		if err := yaml.UnmarshalStrict(doc, object); err != nil {
			failed++
			fmt.Printf("error %s/%s: %v\n", h.Kind, h.Metadata.Name, err)
			continue
		}
		fmt.Printf("ok %s/%s\n", h.Kind, h.Metadata.Name)
	}
	fmt.Printf("Summary: %d checked, %d failed, %d other kinds skipped\n", checked, failed, skipped)
	if failed > 0 {
		os.Exit(1)
	}
}
