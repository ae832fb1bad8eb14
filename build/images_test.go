package build

import (
	"slices"
	"strings"
	"testing"
)

func TestImageUsesNameTheField(t *testing.T) {
	t.Parallel()
	objs, fs := decodeStream("cron.yaml", []byte("apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c, namespace: default}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          initContainers: [{name: i, image: \"r.example/tools:1\"}]\n          containers: [{name: a, image: \"r.example/app:1\"}, {name: b, image: \"r.example/app:1\"}]\n"))
	if len(fs) > 0 || len(objs) != 1 {
		t.Fatalf("decode: %v", fs)
	}
	got := ImageUses(objs[0])
	want := []ImageUse{
		{Image: "r.example/app:1", Field: "spec.jobTemplate.spec.template.spec.containers[0].image"},
		{Image: "r.example/app:1", Field: "spec.jobTemplate.spec.template.spec.containers[1].image"},
		{Image: "r.example/tools:1", Field: "spec.jobTemplate.spec.template.spec.initContainers[0].image"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("ImageUses = %v, want %v", got, want)
	}
	if imgs := Images(objs[0]); !slices.Equal(imgs, []string{"r.example/app:1", "r.example/tools:1"}) {
		t.Errorf("Images = %v", imgs)
	}
}

func TestReplaceImages(t *testing.T) {
	t.Parallel()
	const pin = "@sha256:1111111111111111111111111111111111111111111111111111111111111111"
	objs, _ := decodeStream("sts.yaml", []byte("apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db, namespace: default}\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: \"r.example/db:16\"}, {name: b, image: \"r.example/side:2\"}]\n"))
	orig := objs[0]
	before := string(orig.YAML)
	replace := func(img string) string {
		if img == "r.example/db:16" {
			return img + pin
		}
		return img
	}
	got, changed, err := ReplaceImages(orig, replace)
	if err != nil || !changed {
		t.Fatalf("ReplaceImages = %v, %v; want a change", changed, err)
	}
	if !strings.Contains(string(got.YAML), "image: r.example/db:16"+pin+"\n") || !strings.Contains(string(got.YAML), "image: r.example/side:2\n") {
		t.Errorf("pinned YAML:\n%s", got.YAML)
	}
	if string(orig.YAML) != before || Images(orig)[0] != "r.example/db:16" {
		t.Errorf("ReplaceImages changed its input")
	}
	again, _, _ := ReplaceImages(orig, replace)
	if string(again.YAML) != string(got.YAML) {
		t.Errorf("ReplaceImages is not byte-stable")
	}
	same, changed, err := ReplaceImages(got, replace) // already pinned: nothing to do
	if err != nil || changed || string(same.YAML) != string(got.YAML) {
		t.Errorf("ReplaceImages(pinned) = changed %v, %v", changed, err)
	}
}
