package handlers

// ParseGracePeriod exposes parseGracePeriod to the tests of package handlers_test.
var ParseGracePeriod = parseGracePeriod
