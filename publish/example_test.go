package publish_test

import (
	"fmt"

	"github.com/statepack/statepack/publish"
)

func ExampleParseRef() {
	for _, s := range []string{
		"oci://ghcr.io/acme/fleet:main",
		"localhost:5000/team/app:v1",
		"oci:./dist/layout:v1",
	} {
		r, err := publish.ParseRef(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s loopback=%v tag=%s\n", r.Name(), r.IsLoopback(), r.Tag)
	}
	_, err := publish.ParseRef("nginx:1")
	fmt.Println(err)
	// Output:
	// ghcr.io/acme/fleet loopback=false tag=main
	// localhost:5000/team/app loopback=true tag=v1
	// oci:dist/layout loopback=false tag=v1
	// invalid reference "nginx:1": name the registry host, e.g. docker.io/library/nginx:1 or localhost:5000/nginx:1
}
