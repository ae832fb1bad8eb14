package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

const inventoryTree = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      initContainers: [{name: init, image: busybox:1.36}]
      containers: [{name: web, image: "nginx:1.27@sha256:0000000000000000000000000000000000000000000000000000000000000001"}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: clean, namespace: shop}
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: c, image: busybox:1.36}]
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
`

func TestNewInventory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "all.yaml"), []byte(inventoryTree), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Render(context.Background(), dir, WithRoot(dir))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Package(r.Objects)
	if err != nil {
		t.Fatal(err)
	}
	inv := NewInventory(b, r.Objects)

	type obj struct{ apiVersion, kind, ns, name, file string }
	var got []obj
	for _, o := range inv.Objects {
		got = append(got, obj{o.APIVersion, o.Kind, o.Namespace, o.Name, o.File})
	}
	want := []obj{
		{"batch/v1", "CronJob", "shop", "clean", "cronjob.batch_shop_clean.yaml"},
		{"apps/v1", "Deployment", "shop", "web", "deployment.apps_shop_web.yaml"},
		{"v1", "Namespace", "", "shop", "namespace_shop.yaml"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("inventory objects =\n%v\nwant\n%v", got, want)
	}
	// Each object's digest is the digest of its file in the archive: the YAML statepack serialised.
	for _, o := range inv.Objects {
		for _, ro := range r.Objects {
			if ro.ID.Name == o.Name && ro.ID.Kind == o.Kind {
				sum := sha256.Sum256(ro.YAML)
				if o.Digest["sha256"] != hex.EncodeToString(sum[:]) {
					t.Errorf("%s digest %v, want the sha256 of its YAML", o.File, o.Digest)
				}
			}
		}
	}
	wantImages := []InventoryImage{
		{Reference: "busybox:1.36"},
		{Reference: "nginx:1.27@sha256:0000000000000000000000000000000000000000000000000000000000000001",
			Digest: "sha256:0000000000000000000000000000000000000000000000000000000000000001"},
	}
	if !reflect.DeepEqual(inv.Images, wantImages) {
		t.Errorf("inventory images = %+v, want %+v", inv.Images, wantImages)
	}
}
