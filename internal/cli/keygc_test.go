package cli

import (
	"runtime/debug"
	"testing"
)

// TestLowGCWhileKeysDecrypt: the GC percent is low while any key decrypts and back to what it was once the last one
// is done, however the decryptions overlap (a fleet decrypts its keys side by side). Not parallel: the GC percent
// belongs to the whole process.
func TestLowGCWhileKeysDecrypt(t *testing.T) {
	before := debug.SetGCPercent(150)
	defer debug.SetGCPercent(before)
	var g lowGC
	percent := func() int { p := debug.SetGCPercent(-1); debug.SetGCPercent(p); return p }
	g.begin()
	g.begin()
	if p := percent(); p != 20 {
		t.Errorf("GC percent while two keys decrypt = %d, want 20", p)
	}
	g.end()
	if p := percent(); p != 20 {
		t.Errorf("GC percent while one key still decrypts = %d, want 20", p)
	}
	g.end()
	if p := percent(); p != 150 {
		t.Errorf("GC percent after the last key = %d, want 150 (as before)", p)
	}
	g.begin()
	g.end()
	if p := percent(); p != 150 {
		t.Errorf("GC percent after a second round = %d, want 150", p)
	}
}
