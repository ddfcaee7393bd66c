// Package all registers every kind of output bintap has: importing it is
// what makes them available to the configuration and the engine. A new
// destination adds its import line here.
package all

import (
	_ "github.com/bintap/bintap/internal/sink/file"
	_ "github.com/bintap/bintap/internal/sink/files"
	_ "github.com/bintap/bintap/internal/sink/index"
	_ "github.com/bintap/bintap/internal/sink/kafka"
	_ "github.com/bintap/bintap/internal/sink/stdout"
	_ "github.com/bintap/bintap/internal/sink/target"
)
