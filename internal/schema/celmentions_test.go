package schema

import "testing"

// TestCELMentions: a CEL rule reads a field when it names it as a whole identifier, so that only a rule that reads
// a Flux placeholder's field waits for the substitution.
func TestCELMentions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rule, field string
		want        bool
	}{
		{"self.minReplicas <= self.maxReplicas", "maxReplicas", true},
		{"self.minReplicas <= self.maxReplicas", "Replicas", false},
		{"has(self.paused) && self.paused", "paused", true},
		{"self.pausedAt != ''", "paused", false},
		{"self['name'].size() < 12", "name", true},
		{"self.names.size() < 12", "name", false},
	} {
		if got := celMentions(tc.rule, tc.field); got != tc.want {
			t.Errorf("celMentions(%q, %q) = %v, want %v", tc.rule, tc.field, got, tc.want)
		}
	}
}
