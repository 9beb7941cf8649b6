package sample_test

import (
	"fmt"

	"github.com/trailwatch/trailwatch/sample"
)

func ExampleGenerate() {
	ds, err := sample.Generate(sample.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, l := range ds.Labels[:2] {
		fmt.Println(l.Name, l.Kind, l.Expect)
	}
	// Output:
	// stolen-access-key attack HIGH+
	// cloudtrail-stopped attack HIGH+
}
