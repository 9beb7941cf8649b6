// Command leaky is a binary that links a test-only module (logrus, goaws's
// logger), so that the module-list check has something to catch.
package main

import "github.com/sirupsen/logrus"

func main() { logrus.Info("leaky") }
