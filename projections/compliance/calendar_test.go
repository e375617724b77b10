package compliance_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/liuhen/liuhen/projections/compliance"
)

func day(s string) time.Time {
	t, err := time.ParseInLocation(time.DateOnly, s, cst)
	if err != nil {
		panic(err)
	}
	return t.Add(10 * time.Hour)
}

// TestCalendarDays pins days of each year's State Council notice: the
// holidays (法定节假日 and the days off with them) and the make-up working
// days (调休上班).
func TestCalendarDays(t *testing.T) {
	cal := compliance.DefaultCalendar()
	for _, tc := range []struct {
		day     string
		working bool
		holiday string
	}{
		{"2018-12-29", true, ""}, // Saturday, 元旦 2019 make-up
		{"2018-12-31", false, "元旦"},
		{"2019-02-02", true, ""}, // Saturday, 春节 make-up
		{"2019-02-04", false, "春节"},
		{"2019-04-28", true, ""}, // Sunday, 劳动节 make-up (as adjusted in 2019)
		{"2019-05-04", false, "劳动节"},
		{"2019-05-05", true, ""},
		{"2019-10-07", false, "国庆节"},
		{"2019-10-12", true, ""},
		{"2020-01-19", true, ""}, // Sunday
		{"2020-01-31", false, "春节"},
		{"2020-02-01", false, "春节"}, // the make-up Saturday cancelled when 春节 was extended to 2 February
		{"2020-02-03", true, ""},
		{"2020-04-26", true, ""},
		{"2020-06-28", true, ""},
		{"2020-09-27", true, ""}, // Sunday, 国庆 make-up
		{"2020-10-01", false, "国庆节、中秋节"},
		{"2020-10-08", false, "国庆节、中秋节"},
		{"2020-10-09", true, ""},
		{"2020-10-10", true, ""},  // Saturday, a working day
		{"2020-10-11", false, ""}, // Sunday
		{"2021-02-20", true, ""},
		{"2021-09-18", true, ""},
		{"2021-10-09", true, ""},
		{"2022-01-29", true, ""},
		{"2022-04-02", true, ""},
		{"2022-04-30", false, "劳动节"},
		{"2022-10-08", true, ""},
		{"2022-12-31", false, "元旦"},
		{"2023-01-02", false, "元旦"},
		{"2023-04-05", false, "清明节"},
		{"2023-06-25", true, ""},
		{"2023-10-06", false, "中秋节、国庆节"},
		{"2023-10-07", true, ""},
		{"2024-02-04", true, ""},
		{"2024-02-18", true, ""},
		{"2024-04-07", true, ""},
		{"2024-06-10", false, "端午节"},
		{"2024-09-14", true, ""},
		{"2024-10-12", true, ""},
		{"2025-01-26", true, ""},
		{"2025-01-28", false, "春节"}, // 除夕, a public holiday from 2025
		{"2025-02-08", true, ""},
		{"2025-04-27", true, ""},
		{"2025-05-02", false, "劳动节"},
		{"2025-10-08", false, "国庆节、中秋节"},
		{"2025-10-11", true, ""},
		{"2026-01-04", true, ""},
		{"2026-02-14", true, ""},
		{"2026-02-23", false, "春节"},
		{"2026-02-28", true, ""},
		{"2026-05-09", true, ""},
		{"2026-09-20", true, ""},
		{"2026-10-10", true, ""},
		{"2027-10-01", true, ""}, // no notice for 2027 yet: Monday to Friday only
	} {
		d := day(tc.day)
		if got := cal.IsWorkingDay(d); got != tc.working {
			t.Errorf("IsWorkingDay(%s) = %v, want %v", tc.day, got, tc.working)
		}
		name, ok := cal.Holiday(d)
		if name != tc.holiday || ok != (tc.holiday != "") {
			t.Errorf("Holiday(%s) = %q, %v, want %q", tc.day, name, ok, tc.holiday)
		}
	}
}

// TestCalendarYears checks each year's number of working days: Monday to
// Friday, minus the weekdays off, plus the make-up days.
func TestCalendarYears(t *testing.T) {
	cal := compliance.DefaultCalendar()
	want := map[int]int{2019: 250, 2020: 249, 2021: 250, 2022: 249, 2023: 249, 2024: 251, 2025: 248, 2026: 248}
	if got := cal.Years(); len(got) != len(want) || got[0] != 2019 || got[len(got)-1] != 2026 {
		t.Fatalf("Years() = %v", got)
	}
	for y, w := range want {
		n := 0
		for d := day(time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)); d.Year() == y; d = d.AddDate(0, 0, 1) {
			if cal.IsWorkingDay(d) {
				n++
			}
		}
		if n != w {
			t.Errorf("%d: %d working days, want %d", y, n, w)
		}
	}
}

func TestAddWorkingDays(t *testing.T) {
	cal := compliance.DefaultCalendar()
	for _, tc := range []struct {
		from string
		n    int
		want string
	}{
		// 国庆 2020: 1–8 October off, Saturday 10 October a working day.
		{"2020-09-30", 1, "2020-10-09"},
		{"2020-09-30", 2, "2020-10-10"},
		{"2020-09-30", 7, "2020-10-16"},
		{"2020-09-25", 7, "2020-10-12"}, // Sunday 27 September counts
		{"2020-10-01", 0, "2020-10-01"},
		{"2021-02-10", 2, "2021-02-19"}, // 春节 2021: 11–17 off; 18, 19 working
		{"2021-02-10", 3, "2021-02-20"}, // Saturday 20 February a working day
		{"2021-02-10", 4, "2021-02-22"},
		{"2025-01-24", 1, "2025-01-26"}, // Sunday 26 January a working day
	} {
		got := cal.AddWorkingDays(day(tc.from), tc.n)
		want := day(tc.want)
		if got.Format(time.DateOnly) != tc.want || got.Hour() != 23 || !got.After(want) {
			t.Errorf("AddWorkingDays(%s, %d) = %s, want the end of %s", tc.from, tc.n, got, tc.want)
		}
	}
}

// TestOnWorkingDay: where a period whose last day is a day off ends.
func TestOnWorkingDay(t *testing.T) {
	cal := compliance.DefaultCalendar()
	for _, tc := range []struct{ day, want string }{
		{"2020-09-30", "2020-09-30"}, // a working day stays
		{"2020-10-01", "2020-10-09"}, // 国庆 2020: 1–8 October off
		{"2020-10-08", "2020-10-09"},
		{"2020-10-10", "2020-10-10"}, // Saturday, a make-up working day
		{"2020-10-11", "2020-10-12"}, // Sunday
		{"2020-09-27", "2020-09-27"}, // Sunday, a make-up working day
		{"2021-01-02", "2021-01-04"}, // 元旦 2021
		{"2021-04-04", "2021-04-06"}, // 清明 2021: 3–5 April off
		{"2030-06-01", "2030-06-03"}, // a Saturday of a year without a notice
	} {
		got := cal.OnWorkingDay(day(tc.day))
		if got.Format(time.DateOnly) != tc.want || got.Hour() != 23 || !got.After(day(tc.want)) {
			t.Errorf("OnWorkingDay(%s) = %s, want the end of %s", tc.day, got, tc.want)
		}
	}
}

// TestCalendarOverride replaces a year and adds one, as an agency would
// with its own file; bad data is refused.
func TestCalendarOverride(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "holidays.json")
	os.WriteFile(path, []byte(`{"years": [
		{"year": 2020, "notice": "本地调整", "holidays": [{"name": "春节", "from": "2020-01-24", "to": "2020-02-09"}], "workdays": []},
		{"year": 2027, "notice": "假设", "holidays": [{"name": "国庆节", "from": "2027-10-01", "to": "2027-10-07"}], "workdays": ["2027-09-26"]}
	]}`), 0o644)
	cal, err := compliance.LoadCalendar(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		day     string
		working bool
	}{
		{"2020-02-07", false}, // extended locally
		{"2020-10-05", true},  // 2020's shipped 国庆 replaced by the override year
		{"2021-10-05", false}, // other years kept
		{"2027-10-01", false},
		{"2027-09-26", true},
	} {
		if got := cal.IsWorkingDay(day(tc.day)); got != tc.working {
			t.Errorf("override: IsWorkingDay(%s) = %v, want %v", tc.day, got, tc.working)
		}
	}
	for _, bad := range []string{
		`{"years": [{"year": 2027, "holidays": [], "workdays": ["2027-09-27"]}]}`,                                                        // a Monday
		`{"years": [{"year": 2027, "holidays": [{"name": "x", "from": "2027-10-02", "to": "2027-10-01"}], "workdays": []}]}`,             // reversed
		`{"years": [{"year": 2027, "holidays": [{"name": "x", "from": "2027-10-02", "to": "2027-10-03"}], "workdays": ["2027-10-02"]}]}`, // both
		`{"years": [{"year": 2027, "holiday": []}]}`,                                                                                     // unknown field
	} {
		if _, err := compliance.ParseCalendar([]byte(`{"years": []}`), []byte(bad)); err == nil {
			t.Errorf("ParseCalendar(%s) = nil error", bad)
		}
	}
}
