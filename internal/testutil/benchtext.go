package testutil

import (
	"math/rand/v2"
	"strconv"
)

// BenchWords feed the text columns of the benchmark's table (cmd/bintap-bench)
// and of the tests that measure the same values: a few are not ASCII, so the
// text is UTF-8 as in real tables; none needs escaping inside '...'.
var BenchWords = []string{
	"order", "customer", "shipped", "pending", "invoice", "warehouse", "blue", "green",
	"large", "small", "priority", "returned", "café", "naïve", "über", "Straße", "cotton",
	"steel", "north", "south", "express", "standard", "gift", "wrapped", "coupon", "refund",
	"日本", "données", "value", "item", "batch", "delivery", "tracking", "number", "note",
}

// BenchTags are the tags of the benchmark table's JSON documents.
var BenchTags = []string{"new", "sale", "clearance", "vip", "backorder", "fragile", "bulk"}

// AppendBenchWords appends up to n space-separated BenchWords, at most
// maxBytes bytes.
func AppendBenchWords(b []byte, rng *rand.Rand, n, maxBytes int) []byte {
	start := len(b)
	for j := 0; j < n; j++ {
		w := BenchWords[rng.IntN(len(BenchWords))]
		extra := len(w)
		if j > 0 {
			extra++
		}
		if len(b)-start+extra > maxBytes {
			break
		}
		if j > 0 {
			b = append(b, ' ')
		}
		b = append(b, w...)
	}
	return b
}

// AppendBenchAttrs appends the JSON document of the benchmark table's row
// id: {"id":…,"tag":…,"score":…,"active":…,"dims":[…,…,…]}.
func AppendBenchAttrs(b []byte, rng *rand.Rand, id int) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, int64(id), 10)
	b = append(b, `,"tag":"`...)
	b = append(b, BenchTags[rng.IntN(len(BenchTags))]...)
	b = append(b, `","score":`...)
	b = strconv.AppendFloat(b, float64(rng.IntN(10000))/100, 'f', -1, 64)
	b = append(b, `,"active":`...)
	b = strconv.AppendBool(b, rng.IntN(2) == 0)
	b = append(b, `,"dims":[`...)
	for j := 0; j < 3; j++ {
		if j > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(rng.IntN(500)), 10)
	}
	return append(b, "]}"...)
}
