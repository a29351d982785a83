package nlu

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// s2tPairs maps Simplified characters common in claims talk to Traditional (simplified, traditional, ...).
// Ambiguous ones (面/麵, 系/係, 台/臺, 发/髮) keep their most likely claims-talk reading or are left out.
const s2tPairs = "险險赔賠进進报報单單诊診断斷书書医醫费費据據车車祸禍伤傷请請问問处處该該办辦么麼" +
	"时時间間这這个個们們说說话話电電号號码碼证證资資给給还還没沒过過发發现現后後应應运運气氣" +
	"门門诉訴务務态態让讓员員转轉专專线線联聯络絡帮幫谢謝见見确確认認对對错錯结結开開询詢度度" +
	"状狀况況审審关關于於补補传傳张張图圖档檔邮郵写寫偿償灾災残殘术術药藥账帳户戶银銀汇匯钱錢" +
	"块塊万萬亿億两兩湾灣国國历曆岁歲龄齡周週礼禮几幾点點钟鐘区區县縣场場机機骑騎驾駕驶駛寿壽" +
	"约約经經负負责責满滿烂爛样樣为為吗嗎谁誰里裡边邊头頭脚腳厉厲严嚴紧緊护護灵靈丧喪亲親属屬" +
	"儿兒孙孫妈媽爷爺妇婦丢丟窃竊盗盜损損坏壞换換维維质質签簽网網页頁统統设設录錄验驗输輸误誤" +
	"变變复復杂雜难難题題烦煩恼惱选選择擇项項数數币幣价價贵貴涨漲热熱阴陰风風饭飯汤湯鸡雞鱼魚" +
	"厨廚谱譜讲講听聽乐樂游遊戏戲体體赛賽队隊闻聞兴興爱愛学學习習读讀识識语語简簡华華预預马馬" +
	"终終实實际際贴貼额額总總计計笔筆构構织織级級职職业業劳勞动動养養疗療检檢标標准準则則规規" +
	"条條权權义義须須够夠达達离離尽盡赶趕无無并並虽雖会會递遞扫掃种種类類执執旧舊东東师師议議" +
	"监監卫衛财財产產轮輪划劃红紅绿綠灯燈违違归歸储儲问問诈詐欺欺恶惡骗騙怀懷觉覺晓曉给給递遞" +
	"钞鈔跃躍哪哪啰囉喂喂怎怎么麼谢謝拜拜饿餓讯訊视視频頻剧劇乘乘启啟动動态態办辦续續销銷撤撤" +
	"删刪终終止止过過户戶码碼键鍵访訪问問观觀众眾顾顧客客满滿诚誠挂掛号號紧緊处處罚罰扣扣缴繳" +
	"险險疾疾亡亡残殘废廢伤傷残殘碍礙险險车車损損赔賠邻鄰层層楼樓梯梯摔摔滑滑烧燒烫燙触觸" +
	"厅廳馆館园園汽汽摩摩托托扬揚闯闖拥擁挤擠档檔录錄锁鎖钥鑰匙匙窗窗伞傘签簽协協议議庭庭讼訟"

var s2t map[rune]rune

func init() {
	s2t = make(map[rune]rune, 256)
	rs := []rune(s2tPairs)
	for i := 0; i+1 < len(rs); i += 2 {
		if rs[i] != rs[i+1] {
			s2t[rs[i]] = rs[i+1]
		}
	}
}

// foldRune maps one rune to its comparison form: full-width ASCII to half-width, ideographic space to
// space, Simplified to Traditional, lowercase. It is 1:1 on runes so offsets stay valid.
func foldRune(r rune) rune {
	switch {
	case r >= 0xFF01 && r <= 0xFF5E:
		r -= 0xFEE0
	case r == 0x3000:
		r = ' '
	case r < utf8.RuneSelf:
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}
	if t, ok := s2t[r]; ok {
		return t
	}
	return unicode.ToLower(r)
}

// folded is a text's folded form plus the byte-offset→rune-index table for regexp results. An ASCII
// text (an ID, a number, most English) needs no table and no copy of its runes: fold keeps them nil.
type folded struct {
	src    string
	orig   []rune // the runes of src; nil when src is ASCII
	norm   string
	runeAt []int32 // runeAt[byteOffset in norm] = rune index; len(norm)+1 entries; nil when src is ASCII
	// What the extractors' pre-checks ask (see gates.go): counted once here so a pattern that cannot
	// match is not run.
	digits int  // ASCII digits in norm
	run    int  // the longest run of consecutive ASCII digits
	latin  bool // an ASCII letter (a-z after folding)
}

func fold(text string) *folded {
	f := &folded{src: text}
	run := 0
	count := func(r rune) {
		switch {
		case isDigit(r):
			f.digits++
			run++
			f.run = max(f.run, run)
			return
		case 'a' <= r && r <= 'z':
			f.latin = true
		}
		run = 0
	}
	if isASCII(text) {
		f.norm = strings.ToLower(text) // what foldRune does to ASCII
		for i := 0; i < len(f.norm); i++ {
			count(rune(f.norm[i]))
		}
		return f
	}
	f.orig = []rune(text)
	var b strings.Builder
	b.Grow(len(text) + 8)
	runeAt := make([]int32, 0, len(text)+9)
	for i, r := range f.orig {
		fr := foldRune(r)
		n := b.Len()
		b.WriteRune(fr)
		for range b.Len() - n {
			runeAt = append(runeAt, int32(i))
		}
		count(fr)
	}
	f.norm, f.runeAt = b.String(), append(runeAt, int32(len(f.orig)))
	return f
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// span converts a byte range of norm to a rune range.
func (f *folded) span(b0, b1 int) (int, int) {
	if f.runeAt == nil {
		return b0, b1
	}
	return int(f.runeAt[b0]), int(f.runeAt[b1])
}

// runes returns the original text's runes.
func (f *folded) runes() []rune {
	if f.orig == nil {
		return []rune(f.src)
	}
	return f.orig
}

// text returns the original text of a rune range.
func (f *folded) text(s, e int) string {
	if f.orig == nil {
		return f.src[s:e]
	}
	return string(f.orig[s:e])
}

// before/after return the folded rune just outside a byte range (0 when none).
func (f *folded) before(b0 int) rune {
	if b0 <= 0 {
		return 0
	}
	r, _ := utf8.DecodeLastRuneInString(f.norm[:b0])
	return r
}

func (f *folded) after(b1 int) rune {
	if b1 >= len(f.norm) {
		return 0
	}
	r, _ := utf8.DecodeRuneInString(f.norm[b1:])
	return r
}

func isDigit(r rune) bool   { return '0' <= r && r <= '9' }
func isASCIIAl(r rune) bool { return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' }
func isAlnum(r rune) bool   { return isDigit(r) || isASCIIAl(r) }

func isHan(r rune) bool {
	return r >= 0x4E00 && r <= 0x9FFF || r >= 0x3400 && r <= 0x4DBF || r >= 0x20000 && r <= 0x2FA1F || r == '〇' || r >= 0xF900 && r <= 0xFAFF
}

func isLetter(r rune) bool { return unicode.IsLetter(r) }
