package fabric

import "testing"

func TestRegionSubjects(t *testing.T) {
	tests := []struct {
		subject string
		biz     int32
		all, ok bool
	}{
		{External(7), 7, true, true},
		{External(-1), -1, true, true},
		{GateExternal("ext-1", 7), 7, false, true},
		{GateExternal("g", -2), -2, false, true},
		{"iogo.ext.x", 0, false, false},
		{"iogo.ext.1.a.b", 0, false, false},
		{"iogo.ext.1.", 0, false, false},
		{GateControl("g"), 0, false, false},
		{"iogo.ext.99999999999", 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.subject, func(t *testing.T) {
			biz, all, ok := RegionBizCode(tt.subject)
			if biz != tt.biz || all != tt.all || ok != tt.ok {
				t.Fatalf("RegionBizCode(%q) = %d, %v, %v", tt.subject, biz, all, ok)
			}
		})
	}
	if ExternalAll != "iogo.ext.*" || GateExternalAll("g") != "iogo.ext.*.g" {
		t.Fatalf("wildcards %q %q", ExternalAll, GateExternalAll("g"))
	}
}
