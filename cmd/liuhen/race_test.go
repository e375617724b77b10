//go:build race

package main

// raceEnabled shrinks the large-ledger test under the race detector, which
// makes it several times slower.
const raceEnabled = true
