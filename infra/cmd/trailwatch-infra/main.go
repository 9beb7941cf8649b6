// Command trailwatch-infra is the CDK app `cdk` runs (see infra/cdk.json):
// it reads the configuration from context and synthesizes the
// TrailwatchCentral and TrailwatchForwarder stacks.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/trailwatch/trailwatch/infra"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "trailwatch-infra:", err)
		os.Exit(1)
	}
}

func run() error {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	cfg, err := infra.ConfigFromContext(app.Node())
	if err != nil {
		return err
	}
	if _, err := infra.Build(app, cfg); err != nil {
		return err
	}
	app.Synth(nil)
	return nil
}
