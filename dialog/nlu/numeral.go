package nlu

import (
	"math"
	"strconv"
)

// cjkDigit maps Chinese digits (plain and formal) to their values; -1 when r is not one.
func cjkDigit(r rune) int {
	switch r {
	case '零', '〇':
		return 0
	case '一', '壹':
		return 1
	case '二', '兩', '貳', '倆':
		return 2
	case '三', '參', '叁':
		return 3
	case '四', '肆':
		return 4
	case '五', '伍':
		return 5
	case '六', '陸':
		return 6
	case '七', '柒':
		return 7
	case '八', '捌':
		return 8
	case '九', '玖':
		return 9
	}
	return -1
}

func cjkUnit(r rune) float64 {
	switch r {
	case '十', '拾':
		return 10
	case '百', '佰':
		return 100
	case '千', '仟':
		return 1000
	case '萬':
		return 1e4
	case '億':
		return 1e8
	}
	return 0
}

// parseNumeral parses a run of Arabic and/or Chinese numerals: "35,000", "三萬五千", "三萬五" (=35000,
// the spoken abbreviation), "1.5萬", "12萬5千", "一一五", "二〇二六", "一點五萬". ok is false for runs that are
// not one number.
func parseNumeral(rs []rune) (float64, bool) {
	var total, section, num float64
	haveNum, seen := false, false
	lastUnit := 0.0
	digitsRun := 0     // consecutive Chinese digits ("一一五" = 115)
	abbrev := false    // a single digit right after a unit: "三萬五" = 35000
	afterUnit := false // the previous token was a unit
	zero := false      // 零 after a unit turns the abbreviation off ("三萬零五" = 30005)
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case isDigit(r):
			if haveNum {
				return 0, false
			}
			j := i
			for j < len(rs) && (isDigit(rs[j]) || rs[j] == ',' || rs[j] == '.') {
				j++
			}
			s := make([]byte, 0, j-i)
			for _, c := range rs[i:j] {
				if c != ',' {
					s = append(s, byte(c))
				}
			}
			v, err := strconv.ParseFloat(string(s), 64)
			if err != nil {
				return 0, false
			}
			num, haveNum, seen = v, true, true
			abbrev = afterUnit && !zero && v < 10 && v == math.Trunc(v) && j-i == 1
			afterUnit, digitsRun = false, 0
			i = j
			continue
		case cjkDigit(r) >= 0:
			d := float64(cjkDigit(r))
			switch {
			case digitsRun > 0:
				num = num*10 + d
				abbrev = false
			case d == 0:
				zero = true
				afterUnit = false
				i++
				seen = true
				continue
			case haveNum:
				return 0, false
			default:
				num = d
				abbrev = afterUnit && !zero
			}
			haveNum, seen = true, true
			digitsRun++
			afterUnit = false
		case r == '點':
			if !haveNum {
				return 0, false
			}
			j := i + 1
			scale := 0.1
			for j < len(rs) && cjkDigit(rs[j]) >= 0 {
				num += float64(cjkDigit(rs[j])) * scale
				scale /= 10
				j++
			}
			if j == i+1 {
				return 0, false
			}
			digitsRun, abbrev, afterUnit = 0, false, false
			i = j
			continue
		case cjkUnit(r) >= 1e4:
			u := cjkUnit(r)
			if !haveNum && section == 0 {
				return 0, false
			}
			total += (section + num) * u
			section, num, haveNum = 0, 0, false
			lastUnit, afterUnit, zero, digitsRun, abbrev = u, true, false, 0, false
		case cjkUnit(r) > 0:
			u := cjkUnit(r)
			if !haveNum {
				if u != 10 {
					return 0, false
				}
				num = 1
			}
			section += num * u
			num, haveNum = 0, false
			lastUnit, afterUnit, zero, digitsRun, abbrev = u, true, false, 0, false
			seen = true
		default:
			return 0, false
		}
		i++
	}
	if !seen {
		return 0, false
	}
	if haveNum && abbrev && lastUnit >= 100 {
		num *= lastUnit / 10
	}
	return total + section + num, true
}

// parseInt parses a small whole number written in Arabic or Chinese numerals.
func parseInt(s string) (int, bool) {
	v, ok := parseNumeral([]rune(s))
	if !ok || v != math.Trunc(v) || v < 0 || v > 1e9 {
		return 0, false
	}
	return int(v), true
}
