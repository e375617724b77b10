package catalog

import (
	"testing"
	"time"
)

func TestMinorAt(t *testing.T) {
	at := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	yes, no := true, false
	age17, age18 := 17, 18
	for _, c := range []struct {
		name                string
		kind                string
		minor               *bool
		age                 *int
		birthDate, idNumber string
		want                bool
	}{
		{"organisation, whatever it says", PartyOrg, &yes, &age17, "2010-01-01", "", false},
		{"flag says minor, age says not", "person", &yes, &age18, "", "", true},
		{"flag says adult, birth date says minor", "person", &no, nil, "2010-01-01", "", false},
		{"age 17", "person", nil, &age17, "", "", true},
		{"age 18", "person", nil, &age18, "", "", false},
		{"18th birthday is the day after", "person", nil, nil, "2007-06-02", "", true},
		{"18th birthday is that day", "person", nil, nil, "2007-06-01", "", false},
		{"birth date inside the ID number", "person", nil, nil, "", "140502200901011234", true},
		{"adult by ID number", "person", nil, nil, "", "140502199001011234", false},
		{"birth date wins over the ID number", "person", nil, nil, "1990-01-01", "140502200901011234", false},
		{"nothing known", "person", nil, nil, "", "", false},
		{"unreadable birth date", "person", nil, nil, "2009-13-45", "", false},
	} {
		if got := MinorAt(c.kind, c.minor, c.age, c.birthDate, c.idNumber, at); got != c.want {
			t.Errorf("%s: MinorAt = %v, want %v", c.name, got, c.want)
		}
	}
}
