package chart

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The README's values table names every value of values.yaml (a row may stand for a whole object,
// such as resources) with its default, and nothing that values.yaml lacks.
func TestReadmeValuesTableMatchesValuesYAML(t *testing.T) {
	g := NewWithT(t)
	b, err := os.ReadFile(filepath.Join(chartDir(), "values.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	var values map[string]any
	g.Expect(yaml.Unmarshal(b, &values)).To(Succeed())

	row := regexp.MustCompile("(?m)^\\| `([A-Za-z0-9_.]+)` \\| `(.*)` \\| .* \\|$")
	rows := row.FindAllStringSubmatch(readme(t), -1)
	g.Expect(len(rows)).To(BeNumerically(">", 50))
	documented := map[string]bool{}
	for _, r := range rows {
		path, def := r[1], r[2]
		v, ok := lookup(values, path)
		g.Expect(ok).To(BeTrue(), "README documents %s, which values.yaml lacks", path)
		var want any
		g.Expect(json.Unmarshal([]byte(def), &want)).To(Succeed(), "default of %s", path)
		g.Expect(normalize(v)).To(Equal(normalize(want)), "README's default of %s", path)
		documented[path] = true
	}
	for _, leaf := range leaves(values, "") {
		covered := false
		for p := range documented {
			if leaf == p || strings.HasPrefix(leaf, p+".") {
				covered = true
			}
		}
		g.Expect(covered).To(BeTrue(), "values.yaml has %s, which the README's table lacks", leaf)
	}
}

func lookup(m map[string]any, path string) (any, bool) {
	var cur any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func leaves(m map[string]any, prefix string) []string {
	var out []string
	for k, v := range m {
		p := prefix + k
		if mm, ok := v.(map[string]any); ok && len(mm) > 0 {
			out = append(out, leaves(mm, p+".")...)
		} else {
			out = append(out, p)
		}
	}
	return out
}

func normalize(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// The README's kustomize overlay, as written, builds from a directory at the repository root and
// sets the image.
func TestReadmeKustomizeOverlayBuilds(t *testing.T) {
	g := NewWithT(t)
	snippet := regexp.MustCompile(`(?s)mkdir -p deploy\ncat > deploy/kustomization.yaml <<'EOF'\n(.*?)\nEOF\nkubectl apply --server-side -k deploy\n`)
	m := snippet.FindStringSubmatch(readme(t))
	g.Expect(m).NotTo(BeNil(), "README lost its kustomize overlay")
	kustomization := strings.NewReplacer("<your-registry>", "registry.example", "<tag>", "v1.2.3").Replace(m[1])

	dir, err := os.MkdirTemp(root, "deploy-test-")
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	g.Expect(os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kustomization), 0o600)).To(Succeed())

	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	g.Expect(err).NotTo(HaveOccurred())
	out, err := resMap.AsYaml()
	g.Expect(err).NotTo(HaveOccurred())
	objs := decode(t, string(out))
	dep := into[appsv1.Deployment](t, find(objs, "Deployment", "statsig-operator"))
	g.Expect(dep.Spec.Template.Spec.Containers[0].Image).To(Equal("registry.example/statsig-operator:v1.2.3"))
	dryRunApply(t, objs)
}
