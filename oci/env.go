package oci

import "os"

// getenv is os.Getenv; a variable so tests can run hermetically.
var getenv = os.Getenv
