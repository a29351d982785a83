package httpapi_test

import (
	"strings"
	"testing"

	"claimline/casesvc"
	"claimline/casesvc/httpapi"
)

func TestParseStaff(t *testing.T) {
	tests := []struct {
		env     string
		want    []casesvc.Staff
		wantErr string
	}{
		{"", nil, ""},
		{"amy:specialist:0123456789abcdef, ben:supervisor:abcdef0123456789:x", []casesvc.Staff{
			{Name: "amy", Role: casesvc.RoleSpecialist, Token: "0123456789abcdef"},
			{Name: "ben", Role: casesvc.RoleSupervisor, Token: "abcdef0123456789:x"},
		}, ""},
		{"amy:boss:0123456789abcdef", nil, "unknown role"},
		{"amy:admin:short-token", nil, "shorter than 16"},
		{"amy:admin", nil, "name:role:token"},
		{":admin:0123456789abcdef", nil, "empty name"},
		{",,", nil, "no entries"},
	}
	for _, tt := range tests {
		got, err := httpapi.ParseStaff(tt.env)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseStaff(%q) err = %v, want %q", tt.env, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "0123456789abcdef") || err != nil && strings.Contains(err.Error(), "short-token") {
				t.Errorf("error leaks the token: %v", err)
			}
			continue
		}
		if err != nil || len(got) != len(tt.want) {
			t.Fatalf("ParseStaff(%q) = %v, %v", tt.env, got, err)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("entry %d = %+v, want %+v", i, got[i], tt.want[i])
			}
		}
	}
}

func TestDemoStaffAndAuthenticator(t *testing.T) {
	a, b := httpapi.DemoStaff(), httpapi.DemoStaff()
	roles := map[casesvc.Role]bool{}
	for i, s := range a {
		roles[s.Role] = true
		if len(s.Token) < httpapi.MinTokenLength || s.Token == b[i].Token {
			t.Errorf("%s: weak or repeated token", s.Name)
		}
	}
	if len(roles) != 4 {
		t.Errorf("roles = %v", roles)
	}
	auth, err := httpapi.NewAuthenticator(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range a {
		if got, ok := auth.Authenticate(s.Token); !ok || got.Name != s.Name {
			t.Errorf("Authenticate(%s) = %v, %v", s.Name, got, ok)
		}
	}
	for _, bad := range []string{"", b[0].Token, a[0].Token + "x"} {
		if _, ok := auth.Authenticate(bad); ok {
			t.Errorf("token %q accepted", bad)
		}
	}
	if _, err := httpapi.NewAuthenticator(append(a, casesvc.Staff{Name: "copy", Role: casesvc.RoleAdmin, Token: a[0].Token})); err == nil {
		t.Error("duplicate token accepted")
	}
}
