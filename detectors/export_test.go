package detectors

// TopStrings exposes topStrings to the fuzz target.
var TopStrings = topStrings
