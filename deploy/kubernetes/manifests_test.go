package kubernetes

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// manifests are the objects of this directory, one per file.
type manifests struct {
	deployment *appsv1.Deployment
	pdb        *policyv1.PodDisruptionBudget
	service    *corev1.Service
	configMap  *corev1.ConfigMap
	secret     *corev1.Secret
}

// load parses every *.yaml file strictly: an unknown or duplicate field, a
// wrong type, a kind this directory does not expect or a second document
// fails.
func load(t *testing.T) manifests {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	var m manifests
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte("\n---")) {
			t.Errorf("%s: one object per file", file)
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(data, &tm); err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		var obj any
		switch tm.APIVersion + " " + tm.Kind {
		case "apps/v1 Deployment":
			m.deployment = &appsv1.Deployment{}
			obj = m.deployment
		case "policy/v1 PodDisruptionBudget":
			m.pdb = &policyv1.PodDisruptionBudget{}
			obj = m.pdb
		case "v1 Service":
			m.service = &corev1.Service{}
			obj = m.service
		case "v1 ConfigMap":
			m.configMap = &corev1.ConfigMap{}
			obj = m.configMap
		case "v1 Secret":
			m.secret = &corev1.Secret{}
			obj = m.secret
		default:
			t.Errorf("%s: unexpected %s %s", file, tm.APIVersion, tm.Kind)
			continue
		}
		if err := yaml.UnmarshalStrict(data, obj); err != nil {
			t.Errorf("%s: %v", file, err)
		}
	}
	if m.deployment == nil || m.pdb == nil || m.service == nil || m.configMap == nil || m.secret == nil {
		t.Fatalf("want a Deployment, a PodDisruptionBudget, a Service, a ConfigMap and a Secret; have %+v", m)
	}
	return m
}

func TestManifestsParseStrictly(t *testing.T) {
	load(t)
	// The check itself: a misspelt field fails.
	bad := []byte("apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n        - name: bot\n          readinesProbe: {}\n")
	if err := yaml.UnmarshalStrict(bad, &appsv1.Deployment{}); err == nil || !strings.Contains(err.Error(), "readinesProbe") {
		t.Fatalf("a misspelt field parsed: %v", err)
	}
}

func TestDeploymentRunsTheBotSafely(t *testing.T) {
	m := load(t)
	d := m.deployment
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %v, want 2", d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	port := func(p intstr.IntOrString) int32 {
		if p.Type == intstr.Int {
			return p.IntVal
		}
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				return cp.ContainerPort
			}
		}
		t.Errorf("no container port named %q", p.StrVal)
		return 0
	}
	// BOT_LISTEN_ADDR's port is where the probes knock.
	if got := m.configMap.Data["BOT_LISTEN_ADDR"]; got != ":3000" {
		t.Errorf("BOT_LISTEN_ADDR = %q, want :3000", got)
	}
	for name, probe := range map[string]*corev1.Probe{"/readyz": c.ReadinessProbe, "/healthz": c.LivenessProbe} {
		if probe == nil || probe.HTTPGet == nil {
			t.Errorf("no HTTP probe on %s", name)
			continue
		}
		if probe.HTTPGet.Path != name || port(probe.HTTPGet.Port) != 3000 {
			t.Errorf("probe %s: GET %s on port %d, want port 3000", name, probe.HTTPGet.Path, port(probe.HTTPGet.Port))
		}
	}
	if c.LivenessProbe != nil && c.LivenessProbe.HTTPGet != nil && c.LivenessProbe.HTTPGet.Path == "/readyz" {
		t.Error("liveness on /readyz would restart every replica when Redis is down")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources = %+v, want CPU and memory requests and a memory limit", c.Resources)
	}
	sc := c.SecurityContext
	nonRoot := (sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) ||
		(pod.SecurityContext != nil && pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot)
	if !nonRoot {
		t.Error("not runAsNonRoot")
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("root filesystem not read-only")
	}
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("privilege escalation not disallowed")
	}
	if sc == nil || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		t.Error("capabilities: want drop ALL, add none")
	}
	// Settings come from this directory's ConfigMap and Secret.
	var fromConfigMap, fromSecret bool
	for _, e := range c.EnvFrom {
		if e.ConfigMapRef != nil && e.ConfigMapRef.Name == m.configMap.Name {
			fromConfigMap = true
		}
		if e.SecretRef != nil && e.SecretRef.Name == m.secret.Name {
			fromSecret = true
		}
	}
	if !fromConfigMap || !fromSecret {
		t.Errorf("envFrom = %+v, want the ConfigMap %q and the Secret %q", c.EnvFrom, m.configMap.Name, m.secret.Name)
	}
}

func TestSelectorsFindTheBot(t *testing.T) {
	m := load(t)
	pods := labels.Set(m.deployment.Spec.Template.Labels)
	for name, sel := range map[string]*metav1.LabelSelector{"Deployment": m.deployment.Spec.Selector, "PodDisruptionBudget": m.pdb.Spec.Selector} {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil || s.Empty() || !s.Matches(pods) {
			t.Errorf("%s selector %v does not match the pods' labels %v (%v)", name, sel, pods, err)
		}
	}
	if s := labels.SelectorFromSet(m.service.Spec.Selector); s.Empty() || !s.Matches(pods) {
		t.Errorf("Service selector %v does not match the pods' labels %v", m.service.Spec.Selector, pods)
	}
	if m.pdb.Spec.MinAvailable == nil || m.pdb.Spec.MinAvailable.IntValue() < 1 || int32(m.pdb.Spec.MinAvailable.IntValue()) >= *m.deployment.Spec.Replicas {
		t.Errorf("PodDisruptionBudget minAvailable %v: want at least 1 and fewer than the replicas", m.pdb.Spec.MinAvailable)
	}
	for _, p := range m.service.Spec.Ports {
		found := false
		for _, cp := range m.deployment.Spec.Template.Spec.Containers[0].Ports {
			found = found || (p.TargetPort.Type == intstr.String && cp.Name == p.TargetPort.StrVal) || cp.ContainerPort == p.TargetPort.IntVal
		}
		if !found {
			t.Errorf("Service port %s targets %v, which the container does not expose", p.Name, p.TargetPort.String())
		}
	}
}

// TestSettingsAreTheBots: every key of the ConfigMap and the Secret is a
// setting the README documents, and the Secret holds placeholders only.
func TestSettingsAreTheBots(t *testing.T) {
	m := load(t)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, match := range regexp.MustCompile("(?m)^\\| `([A-Z][A-Z0-9_]+)` \\|").FindAllSubmatch(readme, -1) {
		documented[string(match[1])] = true
	}
	if len(documented) < 10 {
		t.Fatalf("found %d settings in README.md's configuration table", len(documented))
	}
	keys := map[string]string{}
	for k := range m.configMap.Data {
		keys[k] = "ConfigMap"
	}
	for k, v := range m.secret.StringData {
		if _, both := keys[k]; both {
			t.Errorf("%s is in the ConfigMap and the Secret", k)
		}
		keys[k] = "Secret"
		if !strings.Contains(v, "REPLACE-ME") {
			t.Errorf("Secret %s = %q: the template holds placeholders (REPLACE-ME) only", k, v)
		}
	}
	if len(m.secret.Data) > 0 {
		t.Error("Secret data: use stringData placeholders")
	}
	for k, where := range keys {
		if !documented[k] {
			t.Errorf("%s %s is not a setting in README.md", where, k)
		}
	}
	for _, k := range []string{"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "BOT_STATE_KEY"} {
		if keys[k] != "Secret" {
			t.Errorf("%s belongs in the Secret", k)
		}
	}
	// Two replicas share one Redis: the embedded one is per process.
	if m.secret.StringData["REDIS_URL"] == "" && m.configMap.Data["REDIS_ADDRS"] == "" {
		t.Error("neither REDIS_URL nor REDIS_ADDRS is set: each replica would run its own embedded Redis")
	}
}
